// Command enginebench times invokego's Stable Diffusion networks at SD-1.5
// size with random weights (generated here, never stored): one UNet step at
// 64×64 latents with batch 2 (classifier-free guidance), the CLIP ViT-L/14
// text encoder on 2 × 77 tokens, and the VAE decode of a 512×512 image. It
// prints one JSON line per workload, in the format of bench/torch_bench.py,
// and a final line with the peak resident memory of a text-encoder + UNet +
// VAE-decode run against the size of the weights.
//
// Usage: go run ./bench/cmd/enginebench [-runs N] [-warmup N] [-only unet,text,vae,memory]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/invokego/invokego/internal/engine/gemm"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

type result struct {
	Impl       string    `json:"impl"`
	Name       string    `json:"name"`
	Seconds    float64   `json:"seconds"` // median wall time
	Min        float64   `json:"min_seconds"`
	CPUSeconds float64   `json:"cpu_seconds"` // median process CPU time per run
	Runs       []float64 `json:"runs"`
	GFLOP      float64   `json:"gflop"`
	GFLOPS     float64   `json:"gflops"` // GFLOP / median seconds
	Threads    int       `json:"threads"`
	Load       []float64 `json:"load"` // 1-minute load average before and after
	Note       string    `json:"note,omitempty"`
}

func main() {
	runs := flag.Int("runs", 3, "timed runs per workload (the median is reported)")
	warmup := flag.Int("warmup", 1, "untimed runs first")
	only := flag.String("only", "memory,unet,text,vae,bf16,controlnet", "comma-separated workloads (memory: peak RSS of a 512×512 run; bf16: UNet with bf16 weights; controlnet: a UNet step with one ControlNet, next to the plain step; image: whole 512×512 images, not run by default; queue: the same through the server's queue; sdxl: an SDXL 1024² image through the queue, bf16)")
	seed := flag.Uint64("seed", 1, "weight seed")
	steps := flag.Int("memory-steps", 1, "UNet steps in the memory run")
	imageSteps := flag.Int("image-steps", 25, "denoising steps of the whole-image run (image workload)")
	turboSteps := flag.Int("turbo-steps", 4, "steps of the turbo-style whole-image run")
	imagePrecisions := flag.String("image-precisions", "bf16,fp32", "precisions of the whole-image runs, each with its own models")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the timed runs (not the model building or warm-up) to this file")
	sdxlSteps := flag.Int("sdxl-steps", 25, "denoising steps of the SDXL 1024² queue image (sdxl workload; ~30 s a step on 2 cores)")
	queuePrecisions := flag.String("queue-precisions", "bf16", "precisions of the queue workload's images (each a fresh server)")
	flag.StringVar(&heapProfile, "heapprofile", "", "image workload: write the heap profile taken at the largest RSS of the last part to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		check(err)
		profileFile = f
		defer pprof.StopCPUProfile()
	}
	want := map[string]bool{}
	for _, w := range strings.Split(*only, ",") {
		want[strings.TrimSpace(w)] = true
	}
	threads := runtime.GOMAXPROCS(0)
	fmt.Fprintf(os.Stderr, "enginebench: GOMAXPROCS %d, gemm %s, bf16 gemm %s\n", threads, gemm.Backend(), gemm.BF16Backend())
	ctx := context.Background()
	emitMachine(threads)
	emit := func(r result) {
		r.Impl, r.Threads = "invokego", threads
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	}

	rng := rand.New(rand.NewPCG(42, 7))
	randn := func(shape ...int) *tensor.Tensor {
		t := tensor.New(shape...)
		for i := range t.Data {
			t.Data[i] = float32(rng.NormFloat64())
		}
		return t
	}

	var (
		unet     *sd.UNet
		clip     *sd.CLIPTextModel
		vae      *sd.VAE
		weightsB int64
	)
	us := sd15UNetShape()
	build := func(what string, s *synth, f func(sd.StateDict) error) {
		t0 := time.Now()
		weightsB += 4 * s.params()
		if err := f(s.build()); err != nil {
			fmt.Fprintf(os.Stderr, "enginebench: build %s: %v\n", what, err)
			os.Exit(1)
		}
		runtime.GC()
		fmt.Fprintf(os.Stderr, "enginebench: built %s (%.1fM params) in %.1fs\n", what, float64(s.params())/1e6, time.Since(t0).Seconds())
	}
	if want["unet"] || want["memory"] || want["controlnet"] {
		build("unet", synthUNet(us, *seed), func(w sd.StateDict) (err error) { unet, err = sd.NewUNet(us.config(), w); return })
	}
	ccfg := sd15CLIPConfig()
	if want["text"] || want["memory"] {
		build("text encoder", synthCLIP(ccfg, *seed+1), func(w sd.StateDict) (err error) { clip, err = sd.NewCLIPTextModel(ccfg, w); return })
	}
	vcfg := sd15VAEConfig()
	if want["vae"] || want["memory"] {
		build("vae", synthVAE(vcfg, *seed+2, false), func(w sd.StateDict) (err error) { vae, err = sd.NewVAE(vcfg, w); return })
	}
	debug.FreeOSMemory()

	ids := make([][]int, 2)
	for b := range ids {
		row := make([]int, 77)
		row[0] = ccfg.BOSTokenID
		for i := 1; i < 77; i++ {
			row[i] = ccfg.EOSTokenID
		}
		if b == 1 { // a prompt row: some tokens, then EOS padding
			for i := 1; i < 20; i++ {
				row[i] = 300 + 37*i
			}
		}
		ids[b] = row
	}

	var unetSample, unetCond, fp32Out *tensor.Tensor
	if want["unet"] || want["bf16"] || want["controlnet"] {
		unetSample, unetCond = randn(2, 4, 64, 64), randn(2, 77, 768)
	}
	gfUNet := unetFLOPs(us, 2, 64, 64, 77) / 1e9
	if want["memory"] {
		memoryRun(ctx, unet, clip, vae, ids, *steps, weightsB, randn)
	}
	if want["unet"] {
		r := timeIt(*warmup, *runs, func() {
			out, err := unet.Forward(ctx, unetSample, []float32{500}, unetCond, nil)
			check(err)
			fp32Out = out
		})
		r.Name, r.GFLOP = "unet_fp32", gfUNet
		r.Note = fmt.Sprintf("engine FLOPs() says %.1f GFLOP", unet.FLOPs(2, 64, 64, 77)/1e9)
		emit(r.finish())
	}
	if want["text"] {
		r := timeIt(*warmup+1, max(*runs, 5), func() {
			_, err := clip.Forward(ctx, ids)
			check(err)
		})
		r.Name, r.GFLOP = "text_encoder", clipFLOPs(ccfg.HiddenSize, ccfg.IntermediateSize, ccfg.NumHiddenLayers, 2, 77)/1e9
		emit(r.finish())
	}
	if want["vae"] {
		z := randn(1, 4, 64, 64)
		r := timeIt(*warmup, *runs, func() {
			out, err := vae.Decode(ctx, z)
			check(err)
			out.Release()
		})
		r.Name, r.GFLOP = "vae_decode", vaeDecodeFLOPs(vcfg.BlockOutChannels, vcfg.LayersPerBlock, vcfg.LatentChannels, vcfg.OutChannels, 1, 64, 64)/1e9
		emit(r.finish())
	}
	if want["controlnet"] {
		controlNetRun(ctx, us, *seed, *warmup, *runs, unetSample, unetCond, unet, randn, emit)
	}
	if want["image"] {
		// Whole images, each precision's models built alone so the peak
		// RSS is that precision's: SD-1.5 512×512 with dpmpp_2m and CFG
		// 7.5, then a turbo-style few-step image (euler_a, trailing
		// spacing, guidance 0).
		unet, clip, vae = nil, nil, nil
		for _, prec := range strings.Split(*imagePrecisions, ",") {
			runtime.GC()
			debug.FreeOSMemory()
			opts := sd.Options{Precision: prec}
			var iu *sd.UNet
			var ic *sd.CLIPTextModel
			var iv *sd.VAE
			build("unet "+prec, synthUNet(us, *seed), func(w sd.StateDict) (err error) { iu, err = sd.NewUNetWithOptions(us.config(), w, opts); return })
			build("text encoder "+prec, synthCLIP(ccfg, *seed+1), func(w sd.StateDict) (err error) {
				ic, err = sd.NewCLIPTextModelWithOptions(ccfg, w, opts)
				return
			})
			build("vae "+prec, synthVAE(vcfg, *seed+2, false), func(w sd.StateDict) (err error) { iv, err = sd.NewVAEWithOptions(vcfg, w, opts); return })
			debug.FreeOSMemory()
			imageRun(ctx, "image_512_"+prec, ic, iu, iv, ids, "dpmpp_2m", sd15SchedulerConfig, *imageSteps, 7.5, prec)
			imageRun(ctx, "image_512_turbo_"+prec, ic, iu, iv, ids, "euler_a", turboSchedulerConfig, *turboSteps, 0, prec)
		}
	}
	if want["queue"] {
		// Whole images through the server's queue: SD-1.5 with dpmpp_2m
		// and CFG 7.5, then a turbo-style image (euler_a, trailing
		// spacing, guidance 0), each on a fresh server and root.
		unet, clip, vae = nil, nil, nil
		for _, prec := range strings.Split(*queuePrecisions, ",") {
			queueRun(ctx, "queue_image_512_"+prec, "sd15", prec, *seed, "dpmpp_2m", sd15SchedulerConfig, *imageSteps, 7.5)
			runtime.GC()
			debug.FreeOSMemory()
			if *turboSteps > 0 {
				// denoise_latents takes cfg_scale ≥ 1 (InvokeAI's bound), and
				// at 1 it still runs both halves, as InvokeAI does.
				queueRun(ctx, "queue_image_512_turbo_"+prec, "sd15", prec, *seed, "euler_a", turboSchedulerConfig, *turboSteps, 1)
				runtime.GC()
				debug.FreeOSMemory()
			}
		}
	}
	if want["sdxl"] {
		// SDXL base 1024² through the queue, bf16 (its fp32 weights would
		// be 10 GB): -sdxl-steps steps of euler with CFG 7.5.
		unet, clip, vae = nil, nil, nil
		queueRun(ctx, "queue_image_1024_sdxl_bf16", "sdxl", "bf16", *seed, "euler", sdxlSchedulerConfig, *sdxlSteps, 7.5)
	}
	if want["bf16"] {
		// The bf16 UNet is built last, after the fp32 one is dropped, so
		// both never sit in memory together.
		unet = nil
		runtime.GC()
		debug.FreeOSMemory()
		var ub *sd.UNet
		build("unet bf16", synthUNet(us, *seed), func(w sd.StateDict) (err error) {
			ub, err = sd.NewUNetWithOptions(us.config(), w, sd.Options{Precision: "bf16"})
			return
		})
		var out *tensor.Tensor
		r := timeIt(*warmup, *runs, func() {
			o, err := ub.Forward(ctx, unetSample, []float32{500}, unetCond, nil)
			check(err)
			out = o
		})
		r.Name, r.GFLOP = "unet_bf16", gfUNet
		r.Note = "sd.Options{Precision: \"bf16\"}"
		if fp32Out != nil {
			var maxErr, maxRef float64
			for i, v := range fp32Out.Data {
				maxErr = max(maxErr, math.Abs(float64(out.Data[i]-v)))
				maxRef = max(maxRef, math.Abs(float64(v)))
			}
			r.Note += fmt.Sprintf("; output vs fp32: max|err| %.3g, max|ref| %.3g (rel %.2g)", maxErr, maxRef, maxErr/maxRef)
		}
		emit(r.finish())
	}
}

// memoryRun measures the peak resident set of one 512×512 text-to-image
// pass (text encoder for the CFG pair, `steps` UNet steps, VAE decode) with
// every model loaded. The kernel's high-water mark is reset first
// (/proc/self/clear_refs "5"), so model construction does not count.
func memoryRun(ctx context.Context, unet *sd.UNet, clip *sd.CLIPTextModel, vae *sd.VAE, ids [][]int, steps int, weightsB int64, randn func(...int) *tensor.Tensor) {
	runtime.GC()
	debug.FreeOSMemory()
	before := procStatusKB("VmRSS")
	reset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	t0 := time.Now()
	enc, err := clip.Forward(ctx, ids)
	check(err)
	cond := enc.LastHiddenState
	latents := randn(1, 4, 64, 64)
	for s := 0; s < steps; s++ {
		in := tensor.New(2, 4, 64, 64) // the CFG pair [uncond, cond]
		copy(in.Data, latents.Data)
		copy(in.Data[len(latents.Data):], latents.Data)
		out, err := unet.Forward(ctx, in, []float32{float32(999 - 100*s)}, cond, nil)
		check(err)
		// CFG and a plain Euler-like update keep the latents in range.
		plane := len(latents.Data)
		for i := range latents.Data {
			u, c := out.Data[i], out.Data[plane+i]
			latents.Data[i] -= 0.05 * (u + 7.5*(c-u))
		}
		out.Release()
	}
	img, err := vae.Decode(ctx, latents)
	check(err)
	_ = img
	peak := procStatusKB("VmHWM")
	limit := 1.3*float64(weightsB) + 1<<30
	r := map[string]any{
		"impl": "invokego", "name": "peak_rss_512", "steps": steps,
		"seconds":         time.Since(t0).Seconds(),
		"peak_rss_bytes":  peak * 1024,
		"rss_before":      before * 1024,
		"weights_bytes":   weightsB,
		"limit_bytes":     int64(limit),
		"within_limit":    float64(peak*1024) <= limit,
		"hwm_reset":       reset,
		"peak_over_limit": float64(peak*1024) / limit,
		"gogc":            os.Getenv("GOGC"),
		"gomemlimit":      os.Getenv("GOMEMLIMIT"),
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

// emitMachine prints the CPU, the instruction-set extensions the kernels
// use and the fp32 FMA, bf16 and AMX (0 where not used) peaks measured now (gemm.MeasurePeaks, per
// CPU-second of one thread; the peak of the run is that times threads), so
// every figure of the report names the machine and the peak it is a
// fraction of.
func emitMachine(threads int) {
	p := gemm.MeasurePeaks(time.Second)
	r := map[string]any{
		"impl": "invokego", "name": "machine",
		"cpu": cpuInfo("model name"), "cpu_family": cpuInfo("cpu family"), "cpu_model": cpuInfo("model"),
		"isa": p.ISA, "threads": threads, "gemm": gemm.Backend(), "bf16_gemm": gemm.BF16Backend(),
		"fp32_peak_per_thread": p.FP32, "bf16_peak_per_thread": p.BF16,
		"fp32_peak": p.FP32 * float64(threads), "bf16_peak": p.BF16 * float64(threads),
		"amx_peak_per_thread": p.AMX, "amx_peak": p.AMX * float64(threads),
		"load": loadAvg(),
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

// cpuInfo returns the first value of a /proc/cpuinfo field ("" if absent).
func cpuInfo(field string) string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == field {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "enginebench:", err)
		for _, dir := range tempRoots {
			_ = os.RemoveAll(dir) // the queue workloads' model files (GBs), which os.Exit would leave
		}
		os.Exit(1)
	}
}

// tempRoots are the queue workloads' temporary roots, removed by check on a
// failure (deferred removals do not run on os.Exit).
var tempRoots []string

// profileFile receives the CPU profile of the timed runs (-cpuprofile); only
// the first timed workload is profiled (a profile file holds one profile).
var profileFile *os.File

type timing struct {
	result
	cpu []float64
}

func timeIt(warmup, runs int, f func()) *timing {
	t := &timing{}
	t.Load = []float64{loadAvg()}
	for i := 0; i < warmup; i++ {
		f()
	}
	if profileFile != nil {
		// Profiling starts at the first timed run so the profile shows the
		// workloads, not the weight synthesis; it covers every worker
		// goroutine, which a pprof focus on a call stack would miss.
		if err := pprof.StartCPUProfile(profileFile); err == nil {
			defer pprof.StopCPUProfile()
		}
	}
	for i := 0; i < runs; i++ {
		c0 := cpuSeconds()
		t0 := time.Now()
		f()
		t.Runs = append(t.Runs, time.Since(t0).Seconds())
		t.cpu = append(t.cpu, cpuSeconds()-c0)
	}
	t.Load = append(t.Load, loadAvg())
	return t
}

func (t *timing) finish() result {
	r := t.result
	r.Seconds = median(r.Runs)
	r.Min = slices.Min(r.Runs)
	r.CPUSeconds = median(t.cpu)
	if r.Seconds > 0 {
		r.GFLOPS = r.GFLOP / r.Seconds
	}
	return r
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// procStatusKB returns a "kB" field of /proc/self/status.
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
