package main

import (
	"bufio"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rssMB reads a process's resident set size from /proc.
func rssMB(pid int) float64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkColdStart starts the real binary on a fresh root (database created and migrated) and times the
// first answered request; it also reports the idle RSS a second later. Targets: < 300 ms, < 60 MB.
func BenchmarkColdStart(b *testing.B) {
	binary(b)
	var starts []float64
	var rss float64
	for i := 0; i < b.N; i++ {
		root := b.TempDir()
		cmd, url, took := startServer(b, root, "--multiuser")
		starts = append(starts, float64(took.Microseconds())/1000)
		// One more request, then idle.
		if res, err := http.Get(url + "/api/v1/app/version"); err == nil {
			res.Body.Close()
		}
		time.Sleep(time.Second)
		rss = max(rss, rssMB(cmd.Process.Pid))
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	sort.Float64s(starts)
	b.ReportMetric(starts[len(starts)/2], "p50_start_ms")
	b.ReportMetric(starts[len(starts)-1], "max_start_ms")
	b.ReportMetric(rss, "idle_rss_MB")
}
