package goldens

import "testing"

func TestLoadNoise(t *testing.T) {
	p, err := Path("sd-tiny", "goldens", "noise.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	x, ok := ts["seed_42.float32"]
	if !ok {
		t.Fatalf("seed_42.float32 missing; have %v", Names(ts))
	}
	if got := float32(x.Floats[0]); got != 1.9269153 {
		t.Errorf("seed_42.float32[0] = %v, want 1.9269153", got)
	}
	if len(x.Floats) != 4*64*64 {
		t.Errorf("numel = %d", len(x.Floats))
	}
}

func TestParseRejectsBadHeader(t *testing.T) {
	if _, err := Parse([]byte{1, 2, 3}); err == nil {
		t.Error("short file accepted")
	}
	if _, err := Parse([]byte{255, 255, 255, 255, 0, 0, 0, 0, '{', '}'}); err == nil {
		t.Error("oversized header length accepted")
	}
}
