package pickle

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/engine/pickle/pickletest"
)

func TestUnpickleStateDict(t *testing.T) {
	v, err := Unpickle(pickletest.StateDict(), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	root, ok := v.(*Dict)
	if !ok {
		t.Fatalf("got %T", v)
	}
	inner, _ := root.Get("state_dict")
	w, _ := inner.(*Dict).Get("model.diffusion_model.input_blocks.0.0.weight")
	tt, ok := w.(*Tensor)
	if !ok || len(tt.Shape) != 2 || tt.Shape[0] != 2 || tt.Shape[1] != 3 || tt.Storage.DType != "F16" {
		t.Fatalf("tensor %+v", w)
	}
	if gs, _ := root.Get("global_step"); gs != int64(220000) {
		t.Fatalf("global_step %v", gs)
	}
}

func TestUnpickleRefusesCode(t *testing.T) {
	cases := map[string][]byte{}
	// GLOBAL os.system + REDUCE("echo pwned"): the classic pickle payload.
	var a pickletest.Builder
	a.Op(0x80, 2).Global("os", "system").Str("echo pwned").Op(0x85, 'R', '.')
	cases["os.system"] = a.Bytes()
	// STACK_GLOBAL builtins.eval (protocol 4 spelling).
	var b pickletest.Builder
	b.Op(0x80, 4).Str("builtins").Str("eval").Op(0x93).Str("__import__('os').system('x')").Op(0x85, 'R', '.')
	cases["builtins.eval"] = b.Bytes()
	// posix.system hidden inside a state dict value.
	var c pickletest.Builder
	c.Op(0x80, 2, '}').Str("k").Global("posix", "system").Str("id").Op(0x85, 'R', 's', '.')
	cases["nested posix.system"] = c.Bytes()
	// An allowed global used as something callable it is not (OrderedDict is fine, torch.HalfStorage is not).
	var d pickletest.Builder
	d.Op(0x80, 2).Global("torch", "HalfStorage").Op(')', 'R', '.')
	cases["storage call"] = d.Bytes()
	// Object construction.
	var e pickletest.Builder
	e.Op(0x80, 2).Global("collections", "OrderedDict").Op(')', 0x81, '.')
	cases["newobj"] = e.Bytes()
	for name, data := range cases {
		if _, err := Unpickle(data, DefaultLimits); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: error %v, want refusal", name, err)
		}
	}
}

func TestUnpickleLimits(t *testing.T) {
	// A million MARKs cannot exhaust memory beyond the limit.
	data := append([]byte{0x80, 2}, bytes.Repeat([]byte{'('}, 2000)...)
	if _, err := Unpickle(data, Limits{MaxStack: 100, MaxMemo: 10, MaxItems: 10, MaxDepth: 4}); err == nil {
		t.Fatal("mark flood accepted")
	}
}

// TestReadTorchZip reads the pickle out of a torch.save zip archive and refuses the same archive carrying
// code.
func TestReadTorchZip(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("archive/data.pkl")
	w.Write(pickletest.StateDict())
	zw.Create("archive/data/0")
	zw.Close()
	v, err := ReadTorch(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.(*Dict); !ok {
		t.Fatalf("got %T", v)
	}
	var bad bytes.Buffer
	zw = zip.NewWriter(&bad)
	w, _ = zw.Create("archive/data.pkl")
	var q pickletest.Builder
	q.Op(0x80, 2).Global("os", "system").Str("touch /tmp/pwned").Op(0x85, 'R', '.')
	w.Write(q.Bytes())
	zw.Close()
	if _, err := ReadTorch(bytes.NewReader(bad.Bytes()), int64(bad.Len())); !errors.Is(err, ErrRefused) {
		t.Fatalf("payload: %v", err)
	}
	if _, err := ReadTorch(bytes.NewReader([]byte("PK")), 2); err == nil {
		t.Fatal("a two-byte file was read")
	}
}

func FuzzUnpickle(f *testing.F) {
	f.Add(pickletest.StateDict())
	var a pickletest.Builder
	a.Op(0x80, 2).Global("os", "system").Str("x").Op(0x85, 'R', '.')
	f.Add(a.Bytes())
	f.Add([]byte{0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, '}', 0x94, '.'})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Unpickle(data, Limits{MaxStack: 1 << 12, MaxMemo: 1 << 12, MaxItems: 1 << 14, MaxDepth: 16})
	})
}

// The hostile checkpoint of issue 11: a chain of 60 dicts, each holding the next under two keys, is a few
// hundred bytes and 2^60 paths. Walking it must end at once with an error, not follow the paths.
func TestWalkRefusesSharedDicts(t *testing.T) {
	data := pickletest.SharedDictChain(60)
	if len(data) > 2000 {
		t.Fatalf("the hostile pickle is %d bytes", len(data))
	}
	v, err := Unpickle(data, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	root := v.(*Dict)
	visits := 0
	err = Walk(root, DefaultLimits, func([]any, any) error { visits++; return nil })
	if !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "reached twice") {
		t.Fatalf("walk: %v after %d values", err, visits)
	}
	if visits > 1 {
		t.Fatalf("%d values visited before the refusal", visits)
	}
	// The same shapes as trees are walked in full; depth and item budgets hold.
	var p pickletest.Builder
	p.Op(0x80, 2, '}')
	for i := 0; i < 10; i++ {
		p.Str(fmt.Sprint("k", i)).Op('}')
	}
	for i := 0; i < 10; i++ {
		p.Op('s')
	}
	p.Op('.')
	deep, err := Unpickle(p.Bytes(), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if err := Walk(deep.(*Dict), Limits{MaxDepth: 5, MaxItems: 100}, func([]any, any) error { return nil }); !errors.Is(err, ErrBudget) {
		t.Fatalf("depth 10 under a limit of 5: %v", err)
	}
	if err := Walk(deep.(*Dict), Limits{MaxDepth: 20, MaxItems: 3}, func([]any, any) error { return nil }); !errors.Is(err, ErrBudget) {
		t.Fatalf("10 values under a limit of 3: %v", err)
	}
	if err := Walk(deep.(*Dict), Limits{MaxDepth: 20, MaxItems: 100}, func([]any, any) error { return nil }); err != nil {
		t.Fatalf("a tree within the limits: %v", err)
	}
}

func FuzzWalk(f *testing.F) {
	f.Add(pickletest.StateDict())
	f.Add(pickletest.SharedDictChain(60))
	f.Add(pickletest.SharedDictChain(3))
	var self pickletest.Builder
	self.Op(0x80, 2, '}').Str("a").Op('}', 'q', 1).Str("self").Op('h', 1, 's', 's', '.')
	f.Add(self.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxStack: 1 << 12, MaxMemo: 1 << 12, MaxItems: 1 << 14, MaxDepth: 16, MaxDuration: 5 * time.Second}
		v, err := Unpickle(data, lim)
		if err != nil {
			return
		}
		if d, ok := v.(*Dict); ok {
			visits := 0
			_ = Walk(d, lim, func([]any, any) error { visits++; return nil })
			if visits > lim.MaxItems {
				t.Fatalf("%d values visited, more than %d", visits, lim.MaxItems)
			}
		}
	})
}
