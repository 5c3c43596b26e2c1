// Package quant holds weight matrices in the storage formats model files use
// (float32, float16, bfloat16 and ggml's block quantizations, as found in
// GGUF files) and the linear layer built on them.
//
// A quantized weight never becomes a float32 copy: products expand it block
// by block while packing the GEMM operand (gemm.RowSource), so memory holds
// only the compact bytes, typically a memory-mapped file region.
//
// Decoding follows ggml's block layouts and reproduces gguf-py's
// dequantization bit for bit: every scale product in these formats is exact
// in float32, so the only rounding is the final sum, and the order of
// operations cannot change a result.
package quant

import "fmt"

// Type is a ggml tensor element type, numbered as in the GGUF format.
type Type uint32

// The ggml types. Only those with a decoder (Decodable) can be expanded; the
// others are listed so that files holding them still parse.
const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	MXFP4   Type = 39
)

// layout is a type's block geometry: elements per block and bytes per block.
type layout struct {
	name         string
	block, bytes int
}

// superBlock is the element count of a K-quant block (ggml's QK_K).
const superBlock = 256

var layouts = map[Type]layout{
	F32:     {"F32", 1, 4},
	F16:     {"F16", 1, 2},
	Q4_0:    {"Q4_0", 32, 18},
	Q4_1:    {"Q4_1", 32, 20},
	Q5_0:    {"Q5_0", 32, 22},
	Q5_1:    {"Q5_1", 32, 24},
	Q8_0:    {"Q8_0", 32, 34},
	Q8_1:    {"Q8_1", 32, 40},
	Q2_K:    {"Q2_K", superBlock, 84},
	Q3_K:    {"Q3_K", superBlock, 110},
	Q4_K:    {"Q4_K", superBlock, 144},
	Q5_K:    {"Q5_K", superBlock, 176},
	Q6_K:    {"Q6_K", superBlock, 210},
	Q8_K:    {"Q8_K", superBlock, 292},
	IQ2_XXS: {"IQ2_XXS", superBlock, 66},
	IQ2_XS:  {"IQ2_XS", superBlock, 74},
	IQ3_XXS: {"IQ3_XXS", superBlock, 98},
	IQ1_S:   {"IQ1_S", superBlock, 50},
	IQ4_NL:  {"IQ4_NL", 32, 18},
	IQ3_S:   {"IQ3_S", superBlock, 110},
	IQ2_S:   {"IQ2_S", superBlock, 82},
	IQ4_XS:  {"IQ4_XS", superBlock, 136},
	I8:      {"I8", 1, 1},
	I16:     {"I16", 1, 2},
	I32:     {"I32", 1, 4},
	I64:     {"I64", 1, 8},
	F64:     {"F64", 1, 8},
	IQ1_M:   {"IQ1_M", superBlock, 56},
	BF16:    {"BF16", 1, 2},
	TQ1_0:   {"TQ1_0", superBlock, 54},
	TQ2_0:   {"TQ2_0", superBlock, 66},
	MXFP4:   {"MXFP4", 32, 17},
}

// Known reports whether t is a ggml type this package knows the layout of.
func (t Type) Known() bool {
	_, ok := layouts[t]
	return ok
}

// Decodable reports whether values of type t can be expanded to float32.
func (t Type) Decodable() bool {
	_, ok := decoders[t]
	return ok
}

// BlockSize returns the number of elements one block encodes (1 for plain
// types, 32 or 256 for block quantizations, 0 for an unknown type).
func (t Type) BlockSize() int { return layouts[t].block }

// BlockBytes returns the bytes one block occupies (0 for an unknown type).
func (t Type) BlockBytes() int { return layouts[t].bytes }

// String returns ggml's name for the type.
func (t Type) String() string {
	if l, ok := layouts[t]; ok {
		return l.name
	}
	return fmt.Sprintf("ggml_type(%d)", uint32(t))
}

// ParseType returns the type ggml names name ("Q4_K", "BF16", ...).
func ParseType(name string) (Type, bool) {
	for t, l := range layouts {
		if l.name == name {
			return t, true
		}
	}
	return 0, false
}

// RowBytes returns the bytes a row of n elements of type t occupies, or an
// error when n is negative, not a whole number of blocks, or too large.
func RowBytes(t Type, n int) (int, error) {
	l, ok := layouts[t]
	if !ok {
		return 0, fmt.Errorf("quant: unknown type %s", t)
	}
	if n < 0 || n%l.block != 0 {
		return 0, fmt.Errorf("quant: a row of %d elements is not a whole number of %s blocks of %d", n, t, l.block)
	}
	blocks := n / l.block
	if blocks > maxInt/l.bytes {
		return 0, fmt.Errorf("quant: a row of %d %s elements overflows", n, t)
	}
	return blocks * l.bytes, nil
}

const maxInt = int(^uint(0) >> 1)
