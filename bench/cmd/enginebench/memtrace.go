package main

import (
	"fmt"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"time"
)

// memSampler polls the resident set and the Go runtime's memory classes
// while a run goes on and keeps the sample taken at the largest RSS, so a
// report can say what the peak was made of: live Go objects, free heap the
// runtime kept, and memory outside the Go heap (the packed weights that
// gemm keeps off-heap, see docs/performance.md).
type memSampler struct {
	mu   sync.Mutex
	peak map[string]int64
	stop chan struct{}
	done chan struct{}
}

var memClasses = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/total:bytes",
	"/gc/gomemlimit:bytes",
	"/gc/heap/goal:bytes",
	"/gc/heap/live:bytes",
}

// heapProfile is -heapprofile: where the sampler writes the heap profile
// taken at the largest RSS of the run.
var heapProfile string

func startMemSampler(every time.Duration) *memSampler {
	m := &memSampler{stop: make(chan struct{}), done: make(chan struct{})}
	samples := make([]metrics.Sample, len(memClasses))
	for i, n := range memClasses {
		samples[i].Name = n
	}
	go func() {
		defer close(m.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			rss := procStatusKB("VmRSS") * 1024
			m.mu.Lock()
			if m.peak == nil || rss > m.peak["rss"] {
				metrics.Read(samples)
				p := map[string]int64{"rss": rss, "rss_anon": procStatusKB("RssAnon") * 1024, "rss_file": procStatusKB("RssFile") * 1024}
				for _, s := range samples {
					p[s.Name] = int64(s.Value.Uint64())
				}
				// What the Go runtime holds (all classes less released
				// pages) against the RSS: the rest is off-heap.
				p["go_resident"] = p["/memory/classes/total:bytes"] - p["/memory/classes/heap/released:bytes"]
				p["off_heap"] = rss - p["go_resident"]
				m.peak = p
				if heapProfile != "" {
					// The heap profile at the largest RSS so far (live
					// objects as of the last collection), overwritten as
					// the peak moves: -heapprofile's diagnosis of a peak.
					if f, err := os.Create(m.profilePath()); err == nil {
						_ = pprof.Lookup("heap").WriteTo(f, 0)
						_ = f.Close()
					}
				}
			}
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *memSampler) profilePath() string {
	return fmt.Sprintf("%s.%p", heapProfile, m)
}

// Keep moves the sampler's heap profile (if any) to heapProfile-part.pprof.
func (m *memSampler) Keep(part string) {
	if heapProfile != "" {
		_ = os.Rename(m.profilePath(), heapProfile+"-"+part+".pprof")
	}
}

// Stop ends the sampling and returns the sample at the largest RSS seen.
func (m *memSampler) Stop() map[string]int64 {
	close(m.stop)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak
}
