package probe

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/invokego/invokego/internal/engine/pickle"
	"github.com/invokego/invokego/internal/engine/pickle/pickletest"
)

func TestStateDictFromPickle(t *testing.T) {
	v, err := pickle.Unpickle(pickletest.StateDict(), pickle.DefaultLimits)
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

// The hostile checkpoint of issue 11 is refused at once instead of walked for 2^60 paths.
func TestStateDictFromSharedDictsIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dag.ckpt")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("archive/data.pkl")
	w.Write(pickletest.SharedDictChain(60))
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStateDict(context.Background(), path); !errors.Is(err, ErrInvalidModel) {
		t.Fatalf("shared dicts: %v", err)
	}
	if _, err := Probe(context.Background(), path, Hints{}); !errors.Is(err, ErrInvalidModel) {
		t.Fatalf("probe: %v", err)
	}
}

func TestStateDictFromPickleCycle(t *testing.T) {
	// A dict that contains itself is walked without looping.
	var p pickletest.Builder
	p.Op(0x80, 2, '}').Str("a").Op('}', 'q', 1).Str("self").Op('h', 1, 's', 's', '.')
	v, err := pickle.Unpickle(p.Bytes(), pickle.DefaultLimits)
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
	var p pickletest.Builder
	p.Op(0x80, 2, '}')
	p.Str("model.diffusion_model.input_blocks.0.0.weight")
	p.Global("torch._utils", "_rebuild_tensor_v2")
	p.Op('(').Op('(').Str("storage").Global("torch", "FloatStorage").Str("0").Str("cpu").Int1(36).Op('t', 'Q')
	p.Int1(0).Op('(').Int1(1).Int1(4).Int1(3).Int1(3).Op('t').Op('(').Int1(36).Int1(9).Int1(3).Int1(1).Op('t')
	p.Op(0x89).Op('}').Op('t', 'R', 's')
	p.Str("cond_stage_model.transformer.text_model.final_layer_norm.weight")
	p.Global("torch._utils", "_rebuild_tensor_v2")
	p.Op('(').Op('(').Str("storage").Global("torch", "FloatStorage").Str("1").Str("cpu").Int1(4).Op('t', 'Q')
	p.Int1(0).Int1(4).Op(0x85).Int1(1).Op(0x85).Op(0x89).Op('}').Op('t', 'R', 's', '.')
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
	var q pickletest.Builder
	q.Op(0x80, 2).Global("os", "system").Str("touch /tmp/pwned").Op(0x85, 'R', '.')
	w.Write(q.Bytes())
	zw.Close()
	os.WriteFile(path, bad.Bytes(), 0o644)
	if _, err := Probe(context.Background(), path, Hints{}); !errors.Is(err, ErrInvalidModel) {
		t.Fatalf("payload: %v", err)
	}
}

func FuzzStateDictFromPickle(f *testing.F) {
	f.Add(pickletest.StateDict())
	f.Add([]byte{0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, '}', 0x94, '.'})
	// Shared dicts: 2^60 paths in a few hundred bytes, and a short chain that mutations grow.
	f.Add(pickletest.SharedDictChain(60))
	f.Add(pickletest.SharedDictChain(2))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := pickle.Unpickle(data, pickle.Limits{MaxStack: 1 << 12, MaxMemo: 1 << 12, MaxItems: 1 << 14, MaxDepth: 16})
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
