package core

import "github.com/invokego/invokego/internal/nodes"

// IntegerPair holds the operands of InvokeAI's integer arithmetic nodes.
type IntegerPair struct {
	A int64 `json:"a" default:"0" description:"The first number"`
	B int64 `json:"b" default:"0" description:"The second number"`
}

// Add is add: a + b.
type Add struct{ IntegerPair }

// NodeInfo implements nodes.Node.
func (*Add) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "add",
		Title:       "Add Integers",
		Description: "Adds two numbers",
		Tags:        []string{"math", "add"},
		Category:    "math",
		Version:     "1.0.1",
		Output:      IntegerOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *Add) Invoke(nodes.Context) (nodes.Output, error) { return IntegerOutput{n.A + n.B}, nil }

// Subtract is sub: a - b.
type Subtract struct{ IntegerPair }

// NodeInfo implements nodes.Node.
func (*Subtract) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "sub",
		Title:       "Subtract Integers",
		Description: "Subtracts two numbers",
		Tags:        []string{"math", "subtract"},
		Category:    "math",
		Version:     "1.0.1",
		Output:      IntegerOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *Subtract) Invoke(nodes.Context) (nodes.Output, error) { return IntegerOutput{n.A - n.B}, nil }

// Multiply is mul: a · b.
type Multiply struct{ IntegerPair }

// NodeInfo implements nodes.Node.
func (*Multiply) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "mul",
		Title:       "Multiply Integers",
		Description: "Multiplies two numbers",
		Tags:        []string{"math", "multiply"},
		Category:    "math",
		Version:     "1.0.1",
		Output:      IntegerOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *Multiply) Invoke(nodes.Context) (nodes.Output, error) { return IntegerOutput{n.A * n.B}, nil }

// Divide is div: a / b as Python's int(a / b), which truncates toward zero as Go's division does.
type Divide struct{ IntegerPair }

// NodeInfo implements nodes.Node.
func (*Divide) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "div",
		Title:       "Divide Integers",
		Description: "Divides two numbers",
		Tags:        []string{"math", "divide"},
		Category:    "math",
		Version:     "1.0.1",
		Output:      IntegerOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *Divide) Invoke(nodes.Context) (nodes.Output, error) {
	if n.B == 0 {
		return nil, nodes.Errorf("ZeroDivisionError", "division by zero")
	}
	return IntegerOutput{n.A / n.B}, nil
}

func registerMath(r *nodes.Registry) {
	r.Register(&Add{}, &Subtract{}, &Multiply{}, &Divide{})
}
