// Command fluxbench times invokego's FLUX transformer at FLUX.1's widths (hidden 3072, 24 heads of 128,
// MLP 12288, T5 width 4096) with random weights generated in memory in the chosen storage (bfloat16, or
// the ggml block quantizations Q8_0 and Q4_K as city96's GGUF conversions store them: block-quantized
// matrices, bfloat16 input/output projections, float32 vectors). The model has FLUX.1's embedders, one
// double-stream and one single-stream block and the final layer; one call is timed block by block on an
// image of -size pixels, and a full step (19 double + 38 single blocks) is extrapolated from the block
// times. With -peak it instead measures the machine's GEMM rate (the engine's fp32 and bf16 kernels on a
// large square product), which the report divides by. One JSON line per run; one configuration per
// process, so the peak RSS is that configuration's.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/invokego/invokego/internal/engine/flux"
	"github.com/invokego/invokego/internal/engine/gemm"
	"github.com/invokego/invokego/internal/engine/quant"
	"github.com/invokego/invokego/internal/engine/tensor"
)

const (
	hidden = 3072
	mlp    = 12288
	heads  = 24
	head   = 128
)

// memStore is a flux.Store over tensors held in memory.
type memStore map[string]flux.StoredTensor

func (m memStore) Tensor(name string) (flux.StoredTensor, bool) { t, ok := m[name]; return t, ok }
func (m memStore) Names() []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
func (memStore) Close() error { return nil }

// randomBytes fills b from a fast generator (the values only need to be finite).
func randomBytes(rng *rand.Rand, b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
}

// matrix makes an [out, in] weight in the given storage. Block scales are set to small finite values so
// that every decoded weight is finite and small.
func matrix(rng *rand.Rand, format string, out, in int) flux.StoredTensor {
	typ := map[string]string{"bf16": "BF16", "q8_0": "Q8_0", "q4_k": "Q4_K"}[format]
	t, _ := quant.ParseType(typ)
	rb, err := quant.RowBytes(t, in)
	if err != nil {
		panic(err)
	}
	b := make([]byte, rb*out)
	randomBytes(rng, b)
	switch format {
	case "bf16":
		for i := 0; i < len(b); i += 2 {
			// |x| in [2⁻⁷, 2⁻⁶), random sign.
			binary.LittleEndian.PutUint16(b[i:], 0x3c00|binary.LittleEndian.Uint16(b[i:])&0x807f)
		}
	case "q8_0": // blocks of d (f16) + 32 int8
		for i := 0; i < len(b); i += 34 {
			binary.LittleEndian.PutUint16(b[i:], 0x1400) // d ≈ 1e-3
		}
	case "q4_k": // blocks of d, dmin (f16), 12 scale bytes, 128 nibble bytes
		for i := 0; i < len(b); i += 144 {
			binary.LittleEndian.PutUint16(b[i:], 0x1000)
			binary.LittleEndian.PutUint16(b[i+2:], 0x1000)
		}
	}
	return flux.StoredTensor{Shape: []int{out, in}, Type: typ, Data: b}
}

func vector(rng *rand.Rand, n int, base, spread float32) flux.StoredTensor {
	b := make([]byte, 4*n)
	for i := range n {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(base+spread*(rng.Float32()-0.5)))
	}
	return flux.StoredTensor{Shape: []int{n}, Type: "F32", Data: b}
}

// model builds FLUX.1's embedders, one double and one single block and the final layer in BFL names. The
// projections city96 keeps in bfloat16 (img_in, txt_in, time_in, vector_in, guidance_in, final_layer) are
// bfloat16 whatever the format.
func model(format string) (memStore, int64) {
	rng := rand.New(rand.NewPCG(1, 2))
	st := memStore{}
	var bytes int64
	lin := func(name, f string, out, in int) {
		w := matrix(rng, f, out, in)
		st[name+".weight"] = w
		st[name+".bias"] = vector(rng, out, 0, 0.02)
		bytes += int64(len(w.Data)) + int64(4*out)
	}
	lin("img_in", "bf16", hidden, 64)
	lin("txt_in", "bf16", hidden, 4096)
	for _, e := range []struct {
		name string
		in   int
	}{{"time_in", 256}, {"guidance_in", 256}, {"vector_in", 768}} {
		lin(e.name+".in_layer", "bf16", hidden, e.in)
		lin(e.name+".out_layer", "bf16", hidden, hidden)
	}
	for _, s := range []string{"img", "txt"} {
		p := "double_blocks.0." + s
		lin(p+"_mod.lin", format, 6*hidden, hidden)
		lin(p+"_attn.qkv", format, 3*hidden, hidden)
		lin(p+"_attn.proj", format, hidden, hidden)
		lin(p+"_mlp.0", format, mlp, hidden)
		lin(p+"_mlp.2", format, hidden, mlp)
		st[p+"_attn.norm.query_norm.scale"] = vector(rng, head, 1, 0.2)
		st[p+"_attn.norm.key_norm.scale"] = vector(rng, head, 1, 0.2)
	}
	lin("single_blocks.0.modulation.lin", format, 3*hidden, hidden)
	lin("single_blocks.0.linear1", format, 3*hidden+mlp, hidden)
	lin("single_blocks.0.linear2", format, hidden, hidden+mlp)
	st["single_blocks.0.norm.query_norm.scale"] = vector(rng, head, 1, 0.2)
	st["single_blocks.0.norm.key_norm.scale"] = vector(rng, head, 1, 0.2)
	lin("final_layer.adaLN_modulation.1", "bf16", 2*hidden, hidden)
	lin("final_layer.linear", "bf16", 64, hidden)
	return st, bytes
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "fluxbench:", err)
		os.Exit(1)
	}
}

func procStatusKB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return -1
}

// cpuSeconds is the process's user + system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	v, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return v
}

// peak measures the engine's GEMM rate on a 4096×3072 · 3072×3072 product with pre-packed weights, fp32
// and bf16, best of runs.
func peak(runs int) {
	const m, k, n = 4096, 3072, 3072
	rng := rand.New(rand.NewPCG(3, 4))
	a := make([]float32, m*k)
	b := make([]float32, k*n)
	for i := range a {
		a[i] = rng.Float32() - 0.5
	}
	for i := range b {
		b[i] = rng.Float32() - 0.5
	}
	c := make([]float32, m*n)
	flop := 2.0 * m * k * n
	for _, kind := range []string{"fp32", "bf16"} {
		var run func()
		if kind == "fp32" {
			pb := gemm.PackB(false, k, n, b, n)
			run = func() { gemm.SgemmPacked(m, a, k, pb, c, n, false) }
		} else {
			pb := gemm.PackBBF16(false, k, n, b, n)
			run = func() { gemm.SgemmPackedBF16(m, a, k, pb, c, n, false) }
		}
		run()
		best, bestCPU := math.Inf(1), math.Inf(1)
		for range runs {
			t0, c0 := time.Now(), cpuSeconds()
			run()
			best = min(best, time.Since(t0).Seconds())
			bestCPU = min(bestCPU, cpuSeconds()-c0)
		}
		out, _ := json.Marshal(map[string]any{"impl": "invokego", "name": "gemm_peak", "compute": kind, "gflops": flop / 1e9 / best,
			"gflop_per_cpu_s": flop / 1e9 / bestCPU,
			"backend":         map[string]string{"fp32": gemm.Backend(), "bf16": gemm.BF16Backend()}[kind], "threads": runtime.GOMAXPROCS(0), "load": load1()})
		fmt.Println(string(out))
	}
}

func main() {
	format := flag.String("format", "bf16", "weight storage: bf16, q8_0 or q4_k")
	compute := flag.String("compute", "f32", "product arithmetic: f32 or bf16")
	size := flag.Int("size", 1024, "image side in pixels (multiple of 16)")
	runs := flag.Int("runs", 1, "timed runs after one warm-up; the best is reported")
	doPeak := flag.Bool("peak", false, "measure the GEMM rate instead")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the timed runs to this file")
	flag.Parse()
	if *doPeak {
		peak(max(*runs, 3))
		return
	}
	st, weightBytes := model(*format)
	cfg := flux.FLUX1Config(true)
	cfg.NumLayers, cfg.NumSingleLayers = 1, 1
	opts := flux.LoadOptions{Config: &cfg}
	if *compute == "bf16" {
		opts.Compute = quant.ComputeBF16
	}
	m, err := flux.NewTransformer(st, opts)
	check(err)

	lat := *size / 8
	n, l := (lat/2)*(lat/2), 512
	rng := rand.New(rand.NewPCG(5, 6))
	fill := func(shape ...int) *tensor.Tensor {
		t := tensor.New(shape...)
		for i := range t.Data {
			t.Data[i] = float32(rng.NormFloat64())
		}
		return t
	}
	in := flux.Inputs{Img: fill(1, n, 64), Txt: fill(1, l, 4096), Pooled: fill(1, 768), ImgIDs: flux.ImageIDs(lat, lat),
		TxtIDs: flux.TextIDs(l), Timestep: []float32{0.5}, Guidance: []float32{3.5}}
	runtime.GC()
	best := map[string]float64{"total": math.Inf(1)}
	var bestCPU map[string]float64
	for r := 0; r <= *runs; r++ {
		if r == 1 && *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			check(err)
			check(pprof.StartCPUProfile(f))
			defer pprof.StopCPUProfile()
		}
		var marks []time.Time
		var cpus []float64
		t0, c0 := time.Now(), cpuSeconds()
		_, err := m.Forward(context.Background(), in, flux.CallOptions{Trace: func(name string, _ *tensor.Tensor) {
			if name == "context_embedder" || name == "transformer_blocks.0.1" || name == "single_transformer_blocks.0" {
				marks = append(marks, time.Now())
				cpus = append(cpus, cpuSeconds())
			}
		}})
		check(err)
		total, totalCPU := time.Since(t0).Seconds(), cpuSeconds()-c0
		if r > 0 && total < best["total"] && len(marks) == 3 {
			best = map[string]float64{"total": total, "double": marks[1].Sub(marks[0]).Seconds(), "single": marks[2].Sub(marks[1]).Seconds()}
			bestCPU = map[string]float64{"total": totalCPU, "double": cpus[1] - cpus[0], "single": cpus[2] - cpus[1]}
		}
	}
	s := float64(n + l)
	blockFlop := 2*s*(4*hidden*hidden+2*hidden*mlp) + 4*s*s*hidden
	other := best["total"] - best["double"] - best["single"]
	out, _ := json.Marshal(map[string]any{
		"impl": "invokego", "format": *format, "compute": *compute, "size": *size, "image_tokens": n, "text_tokens": l,
		"double_s": best["double"], "single_s": best["single"], "other_s": other,
		"step_s":      19*best["double"] + 38*best["single"] + other,
		"block_gflop": blockFlop / 1e9, "double_gflops": blockFlop / 1e9 / best["double"], "single_gflops": blockFlop / 1e9 / best["single"],
		"double_cpu_s": bestCPU["double"], "single_cpu_s": bestCPU["single"],
		"step_cpu_s":            19*bestCPU["double"] + 38*bestCPU["single"] + bestCPU["total"] - bestCPU["double"] - bestCPU["single"],
		"block_gflop_per_cpu_s": 2 * blockFlop / 1e9 / (bestCPU["double"] + bestCPU["single"]),
		"weights_mib":           float64(weightBytes) / (1 << 20), "peak_rss_mib": float64(procStatusKB("VmHWM")) / 1024,
		"threads": runtime.GOMAXPROCS(0), "load": load1(),
	})
	fmt.Println(string(out))
}
