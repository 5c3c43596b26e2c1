package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/quant"
)

// builder writes GGUF headers field by field, valid or not.
type builder struct{ bytes.Buffer }

func (b *builder) u32(v uint32) *builder {
	_ = binary.Write(&b.Buffer, binary.LittleEndian, v)
	return b
}

func (b *builder) u64(v uint64) *builder {
	_ = binary.Write(&b.Buffer, binary.LittleEndian, v)
	return b
}

func (b *builder) str(s string) *builder {
	b.u64(uint64(len(s)))
	b.WriteString(s)
	return b
}

func (b *builder) head(version uint32, tensors, kvs uint64) *builder {
	return b.u32(magic).u32(version).u64(tensors).u64(kvs)
}

// tensor writes a tensor description.
func (b *builder) tensor(name string, dims []uint64, typ quant.Type, off uint64) *builder {
	b.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		b.u64(d)
	}
	return b.u32(uint32(typ)).u64(off)
}

// pad aligns the buffer to 32 bytes and appends n data bytes.
func (b *builder) data(n int) []byte {
	for b.Len()%32 != 0 {
		b.WriteByte(0)
	}
	b.Write(make([]byte, n))
	return b.Bytes()
}

// validFile is a small well-formed file: two tensors and assorted metadata.
func validFile() []byte {
	b := &builder{}
	b.head(3, 2, 4)
	b.str("general.architecture").u32(uint32(TypeString)).str("flux")
	b.str("general.alignment").u32(uint32(TypeUint32)).u32(32)
	b.str("list").u32(uint32(TypeArray)).u32(uint32(TypeInt32)).u64(3).u32(1).u32(2).u32(3)
	b.str("names").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(2).str("a").str("bc")
	b.tensor("w", []uint64{64, 2}, quant.Q8_0, 0)
	b.tensor("b", []uint64{2}, quant.F32, 160)
	return b.data(168)
}

func TestValidHandMade(t *testing.T) {
	buf := validFile()
	h, err := ParseHeader(buf, int64(len(buf)))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := h.Tensor("w")
	if w.Size != 2*2*34 || w.Elements() != 128 {
		t.Fatalf("w: %+v", w)
	}
	arr, ok := h.Metadata["list"].Array()
	if !ok || len(arr) != 3 {
		t.Fatalf("list = %v", h.Metadata["list"])
	}
	if v, _ := arr[2].Int(); v != 3 {
		t.Fatalf("list[2] = %v", arr[2])
	}
	names, _ := h.Metadata["names"].Array()
	if s, _ := names[1].Str(); s != "bc" {
		t.Fatalf("names = %v", names)
	}
	// Through a real file too (the mapped path).
	p := filepath.Join(t.TempDir(), "x.gguf")
	if err := os.WriteFile(p, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, shape, err := f.Float32("w")
	if err != nil || len(v) != 128 || shape[0] != 2 || shape[1] != 64 {
		t.Fatalf("w: %v %v %v", len(v), shape, err)
	}
}

// TestHostileHeaders feeds malformed headers; each must fail with a clear
// error (never panic, never allocate by a hostile count).
func TestHostileHeaders(t *testing.T) {
	huge := uint64(math.MaxUint64)
	cases := map[string]struct {
		build func() []byte
		want  string
	}{
		"empty":         {func() []byte { return nil }, "need 4 bytes"},
		"bad magic":     {func() []byte { return []byte("GGML\x03\x00\x00\x00") }, "not a GGUF file"},
		"big-endian":    {func() []byte { return (&builder{}).u32(magic).u32(3 << 24).u64(0).u64(0).Bytes() }, "big-endian"},
		"version 1":     {func() []byte { return (&builder{}).head(1, 0, 0).Bytes() }, "unsupported version"},
		"tensor count":  {func() []byte { return (&builder{}).head(3, huge, 0).Bytes() }, "exceed the limit"},
		"tensors fit":   {func() []byte { return (&builder{}).head(3, 1000, 0).Bytes() }, "cannot fit"},
		"kv count":      {func() []byte { return (&builder{}).head(3, 0, huge).Bytes() }, "cannot fit"},
		"string length": {func() []byte { return (&builder{}).head(3, 0, 1).u64(huge).u64(0).Bytes() }, "exceeds the"},
		"string short": {func() []byte {
			b := (&builder{}).head(3, 0, 1).u64(100)
			b.Write(make([]byte, 20))
			return b.Bytes()
		}, "need 100 bytes"},
		"value type": {func() []byte { return (&builder{}).head(3, 0, 1).str("k").u32(99).u64(0).Bytes() }, "unknown type"},
		"array count": {func() []byte {
			return (&builder{}).head(3, 0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint64)).u64(1 << 40).Bytes()
		}, "exceeds what"},
		"array elem type": {func() []byte {
			return (&builder{}).head(3, 0, 1).str("k").u32(uint32(TypeArray)).u32(77).u64(1).Bytes()
		}, "unknown array element type"},
		"array depth": {func() []byte {
			b := (&builder{}).head(3, 0, 1).str("k").u32(uint32(TypeArray))
			for range 6 {
				b.u32(uint32(TypeArray)).u64(1)
			}
			b.Write(make([]byte, 64))
			return b.Bytes()
		}, "nested deeper"},
		"bool": {func() []byte {
			b := (&builder{}).head(3, 0, 1).str("k").u32(uint32(TypeBool))
			b.WriteByte(7)
			return b.Bytes()
		}, "bool value"},
		"duplicate key": {func() []byte {
			return (&builder{}).head(3, 0, 2).str("k").u32(uint32(TypeUint32)).u32(1).str("k").u32(uint32(TypeUint32)).u32(2).Bytes()
		}, "duplicate metadata"},
		"alignment": {func() []byte {
			return (&builder{}).head(3, 0, 1).str("general.alignment").u32(uint32(TypeUint32)).u32(48).Bytes()
		}, "power of two"},
		"alignment type": {func() []byte {
			return (&builder{}).head(3, 0, 1).str("general.alignment").u32(uint32(TypeString)).str("32").Bytes()
		}, "power of two"},
		"dims": {func() []byte {
			return (&builder{}).head(3, 1, 0).tensor("t", []uint64{1, 1, 1, 1, 1}, quant.F32, 0).data(4)
		}, "dimensions"},
		"dim overflow": {func() []byte {
			return (&builder{}).head(3, 1, 0).tensor("t", []uint64{1 << 40, 1 << 40}, quant.F32, 0).data(4)
		}, "overflows"},
		"dim huge": {func() []byte {
			return (&builder{}).head(3, 1, 0).tensor("t", []uint64{huge}, quant.F32, 0).data(4)
		}, "dimension 0"},
		"size overflow": {func() []byte {
			return (&builder{}).head(3, 1, 0).tensor("t", []uint64{1 << 31, 1 << 31}, quant.F64, 0).data(4)
		}, "overflows"},
		"type": {func() []byte {
			return (&builder{}).head(3, 1, 0).tensor("t", []uint64{4}, quant.Type(5), 0).data(16)
		}, "unknown ggml type"},
		"partial block": {func() []byte {
			return (&builder{}).head(3, 1, 0).tensor("t", []uint64{40, 2}, quant.Q4_K, 0).data(1000)
		}, "whole number"},
		"misaligned": {func() []byte {
			return (&builder{}).head(3, 1, 0).tensor("t", []uint64{4}, quant.F32, 4).data(64)
		}, "alignment"},
		"past end": {func() []byte {
			return (&builder{}).head(3, 1, 0).tensor("t", []uint64{64}, quant.F32, 0).data(255)
		}, "past the"},
		"offset huge": {func() []byte {
			return (&builder{}).head(3, 1, 0).tensor("t", []uint64{4}, quant.F32, 1<<63+32).data(16)
		}, "out of range"},
		"overlap": {func() []byte {
			return (&builder{}).head(3, 2, 0).tensor("a", []uint64{16}, quant.F32, 0).tensor("b", []uint64{16}, quant.F32, 32).data(128)
		}, "overlap"},
		"duplicate tensor": {func() []byte {
			return (&builder{}).head(3, 2, 0).tensor("a", []uint64{8}, quant.F32, 0).tensor("a", []uint64{8}, quant.F32, 32).data(64)
		}, "duplicate tensor"},
		"data start past end": {func() []byte {
			return (&builder{}).head(3, 1, 0).tensor("t", []uint64{0}, quant.F32, 0).Bytes()
		}, "past the end"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			buf := c.build()
			_, err := ParseHeader(buf, int64(len(buf)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// FuzzParseHeader checks that no input makes the parser panic, and that an
// accepted header describes tensors that decode within the file.
func FuzzParseHeader(f *testing.F) {
	f.Add(validFile())
	if p, err := goldens.Path("flux-tiny", "gguf", "quant_blocks.gguf"); err == nil {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, seed := range [][]byte{
		(&builder{}).head(3, math.MaxUint64, math.MaxUint64).Bytes(),
		(&builder{}).head(3, 0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeArray)).u64(1 << 50).Bytes(),
		(&builder{}).head(3, 1, 0).tensor("t", []uint64{1 << 62, 4}, quant.Q6_K, 0).data(64),
		(&builder{}).head(3, 1, 0).tensor("t", []uint64{256, 1}, quant.Q2_K, 0).data(84),
		(&builder{}).head(3, 1, 0).tensor("t", []uint64{math.MaxInt64}, quant.F32, math.MaxInt64).data(8),
		(&builder{}).head(2, 0, 1).str(strings.Repeat("k", 300)).u32(uint32(TypeString)).u64(math.MaxInt64).Bytes(),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b, int64(len(b)))
		if err != nil {
			return
		}
		for _, ti := range h.Tensors {
			if ti.Offset < 0 || ti.Size < 0 || ti.Offset+ti.Size > h.DataSize || h.DataOffset+h.DataSize != int64(len(b)) {
				t.Fatalf("tensor %q extent [%d,+%d) outside data [%d,+%d)", ti.Name, ti.Offset, ti.Size, h.DataOffset, h.DataSize)
			}
			if !ti.Type.Decodable() || ti.Elements() > 1<<16 {
				continue
			}
			start := h.DataOffset + ti.Offset
			cols := 1
			if len(ti.Dims) > 0 {
				cols = ti.Dims[0]
			}
			m, err := quant.NewMatrix(ti.Type, ti.Elements()/max(cols, 1), cols, b[start:start+ti.Size])
			if err != nil {
				if ti.Elements() == 0 {
					continue
				}
				t.Fatalf("tensor %q: %v", ti.Name, err)
			}
			if _, err := m.Float32(); err != nil {
				t.Fatalf("tensor %q: %v", ti.Name, err)
			}
		}
	})
}
