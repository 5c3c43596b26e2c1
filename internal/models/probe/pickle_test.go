package probe

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// pickleBuilder writes pickle opcodes by hand, so the tests need no Python.
type pickleBuilder struct{ bytes.Buffer }

func (p *pickleBuilder) op(b ...byte) *pickleBuilder { p.Write(b); return p }

func (p *pickleBuilder) str(s string) *pickleBuilder {
	p.WriteByte(0x8c) // SHORT_BINUNICODE
	p.WriteByte(byte(len(s)))
	p.WriteString(s)
	return p
}

func (p *pickleBuilder) global(module, name string) *pickleBuilder {
	p.WriteByte('c')
	p.WriteString(module + "\n" + name + "\n")
	return p
}

func (p *pickleBuilder) int1(n byte) *pickleBuilder { return p.op('K', n) }

// stateDictPickle is what torch.save({"state_dict": {name: tensor}}) writes for one [2,3] F16 tensor.
func stateDictPickle() []byte {
	var p pickleBuilder
	p.op(0x80, 2)       // PROTO 2
	p.op('}')           // EMPTY_DICT
	p.str("state_dict") //
	p.global("collections", "OrderedDict").op(')', 'R')
	p.str("model.diffusion_model.input_blocks.0.0.weight")
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op('(') // MARK for the argument tuple
	p.op('(').str("storage").global("torch", "HalfStorage").str("0").str("cpu").int1(6).op('t', 'Q')
	p.int1(0)                                                    // offset
	p.int1(2).int1(3).op(0x86)                                   // size (2,3)
	p.int1(3).int1(1).op(0x86)                                   // stride (3,1)
	p.op(0x89)                                                   // requires_grad False
	p.global("collections", "OrderedDict").op(')', 'R')          // backward hooks
	p.op('t', 'R')                                               // build the tensor
	p.op('s')                                                    // inner[name] = tensor
	p.op('s')                                                    // outer["state_dict"] = inner
	p.str("global_step").op('J', 0x60, 0x5b, 0x03, 0x00).op('s') // 220000
	p.op('.')
	return p.Bytes()
}

func TestUnpickleStateDict(t *testing.T) {
	v, err := Unpickle(stateDictPickle(), DefaultPickleLimits)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := stateDictFromPickle(v, 8)
	if err != nil {
		t.Fatal(err)
	}
	sh := sd.Shapes["model.diffusion_model.input_blocks.0.0.weight"]
	if len(sh) != 2 || sh[0] != 2 || sh[1] != 3 || sd.Scalars["global_step"] != 220000 {
		t.Fatalf("state dict %+v", sd)
	}
}

func TestUnpickleRefusesCode(t *testing.T) {
	cases := map[string][]byte{}
	// GLOBAL os.system + REDUCE("echo pwned"): the classic pickle payload.
	var a pickleBuilder
	a.op(0x80, 2).global("os", "system").str("echo pwned").op(0x85, 'R', '.')
	cases["os.system"] = a.Bytes()
	// STACK_GLOBAL builtins.eval (protocol 4 spelling).
	var b pickleBuilder
	b.op(0x80, 4).str("builtins").str("eval").op(0x93).str("__import__('os').system('x')").op(0x85, 'R', '.')
	cases["builtins.eval"] = b.Bytes()
	// posix.system hidden inside a state dict value.
	var c pickleBuilder
	c.op(0x80, 2, '}').str("k").global("posix", "system").str("id").op(0x85, 'R', 's', '.')
	cases["nested posix.system"] = c.Bytes()
	// An allowed global used as something callable it is not (OrderedDict is fine, torch.HalfStorage is not).
	var d pickleBuilder
	d.op(0x80, 2).global("torch", "HalfStorage").op(')', 'R', '.')
	cases["storage call"] = d.Bytes()
	// Object construction.
	var e pickleBuilder
	e.op(0x80, 2).global("collections", "OrderedDict").op(')', 0x81, '.')
	cases["newobj"] = e.Bytes()
	for name, data := range cases {
		if _, err := Unpickle(data, DefaultPickleLimits); !errors.Is(err, ErrPickleRefused) {
			t.Errorf("%s: error %v, want refusal", name, err)
		}
	}
}

func TestUnpickleLimits(t *testing.T) {
	// A million MARKs cannot exhaust memory beyond the limit.
	data := append([]byte{0x80, 2}, bytes.Repeat([]byte{'('}, 2000)...)
	if _, err := Unpickle(data, PickleLimits{MaxStack: 100, MaxMemo: 10, MaxItems: 10, MaxDepth: 4}); err == nil {
		t.Fatal("mark flood accepted")
	}
	// A list that contains itself is walked without looping.
	var p pickleBuilder
	p.op(0x80, 2, '}').str("a").op('}', 'q', 1).str("self").op('h', 1, 's', 's', '.')
	v, err := Unpickle(p.Bytes(), DefaultPickleLimits)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stateDictFromPickle(v, 16); err == nil {
		t.Fatal("cyclic dict walked without a depth error")
	}
}

func TestProbeCheckpointZip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.ckpt")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("archive/data.pkl")
	// The SD-1 text encoder key makes it an SD-1 main model.
	var p pickleBuilder
	p.op(0x80, 2, '}')
	p.str("model.diffusion_model.input_blocks.0.0.weight")
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op('(').op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").int1(36).op('t', 'Q')
	p.int1(0).op('(').int1(1).int1(4).int1(3).int1(3).op('t').op('(').int1(36).int1(9).int1(3).int1(1).op('t')
	p.op(0x89).op('}').op('t', 'R', 's')
	p.str("cond_stage_model.transformer.text_model.final_layer_norm.weight")
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op('(').op('(').str("storage").global("torch", "FloatStorage").str("1").str("cpu").int1(4).op('t', 'Q')
	p.int1(0).int1(4).op(0x85).int1(1).op(0x85).op(0x89).op('}').op('t', 'R', 's', '.')
	w.Write(p.Bytes())
	zw.Create("archive/data/0")
	zw.Close()
	os.WriteFile(path, buf.Bytes(), 0o644)
	r, err := Probe(context.Background(), path, Hints{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Base != "sd-1" || r.Type != "main" || r.Format != "checkpoint" || r.Variant != "normal" {
		t.Fatalf("got %+v", r)
	}
	// The same archive with an os.system payload is refused as invalid.
	var bad bytes.Buffer
	zw = zip.NewWriter(&bad)
	w, _ = zw.Create("archive/data.pkl")
	var q pickleBuilder
	q.op(0x80, 2).global("os", "system").str("touch /tmp/pwned").op(0x85, 'R', '.')
	w.Write(q.Bytes())
	zw.Close()
	os.WriteFile(path, bad.Bytes(), 0o644)
	if _, err := Probe(context.Background(), path, Hints{}); !errors.Is(err, ErrInvalidModel) {
		t.Fatalf("payload: %v", err)
	}
}

func FuzzUnpickle(f *testing.F) {
	f.Add(stateDictPickle())
	var a pickleBuilder
	a.op(0x80, 2).global("os", "system").str("x").op(0x85, 'R', '.')
	f.Add(a.Bytes())
	f.Add([]byte{0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, '}', 0x94, '.'})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Unpickle(data, PickleLimits{MaxStack: 1 << 12, MaxMemo: 1 << 12, MaxItems: 1 << 14, MaxDepth: 16})
		if err == nil {
			_, _ = stateDictFromPickle(v, 16)
		}
	})
}

func FuzzSafetensorsHeader(f *testing.F) {
	var ok bytes.Buffer
	hdr := []byte(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"__metadata__":{"format":"pt"}}`)
	ok.Write([]byte{byte(len(hdr)), 0, 0, 0, 0, 0, 0, 0})
	ok.Write(hdr)
	ok.Write(make([]byte, 4))
	f.Add(ok.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, '{', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, err := safetensorsStateDict(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		_, _ = ClassifyStateDict(sd, Hints{})
	})
}
