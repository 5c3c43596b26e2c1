// Command esrganbench times invokego's ESRGAN engine on the benchmark network of `make bench`: a 4x
// RRDBNet with 23 blocks, 64 features and growth 32 (RealESRGAN_x4plus's size) with random weights,
// upscaling one size×size image, untiled or tiled as InvokeAI tiles (tile, overlap 20). It prints one
// JSON line: the best wall time of the runs and the process's peak RSS (one configuration per process,
// so the peak is that configuration's).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/invokego/invokego/internal/engine/esrgan"
)

// randomRRDB is a Weights source of the new-layout RRDBNet, each tensor drawn from a generator
// seeded by its name (basicsr-style scaled initialisation keeps activations bounded).
type randomRRDB struct{ shapes map[string][]int }

func newRandomRRDB(blocks, feat, growth int) randomRRDB {
	s := map[string][]int{}
	conv := func(name string, out, in int) {
		s[name+".weight"], s[name+".bias"] = []int{out, in, 3, 3}, []int{out}
	}
	conv("conv_first", feat, 3)
	for b := range blocks {
		for r := 1; r <= 3; r++ {
			for k := 1; k <= 4; k++ {
				conv(fmt.Sprintf("body.%d.rdb%d.conv%d", b, r, k), growth, feat+(k-1)*growth)
			}
			conv(fmt.Sprintf("body.%d.rdb%d.conv5", b, r), feat, feat+4*growth)
		}
	}
	for _, n := range []string{"conv_body", "conv_up1", "conv_up2", "conv_hr"} {
		conv(n, feat, feat)
	}
	conv("conv_last", 3, feat)
	return randomRRDB{s}
}

func (r randomRRDB) Shapes() map[string][]int { return r.shapes }

func (r randomRRDB) Float32(name string) ([]float32, error) {
	shape := r.shapes[name]
	n := 1
	for _, d := range shape {
		n *= d
	}
	out := make([]float32, n)
	if len(shape) != 4 {
		return out, nil // biases start at zero
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	g := rand.New(rand.NewPCG(h.Sum64(), 1))
	std := 0.1 * math.Sqrt(2/float64(shape[1]*9))
	for i := range out {
		out[i] = float32(g.NormFloat64() * std)
	}
	return out, nil
}

func main() {
	size := flag.Int("size", 512, "input height (and width, unless -width) in pixels")
	width := flag.Int("width", 0, "input width in pixels (0: -size)")
	tile := flag.Int("tile", 0, "tile size (0: untiled)")
	precision := flag.String("precision", "fp32", "fp32 or bf16")
	runs := flag.Int("runs", 1, "timed runs (the best is reported)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the timed runs to this file")
	flag.Parse()
	m, err := esrgan.New(newRandomRRDB(23, 64, 32), esrgan.Options{Precision: *precision})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w := *size
	if *width > 0 {
		w = *width
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, *size))
	g := rand.New(rand.NewPCG(1, 2))
	for y := range *size {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(g.IntN(256)), uint8(g.IntN(256)), uint8(g.IntN(256)), 255})
		}
	}
	tiles, _ := esrgan.Tiles(*size, w, *tile, esrgan.DefaultMinOverlap)
	var flops float64
	for _, t := range tiles {
		flops += m.FLOPs(t.Bottom-t.Top, t.Right-t.Left)
	}
	// CPU seconds (user + system, all threads) alongside wall time: on a shared, loaded machine the
	// CPU time of a fixed amount of work is the steadier figure.
	cpuNow := func() float64 {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	var times, cpus []float64
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	for range *runs {
		runtime.GC()
		t0, c0 := time.Now(), cpuNow()
		if _, err := m.Upscale(context.Background(), img, esrgan.UpscaleOptions{TileSize: *tile}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		times = append(times, time.Since(t0).Seconds())
		cpus = append(cpus, cpuNow()-c0)
	}
	pprof.StopCPUProfile()
	best, bestCPU := times[0], cpus[0]
	for i, t := range times {
		best, bestCPU = min(best, t), min(bestCPU, cpus[i])
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	json.NewEncoder(os.Stdout).Encode(map[string]any{"side": "invokego", "precision": *precision, "size": *size, "width": w, "tile": *tile,
		"tiles": len(tiles), "seconds": best, "cpu_seconds": bestCPU, "runs": times, "gflop": flops / 1e9, "peak_rss_mib": float64(ru.Maxrss) / 1024,
		"threads": runtime.GOMAXPROCS(0)})
}
