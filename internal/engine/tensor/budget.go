package tensor

import (
	"context"
	"fmt"
	"math/bits"
)

// A run asks for memory in sizes its inputs decide (a width, a scale factor, an image). Before such an
// allocation the engine checks it against the run's Budget, which the caller hands in through the run's
// context: a size that overflows, or that is larger than the budget, fails the run with a SizeError instead of
// taking the process down (Go cannot recover from running out of memory). The budget is a value per run, not
// process state: two runs may have different ones.

// Budget bounds one allocation of a run, in bytes; MaxBytes <= 0 bounds nothing but overflow.
type Budget struct {
	MaxBytes int64
}

type budgetKey struct{}

// WithBudget returns ctx carrying b for the engine calls made with it.
func WithBudget(ctx context.Context, b Budget) context.Context {
	return context.WithValue(ctx, budgetKey{}, b)
}

// BudgetOf returns the budget ctx carries (none, or no ctx: the zero Budget).
func BudgetOf(ctx context.Context) Budget {
	if ctx == nil {
		return Budget{}
	}
	b, _ := ctx.Value(budgetKey{}).(Budget)
	return b
}

// SizeError is an allocation refused before it was made.
type SizeError struct {
	What  string
	Shape []int
	// Bytes is the size asked for (0 when it overflows), Limit the budget.
	Bytes, Limit int64
}

func (e *SizeError) Error() string {
	if e.Bytes == 0 {
		return fmt.Sprintf("%s of shape %v is too large to exist (its size overflows)", e.What, e.Shape)
	}
	return fmt.Sprintf("%s of shape %v needs %d MiB, more than this run's memory budget of %d MiB (max_item_memory)",
		e.What, e.Shape, (e.Bytes+(1<<20)-1)>>20, e.Limit>>20)
}

// ShapeBytes is the size of shape's elements of elemSize bytes. ok is false when a dimension is negative or
// the size does not fit an int64.
func ShapeBytes(elemSize int, shape ...int) (size int64, ok bool) {
	n := uint64(max(elemSize, 0))
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > 1<<62 {
			return 0, false
		}
		n = lo
	}
	return int64(n), true
}

// Check refuses an allocation of shape (elemSize bytes per element) whose size overflows or exceeds b.
func (b Budget) Check(what string, elemSize int, shape ...int) error {
	size, ok := ShapeBytes(elemSize, shape...)
	if !ok {
		return &SizeError{What: what, Shape: append([]int(nil), shape...), Limit: b.MaxBytes}
	}
	if b.MaxBytes > 0 && size > b.MaxBytes {
		return &SizeError{What: what, Shape: append([]int(nil), shape...), Bytes: size, Limit: b.MaxBytes}
	}
	return nil
}

// NewIn is New after checking the size against ctx's budget.
func NewIn(ctx context.Context, shape ...int) (*Tensor, error) {
	if err := BudgetOf(ctx).Check("a tensor", 4, shape...); err != nil {
		return nil, err
	}
	return New(shape...), nil
}

// EmptyIn is Empty after checking the size against ctx's budget.
func EmptyIn(ctx context.Context, shape ...int) (*Tensor, error) {
	if err := BudgetOf(ctx).Check("a tensor", 4, shape...); err != nil {
		return nil, err
	}
	return Empty(shape...), nil
}
