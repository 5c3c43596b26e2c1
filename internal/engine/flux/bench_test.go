package flux

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/engine/quant"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// memStore is a Store over tensors held in memory.
type memStore map[string]StoredTensor

func (m memStore) Tensor(name string) (StoredTensor, bool) { t, ok := m[name]; return t, ok }
func (m memStore) Close() error                            { return nil }
func (m memStore) Names() []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fluxWidthModel is FLUX.1's embedders, one double and one single block and the final layer at FLUX.1's
// widths, with random weights stored as typ ("BF16" or "Q8_0") in BFL names.
func fluxWidthModel(b *testing.B, typ string) *Transformer {
	const h, mlp = 3072, 12288
	rng := rand.New(rand.NewPCG(1, 1))
	st := memStore{}
	lin := func(name, typ string, out, in int) {
		t, _ := quant.ParseType(typ)
		rb, err := quant.RowBytes(t, in)
		if err != nil {
			b.Fatal(err)
		}
		data := make([]byte, rb*out)
		for i := 0; i+8 <= len(data); i += 8 {
			binary.LittleEndian.PutUint64(data[i:], rng.Uint64())
		}
		step := map[string]int{"BF16": 2, "Q8_0": 34}[typ]
		for i := 0; i < len(data); i += step {
			v := binary.LittleEndian.Uint16(data[i:])
			if typ == "BF16" {
				v = 0x3c00 | v&0x807f // |x| in [2⁻⁷, 2⁻⁶)
			} else {
				v = 0x1400 // block scale ≈ 1e-3
			}
			binary.LittleEndian.PutUint16(data[i:], v)
		}
		st[name+".weight"] = StoredTensor{Shape: []int{out, in}, Type: typ, Data: data}
		bias := make([]byte, 4*out)
		st[name+".bias"] = StoredTensor{Shape: []int{out}, Type: "F32", Data: bias}
	}
	norm := func(name string) {
		v := make([]byte, 4*128)
		for i := range 128 {
			binary.LittleEndian.PutUint32(v[4*i:], math.Float32bits(1))
		}
		st[name] = StoredTensor{Shape: []int{128}, Type: "F32", Data: v}
	}
	lin("img_in", "BF16", h, 64)
	lin("txt_in", "BF16", h, 4096)
	for _, e := range []struct {
		name string
		in   int
	}{{"time_in", 256}, {"guidance_in", 256}, {"vector_in", 768}} {
		lin(e.name+".in_layer", "BF16", h, e.in)
		lin(e.name+".out_layer", "BF16", h, h)
	}
	for _, s := range []string{"img", "txt"} {
		p := "double_blocks.0." + s
		lin(p+"_mod.lin", typ, 6*h, h)
		lin(p+"_attn.qkv", typ, 3*h, h)
		lin(p+"_attn.proj", typ, h, h)
		lin(p+"_mlp.0", typ, mlp, h)
		lin(p+"_mlp.2", typ, h, mlp)
		norm(p + "_attn.norm.query_norm.scale")
		norm(p + "_attn.norm.key_norm.scale")
	}
	lin("single_blocks.0.modulation.lin", typ, 3*h, h)
	lin("single_blocks.0.linear1", typ, 3*h+mlp, h)
	lin("single_blocks.0.linear2", typ, h, h+mlp)
	norm("single_blocks.0.norm.query_norm.scale")
	norm("single_blocks.0.norm.key_norm.scale")
	lin("final_layer.adaLN_modulation.1", "BF16", 2*h, h)
	lin("final_layer.linear", "BF16", 64, h)
	cfg := FLUX1Config(true)
	cfg.NumLayers, cfg.NumSingleLayers = 1, 1
	m, err := NewTransformer(st, LoadOptions{Config: &cfg})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkFluxBlocks times one double-stream and one single-stream block at FLUX.1's widths on a 256²
// image (256 image + 512 text tokens); bench/flux.sh times 1024² and 512² steps against PyTorch.
func BenchmarkFluxBlocks(b *testing.B) {
	for _, typ := range []string{"BF16", "Q8_0"} {
		b.Run(typ, func(b *testing.B) {
			m := fluxWidthModel(b, typ)
			n, l := 256, 512
			in := Inputs{Img: tensor.New(1, n, 64), Txt: tensor.New(1, l, 4096), Pooled: tensor.New(1, 768),
				ImgIDs: ImageIDs(32, 32), TxtIDs: TextIDs(l), Timestep: []float32{0.5}, Guidance: []float32{3.5}}
			var blocks time.Duration
			for b.Loop() {
				var t0 time.Time
				_, err := m.Forward(context.Background(), in, CallOptions{Trace: func(name string, _ *tensor.Tensor) {
					switch name {
					case "context_embedder":
						t0 = time.Now()
					case "single_transformer_blocks.0":
						blocks += time.Since(t0)
					}
				}})
				if err != nil {
					b.Fatal(err)
				}
			}
			s := float64(n + l)
			flop := 2 * (2*s*(4*3072*3072+2*3072*12288) + 4*s*s*3072)
			b.ReportMetric(flop/1e9/(blocks.Seconds()/float64(b.N)), "block-GFLOP/s")
		})
	}
}
