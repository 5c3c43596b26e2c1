package pipeline

import (
	"context"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens/goldtest"
	"github.com/invokego/invokego/internal/engine/lora"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/textinv"
)

// The 10-step LoRA goldens of sd-ext/lora/pipeline: diffusers 0.25.1 with the
// LoRAs fused into the weights (W + Σ w·s·ΔW) on the UNet and the text
// encoder. A run applies them per call, beside the cached weights; InvokeAI
// patches the same sum into the weights for the run, so both pin the same
// numbers up to float rounding.
func TestLoRAPipelineGoldens(t *testing.T) {
	tp := loadTinyPipe(t)
	open := func(name string) *lora.File {
		f, err := lora.Open(goldtest.Path(t, "sd-ext", "lora", "models", name))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	kohya, peft := open("sd15-locon-kohya.safetensors"), open("sd15-lora-peft.safetensors")
	for _, c := range []struct {
		file  string
		loras []lora.Weighted
	}{
		{"lora/pipeline/txt2img_kohya0.75", []lora.Weighted{{File: kohya, Weight: 0.75}}},
		{"lora/pipeline/txt2img_stack_kohya0.75_peft0.5", []lora.Weighted{{File: kohya, Weight: 0.75}, {File: peft, Weight: 0.5}}},
	} {
		t.Run(c.file, func(t *testing.T) {
			up, err := lora.NewPatcher(lora.UNet, tp.pipe.UNet.LayerShapes(), c.loras)
			if err != nil {
				t.Fatal(err)
			}
			tep, err := lora.NewPatcher(lora.TextEncoder, tp.pipe.TextEncoder.LayerShapes(), c.loras)
			if err != nil {
				t.Fatal(err)
			}
			enc := tp.encoder()
			enc.Layers = tep
			runGoldenWithEncoder(t, c.file, enc, DenoiseParams{UNetOptions: sd.UNetOptions{Layers: up}})
		})
	}
	// The cached model is unchanged: the plain run still gives the base golden.
	t.Run("lora/pipeline/txt2img_base", func(t *testing.T) {
		runAdapterGolden(t, "lora/pipeline/txt2img_base", DenoiseParams{})
	})
}

// A prompt naming an embedding as "<name>" gets its vectors for this call:
// the text-encoder golden of sd-ext/textual_inversion (diffusers'
// load_textual_inversion, two vectors in two positions). compel's output for
// a single plain window is the last hidden state. What the golden pins: the
// token states, which diffusers and InvokeAI (ModelPatcher.apply_ti with its
// pad tokens) compute alike. Where they differ, the pooled token, InvokeAI is
// followed: the added ids come after the vocabulary, and an encoder whose
// config has eos_token_id 2 (InvokeAI's SD and SDXL encoders) pools at the
// largest id, the embedding's, as transformers does for such configs; the
// golden's pooler_output (first EOS, its config's rule) is not used by
// compel for SD-1 and is not compared here.
func TestTextualInversionPrompt(t *testing.T) {
	tp := loadTinyPipe(t)
	e, err := textinv.Load(goldtest.Path(t, "sd-ext", "textual_inversion", "models", "tiny-ti.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	g := goldtest.Open(t, "sd-ext", "textual_inversion/goldens/tiny-ti_p0.safetensors")
	enc := tp.encoder()
	var vecs [][]float32
	for i := 0; i < e.First.N; i++ {
		vecs = append(vecs, e.First.Row(i))
	}
	enc.Embeddings = []TextEmbedding{{Trigger: "<tiny-ti>", Vectors: vecs}}
	ctx := context.Background()
	z, err := EncodePrompt(ctx, enc, "a photo of <tiny-ti> on a table", LastHiddenNormalized)
	if err != nil {
		t.Fatal(err)
	}
	goldtest.Within(t, "last_hidden_state", z, g.Tensor("last_hidden_state"), 1e-5)
	// Without the embedding the trigger is plain text (the golden's without_ti).
	plain, err := EncodePrompt(ctx, tp.encoder(), "a photo of <tiny-ti> on a table", LastHiddenNormalized)
	if err != nil {
		t.Fatal(err)
	}
	goldtest.Within(t, "without_ti.last_hidden_state", plain, g.Tensor("without_ti.last_hidden_state"), 1e-5)
}
