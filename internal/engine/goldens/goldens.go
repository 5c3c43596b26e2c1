// Package goldens reads the reference tensors ("goldens") that the engine's
// tests compare against. It is a deliberately small, test-oriented
// safetensors reader: whole-file reads, every value widened to float64 or
// int64, and a locator for the repository's test fixtures (testdata/).
package goldens

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/invokego/invokego/internal/engine/torchmath"
)

// Tensor is one decoded tensor. Floating-point dtypes fill Floats (widening
// is exact for F16, BF16 and F32), integer and bool dtypes fill Ints.
type Tensor struct {
	DType  string
	Shape  []int
	Floats []float64
	Ints   []int64
	// Raw is the tensor's bytes as stored, for bit-exact comparisons.
	Raw []byte
}

// Numel is the number of elements the shape describes.
func (t Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32 returns the floating-point values narrowed to float32 (exact for
// tensors stored as F32, F16 or BF16).
func (t Tensor) Float32() []float32 {
	out := make([]float32, len(t.Floats))
	for i, v := range t.Floats {
		out[i] = float32(v)
	}
	return out
}

// maxHeader bounds the JSON header so a corrupt length cannot make us
// allocate gigabytes.
const maxHeader = 100 << 20

type headerEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Load reads every tensor of a safetensors file.
func Load(path string) (map[string]Tensor, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("goldens: %w", err)
	}
	ts, err := Parse(buf)
	if err != nil {
		return nil, fmt.Errorf("goldens: %s: %w", path, err)
	}
	return ts, nil
}

// Parse decodes an in-memory safetensors file.
func Parse(buf []byte) (map[string]Tensor, error) {
	if len(buf) < 8 {
		return nil, errors.New("file shorter than the 8-byte header length")
	}
	hlen := binary.LittleEndian.Uint64(buf[:8])
	if hlen > maxHeader || hlen > uint64(len(buf)-8) {
		return nil, fmt.Errorf("header length %d out of bounds (file %d bytes)", hlen, len(buf))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(buf[8:8+hlen], &raw); err != nil {
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	data := buf[8+hlen:]
	out := make(map[string]Tensor, len(raw))
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		var h headerEntry
		if err := json.Unmarshal(msg, &h); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		t, err := decode(h, data)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

func decode(h headerEntry, data []byte) (Tensor, error) {
	start, end := h.DataOffsets[0], h.DataOffsets[1]
	if start < 0 || end < start || end > int64(len(data)) {
		return Tensor{}, fmt.Errorf("data offsets [%d,%d) outside %d data bytes", start, end, len(data))
	}
	t := Tensor{DType: h.DType, Shape: h.Shape, Raw: data[start:end]}
	n := t.Numel()
	if n < 0 {
		return Tensor{}, fmt.Errorf("negative dimension in shape %v", h.Shape)
	}
	size, ok := map[string]int{
		"F64": 8, "F32": 4, "F16": 2, "BF16": 2,
		"I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
	}[h.DType]
	if !ok {
		return Tensor{}, fmt.Errorf("unsupported dtype %q", h.DType)
	}
	if int64(n)*int64(size) != end-start {
		return Tensor{}, fmt.Errorf("shape %v of %s needs %d bytes, have %d", h.Shape, h.DType, n*size, end-start)
	}
	b := t.Raw
	le := binary.LittleEndian
	switch h.DType {
	case "F64", "F32", "F16", "BF16":
		t.Floats = make([]float64, n)
		for i := range t.Floats {
			switch h.DType {
			case "F64":
				t.Floats[i] = math.Float64frombits(le.Uint64(b[8*i:]))
			case "F32":
				t.Floats[i] = float64(math.Float32frombits(le.Uint32(b[4*i:])))
			case "F16":
				t.Floats[i] = float64(torchmath.Float16ToFloat32(le.Uint16(b[2*i:])))
			case "BF16":
				t.Floats[i] = float64(math.Float32frombits(uint32(le.Uint16(b[2*i:])) << 16))
			}
		}
	default:
		t.Ints = make([]int64, n)
		for i := range t.Ints {
			switch h.DType {
			case "I64":
				t.Ints[i] = int64(le.Uint64(b[8*i:]))
			case "I32":
				t.Ints[i] = int64(int32(le.Uint32(b[4*i:])))
			case "I16":
				t.Ints[i] = int64(int16(le.Uint16(b[2*i:])))
			case "I8":
				t.Ints[i] = int64(int8(b[i]))
			case "U8", "BOOL":
				t.Ints[i] = int64(b[i])
			}
		}
	}
	return t, nil
}

// Names returns the tensor names in sorted order.
func Names(ts map[string]Tensor) []string {
	names := make([]string, 0, len(ts))
	for k := range ts {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// FixturesEnv names the environment variable that overrides where the test
// fixtures live.
const FixturesEnv = "INVOKEGO_FIXTURES"

// FixturesDir locates the test fixtures: $INVOKEGO_FIXTURES if set, otherwise
// the testdata folder at the repository root (the folder holding go.mod, found
// by walking up from the working directory). Nothing above the repository root
// is consulted: a clone must test on its own (testdata/README.md lists the files).
func FixturesDir() (string, error) {
	if dir := os.Getenv(FixturesEnv); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return "", fmt.Errorf("goldens: %s=%q is not a directory", FixturesEnv, dir)
		}
		return dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("goldens: %w", err)
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			cand := filepath.Join(dir, "testdata")
			if st, err := os.Stat(cand); err != nil || !st.IsDir() {
				return "", fmt.Errorf("goldens: the repository root %s has no testdata folder; set %s", dir, FixturesEnv)
			}
			return cand, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("goldens: no go.mod above %s; set %s", wd, FixturesEnv)
		}
		dir = parent
	}
}

// Path joins elements onto the fixtures directory.
func Path(elem ...string) (string, error) {
	dir, err := FixturesDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(append([]string{dir}, elem...)...), nil
}
