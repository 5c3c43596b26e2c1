package t5

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/quant"
	"github.com/invokego/invokego/internal/engine/sentencepiece"
	"github.com/invokego/invokego/internal/engine/tensor"
)

func fixture(t testing.TB, elem ...string) string {
	t.Helper()
	p, err := goldens.Path(append([]string{"flux-tiny"}, elem...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loadTiny(t testing.TB, opts quant.Options) *Encoder {
	t.Helper()
	e, err := LoadFolder(fixture(t, "models", "flux-dev-tiny", "text_encoder_2"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func ints(g goldens.Tensor) []int {
	out := make([]int, len(g.Ints))
	for i, v := range g.Ints {
		out[i] = int(v)
	}
	return out
}

// within checks max|got − want| ≤ rel·max|want| (the fixture's layer tolerance).
func within(t *testing.T, label string, got *tensor.Tensor, want goldens.Tensor, rel float64) {
	t.Helper()
	if !slices.Equal(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", label, got.Shape, want.Shape)
	}
	var maxRef, maxErr float64
	for i, w := range want.Floats {
		maxRef = max(maxRef, math.Abs(w))
		maxErr = max(maxErr, math.Abs(float64(got.Data[i])-w))
	}
	if !(maxErr <= rel*maxRef) {
		t.Fatalf("%s: max error %g > %g·%g", label, maxErr, rel, maxRef)
	}
	t.Logf("%s: max error %.3g (max |ref| %.3g)", label, maxErr, maxRef)
}

// TestGoldens runs the fixture's T5 on the stored ids: per-layer states at
// length 16 and prompt_embeds at FLUX's lengths 256 and 512, within 1e-4 of
// the largest magnitude.
func TestGoldens(t *testing.T) {
	e := loadTiny(t, quant.Options{})
	g, err := goldens.Load(fixture(t, "goldens", "text_encoders.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"cat", "lighthouse"} {
		for _, l := range []int{16, 256, 512} {
			key := fmt.Sprintf("t5.%s.L%d.", p, l)
			ids := ints(g[key+"input_ids"])
			out, err := e.Forward(context.Background(), ids, l == 16)
			if err != nil {
				t.Fatal(err)
			}
			within(t, key+"last_hidden_state", out.LastHiddenState, g[key+"last_hidden_state"], 1e-4)
			if l == 16 {
				if len(out.HiddenStates) != 3 {
					t.Fatalf("%d hidden states, want 3", len(out.HiddenStates))
				}
				for i, hs := range out.HiddenStates {
					name := fmt.Sprintf("%shidden_states_%d", key, i)
					within(t, name, hs, g[name], 1e-4)
				}
			}
		}
	}
}

// TestTextToEmbeddings goes from prompt text to prompt_embeds: the
// fixture's tokenizer, then T5, against the InvokeAI-style text cases
// (ids exact, embeddings within 1e-4).
func TestTextToEmbeddings(t *testing.T) {
	e := loadTiny(t, quant.Options{})
	tok, err := sentencepiece.LoadT5(fixture(t, "models", "flux-dev-tiny", "tokenizer_2"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fixture(t, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Files map[string]struct {
			Inputs struct {
				Prompt string `json:"prompt"`
				MaxLen int    `json:"t5_max_seq_len"`
			} `json:"inputs"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"invokeai_text_dev_cat_s0_64x64", "invokeai_text_schnell_cat_s0_64x64", "invokeai_text_dev_cafe_s3_64x64"} {
		file := "pipeline/" + c + ".latents.safetensors"
		in := m.Files[file].Inputs
		if in.Prompt == "" || in.MaxLen == 0 {
			t.Fatalf("%s: no prompt in the manifest", file)
		}
		g, err := goldens.Load(fixture(t, "pipeline", c+".latents.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		enc, err := tok.Encode(in.Prompt, in.MaxLen)
		if err != nil {
			t.Fatal(err)
		}
		if want := ints(g["t5_input_ids"]); !slices.Equal(enc.IDs, want) {
			t.Fatalf("%s: ids %v, want %v", c, enc.IDs[:20], want[:20])
		}
		out, err := e.Forward(context.Background(), enc.IDs, false)
		if err != nil {
			t.Fatal(err)
		}
		within(t, c+" prompt_embeds", out.LastHiddenState, g["prompt_embeds"], 1e-4)
	}
}

func TestBuckets(t *testing.T) {
	// transformers' table for 32 buckets, max distance 128: exact below 8,
	// logarithmic above, the second half for keys after the query.
	cases := map[int]int{0: 0, 1: 17, -1: 1, 7: 23, -7: 7, 8: 24, -8: 8, 11: 24, 12: 25, 15: 25, 16: 26, 31: 27, 32: 28, 63: 29, 64: 30, 127: 31, 128: 31, -1000: 15, 1000: 31}
	for rel, want := range cases {
		if got := bucket(rel, 32, 128); got != want {
			t.Errorf("bucket(%d) = %d, want %d", rel, got, want)
		}
	}
}

func TestErrors(t *testing.T) {
	e := loadTiny(t, quant.Options{})
	if _, err := e.Forward(context.Background(), nil, false); err == nil {
		t.Error("empty sequence accepted")
	}
	if _, err := e.Forward(context.Background(), []int{1, 32128}, false); err == nil {
		t.Error("id past the vocabulary accepted")
	}
	if _, err := e.Forward(context.Background(), make([]int, MaxSequence+1), false); err == nil {
		t.Error("overlong sequence accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Forward(ctx, []int{1}, false); err == nil {
		t.Error("cancelled context ignored")
	}
	dir := t.TempDir()
	if _, err := LoadFolder(dir, quant.Options{}); err == nil {
		t.Error("empty folder accepted")
	}
	bad := `{"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4, "vocab_size": 100, "feed_forward_proj": "gated-silu"}`
	if err := os.WriteFile(dir+"/config.json", []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(dir + "/config.json"); err == nil {
		t.Error("unsupported activation accepted")
	}
	huge := `{"d_model": 1000000000, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4, "vocab_size": 100}`
	if err := os.WriteFile(dir+"/config.json", []byte(huge), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(dir + "/config.json"); err == nil {
		t.Error("huge width accepted")
	}
}

// TestBF16Compute checks the bfloat16 product path stays close (it rounds
// weights and activations to 8 significant bits).
func TestBF16Compute(t *testing.T) {
	e := loadTiny(t, quant.Options{Compute: quant.ComputeBF16})
	g, err := goldens.Load(fixture(t, "goldens", "text_encoders.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Forward(context.Background(), ints(g["t5.cat.L256.input_ids"]), false)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "bf16 L256", out.LastHiddenState, g["t5.cat.L256.last_hidden_state"], 3e-2)
}
