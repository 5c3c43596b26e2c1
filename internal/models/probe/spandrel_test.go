package probe

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

func TestProbeSpandrel(t *testing.T) {
	for _, rel := range [][]string{
		{"sd-ext", "esrgan", "models", "rrdb-x4-new.safetensors"},
		{"sd-ext", "esrgan", "models", "rrdb-x4-old.safetensors"},
		{"sd-ext", "esrgan", "models", "rrdb-x2-unshuffle-new.safetensors"},
		{"sd-ext", "esrgan", "models", "rrdb-x2-unshuffle-old.safetensors"},
		{"upscale", "compact-x4.safetensors"},
		{"upscale", "rrdb-x4-params_ema.pth"},
	} {
		p, err := goldens.Path(rel...)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Probe(context.Background(), p, Hints{})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if r.Type != "spandrel_image_to_image" || r.Format != "checkpoint" || r.Base != "any" || r.Spandrel == nil {
			t.Errorf("%s: %+v", p, r)
		}
	}
}

// A file that looks like an ESRGAN but is not one the engine runs is refused with the reason.
func TestProbeSpandrelRefused(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "esrgan-plus.safetensors")
	writeSafetensors(t, p, map[string][]int{
		"model.0.weight": {8, 3, 3, 3}, "model.0.bias": {8},
		"model.1.sub.0.RDB1.conv1.0.weight": {32, 8, 3, 3}, "model.1.sub.0.RDB1.conv1x1.weight": {32, 8, 1, 1},
	})
	_, err := Probe(context.Background(), p, Hints{})
	if !errors.Is(err, ErrUnknownModel) {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
	if _, statErr := os.Stat(p); statErr != nil {
		t.Fatal(statErr)
	}
}

// A legacy (non-zip) torch checkpoint of an upscaler is refused at install: the engine reads only the zip
// format.
func TestProbeSpandrelLegacyCheckpoint(t *testing.T) {
	if err := spandrelLoadable(filepath.Join(t.TempDir(), "x.safetensors")); err != nil {
		t.Errorf("safetensors: %v", err)
	}
	p := filepath.Join(t.TempDir(), "old.pth")
	if err := os.WriteFile(p, []byte{0x80, 0x02, 0x8a, 0x0a}, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := spandrelLoadable(p); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("legacy pth: %v", err)
	}
	zp, err := goldens.Path("upscale", "rrdb-x4-params_ema.pth")
	if err != nil {
		t.Fatal(err)
	}
	if err := spandrelLoadable(zp); err != nil {
		t.Errorf("zip pth: %v", err)
	}
}
