package sd

import (
	"context"
	"testing"
)

// TestFolderLoadIsLazyAndSame: a folder load reads the file tensor by tensor
// and packs each layer as it is built (the memory this saves is measured by
// enginebench -only queue); the networks it builds equal, bit for bit,
// those built from the whole state dict, in fp32 and bf16.
func TestFolderLoadIsLazyAndSame(t *testing.T) {
	ctx := context.Background()
	for _, prec := range []string{"fp32", "bf16"} {
		opts := Options{Precision: prec}
		dir := sdTiny(t, "models", "sd15-tiny", "unet")
		lazy, err := LoadUNetFolderWithOptions(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadUNetConfig(dir + "/config.json")
		if err != nil {
			t.Fatal(err)
		}
		path, err := findWeights(dir)
		if err != nil {
			t.Fatal(err)
		}
		w, err := LoadStateDict(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		whole, err := NewUNetWithOptions(cfg, w, opts)
		if err != nil {
			t.Fatal(err)
		}
		g := openGolden(t, "unet.safetensors")
		a, err := lazy.Forward(ctx, g.tensor("sample"), g.tensor("timestep_t10").Data, g.tensor("encoder_hidden_states"), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := whole.Forward(ctx, g.tensor("sample"), g.tensor("timestep_t10").Data, g.tensor("encoder_hidden_states"), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range a.Data {
			if a.Data[i] != b.Data[i] {
				t.Fatalf("%s: lazy folder load differs at %d: %v vs %v", prec, i, a.Data[i], b.Data[i])
			}
		}
	}
}
