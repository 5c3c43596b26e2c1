package t5

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/invokego/invokego/internal/engine/gguf"
	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/quant"
	"github.com/invokego/invokego/internal/engine/safetensors"
	"github.com/invokego/invokego/internal/engine/torchmath"
)

// storedTensor is one tensor to write into a test GGUF file.
type storedTensor struct {
	name  string
	shape []int // PyTorch order
	typ   quant.Type
	data  []byte
}

// quantizeQ8_0 encodes rows of float32 as Q8_0 blocks (scale max|x|/127).
func quantizeQ8_0(x []float32) []byte {
	var out []byte
	for b := 0; b < len(x); b += 32 {
		blk := x[b : b+32]
		amax := float32(0)
		for _, v := range blk {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		out = binary.LittleEndian.AppendUint16(out, torchmath.Float32ToFloat16(d))
		for _, v := range blk {
			q := 0.0
			if d != 0 {
				q = math.Round(float64(v / d))
			}
			out = append(out, byte(int8(max(-127, min(127, q)))))
		}
	}
	return out
}

func encodeAs(t quant.Type, x []float32) []byte {
	var out []byte
	switch t {
	case quant.F32:
		for _, v := range x {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
		}
	case quant.F16:
		for _, v := range x {
			out = binary.LittleEndian.AppendUint16(out, torchmath.Float32ToFloat16(v))
		}
	case quant.Q8_0:
		out = quantizeQ8_0(x)
	}
	return out
}

// writeGGUF writes tensors (dims reversed, 32-byte aligned) and metadata
// as llama.cpp's T5 encoder files are laid out.
func writeGGUF(t *testing.T, path string, tensors []storedTensor, eps float32) {
	writeGGUFTB(t, path, tensors, eps)
}

func writeGGUFTB(t testing.TB, path string, tensors []storedTensor, eps float32) {
	var h bytes.Buffer
	le := binary.LittleEndian
	str := func(s string) {
		_ = binary.Write(&h, le, uint64(len(s)))
		h.WriteString(s)
	}
	_ = binary.Write(&h, le, uint32(0x46554747))
	_ = binary.Write(&h, le, uint32(3))
	_ = binary.Write(&h, le, uint64(len(tensors)))
	_ = binary.Write(&h, le, uint64(2))
	str("general.architecture")
	_ = binary.Write(&h, le, uint32(8))
	str("t5encoder")
	str("t5encoder.attention.layer_norm_rms_epsilon")
	_ = binary.Write(&h, le, uint32(6))
	_ = binary.Write(&h, le, math.Float32bits(eps))
	off := 0
	var data bytes.Buffer
	for _, ts := range tensors {
		str(ts.name)
		_ = binary.Write(&h, le, uint32(len(ts.shape)))
		for i := len(ts.shape) - 1; i >= 0; i-- {
			_ = binary.Write(&h, le, uint64(ts.shape[i]))
		}
		_ = binary.Write(&h, le, uint32(ts.typ))
		_ = binary.Write(&h, le, uint64(off))
		data.Write(ts.data)
		for data.Len()%32 != 0 {
			data.WriteByte(0)
		}
		off = data.Len()
	}
	for h.Len()%32 != 0 {
		h.WriteByte(0)
	}
	h.Write(data.Bytes())
	if err := os.WriteFile(path, h.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tinyAsGGUF converts the fixture's T5 into GGUF with 2-D weights stored
// as weightType (the embedding and the relative bias too), norms as F32.
func tinyAsGGUF(t *testing.T, weightType quant.Type) string {
	st, err := safetensors.Open(fixture(t, "models", "flux-dev-tiny", "text_encoder_2", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	names := st.Names()
	sort.Strings(names)
	var tensors []storedTensor
	for _, n := range names {
		vals, shape, err := st.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		typ := quant.F32
		if len(shape) == 2 && shape[1]%32 == 0 {
			typ = weightType
		}
		tensors = append(tensors, storedTensor{name: ggufName(n), shape: shape, typ: typ, data: encodeAs(typ, vals)})
	}
	p := filepath.Join(t.TempDir(), "t5-"+weightType.String()+".gguf")
	writeGGUF(t, p, tensors, 1e-6)
	return p
}

// memSource serves float32 weights from memory.
type memSource map[string]quant.Matrix

func (m memSource) matrix(name string) (quant.Matrix, []int, bool) {
	x, ok := m[name]
	return x, []int{x.Rows, x.Cols}, ok
}

func (memSource) close() error { return nil }

// TestGGUF loads the fixture's T5 converted to GGUF: in float32 it must
// meet the goldens; quantized, it must compute exactly what the same
// dequantized weights give in float32.
func TestGGUF(t *testing.T) {
	g, err := goldens.Load(fixture(t, "goldens", "text_encoders.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ids := ints(g["t5.lighthouse.L256.input_ids"])
	ref := loadTiny(t, quant.Options{})
	for _, wt := range []quant.Type{quant.F32, quant.F16, quant.Q8_0} {
		path := tinyAsGGUF(t, wt)
		e, err := LoadGGUF(path, quant.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if e.Config() != ref.Config() {
			t.Fatalf("%s: config %+v, want %+v", wt, e.Config(), ref.Config())
		}
		out, err := e.Forward(context.Background(), ids, false)
		if err != nil {
			t.Fatal(err)
		}
		if wt == quant.F32 {
			within(t, "gguf F32", out.LastHiddenState, g["t5.lighthouse.L256.last_hidden_state"], 1e-4)
		} else {
			// The same encoder built from the decoded weights, in float32.
			dense := memSource{}
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			src := &ggufSource{f: f}
			for _, name := range allNames(e.Config()) {
				m, _, ok := src.matrix(name)
				if !ok {
					t.Fatalf("%s missing", name)
				}
				vals, err := m.Float32()
				if err != nil {
					t.Fatal(err)
				}
				dense[name], _ = quant.FromFloat32(m.Rows, m.Cols, vals)
			}
			de, err := build(e.Config(), dense, quant.Options{})
			if err != nil {
				t.Fatal(err)
			}
			want, err := de.Forward(context.Background(), ids, false)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.LastHiddenState.Data, want.LastHiddenState.Data) {
				t.Fatalf("%s: output differs from the float32 model of the same weights", wt)
			}
			// And stays near the unquantized goldens.
			within(t, "gguf "+wt.String(), out.LastHiddenState, g["t5.lighthouse.L256.last_hidden_state"], 2e-2)
		}
		e.Close()
	}
}

// allNames lists the transformers names of a gated encoder's tensors.
func allNames(c Config) []string {
	names := []string{"shared.weight", "encoder.final_layer_norm.weight", "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"}
	for i := range c.NumLayers {
		p := "encoder.block." + strconv.Itoa(i) + ".layer."
		for _, s := range []string{"0.SelfAttention.q", "0.SelfAttention.k", "0.SelfAttention.v", "0.SelfAttention.o", "0.layer_norm",
			"1.layer_norm", "1.DenseReluDense.wi_0", "1.DenseReluDense.wi_1", "1.DenseReluDense.wo"} {
			names = append(names, p+s+".weight")
		}
	}
	return names
}

func TestGGUFShapeErrors(t *testing.T) {
	st, err := safetensors.Open(fixture(t, "models", "flux-dev-tiny", "text_encoder_2", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var tensors []storedTensor
	for _, n := range st.Names() {
		vals, shape, err := st.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		tensors = append(tensors, storedTensor{name: ggufName(n), shape: shape, typ: quant.F32, data: encodeAs(quant.F32, vals)})
	}
	mutate := map[string]func([]storedTensor) []storedTensor{
		"missing ffn_down": func(ts []storedTensor) []storedTensor {
			return slices.DeleteFunc(ts, func(s storedTensor) bool { return s.name == "enc.blk.1.ffn_down.weight" })
		},
		"wrong attn_o shape": func(ts []storedTensor) []storedTensor {
			for i := range ts {
				if ts[i].name == "enc.blk.0.attn_o.weight" {
					ts[i].shape = []int{16, 64} // same bytes, other shape
				}
			}
			return ts
		},
		"no embedding": func(ts []storedTensor) []storedTensor {
			return slices.DeleteFunc(ts, func(s storedTensor) bool { return s.name == "token_embd.weight" })
		},
	}
	for name, m := range mutate {
		p := filepath.Join(t.TempDir(), "bad.gguf")
		writeGGUF(t, p, m(slices.Clone(tensors)), 1e-6)
		if e, err := LoadGGUF(p, quant.Options{}); err == nil {
			e.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}

// synthGGUF returns a small random T5 encoder (vocab 64, d_model 32, one
// layer, 2 heads of 16, d_ff 64) as GGUF bytes, Q8_0 matrices and F32 norms.
func synthGGUF(t testing.TB) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	randv := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.2)
		}
		return v
	}
	mat := func(name string, rows, cols int, typ quant.Type) storedTensor {
		return storedTensor{name: name, shape: []int{rows, cols}, typ: typ, data: encodeAs(typ, randv(rows*cols))}
	}
	vec := func(name string, n int) storedTensor {
		return storedTensor{name: name, shape: []int{n}, typ: quant.F32, data: encodeAs(quant.F32, randv(n))}
	}
	ts := []storedTensor{
		mat("token_embd.weight", 64, 32, quant.Q8_0),
		mat("enc.blk.0.attn_rel_b.weight", 32, 2, quant.F32),
		mat("enc.blk.0.attn_q.weight", 32, 32, quant.Q8_0),
		mat("enc.blk.0.attn_k.weight", 32, 32, quant.Q8_0),
		mat("enc.blk.0.attn_v.weight", 32, 32, quant.Q8_0),
		mat("enc.blk.0.attn_o.weight", 32, 32, quant.Q8_0),
		mat("enc.blk.0.ffn_gate.weight", 64, 32, quant.Q8_0),
		mat("enc.blk.0.ffn_up.weight", 64, 32, quant.Q8_0),
		mat("enc.blk.0.ffn_down.weight", 32, 64, quant.Q8_0),
		vec("enc.blk.0.attn_norm.weight", 32),
		vec("enc.blk.0.ffn_norm.weight", 32),
		vec("enc.output_norm.weight", 32),
	}
	p := filepath.Join(t.TempDir(), "synth.gguf")
	writeGGUFTB(t, p, ts, 1e-6)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzLoadGGUF mutates a small T5 GGUF file: loading must fail cleanly or
// give an encoder that encodes without panicking.
func FuzzLoadGGUF(f *testing.F) {
	f.Add(synthGGUF(f))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "fuzz.gguf")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		e, err := LoadGGUF(p, quant.Options{})
		if err != nil {
			return
		}
		defer e.Close()
		n := min(8, e.Config().VocabSize)
		ids := make([]int, n)
		for i := range ids {
			ids[i] = i
		}
		if _, err := e.Forward(context.Background(), ids, true); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSynthGGUF(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.gguf")
	if err := os.WriteFile(p, synthGGUF(t), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := LoadGGUF(p, quant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if c := e.Config(); c.NumLayers != 1 || c.NumHeads != 2 || c.DKV != 16 || c.DFF != 64 || c.VocabSize != 64 {
		t.Fatalf("config %+v", c)
	}
	out, err := e.Forward(context.Background(), []int{5, 9, 1, 0}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out.LastHiddenState.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("non-finite output")
		}
	}
}
