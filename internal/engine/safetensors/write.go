package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/invokego/invokego/internal/engine/torchmath"
)

// WriteTensor is one tensor to be written: its type, shape and raw
// little-endian bytes.
type WriteTensor struct {
	DType DType
	Shape []int
	Data  []byte
}

// F32Tensor builds a WriteTensor holding float32 data.
func F32Tensor(shape []int, data []float32) WriteTensor {
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return WriteTensor{DType: F32, Shape: shape, Data: b}
}

// F16Tensor builds a WriteTensor holding data rounded to float16.
func F16Tensor(shape []int, data []float32) WriteTensor {
	b := make([]byte, 2*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint16(b[2*i:], torchmath.Float32ToFloat16(v))
	}
	return WriteTensor{DType: F16, Shape: shape, Data: b}
}

type headerEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Write writes tensors (sorted by name) and optional metadata in
// safetensors format. The header is space-padded to a multiple of 8 bytes so
// that the data section is aligned.
func Write(w io.Writer, tensors map[string]WriteTensor, metadata map[string]string) error {
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		if name == "__metadata__" {
			return fmt.Errorf("safetensors: write: reserved tensor name %q", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	header := make(map[string]any, len(names)+1)
	if metadata != nil {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, name := range names {
		t := tensors[name]
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors: write %q: negative dimension", name)
			}
			n *= d
		}
		if t.DType.Size() == 0 || len(t.Data) != n*t.DType.Size() {
			return fmt.Errorf("safetensors: write %q: %d bytes do not match shape %v of %s", name, len(t.Data), t.Shape, t.DType)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[name] = headerEntry{DType: t.DType, Shape: shape, DataOffsets: [2]int64{off, off + int64(len(t.Data))}}
		off += int64(len(t.Data))
	}
	js, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors: write header: %w", err)
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	bw := bufio.NewWriter(w)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(js)))
	bw.Write(lenBuf[:])
	bw.Write(js)
	for _, name := range names {
		bw.Write(tensors[name].Data)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	return nil
}
