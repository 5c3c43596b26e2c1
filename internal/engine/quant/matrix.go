package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// Matrix is a Rows×Cols weight stored row-major in one type: each row is
// Cols/BlockSize whole blocks. For a linear layer it is PyTorch's [out, in]
// weight (Rows = out features). Data usually aliases a memory-mapped file,
// and a Matrix is a value: copies share the bytes, which are never written.
//
// Matrix implements gemm.RowSource, which is how products use it without
// expanding it.
type Matrix struct {
	Type       Type
	Rows, Cols int
	Data       []byte
}

// NewMatrix validates that data holds exactly rows×cols elements of type t.
func NewMatrix(t Type, rows, cols int, data []byte) (Matrix, error) {
	if rows < 0 || cols < 0 {
		return Matrix{}, fmt.Errorf("quant: negative matrix shape %d×%d", rows, cols)
	}
	rb, err := RowBytes(t, cols)
	if err != nil {
		return Matrix{}, err
	}
	if rows > 0 && rb > maxInt/rows {
		return Matrix{}, fmt.Errorf("quant: %d×%d %s matrix overflows", rows, cols, t)
	}
	if len(data) != rows*rb {
		return Matrix{}, fmt.Errorf("quant: %d×%d %s matrix needs %d bytes, have %d", rows, cols, t, rows*rb, len(data))
	}
	return Matrix{Type: t, Rows: rows, Cols: cols, Data: data}, nil
}

// FromFloat32 wraps float32 weights (rows×cols, row-major) as an F32 matrix
// sharing their memory.
func FromFloat32(rows, cols int, w []float32) (Matrix, error) {
	if rows < 0 || cols < 0 || (rows > 0 && cols > maxInt/4/rows) || len(w) != rows*cols {
		return Matrix{}, fmt.Errorf("quant: %d floats for a %d×%d matrix", len(w), rows, cols)
	}
	var b []byte
	if len(w) > 0 {
		b = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), 4*len(w))
	}
	if !littleEndian {
		// Other byte orders need a little-endian copy of the bits.
		b = make([]byte, 4*len(w))
		for i, v := range w {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
	}
	return Matrix{Type: F32, Rows: rows, Cols: cols, Data: b}, nil
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// RowBytes returns the bytes of one row.
func (m Matrix) RowBytes() int { return len(m.Data) / max(m.Rows, 1) }

// SliceRows returns rows [r0, r1) as a matrix sharing m's bytes (for fused
// weights such as FLUX's qkv projections).
func (m Matrix) SliceRows(r0, r1 int) (Matrix, error) {
	if r0 < 0 || r1 < r0 || r1 > m.Rows {
		return Matrix{}, fmt.Errorf("quant: rows [%d,%d) outside a matrix of %d rows", r0, r1, m.Rows)
	}
	rb := m.RowBytes()
	return Matrix{Type: m.Type, Rows: r1 - r0, Cols: m.Cols, Data: m.Data[r0*rb : r1*rb : r1*rb]}, nil
}

// Float32 decodes the whole matrix into a new slice.
func (m Matrix) Float32() ([]float32, error) {
	if !m.Type.Decodable() {
		return nil, fmt.Errorf("quant: cannot decode %s", m.Type)
	}
	out := make([]float32, m.Rows*m.Cols)
	if err := Decode(m.Type, out, m.Data); err != nil {
		return nil, err
	}
	return out, nil
}

// Dims implements gemm.RowSource: k = Cols, n = Rows.
func (m Matrix) Dims() (k, n int) { return m.Cols, m.Rows }

// BlockK implements gemm.RowSource.
func (m Matrix) BlockK() int { return max(1, m.Type.BlockSize()) }

// DecodeRows implements gemm.RowSource: it writes m[j0+r][p0+p] into
// dst[r*kb+p]. p0 must start a block and kb must cover whole blocks or end
// the row; the type must be decodable (NewLinear checks).
func (m Matrix) DecodeRows(dst []float32, j0, rows, p0, kb int) {
	dec, ok := decoders[m.Type]
	if !ok {
		panic(fmt.Sprintf("quant: cannot decode %s", m.Type))
	}
	bs, bb := m.Type.BlockSize(), m.Type.BlockBytes()
	if p0%bs != 0 || kb%bs != 0 || p0+kb > m.Cols || j0 < 0 || j0+rows > m.Rows {
		panic(fmt.Sprintf("quant: decode of rows [%d,+%d) columns [%d,+%d) of a %d×%d %s matrix", j0, rows, p0, kb, m.Rows, m.Cols, m.Type))
	}
	rb := m.RowBytes()
	for r := range rows {
		row := m.Data[(j0+r)*rb:]
		dec(dst[r*kb:r*kb+kb], row[p0/bs*bb:(p0+kb)/bs*bb])
	}
}
