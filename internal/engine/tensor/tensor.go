// Package tensor holds the float32 tensor type and the neural-network
// operations the diffusion models are built from. Matrix products go through
// package gemm; everything else is plain Go, parallelised over the available
// cores where the work is large enough to pay for it.
//
// Layouts are row-major: images are NCHW, token sequences are [batch, tokens,
// features].
package tensor

import (
	"fmt"
	"runtime"
	"sync"
)

// Tensor is a dense row-major float32 array.
type Tensor struct {
	Shape []int
	Data  []float32
}

// New allocates a zero tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, NumElements(shape))}
}

// FromData wraps data (not copied) with a shape; it panics when the sizes
// disagree, which is a programming error.
func FromData(data []float32, shape ...int) *Tensor {
	if NumElements(shape) != len(data) {
		panic(fmt.Sprintf("tensor: %d elements do not fit shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

// NumElements returns the product of a shape. A negative dimension or a product that overflows is a
// *SizeError panic rather than a wrapped size: a shape that large cannot be allocated, and a wrapped one would
// silently describe a different tensor. Sizes that come from a run's inputs are checked first (Budget.Check).
func NumElements(shape []int) int {
	size, ok := ShapeBytes(1, shape...)
	if !ok || size > int64(maxInt) {
		panic(&SizeError{What: "a tensor", Shape: append([]int(nil), shape...)})
	}
	return int(size)
}

const maxInt = int(^uint(0) >> 1)

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// Reshape returns a tensor sharing t's data with a new shape.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	return FromData(t.Data, shape...)
}

// Dim returns dimension i, counting from the end when i is negative.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

func (t *Tensor) String() string { return fmt.Sprintf("Tensor%v", t.Shape) }

// parallelFor splits [0,n) into contiguous chunks processed concurrently.
// cost is a rough per-item operation count; small jobs run inline because a
// goroutine hand-off costs more than it saves.
func parallelFor(n, cost int, fn func(lo, hi int)) {
	const minWorkPerGoroutine = 1 << 15
	workers := runtime.GOMAXPROCS(0)
	if total := n * cost; total < 2*minWorkPerGoroutine || workers == 1 || n < 2 {
		fn(0, n)
		return
	} else if w := total / minWorkPerGoroutine; w < workers {
		workers = w
	}
	workers = min(workers, n)
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	fn(0, min(chunk, n))
	wg.Wait()
}
