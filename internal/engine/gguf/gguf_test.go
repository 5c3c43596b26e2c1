package gguf

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/quant"
)

// manifestTensor is one tensor entry of testdata/flux-tiny/manifest.json.
type manifestTensor struct {
	Name       string `json:"name"`
	GGMLType   string `json:"ggml_type"`
	Dims       []int  `json:"gguf_dims_ne"`
	TorchShape []int  `json:"torch_shape"`
	NBytes     int64  `json:"n_bytes"`
	DataOffset int64  `json:"data_offset"`
	SHA256     string `json:"dequant_sha256_f32le"`
}

type manifestFile struct {
	Metadata map[string]any  `json:"metadata"`
	Tensors  json.RawMessage `json:"tensors"`
	Bytes    int64           `json:"bytes"`
}

func loadManifest(t *testing.T) map[string]manifestFile {
	t.Helper()
	p, err := goldens.Path("flux-tiny", "manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Files map[string]manifestFile `json:"files"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Files
}

func fixture(t *testing.T, elem ...string) string {
	t.Helper()
	p, err := goldens.Path(append([]string{"flux-tiny"}, elem...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func f32le(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// TestFixtureFiles checks every GGUF file of the fixture against the
// manifest: metadata, every tensor's name, type, dims, size and absolute
// offset, and the sha256 of its decoded float32 bytes (gguf-py's, exactly).
func TestFixtureFiles(t *testing.T) {
	files := loadManifest(t)
	var names []string
	for name := range files {
		if strings.HasPrefix(name, "gguf/") && strings.HasSuffix(name, ".gguf") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) != 10 {
		t.Fatalf("manifest lists %d GGUF files, want 10", len(names))
	}
	seenTypes := map[quant.Type]bool{}
	for _, name := range names {
		t.Run(filepath.Base(name), func(t *testing.T) {
			mf := files[name]
			var tensors []manifestTensor
			if err := json.Unmarshal(mf.Tensors, &tensors); err != nil {
				t.Fatal(err)
			}
			f, err := Open(fixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h := f.Header
			if h.Version != 3 || h.Alignment != 32 {
				t.Errorf("version %d alignment %d, want 3 and 32", h.Version, h.Alignment)
			}
			if h.DataOffset+h.DataSize != mf.Bytes {
				t.Errorf("data offset %d + size %d != file size %d", h.DataOffset, h.DataSize, mf.Bytes)
			}
			for key, want := range mf.Metadata {
				v, ok := h.Metadata[key]
				if !ok {
					t.Errorf("metadata %q missing", key)
					continue
				}
				switch w := want.(type) {
				case string:
					if s, _ := v.Str(); s != w {
						t.Errorf("metadata %q = %v, want %q", key, v, w)
					}
				case float64:
					if u, _ := v.Uint(); float64(u) != w {
						t.Errorf("metadata %q = %v, want %v", key, v, w)
					}
				}
			}
			if len(h.Tensors) != len(tensors) {
				t.Fatalf("%d tensors, manifest has %d", len(h.Tensors), len(tensors))
			}
			for i, want := range tensors {
				got := h.Tensors[i]
				if got.Name != want.Name || got.Type.String() != want.GGMLType || !slices.Equal(got.Dims, want.Dims) ||
					!slices.Equal(got.Shape(), want.TorchShape) || got.Size != want.NBytes || h.DataOffset+got.Offset != want.DataOffset {
					t.Errorf("tensor %d: got %s %s %v %v (%d bytes at %d), want %s %s %v %v (%d at %d)", i,
						got.Name, got.Type, got.Dims, got.Shape(), got.Size, h.DataOffset+got.Offset,
						want.Name, want.GGMLType, want.Dims, want.TorchShape, want.NBytes, want.DataOffset)
					continue
				}
				seenTypes[got.Type] = true
				vals, shape, err := f.Float32(got.Name)
				if err != nil {
					t.Errorf("%s: %v", got.Name, err)
					continue
				}
				if !slices.Equal(shape, want.TorchShape) {
					t.Errorf("%s: shape %v, want %v", got.Name, shape, want.TorchShape)
				}
				sum := sha256.Sum256(f32le(vals))
				if hex.EncodeToString(sum[:]) != want.SHA256 {
					t.Errorf("%s (%s): decoded sha256 %x differs from gguf-py's", got.Name, got.Type, sum)
				}
			}
		})
	}
	// The fixture covers 13 types; all of them must have been decoded above.
	for _, ty := range []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0, quant.Q4_1,
		quant.Q5_0, quant.Q5_1, quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K} {
		if !seenTypes[ty] {
			t.Errorf("type %s never checked", ty)
		}
	}
}

// TestGoldenTensors compares the stored gguf-py dequantizations value for value.
func TestGoldenTensors(t *testing.T) {
	cases := []struct{ gguf, goldens, prefix string }{
		{"quant_blocks.gguf", "quant_blocks.goldens.safetensors", "blocks."},
	}
	for _, v := range []string{"dev-tiny-BF16", "dev-tiny-Q8_0", "dev-tiny-Q5_1", "dev-tiny-Q4_0", "dev-tiny-Q6_K",
		"dev-tiny-Q5_K_S", "dev-tiny-Q4_K_S", "schnell-tiny-Q8_0", "schnell-tiny-Q4_K_S"} {
		cases = append(cases, struct{ gguf, goldens, prefix string }{"flux1-" + v + ".gguf", "flux1-" + v + ".goldens.safetensors", "dequant."})
	}
	checked := 0
	for _, c := range cases {
		f, err := Open(fixture(t, "gguf", c.gguf))
		if err != nil {
			t.Fatal(err)
		}
		gold, err := goldens.Load(fixture(t, "gguf", c.goldens))
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range goldens.Names(gold) {
			name, ok := strings.CutPrefix(key, c.prefix)
			if !ok {
				continue
			}
			if c.prefix == "blocks." {
				name = key // quant_blocks.gguf names its tensors blocks.<TYPE>
			}
			want := gold[key]
			got, shape, err := f.Float32(name)
			if err != nil {
				t.Fatalf("%s %s: %v", c.gguf, name, err)
			}
			if !slices.Equal(shape, want.Shape) {
				t.Fatalf("%s %s: shape %v, want %v", c.gguf, name, shape, want.Shape)
			}
			for i, w := range want.Float32() {
				if math.Float32bits(got[i]) != math.Float32bits(w) {
					t.Fatalf("%s %s[%d] = %g, gguf-py %g", c.gguf, name, i, got[i], w)
				}
			}
			checked++
		}
		f.Close()
	}
	if checked != 13+9*4 {
		t.Errorf("checked %d golden tensors, want %d", checked, 13+9*4)
	}
}

func TestMatrixView(t *testing.T) {
	f, err := Open(fixture(t, "gguf", "flux1-dev-tiny-Q4_K_S.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := f.Matrix("double_blocks.0.img_mlp.2.weight")
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != quant.Q4_K || m.Rows != 64 || m.Cols != 256 {
		t.Fatalf("matrix %s %d×%d, want Q4_K 64×256", m.Type, m.Rows, m.Cols)
	}
	bias, err := f.Matrix("double_blocks.0.img_mlp.2.bias")
	if err != nil {
		t.Fatal(err)
	}
	if bias.Rows != 1 || bias.Cols != 64 {
		t.Fatalf("bias %d×%d, want 1×64", bias.Rows, bias.Cols)
	}
	if _, err := f.Matrix("missing"); err == nil {
		t.Fatal("missing tensor: no error")
	}
	if h, _ := f.Header.Metadata["general.architecture"].Str(); h != "flux" || f.Header.String("general.architecture") != "flux" {
		t.Fatalf("architecture %q", h)
	}
}
