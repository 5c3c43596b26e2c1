package core

import "github.com/invokego/invokego/internal/nodes"

// IntegerPair holds the operands of InvokeAI's integer arithmetic nodes.
type IntegerPair struct {
	A int64 `json:"a" default:"0" description:"The first number"`
	B int64 `json:"b" default:"0" description:"The second number"`
}

// Add is add: a + b.
type Add struct{ IntegerPair }

// Invoke implements nodes.Invocation.
func (n *Add) Invoke(nodes.Context) (nodes.Output, error) { return IntegerOutput{n.A + n.B}, nil }

// Subtract is sub: a - b.
type Subtract struct{ IntegerPair }

// Invoke implements nodes.Invocation.
func (n *Subtract) Invoke(nodes.Context) (nodes.Output, error) { return IntegerOutput{n.A - n.B}, nil }

// Multiply is mul: a · b.
type Multiply struct{ IntegerPair }

// Invoke implements nodes.Invocation.
func (n *Multiply) Invoke(nodes.Context) (nodes.Output, error) { return IntegerOutput{n.A * n.B}, nil }

// Divide is div: a / b as Python's int(a / b), which truncates toward zero as Go's division does.
type Divide struct{ IntegerPair }

// Invoke implements nodes.Invocation.
func (n *Divide) Invoke(nodes.Context) (nodes.Output, error) {
	if n.B == 0 {
		return nil, nodes.Errorf("ZeroDivisionError", "division by zero")
	}
	return IntegerOutput{n.A / n.B}, nil
}

func registerMath(r *nodes.Registry) {
	def := func(typ, class, title, desc string, inv func() nodes.Invocation) {
		r.Register(nodes.Def{Type: typ, Class: class, Title: title, Description: desc, Tags: []string{"math"},
			Category: "math", Version: "1.0.1", New: inv, Output: IntegerOutput{}})
	}
	def("add", "Add", "Add Integers", "Adds two numbers", func() nodes.Invocation { return &Add{} })
	def("sub", "Subtract", "Subtract Integers", "Subtracts two numbers", func() nodes.Invocation { return &Subtract{} })
	def("mul", "Multiply", "Multiply Integers", "Multiplies two numbers", func() nodes.Invocation { return &Multiply{} })
	def("div", "Divide", "Divide Integers", "Divides two numbers", func() nodes.Invocation { return &Divide{} })
}
