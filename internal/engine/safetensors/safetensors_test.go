package safetensors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

// fixturesDir is the repository's testdata folder (goldens.FixturesDir),
// or uses $INVOKEGO_FIXTURES.
func fixturesDir(t testing.TB) string {
	t.Helper()
	dir, err := goldens.FixturesDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestOpenFixtures(t *testing.T) {
	root := filepath.Join(fixturesDir(t), "sd-tiny")
	cases := []struct {
		path    string
		tensor  string
		dtype   DType
		shape   []int
		wantMin int
	}{
		{"models/sd15-tiny/unet/diffusion_pytorch_model.safetensors", "conv_in.weight", F32, []int{32, 4, 3, 3}, 304},
		{"models/sd15-tiny-single.safetensors", "model.diffusion_model.input_blocks.0.0.weight", F16, []int{32, 4, 3, 3}, 533},
		{"goldens/unet.safetensors", "timestep_t10", I64, []int{}, 10},
	}
	for _, c := range cases {
		f, err := Open(filepath.Join(root, c.path))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(f.Names()); n < c.wantMin {
			t.Errorf("%s: %d tensors, want >= %d", c.path, n, c.wantMin)
		}
		info, ok := f.Info(c.tensor)
		if !ok {
			t.Fatalf("%s: %s missing", c.path, c.tensor)
		}
		if info.DType != c.dtype || !slices.Equal(info.Shape, c.shape) {
			t.Errorf("%s: %s is %s %v, want %s %v", c.path, c.tensor, info.DType, info.Shape, c.dtype, c.shape)
		}
		if _, _, err := f.Float32(c.tensor); err != nil {
			t.Error(err)
		}
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}
}

// The single-file checkpoint stores the folder's weights in float16; both
// must convert to identical float32 values.
func TestF16MatchesF32Folder(t *testing.T) {
	root := filepath.Join(fixturesDir(t), "sd-tiny", "models")
	single, err := Open(filepath.Join(root, "sd15-tiny-single.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	folder, err := Open(filepath.Join(root, "sd15-tiny-pipe", "unet", "diffusion_pytorch_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer folder.Close()
	a, _, err := single.Float32("model.diffusion_model.input_blocks.0.0.weight")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := folder.Float32("conv_in.weight")
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("element %d: f16 %v != f32 %v", i, a[i], b[i])
		}
	}
	ids, shape, err := single.Int64("cond_stage_model.transformer.text_model.embeddings.position_ids")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shape, []int{1, 77}) || ids[76] != 76 {
		t.Errorf("position_ids %v %v", shape, ids[70:])
	}
}

func TestWriteRoundTrip(t *testing.T) {
	data := []float32{1, -2.5, 3.25, 0, float32(math.Inf(1)), 65504}
	var buf bytes.Buffer
	err := Write(&buf, map[string]WriteTensor{
		"b.f32":  F32Tensor([]int{2, 3}, data),
		"a.f16":  F16Tensor([]int{6}, data),
		"scalar": F32Tensor([]int{}, []float32{7}),
		"empty":  F32Tensor([]int{0, 4}, nil),
	}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata())
	}
	if f.Header.DataOffset%8 != 0 {
		t.Errorf("data offset %d not aligned", f.Header.DataOffset)
	}
	for _, name := range []string{"a.f16", "b.f32"} {
		got, shape, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 6 || len(shape) == 0 {
			t.Fatalf("%s: %v %v", name, got, shape)
		}
		for i := range data {
			if got[i] != data[i] {
				t.Errorf("%s[%d] = %v, want %v", name, i, got[i], data[i])
			}
		}
	}
	s, shape, _ := f.Float32("scalar")
	if len(s) != 1 || s[0] != 7 || len(shape) != 0 {
		t.Errorf("scalar %v %v", s, shape)
	}
	e, shape, _ := f.Float32("empty")
	if len(e) != 0 || !slices.Equal(shape, []int{0, 4}) {
		t.Errorf("empty %v %v", e, shape)
	}
}

func TestBF16Conversion(t *testing.T) {
	if got := BF16ToFloat32Check(); got != 1.5 {
		t.Errorf("bf16 %v", got)
	}
}

// BF16ToFloat32Check converts the bfloat16 encoding of 1.5 (0x3fc0).
func BF16ToFloat32Check() float32 {
	v, _ := ToFloat32(BF16, []byte{0xc0, 0x3f})
	return v[0]
}

func rawFile(header string, data int) []byte {
	b := make([]byte, 8+len(header)+data)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	copy(b[8:], header)
	return b
}

func TestParseHeaderRejects(t *testing.T) {
	bad := map[string][]byte{
		"short":         {1, 2, 3},
		"huge length":   append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, make([]byte, 16)...),
		"length > file": append([]byte{100, 0, 0, 0, 0, 0, 0, 0}, []byte("{}")...),
		"not json":      rawFile("{nope", 0),
		"array":         rawFile("[]", 0),
		"unknown dtype": rawFile(`{"a":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}}`, 4),
		"negative dim":  rawFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4),
		"overflow":      rawFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, 4),
		"size mismatch": rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 8),
		"beyond data":   rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4),
		"gap":           rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8),
		"overlap":       rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8),
		"reversed":      rawFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, 8),
		"three offsets": rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, 4),
		"missing shape": rawFile(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4),
		"bad metadata":  rawFile(`{"__metadata__":{"a":1}}`, 0),
		"trailing json": rawFile(`{} {}`, 0),
		"float dim":     rawFile(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4),
	}
	for name, b := range bad {
		if _, err := ParseHeader(bytes.NewReader(b), int64(len(b))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := rawFile(`{"__metadata__":{"k":"v"},"w":{"dtype":"F8_E4M3","shape":[2,2],"data_offsets":[0,4]},"z":{"dtype":"BOOL","shape":[0],"data_offsets":[4,4]}}   `, 4)
	h, err := ParseHeader(bytes.NewReader(ok), int64(len(ok)))
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := h.Info("w"); info.DType != F8E4M3 || h.Metadata["k"] != "v" {
		t.Errorf("parsed %+v %v", info, h.Metadata)
	}
	if _, err := ToFloat32(F8E4M3, make([]byte, 4)); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("fp8 conversion: %v", err)
	}
}

// FuzzParseHeader checks that no input makes ParseHeader panic or accept a
// tensor outside the file. The seeds are real headers of a kilobyte or more,
// and the fuzzer's default 60 s minimisation of each new input stalls
// progress on them; run it as
//
//	go test -run XXX -fuzz FuzzParseHeader -fuzzminimizetime 2s ./internal/engine/safetensors
func FuzzParseHeader(f *testing.F) {
	root := filepath.Join(fixturesDir(f), "sd-tiny")
	for _, p := range []string{
		"models/sd15-tiny/text_encoder/model.safetensors",
		"models/sd15-tiny-single.safetensors",
		"goldens/unet.safetensors",
	} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			f.Fatal(err)
		}
		hlen := binary.LittleEndian.Uint64(b)
		// Seed with the header plus a little data, to keep inputs small.
		end := 8 + int(hlen) + 64
		if end > len(b) {
			end = len(b)
		}
		f.Add(b[:end])
	}
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4))
	// Hostile shapes: a size that wraps to zero, deep nesting, a long list of tiny tensors.
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, 0))
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":`+strings.Repeat("[", 3000)+strings.Repeat("]", 3000)+`,"data_offsets":[0,0]}}`, 0))
	var many strings.Builder
	many.WriteString("{")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&many, `"t%d":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},`, i)
	}
	many.WriteString(`"__metadata__":{}}`)
	f.Add(rawFile(many.String(), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, ti := range h.Tensors {
			if h.DataOffset+ti.End > int64(len(b)) || ti.End-ti.Begin != int64(ti.NumElements()*ti.DType.Size()) {
				t.Fatalf("accepted inconsistent tensor %+v", ti)
			}
		}
	})
}

// TestEvictKeepsContents: evicting a tensor's pages changes nothing a later
// read sees.
func TestEvictKeepsContents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	data := make([]float32, 5000)
	for i := range data {
		data[i] = float32(i) * 0.5
	}
	var buf bytes.Buffer
	if err := Write(&buf, map[string]WriteTensor{"a": F32Tensor([]int{50, 100}, data), "b": F32Tensor([]int{2}, []float32{1, 2})}, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before, _, err := f.Float32("a")
	if err != nil {
		t.Fatal(err)
	}
	f.Evict("a")
	f.Evict("missing") // ignored
	after, _, err := f.Float32("a")
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		if before[i] != data[i] || after[i] != data[i] {
			t.Fatalf("value %d: %v before, %v after eviction, want %v", i, before[i], after[i], data[i])
		}
	}
}
