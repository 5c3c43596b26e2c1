package tensor

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

// Sizes a run's inputs decide are checked before anything is allocated: what overflows, has a negative
// dimension or exceeds the run's budget is refused with a SizeError, whatever the shape's rank.
func TestBudgetRefusesBeforeAllocating(t *testing.T) {
	b := Budget{MaxBytes: 64 << 20}
	for _, tc := range []struct {
		shape  []int
		ok     bool
		reason string
	}{
		{[]int{1, 4, 64, 64}, true, ""},
		{[]int{1, 4, 2048, 2049}, false, "max_item_memory"},     // one row over 64 MiB
		{[]int{1, 4, 262144, 262144}, false, "max_item_memory"}, // noise at 2097152 px: 1 TiB
		{[]int{1, 4, 1 << 31, 1 << 31}, false, "overflows"},     // 2^34 px: the count wraps in int64
		{[]int{math.MaxInt, 2}, false, "overflows"},             // any dimension that overflows
		{[]int{1, -4, 8, 8}, false, "overflows"},                // a negative dimension
		{[]int{0, 1 << 62, 1 << 62}, true, ""},                  // an empty tensor is no allocation
		{[]int{1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20}, false, "overflows"},
	} {
		err := b.Check("the test tensor", 4, tc.shape...)
		var se *SizeError
		switch {
		case tc.ok && err != nil:
			t.Errorf("%v refused: %v", tc.shape, err)
		case !tc.ok && !errors.As(err, &se):
			t.Errorf("%v: %v, want a SizeError", tc.shape, err)
		case !tc.ok && !strings.Contains(err.Error(), tc.reason):
			t.Errorf("%v: %q does not say %q", tc.shape, err, tc.reason)
		}
	}
	// No budget bounds overflow only.
	if err := (Budget{}).Check("x", 4, 1<<20, 1<<20); err != nil {
		t.Errorf("unbudgeted: %v", err)
	}
	if err := (Budget{}).Check("x", 4, 1<<40, 1<<40); err == nil {
		t.Error("overflow passed without a budget")
	}
}

func TestBudgetTravelsInTheContext(t *testing.T) {
	ctx := WithBudget(context.Background(), Budget{MaxBytes: 1 << 10})
	if _, err := NewIn(ctx, 16, 16); err != nil {
		t.Fatalf("1 KiB tensor: %v", err)
	}
	if _, err := EmptyIn(ctx, 16, 17); err == nil {
		t.Fatal("a tensor over the budget was allocated")
	}
	if _, err := NewIn(context.Background(), 1<<10, 1<<10); err != nil {
		t.Fatalf("no budget in the context: %v", err)
	}
	var none context.Context // what tests hand nodes that never look at their context
	if BudgetOf(none) != (Budget{}) {
		t.Fatal("nil context")
	}
}

// The unchecked constructors refuse shapes whose size wraps instead of describing another tensor.
func TestConstructorsRefuseOverflow(t *testing.T) {
	for _, shape := range [][]int{{1, 4, 1 << 31, 1 << 31}, {-1, 4}, {math.MaxInt, math.MaxInt}} {
		func() {
			defer func() {
				if _, ok := recover().(*SizeError); !ok {
					t.Errorf("%v did not panic with a SizeError", shape)
				}
			}()
			New(shape...)
		}()
	}
}
