// Package pickletest writes pickle opcodes by hand, so tests of pickle readers need no Python.
package pickletest

import "bytes"

// Builder accumulates a pickle.
type Builder struct{ bytes.Buffer }

// Op appends raw opcode bytes.
func (p *Builder) Op(b ...byte) *Builder { p.Write(b); return p }

// Str appends a SHORT_BINUNICODE string (up to 255 bytes).
func (p *Builder) Str(s string) *Builder {
	p.WriteByte(0x8c)
	p.WriteByte(byte(len(s)))
	p.WriteString(s)
	return p
}

// Global appends a text-protocol GLOBAL module.name.
func (p *Builder) Global(module, name string) *Builder {
	p.WriteByte('c')
	p.WriteString(module + "\n" + name + "\n")
	return p
}

// Int1 appends a BININT1.
func (p *Builder) Int1(n byte) *Builder { return p.Op('K', n) }

// StateDict is what torch.save({"state_dict": {name: tensor}, "global_step": 220000}) writes for one [2,3]
// F16 tensor named "model.diffusion_model.input_blocks.0.0.weight".
func StateDict() []byte {
	var p Builder
	p.Op(0x80, 2)       // PROTO 2
	p.Op('}')           // EMPTY_DICT
	p.Str("state_dict") //
	p.Global("collections", "OrderedDict").Op(')', 'R')
	p.Str("model.diffusion_model.input_blocks.0.0.weight")
	p.Global("torch._utils", "_rebuild_tensor_v2")
	p.Op('(') // MARK for the argument tuple
	p.Op('(').Str("storage").Global("torch", "HalfStorage").Str("0").Str("cpu").Int1(6).Op('t', 'Q')
	p.Int1(0)                                                    // offset
	p.Int1(2).Int1(3).Op(0x86)                                   // size (2,3)
	p.Int1(3).Int1(1).Op(0x86)                                   // stride (3,1)
	p.Op(0x89)                                                   // requires_grad False
	p.Global("collections", "OrderedDict").Op(')', 'R')          // backward hooks
	p.Op('t', 'R')                                               // build the tensor
	p.Op('s')                                                    // inner[name] = tensor
	p.Op('s')                                                    // outer["state_dict"] = inner
	p.Str("global_step").Op('J', 0x60, 0x5b, 0x03, 0x00).Op('s') // 220000
	p.Op('.')
	return p.Bytes()
}

// SharedDictChain is a hostile checkpoint of a few hundred bytes: depth dicts, each holding the one below it
// under two keys through the memo, so that the outermost one reaches the innermost by 2^depth paths. The
// innermost holds a tensor, so a walker that follows every path finds 2^depth tensor names.
func SharedDictChain(depth int) []byte {
	var p Builder
	memo := func(op byte, i int) { p.Op(op, byte(i), byte(i>>8), byte(i>>16), byte(i>>24)) } // LONG_BINPUT / LONG_BINGET
	p.Op(0x80, 2)
	// The innermost dict: {"w": tensor}, memoized at 0.
	p.Op('}').Str("w")
	p.Global("torch._utils", "_rebuild_tensor_v2")
	p.Op('(')
	p.Op('(').Str("storage").Global("torch", "HalfStorage").Str("0").Str("cpu").Int1(1).Op('t', 'Q')
	p.Int1(0).Int1(1).Op(0x85).Int1(1).Op(0x85).Op(0x89)
	p.Global("collections", "OrderedDict").Op(')', 'R')
	p.Op('t', 'R', 's')
	memo('r', 0)
	p.Op('0')
	for i := 1; i <= depth; i++ {
		// {"a": memo[i-1], "b": memo[i-1]}, memoized at i.
		p.Op('}', '(').Str("a")
		memo('j', i-1)
		p.Str("b")
		memo('j', i-1)
		p.Op('u')
		memo('r', i)
		p.Op('0')
	}
	memo('j', depth)
	p.Op('.')
	return p.Bytes()
}
