package sd

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/safetensors"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// BenchmarkUNetSD15StepLoRA times one SD-1.5 denoising step (64×64 latents, batch 2, random weights)
// without and with one LoRA applied the way a run applies it (lora.Patcher: the adapted layers merged into
// run-owned copies of their packed weights on first use; the cached weights untouched). The LoRA is a typical kohya SD-1.5 LoRA: rank 16, alpha 8, on every linear
// layer and 1×1 projection of the transformer blocks (attn1/attn2 q, k, v, out, the feed-forward layers,
// proj_in, proj_out). The two steps alternate so that a shared machine's load falls on both alike; the
// figures are CPU seconds per step (process user + system time) and the overhead between them, and the
// per-run cost of merging (the first patched step's extra CPU time). Memory:
// the parsed LoRA and the run's extra heap after a patched step, against the UNet's weights.
func BenchmarkUNetSD15StepLoRA(b *testing.B) {
	cfg := sd15Config()
	u, err := NewUNet(cfg, synthUNetStateDict(cfg, 1, nil))
	if err != nil {
		b.Fatal(err)
	}
	const rank, alpha = 16, 8
	shapes := u.LayerShapes()
	var modelBytes int64
	var names []string
	for name, s := range shapes {
		n := int64(4)
		for _, d := range s {
			n *= int64(d)
		}
		modelBytes += n
		if strings.Contains(name, ".attentions.") && (len(s) == 2 || (s[2] == 1 && s[3] == 1)) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	rng := rand.New(rand.NewPCG(8, 9))
	randn := func(n int, scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * scale)
		}
		return v
	}
	ts := map[string]safetensors.WriteTensor{}
	for _, name := range names {
		s := shapes[name]
		out, in := s[0], s[1]
		stem := "lora_unet_" + strings.ReplaceAll(name, ".", "_")
		ts[stem+".lora_down.weight"] = safetensors.F32Tensor([]int{rank, in}, randn(rank*in, 0.05))
		ts[stem+".lora_up.weight"] = safetensors.F32Tensor([]int{out, rank}, randn(out*rank, 0.05))
		ts[stem+".alpha"] = safetensors.F32Tensor(nil, []float32{alpha})
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, nil); err != nil {
		b.Fatal(err)
	}
	file, err := lora.ParseBytes(buf.Bytes(), lora.DefaultLimits)
	if err != nil {
		b.Fatal(err)
	}
	buf = bytes.Buffer{}
	ts = nil

	sample, context := tensor.New(2, 4, 64, 64), tensor.New(2, 77, 768)
	for _, t := range []*tensor.Tensor{sample, context} {
		copy(t.Data, randn(len(t.Data), 1))
	}
	step := func(opts UNetOptions) {
		out, err := u.ForwardWith(b.Context(), sample, []float32{500}, context, nil, opts)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	heap := func() int64 {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	step(UNetOptions{}) // warm the buffer pools
	before := heap()
	p, err := lora.NewPatcher(lora.UNet, shapes, []lora.Weighted{{File: file, Weight: 0.8}})
	if err != nil || p == nil {
		b.Fatalf("patcher: %v", err)
	}
	patched := UNetOptions{Layers: p}
	cFirst := processCPUTime()
	step(patched) // builds the run's merged layers
	first := (processCPUTime() - cFirst).Seconds()
	if err := p.Err(); err != nil {
		b.Fatal(err)
	}
	extra := heap() - before
	b.ResetTimer()
	var base, withLoRA float64
	for i := 0; i < b.N; i++ {
		c0 := processCPUTime()
		step(UNetOptions{})
		c1 := processCPUTime()
		step(patched)
		c2 := processCPUTime()
		base += (c1 - c0).Seconds()
		withLoRA += (c2 - c1).Seconds()
	}
	b.ReportMetric(base/float64(b.N), "base-cpu-s/step")
	b.ReportMetric(withLoRA/float64(b.N), "lora-cpu-s/step")
	b.ReportMetric(100*(withLoRA-base)/base, "overhead-%")
	// The first patched step also merges the run's layers: its extra CPU time is the per-run cost.
	b.ReportMetric(first-withLoRA/float64(b.N), "merge-cpu-s/run")
	b.ReportMetric(float64(p.Modules()), "modules")
	b.ReportMetric(float64(file.Bytes())/(1<<20), "lora-MiB")
	b.ReportMetric(float64(extra)/(1<<20), "run-extra-MiB")
	b.ReportMetric(float64(p.MergedBytes())/(1<<20), "merged-MiB")
	b.ReportMetric(float64(modelBytes)/(1<<20), "unet-MiB")
	runtime.KeepAlive(file)
}
