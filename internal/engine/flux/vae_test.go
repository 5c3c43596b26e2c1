package flux

import (
	"context"
	"testing"

	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

func TestVAEGoldens(t *testing.T) {
	g := openGolden(t, "goldens", "vae.safetensors")
	folder, err := LoadVAEFolder(fluxTiny(t, "models", "flux-dev-tiny", "vae"), sd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	file, err := LoadVAEFile(fluxTiny(t, "models", "ae-tiny.safetensors"), sd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, v := range map[string]*VAE{"folder": folder, "ae file": file} {
		if v.Scale != VAEScalingFactor || v.Shift != VAEShiftFactor {
			t.Errorf("%s: scale %v shift %v", name, v.Scale, v.Shift)
		}
		for _, c := range []string{"decode", "decode_6x10"} {
			img, err := v.Net.Decode(ctx, g.tensor(c+".latent"))
			if err != nil {
				t.Fatal(err)
			}
			compareRel(t, name+" "+c, img.Data, g.floats(c+".image"), layerTolerance)
		}
		img, err := v.Decode(ctx, g.tensor("decode_model_space.latent"))
		if err != nil {
			t.Fatal(err)
		}
		compareRel(t, name+" decode_model_space", img.Data, g.floats("decode_model_space.image"), layerTolerance)

		mean, err := v.Encode(ctx, g.tensor("encode.image"), nil)
		if err != nil {
			t.Fatal(err)
		}
		compareRel(t, name+" encode mode", mean.Data, g.floats("encode.model_latents_mode"), layerTolerance)
		eps := noise.Randn(7, noise.Float32, 1, 16, 8, 8)
		sample, err := v.Encode(ctx, g.tensor("encode.image"), tensor.FromData(eps, 1, 16, 8, 8))
		if err != nil {
			t.Fatal(err)
		}
		// The golden sample is in the VAE's own space: undo the normalisation.
		for i, x := range sample.Data {
			sample.Data[i] = x/v.Scale + v.Shift
		}
		compareRel(t, name+" encode sample", sample.Data, g.floats("encode.sample"), layerTolerance)
	}
	if _, err := folder.Decode(ctx, tensor.New(1, 4, 8, 8)); err == nil {
		t.Error("4-channel latents: no error")
	}
	if _, err := folder.Encode(ctx, tensor.New(1, 3, 60, 64), nil); err == nil {
		t.Error("image height not a multiple of 8: no error")
	}
}

func TestNoiseGoldens(t *testing.T) {
	g := openGolden(t, "goldens", "noise.safetensors")
	for _, seed := range []uint64{0, 1, 42, 123456789, 4294967295} {
		p := "seed_" + itoa(seed) + "."
		n32, err := Noise(seed, 64, 64, noise.Float32)
		if err != nil {
			t.Fatal(err)
		}
		compareAbs(t, p+"f32", n32.Data, g.floats(p+"f32_1x16x8x8"), 0)
		packed, err := Pack(n32)
		if err != nil {
			t.Fatal(err)
		}
		compareAbs(t, p+"packed", packed.Data, g.floats(p+"f32_packed"), 0)
		n16, err := Noise(seed, 64, 64, noise.Float16)
		if err != nil {
			t.Fatal(err)
		}
		compareAbs(t, p+"f16", n16.Data, g.floats(p+"f16_invokeai_1x16x8x8"), 0)
	}
	if lh, lw := LatentSize(72, 100); lh != 10 || lw != 14 {
		t.Errorf("LatentSize(72, 100) = %d, %d; want 10, 14", lh, lw)
	}
	if _, err := Noise(0, 0, 64, noise.Float32); err == nil {
		t.Error("zero height: no error")
	}
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{byte('0' + v%10)}, b...)
	}
	return string(b)
}
