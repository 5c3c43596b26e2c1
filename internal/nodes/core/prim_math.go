package core

import (
	"math"
	"math/big"
	"math/bits"
	"math/rand/v2"

	"github.com/invokego/invokego/internal/nodes"
)

// InvokeAI's math nodes beyond add/sub/mul/div: integer_math and float_math with their operation lists,
// round_float, float_to_int, rand_float and float_range. Python integers do not overflow; here a result beyond
// 64 bits is an OverflowError instead (docs/compatibility.md, "Node behaviour").

// IntegerOperation is integer_math's operation.
type IntegerOperation string

// LiteralValues implements schema.Literal.
func (IntegerOperation) LiteralValues() []string {
	return []string{"ADD", "SUB", "MUL", "DIV", "EXP", "MOD", "ABS", "MIN", "MAX"}
}

// IntegerMath is integer_math.
type IntegerMath struct {
	Operation IntegerOperation `json:"operation" default:"\"ADD\"" description:"What to compute from a and b" ui_choice_labels:"{\"ADD\":\"Add A+B\",\"SUB\":\"Subtract A-B\",\"MUL\":\"Multiply A*B\",\"DIV\":\"Divide A/B\",\"EXP\":\"Exponentiate A^B\",\"MOD\":\"Modulus A%B\",\"ABS\":\"Absolute Value of A\",\"MIN\":\"Minimum(A,B)\",\"MAX\":\"Maximum(A,B)\"}"`
	A         int64            `json:"a" default:"1" description:"The first operand"`
	B         int64            `json:"b" default:"1" description:"The second operand"`
}

// NodeInfo implements nodes.Node.
func (*IntegerMath) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "integer_math",
		Title:       "Integer Math",
		Description: "Applies one arithmetic operation to two integers.",
		Tags:        []string{"math", "integer", "add", "subtract", "multiply", "divide", "modulus", "power", "absolute value", "min", "max"},
		Category:    "math",
		Version:     "1.0.1",
		Output:      IntegerOutput{},
	}
}

func overflow() error {
	return nodes.Errorf("OverflowError", "the result does not fit in a 64-bit integer")
}

// Invoke implements nodes.Invocation.
func (n *IntegerMath) Invoke(nodes.Context) (nodes.Output, error) {
	a, b := n.A, n.B
	switch n.Operation {
	case "ADD":
		if s := a + b; (s > a) == (b > 0) {
			return IntegerOutput{s}, nil
		}
		return nil, overflow()
	case "SUB":
		if d := a - b; (d < a) == (b > 0) {
			return IntegerOutput{d}, nil
		}
		return nil, overflow()
	case "MUL":
		p, ok := mulInt64(a, b)
		if !ok {
			return nil, overflow()
		}
		return IntegerOutput{p}, nil
	case "DIV":
		if b == 0 {
			return nil, nodes.Errorf("ValueError", "Cannot divide by zero")
		}
		// Python's int(a / b): the quotient rounded to the nearest double, then truncated.
		q, _ := new(big.Rat).SetFrac(big.NewInt(a), big.NewInt(b)).Float64()
		return truncToInt(q)
	case "EXP":
		if b < 0 {
			return nil, nodes.Errorf("ValueError", "Result of exponentiation is not an integer")
		}
		p, ok := powInt64(a, b)
		if !ok {
			return nil, overflow()
		}
		return IntegerOutput{p}, nil
	case "MOD":
		if b == 0 {
			return nil, nodes.Errorf("ValueError", "Cannot divide by zero")
		}
		if b == -1 {
			return IntegerOutput{0}, nil // MinInt64 % -1 would trap
		}
		// Python's modulus takes the sign of the divisor.
		m := a % b
		if m != 0 && (m < 0) != (b < 0) {
			m += b
		}
		return IntegerOutput{m}, nil
	case "ABS":
		if a == math.MinInt64 {
			return nil, overflow()
		}
		if a < 0 {
			a = -a
		}
		return IntegerOutput{a}, nil
	case "MIN":
		return IntegerOutput{min(a, b)}, nil
	default: // MAX
		return IntegerOutput{max(a, b)}, nil
	}
}

func mulInt64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	neg := (a < 0) != (b < 0)
	ua, ub := absU(a), absU(b)
	hi, lo := bits.Mul64(ua, ub)
	if hi != 0 {
		return 0, false
	}
	if neg {
		if lo > 1<<63 {
			return 0, false
		}
		return int64(-lo), true // -(1<<63) wraps to MinInt64, which is right
	}
	if lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

func absU(v int64) uint64 {
	if v < 0 {
		return uint64(-v) // MinInt64 gives 1<<63, as wanted
	}
	return uint64(v)
}

// powInt64 is a**b for b ≥ 0 by squaring, stopping at the first overflow (so a huge exponent costs at most
// 64 squarings).
func powInt64(a, b int64) (int64, bool) {
	switch {
	case b == 0 || a == 1:
		return 1, true
	case a == 0:
		return 0, true
	case a == -1:
		if b%2 == 0 {
			return 1, true
		}
		return -1, true
	}
	result, base := int64(1), a
	for {
		if b&1 == 1 {
			var ok bool
			if result, ok = mulInt64(result, base); !ok {
				return 0, false
			}
		}
		b >>= 1
		if b == 0 {
			return result, true
		}
		var ok bool
		if base, ok = mulInt64(base, base); !ok {
			return 0, false
		}
	}
}

// truncToInt is Python's int(x) for a float, refused where the integer does not fit.
func truncToInt(x float64) (nodes.Output, error) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil, nodes.Errorf("ValueError", "cannot convert %v to an integer", x)
	}
	t := math.Trunc(x)
	if t < -9.223372036854775808e18 || t >= 9.223372036854775808e18 {
		return nil, overflow()
	}
	return IntegerOutput{int64(t)}, nil
}

// FloatOperation is float_math's operation.
type FloatOperation string

// LiteralValues implements schema.Literal.
func (FloatOperation) LiteralValues() []string {
	return []string{"ADD", "SUB", "MUL", "DIV", "EXP", "ABS", "SQRT", "MIN", "MAX"}
}

// FloatMath is float_math.
type FloatMath struct {
	Operation FloatOperation `json:"operation" default:"\"ADD\"" description:"What to compute from a and b" ui_choice_labels:"{\"ADD\":\"Add A+B\",\"SUB\":\"Subtract A-B\",\"MUL\":\"Multiply A*B\",\"DIV\":\"Divide A/B\",\"EXP\":\"Exponentiate A^B\",\"ABS\":\"Absolute Value of A\",\"SQRT\":\"Square Root of A\",\"MIN\":\"Minimum(A,B)\",\"MAX\":\"Maximum(A,B)\"}"`
	A         float64        `json:"a" default:"1" description:"The first operand"`
	B         float64        `json:"b" default:"1" description:"The second operand"`
}

// NodeInfo implements nodes.Node.
func (*FloatMath) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "float_math",
		Title:       "Float Math",
		Description: "Applies one arithmetic operation to two floats.",
		Tags:        []string{"math", "float", "add", "subtract", "multiply", "divide", "power", "root", "absolute value", "min", "max"},
		Category:    "math",
		Version:     "1.0.1",
		Output:      FloatOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *FloatMath) Invoke(nodes.Context) (nodes.Output, error) {
	a, b := n.A, n.B
	var v float64
	switch n.Operation {
	case "ADD":
		v = a + b
	case "SUB":
		v = a - b
	case "MUL":
		v = a * b
	case "DIV":
		if b == 0 {
			return nil, nodes.Errorf("ValueError", "Cannot divide by zero")
		}
		v = a / b
	case "EXP":
		switch {
		case a == 0 && b < 0:
			return nil, nodes.Errorf("ValueError", "Cannot raise zero to a negative power")
		case a < 0 && b != math.Trunc(b):
			return nil, nodes.Errorf("ValueError", "Root operation resulted in a complex number")
		}
		v = math.Pow(a, b)
	case "SQRT":
		if a < 0 {
			// NumPy answers NaN, which no JSON number can carry.
			return nil, nodes.Errorf("ValueError", "Cannot take the square root of a negative number")
		}
		v = math.Sqrt(a)
	case "ABS":
		v = math.Abs(a)
	case "MIN":
		v = a // Python's min keeps the first of equal values (0.0 and -0.0)
		if b < a {
			v = b
		}
	default: // MAX
		v = a
		if b > a {
			v = b
		}
	}
	return finite(v)
}

// finite refuses infinite results, which Python reports as OverflowError (pow) or carries as inf, and which no
// JSON number can hold.
func finite(v float64) (nodes.Output, error) {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil, nodes.Errorf("OverflowError", "Numerical result out of range")
	}
	return FloatOutput{v}, nil
}

// RoundFloat is round_float.
type RoundFloat struct {
	Value    float64 `json:"value" default:"0" description:"The number to round"`
	Decimals int64   `json:"decimals" default:"0" description:"How many decimal places to keep (negative rounds to tens, hundreds…)"`
}

// NodeInfo implements nodes.Node.
func (*RoundFloat) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "round_float",
		Class:       "RoundInvocation",
		Title:       "Round Float",
		Description: "Rounds a float to a number of decimal places.",
		Tags:        []string{"math", "round"},
		Category:    "math",
		Version:     "1.0.1",
		Output:      FloatOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *RoundFloat) Invoke(nodes.Context) (nodes.Output, error) {
	return FloatOutput{pyRound(n.Value, n.Decimals)}, nil
}

// pyRound is Python's round(x, ndigits) for a float: the exact binary value rounded half to even at that
// decimal place, then converted back to the nearest float.
func pyRound(x float64, ndigits int64) float64 {
	// Python's limits: beyond 323 digits every float is already exact, below -308 every float rounds to zero.
	const maxDigits, minDigits = 323, -308
	if math.IsInf(x, 0) || math.IsNaN(x) || x == 0 || ndigits > maxDigits {
		return x
	}
	if ndigits < minDigits {
		return math.Copysign(0, x)
	}
	r := new(big.Rat).SetFloat64(x)
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(absI(ndigits)), nil)
	if ndigits >= 0 {
		r.Mul(r, new(big.Rat).SetInt(scale))
	} else {
		r.Quo(r, new(big.Rat).SetInt(scale))
	}
	q := roundHalfEven(r)
	out := new(big.Rat).SetInt(q)
	if ndigits >= 0 {
		out.Quo(out, new(big.Rat).SetInt(scale))
	} else {
		out.Mul(out, new(big.Rat).SetInt(scale))
	}
	f, _ := out.Float64()
	if f == 0 {
		return math.Copysign(0, x)
	}
	return f
}

func absI(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// roundHalfEven rounds a rational to the nearest integer, ties to even.
func roundHalfEven(r *big.Rat) *big.Int {
	num, den := r.Num(), r.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int)) // truncated toward zero
	twice := new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2))
	switch c := twice.Cmp(den); {
	case c > 0 || (c == 0 && q.Bit(0) == 1):
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

// RoundMethod is float_to_int's rounding.
type RoundMethod string

// LiteralValues implements schema.Literal.
func (RoundMethod) LiteralValues() []string {
	return []string{"Nearest", "Floor", "Ceiling", "Truncate"}
}

// FloatToInteger is float_to_int.
type FloatToInteger struct {
	Value    float64     `json:"value" default:"0" description:"The number to round"`
	Multiple int64       `json:"multiple" default:"1" ge:"1" title:"Multiple of" description:"The result is a multiple of this"`
	Method   RoundMethod `json:"method" default:"\"Nearest\"" description:"How to round"`
}

// NodeInfo implements nodes.Node.
func (*FloatToInteger) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "float_to_int",
		Title:       "Float To Integer",
		Description: "Rounds a float to an integer, or to a multiple of one.",
		Tags:        []string{"math", "round", "integer", "float", "convert"},
		Category:    "math",
		Version:     "1.0.1",
		Output:      IntegerOutput{},
	}
}

// Invoke implements nodes.Invocation. Nearest and Truncate multiply Python integers; Floor and Ceiling
// multiply NumPy floats, so their product is rounded to a double before it becomes an integer.
func (n *FloatToInteger) Invoke(nodes.Context) (nodes.Output, error) {
	q := n.Value / float64(n.Multiple)
	switch n.Method {
	case "Floor":
		return truncToInt(math.Floor(q) * float64(n.Multiple))
	case "Ceiling":
		return truncToInt(math.Ceil(q) * float64(n.Multiple))
	case "Nearest":
		q = math.RoundToEven(q) // Python's round() ties to even
	}
	out, err := truncToInt(q)
	if err != nil {
		return nil, err
	}
	p, ok := mulInt64(out.(IntegerOutput).Value, n.Multiple)
	if !ok {
		return nil, overflow()
	}
	return IntegerOutput{p}, nil
}

// RandomFloat is rand_float.
type RandomFloat struct {
	Low      float64 `json:"low" default:"0.0" description:"The smallest value it may return"`
	High     float64 `json:"high" default:"1.0" description:"The value it stays below"`
	Decimals int64   `json:"decimals" default:"2" description:"Decimal places to round the value to"`
}

// NodeInfo implements nodes.Node.
func (*RandomFloat) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "rand_float",
		Title:       "Random Float",
		Description: "Draws one random float between low and high.",
		Tags:        []string{"math", "float", "random"},
		Category:    "math",
		Version:     "1.0.1",
		NoCache:     true,
		Output:      FloatOutput{},
	}
}

// Invoke implements nodes.Invocation: NumPy's uniform(low, high), low + (high − low)·u with u in [0, 1), then
// Python's round.
func (n *RandomFloat) Invoke(nodes.Context) (nodes.Output, error) {
	v := n.Low + (n.High-n.Low)*rand.Float64()
	return finite(pyRound(v, n.Decimals))
}

// FloatLinearRange is float_range: NumPy's linspace(start, stop, steps). Generated collections (steps here,
// size in range_of_size and random_range) hold at most 2^20 values, range's run-time bound.
type FloatLinearRange struct {
	Start float64 `json:"start" default:"5" description:"The first value"`
	Stop  float64 `json:"stop" default:"10" description:"The last value"`
	Steps int64   `json:"steps" default:"30" le:"1048576" description:"How many values, start and stop included"`
}

// NodeInfo implements nodes.Node.
func (*FloatLinearRange) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "float_range",
		Title:       "Float Range",
		Description: "Spaces a number of floats evenly from start to stop.",
		Tags:        []string{"math", "range"},
		Category:    "math",
		Version:     "1.0.1",
		Output:      FloatCollectionOutput{},
	}
}

// Invoke implements nodes.Invocation, computing as NumPy's linspace does: i·step + start with
// step = (stop − start)/(steps − 1), and the last value set to stop exactly.
func (n *FloatLinearRange) Invoke(nodes.Context) (nodes.Output, error) {
	if n.Steps < 0 {
		return nil, nodes.Errorf("ValueError", "Number of samples, %d, must be non-negative.", n.Steps)
	}
	num := int(n.Steps)
	out := make([]float64, num)
	delta := n.Stop - n.Start
	div := float64(num - 1)
	step := delta / div
	for i := range out {
		y := float64(i)
		switch {
		case num == 1:
			y *= delta
		case step == 0:
			y = y / div * delta
		default:
			y *= step
		}
		out[i] = y + n.Start
	}
	if num > 1 {
		out[num-1] = n.Stop
	}
	for _, v := range out {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, nodes.Errorf("OverflowError", "Numerical result out of range")
		}
	}
	return FloatCollectionOutput{out}, nil
}

// RangeOfSize is range_of_size: size integers from start, step apart.
type RangeOfSize struct {
	Start int64 `json:"start" default:"0" description:"The first value"`
	Size  int64 `json:"size" default:"1" gt:"0" le:"1048576" description:"How many values"`
	Step  int64 `json:"step" default:"1" description:"The difference between neighbours"`
}

// NodeInfo implements nodes.Node.
func (*RangeOfSize) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "range_of_size",
		Title:       "Integer Range of Size",
		Description: "Makes size integers counting from start by step.",
		Tags:        []string{"collection", "integer", "size", "range"},
		Category:    "collections",
		Version:     "1.0.0",
		Output:      IntegerCollectionOutput{},
	}
}

// Invoke implements nodes.Invocation: Python's range(start, start + step·size, step), so a zero step is an
// error there as here.
func (n *RangeOfSize) Invoke(nodes.Context) (nodes.Output, error) {
	if n.Step == 0 {
		return nil, nodes.Errorf("ValueError", "range() arg 3 must not be zero")
	}
	out := make([]int64, 0, n.Size)
	v := n.Start
	for i := int64(0); i < n.Size; i++ {
		out = append(out, v)
		if i+1 < n.Size {
			next := v + n.Step
			if (next > v) != (n.Step > 0) {
				return nil, overflow()
			}
			v = next
		}
	}
	return IntegerCollectionOutput{out}, nil
}

func registerPrimMath(r *nodes.Registry) {
	r.Register(&IntegerMath{}, &FloatMath{}, &RoundFloat{}, &FloatToInteger{}, &RandomFloat{}, &FloatLinearRange{},
		&RangeOfSize{})
}
