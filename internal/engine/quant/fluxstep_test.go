package quant_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/flux"
	"github.com/invokego/invokego/internal/engine/quant"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/engine/torchmath"
)

// memStore is an in-memory flux.Store.
type memStore map[string]flux.StoredTensor

func (m memStore) Tensor(name string) (flux.StoredTensor, bool) { t, ok := m[name]; return t, ok }
func (m memStore) Close() error                                 { return nil }
func (m memStore) Names() []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	return out
}

// randomWeight fills a [rows, cols] weight of type t with random blocks
// (finite scales of a realistic size) or normal bfloat16 values.
func randomWeight(rng *rand.Rand, t quant.Type, rows, cols int) []byte {
	rb, err := quant.RowBytes(t, cols)
	if err != nil {
		panic(err)
	}
	b := make([]byte, rows*rb)
	le := binary.LittleEndian
	if t == quant.BF16 || t == quant.F32 {
		for i := 0; i < len(b); i += 2 {
			v := float32(rng.NormFloat64() * 0.02)
			if t == quant.F32 {
				le.PutUint32(b[i:], math.Float32bits(v))
				i += 2
				continue
			}
			le.PutUint16(b[i:], uint16(math.Float32bits(v)>>16))
		}
		return b
	}
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	halves := map[quant.Type][]int{quant.Q8_0: {0}, quant.Q4_0: {0}, quant.Q4_K: {0, 2}, quant.Q5_K: {0, 2}, quant.Q6_K: {208}}[t]
	for blk := 0; blk < len(b); blk += t.BlockBytes() {
		for _, off := range halves {
			le.PutUint16(b[blk+off:], torchmath.Float32ToFloat16(float32(rng.Float64()*1e-3)))
		}
	}
	return b
}

// fluxStore builds a FLUX.1-width transformer with the given block counts,
// laid out and typed as city96's GGUF conversions: 2-D weights of the
// blocks in blockType, the embedders and final layer BF16, the rest F32.
func fluxStore(c flux.Config, blockType quant.Type) memStore {
	rng := rand.New(rand.NewPCG(1, uint64(blockType)))
	h, mlp, hd := c.Hidden(), 4*c.Hidden(), c.AttentionHeadDim
	st := memStore{}
	vec := func(name string, n int) {
		st[name] = flux.StoredTensor{Shape: []int{n}, Type: "F32", Data: randomWeight(rng, quant.F32, 1, n)}
	}
	lin := func(name string, out, in int, t quant.Type) {
		st[name+".weight"] = flux.StoredTensor{Shape: []int{out, in}, Type: t.String(), Data: randomWeight(rng, t, out, in)}
		vec(name+".bias", out)
	}
	lin("img_in", h, c.InChannels, quant.BF16)
	lin("txt_in", h, c.JointAttentionDim, quant.BF16)
	lin("time_in.in_layer", h, 256, quant.BF16)
	lin("time_in.out_layer", h, h, quant.BF16)
	lin("guidance_in.in_layer", h, 256, quant.BF16)
	lin("guidance_in.out_layer", h, h, quant.BF16)
	lin("vector_in.in_layer", h, c.PooledProjectionDim, quant.BF16)
	lin("vector_in.out_layer", h, h, quant.BF16)
	for i := range c.NumLayers {
		p := "double_blocks." + strconv.Itoa(i) + "."
		for _, m := range []string{"img", "txt"} {
			lin(p+m+"_mod.lin", 6*h, h, blockType)
			lin(p+m+"_attn.qkv", 3*h, h, blockType)
			vec(p+m+"_attn.norm.query_norm.scale", hd)
			vec(p+m+"_attn.norm.key_norm.scale", hd)
			lin(p+m+"_attn.proj", h, h, blockType)
			lin(p+m+"_mlp.0", mlp, h, blockType)
			lin(p+m+"_mlp.2", h, mlp, blockType)
		}
	}
	for i := range c.NumSingleLayers {
		p := "single_blocks." + strconv.Itoa(i) + "."
		lin(p+"modulation.lin", 3*h, h, blockType)
		lin(p+"linear1", 3*h+mlp, h, blockType)
		lin(p+"linear2", h, h+mlp, blockType)
		vec(p+"norm.query_norm.scale", hd)
		vec(p+"norm.key_norm.scale", hd)
	}
	lin("final_layer.adaLN_modulation.1", 2*h, h, quant.BF16)
	lin("final_layer.linear", c.InChannels, h, quant.BF16)
	return st
}

// BenchmarkFluxStep times one transformer call of a FLUX.1-width model
// (24 heads of 128, MLP 12288, T5 width 4096) cut to a few blocks — every
// FLUX.1 block costs the same, so the ratio between weight types is the
// ratio of whole steps — with block weights BF16, Q8_0 and Q4_K, at 512²
// (1024 image + 512 text tokens). Heavy; run it once:
//
//	go test -run X -bench FluxStep -benchtime 1x ./internal/engine/quant
//
// INVOKEGO_FLUXSTEP=SIZE,DOUBLE,SINGLE changes the image size (pixels) and
// block counts (default 512,1,1).
func BenchmarkFluxStep(b *testing.B) {
	size, double, single := 512, 1, 1
	if s := os.Getenv("INVOKEGO_FLUXSTEP"); s != "" {
		f := strings.Split(s, ",")
		if len(f) != 3 {
			b.Fatalf("INVOKEGO_FLUXSTEP=%q: want SIZE,DOUBLE,SINGLE", s)
		}
		var err [3]error
		size, err[0] = strconv.Atoi(f[0])
		double, err[1] = strconv.Atoi(f[1])
		single, err[2] = strconv.Atoi(f[2])
		if err[0] != nil || err[1] != nil || err[2] != nil || size%16 != 0 {
			b.Fatalf("INVOKEGO_FLUXSTEP=%q", s)
		}
	}
	c := flux.FLUX1Config(true)
	c.NumLayers, c.NumSingleLayers = double, single
	lh, lw := flux.LatentSize(size, size)
	n, l := (lh/2)*(lw/2), 512
	rng := rand.New(rand.NewPCG(3, 3))
	randT := func(shape ...int) *tensor.Tensor {
		t := tensor.New(shape...)
		for i := range t.Data {
			t.Data[i] = float32(rng.NormFloat64())
		}
		return t
	}
	in := flux.Inputs{
		Img: randT(1, n, c.InChannels), Txt: randT(1, l, c.JointAttentionDim), Pooled: randT(1, c.PooledProjectionDim),
		ImgIDs: flux.ImageIDs(lh, lw), TxtIDs: flux.TextIDs(l), Timestep: []float32{0.7}, Guidance: []float32{3.5},
	}
	for _, tc := range []struct {
		typ     quant.Type
		compute quant.Compute
	}{
		{quant.BF16, quant.ComputeBF16}, {quant.Q8_0, quant.ComputeBF16}, {quant.Q4_K, quant.ComputeBF16},
		{quant.BF16, quant.ComputeF32}, {quant.Q4_K, quant.ComputeF32},
	} {
		name := fmt.Sprintf("%dpx_%dd%ds/%s", size, double, single, tc.typ)
		if tc.compute == quant.ComputeF32 {
			name += "-f32compute"
		}
		b.Run(name, func(b *testing.B) {
			cfg := c
			tr, err := flux.NewTransformer(fluxStore(c, tc.typ), flux.LoadOptions{Config: &cfg, Compute: tc.compute})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tr.Forward(context.Background(), in, flux.CallOptions{}); err != nil { // warm-up
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0, haveCPU := quant.ProcessCPUTime()
			for b.Loop() {
				out, err := tr.Forward(context.Background(), in, flux.CallOptions{})
				if err != nil {
					b.Fatal(err)
				}
				out.Release()
			}
			if cpu1, ok := quant.ProcessCPUTime(); ok && haveCPU {
				b.ReportMetric((cpu1-cpu0).Seconds()/float64(b.N), "cpu-s/step")
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/step")
		})
	}
}
