package flux

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/invokego/invokego/internal/engine/safetensors"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// synthShapes lists the BFL-layout tensors of a transformer with the given
// widths (mlp is the MLP width), as a name → shape map.
func synthShapes(hidden, headDim, in, txt, pooled, mlp, double, single int, guidance bool) map[string][]int {
	s := map[string][]int{}
	lin := func(name string, out, in int) {
		s[name+".weight"] = []int{out, in}
		s[name+".bias"] = []int{out}
	}
	lin("img_in", hidden, in)
	lin("txt_in", hidden, txt)
	lin("time_in.in_layer", hidden, timeEmbedDim)
	lin("time_in.out_layer", hidden, hidden)
	if guidance {
		lin("guidance_in.in_layer", hidden, timeEmbedDim)
		lin("guidance_in.out_layer", hidden, hidden)
	}
	lin("vector_in.in_layer", hidden, pooled)
	lin("vector_in.out_layer", hidden, hidden)
	for i := range double {
		p := "double_blocks." + strconv.Itoa(i) + "."
		for _, m := range []string{"img", "txt"} {
			lin(p+m+"_mod.lin", 6*hidden, hidden)
			lin(p+m+"_attn.qkv", 3*hidden, hidden)
			s[p+m+"_attn.norm.query_norm.scale"] = []int{headDim}
			s[p+m+"_attn.norm.key_norm.scale"] = []int{headDim}
			lin(p+m+"_attn.proj", hidden, hidden)
			lin(p+m+"_mlp.0", mlp, hidden)
			lin(p+m+"_mlp.2", hidden, mlp)
		}
	}
	for i := range single {
		p := "single_blocks." + strconv.Itoa(i) + "."
		lin(p+"modulation.lin", 3*hidden, hidden)
		lin(p+"linear1", 3*hidden+mlp, hidden)
		lin(p+"linear2", hidden, hidden+mlp)
		s[p+"norm.query_norm.scale"] = []int{headDim}
		s[p+"norm.key_norm.scale"] = []int{headDim}
	}
	lin("final_layer.adaLN_modulation.1", 2*hidden, hidden)
	lin("final_layer.linear", in, hidden)
	return s
}

// synthFile writes random float32 weights of the given shapes as a
// safetensors file and returns its bytes.
func synthFile(t testing.TB, shapes map[string][]int, seed uint64) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	ts := map[string]safetensors.WriteTensor{}
	for name, shape := range shapes {
		data := make([]float32, tensor.NumElements(shape))
		for i := range data {
			data[i] = float32(rng.NormFloat64() * 0.2)
		}
		ts[name] = safetensors.F32Tensor(shape, data)
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// smallInputs are inputs for a model with the given widths: 2×2 latent
// tokens and 3 text tokens.
func smallInputs(c Config) Inputs {
	in := Inputs{
		Img:      tensor.New(1, 4, c.InChannels),
		Txt:      tensor.New(1, 3, c.JointAttentionDim),
		Pooled:   tensor.New(1, c.PooledProjectionDim),
		ImgIDs:   ImageIDs(4, 4),
		TxtIDs:   TextIDs(3),
		Timestep: []float32{0.5},
	}
	for i := range in.Img.Data {
		in.Img.Data[i] = float32(i%7) * 0.1
	}
	if c.GuidanceEmbeds {
		in.Guidance = []float32{3.5}
	}
	return in
}

func TestSynthModelLoads(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.safetensors")
	if err := os.WriteFile(p, synthFile(t, synthShapes(8, 8, 4, 4, 4, 16, 1, 1, true), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadTransformerFile(p, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Forward(context.Background(), smallInputs(m.Config), CallOptions{}); err != nil {
		t.Fatal(err)
	}
	// Missing and surplus tensors are refused.
	shapes := synthShapes(8, 8, 4, 4, 4, 16, 1, 1, true)
	delete(shapes, "single_blocks.0.linear2.weight")
	os.WriteFile(p, synthFile(t, shapes, 1), 0o644)
	if _, err := LoadTransformerFile(p, LoadOptions{}); err == nil {
		t.Error("missing linear2: no error")
	}
	shapes = synthShapes(8, 8, 4, 4, 4, 16, 1, 1, true)
	shapes["double_blocks.0.img_attn.qkv.weight"] = []int{20, 8}
	os.WriteFile(p, synthFile(t, shapes, 1), 0o644)
	if _, err := LoadTransformerFile(p, LoadOptions{}); err == nil {
		t.Error("qkv of the wrong height: no error")
	}
}

// headerOf returns the JSON header of a safetensors file.
func headerOf(file []byte) []byte {
	n := binary.LittleEndian.Uint64(file)
	return file[8 : 8+n]
}

// fileWithHeader builds a safetensors file from a header, with a zero data
// section as long as the largest offset the header names (at most 4 MiB).
func fileWithHeader(header []byte) []byte {
	var entries map[string]struct {
		Offsets []int64 `json:"data_offsets"`
	}
	size := int64(0)
	if json.Unmarshal(header, &entries) == nil {
		for _, e := range entries {
			for _, o := range e.Offsets {
				size = max(size, min(o, 4<<20))
			}
		}
	}
	file := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	file = append(file, header...)
	return append(file, make([]byte, size)...)
}

// FuzzLoadTransformer feeds mutated model headers (names, types, shapes,
// offsets; the data is zeros) to the loader: it must refuse or load them,
// and a loaded model must run, never panic.
func FuzzLoadTransformer(f *testing.F) {
	f.Add(headerOf(synthFile(f, synthShapes(8, 8, 4, 4, 4, 16, 1, 1, true), 1)))
	f.Add(headerOf(synthFile(f, synthShapes(8, 4, 4, 4, 4, 8, 1, 0, false), 2)))
	wrong := synthShapes(8, 8, 4, 4, 4, 16, 1, 1, true)
	wrong["single_blocks.0.linear2.weight"] = []int{8, 12}
	f.Add(headerOf(synthFile(f, wrong, 3)))
	wrong = synthShapes(8, 8, 4, 4, 4, 16, 1, 1, false)
	wrong["final_layer.linear.weight"] = []int{2, 8}
	f.Add(headerOf(synthFile(f, wrong, 4)))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, header []byte) {
		p := filepath.Join(dir, "m.safetensors")
		if err := os.WriteFile(p, fileWithHeader(header), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := LoadTransformerFile(p, LoadOptions{})
		if err != nil {
			return
		}
		if m.Config.Hidden() > 256 || m.Config.InChannels > 256 || m.Config.JointAttentionDim > 256 {
			return // loads, but too large to run quickly
		}
		if _, err := m.Forward(context.Background(), smallInputs(m.Config), CallOptions{}); err != nil {
			t.Fatalf("a loaded model fails: %v", err)
		}
	})
}
