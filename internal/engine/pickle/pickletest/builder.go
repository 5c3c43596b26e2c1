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
