package tokenizer

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/invokego/invokego/internal/engine/goldens"
)

func loadCLIP(t testing.TB) *Tokenizer {
	t.Helper()
	dir, err := goldens.Path("clip-bpe")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type goldenCase struct {
	Prompt      string   `json:"prompt"`
	IDs         []int    `json:"ids"`
	Tokens      []string `json:"tokens"`
	IDs77PadEOS []int    `json:"ids_77_pad_eos"`
	IDs77Pad0   []int    `json:"ids_77_pad_0"`
}

func TestGoldens(t *testing.T) {
	tok := loadCLIP(t)
	p, err := goldens.Path("sd-tiny", "goldens", "clip_tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []goldenCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) != 20 {
		t.Fatalf("got %d cases, want 20", len(file.Cases))
	}
	for _, c := range file.Cases {
		toks := append(append([]string{startText}, tok.Tokenize(c.Prompt)...), endText)
		if !slices.Equal(toks, c.Tokens) {
			t.Errorf("%q tokens:\n got %q\nwant %q", c.Prompt, toks, c.Tokens)
		}
		if got := tok.Encode(c.Prompt); !slices.Equal(got, c.IDs) {
			t.Errorf("%q ids:\n got %v\nwant %v", c.Prompt, got, c.IDs)
		}
		if got := tok.EncodePadded(c.Prompt, MaxLength, EOS); !slices.Equal(got, c.IDs77PadEOS) {
			t.Errorf("%q ids_77_pad_eos:\n got %v\nwant %v", c.Prompt, got, c.IDs77PadEOS)
		}
		if got := tok.EncodePadded(c.Prompt, MaxLength, PadZero); !slices.Equal(got, c.IDs77Pad0) {
			t.Errorf("%q ids_77_pad_0:\n got %v\nwant %v", c.Prompt, got, c.IDs77Pad0)
		}
	}
}

func TestLoadDiffusersFolder(t *testing.T) {
	dir, err := goldens.Path("sd-tiny", "models", "sd15-tiny-pipe", "tokenizer")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.PadID != EOS || tok.ModelMaxLength != 77 {
		t.Errorf("PadID %d ModelMaxLength %d, want %d 77", tok.PadID, tok.ModelMaxLength, EOS)
	}
	want := []int{49406, 320, 1125, 539, 320, 2368, 49407}
	if got := tok.Encode("a photo of a cat"); !slices.Equal(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
}

func TestLoadFSWithPadConfig(t *testing.T) {
	dir, err := goldens.Path("clip-bpe")
	if err != nil {
		t.Fatal(err)
	}
	vocab, err := os.ReadFile(dir + "/vocab.json")
	if err != nil {
		t.Fatal(err)
	}
	merges, err := os.ReadFile(dir + "/merges.txt")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		"tok2/vocab.json":            {Data: vocab},
		"tok2/merges.txt":            {Data: merges},
		"tok2/tokenizer_config.json": {Data: []byte(`{"pad_token": "!", "model_max_length": 77}`)},
	}
	tok, err := LoadFS(fsys, "tok2")
	if err != nil {
		t.Fatal(err)
	}
	if tok.PadID != 0 {
		t.Errorf("PadID = %d, want 0", tok.PadID)
	}
	got := tok.Encode77("a cat")
	if len(got) != 77 || got[3] != EOS || got[4] != 0 || got[76] != 0 {
		t.Errorf("Encode77 = %v", got)
	}
	if _, err := LoadFS(fsys, "missing"); err == nil {
		t.Error("missing folder accepted")
	}
}

func TestLongPromptTruncation(t *testing.T) {
	tok := loadCLIP(t)
	prompt := ""
	for range 100 {
		prompt += "cat "
	}
	full := tok.Encode(prompt)
	if len(full) != 102 {
		t.Fatalf("untruncated length %d, want 102", len(full))
	}
	padded := tok.EncodePadded(prompt, MaxLength, EOS)
	if len(padded) != 77 || padded[0] != BOS || padded[76] != EOS || padded[75] != full[75] {
		t.Errorf("truncated ids wrong: %v", padded)
	}
}

func TestPythonLower(t *testing.T) {
	cases := map[string]string{
		"ΟΔΟΣ":  "οδος", // final sigma
		"ΣΑ":    "σα",
		"İstan": "i\u0307stan",
		"ÉCOLE": "école",
	}
	for in, want := range cases {
		if got := pythonLower(in); got != want {
			t.Errorf("pythonLower(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzTokenize(f *testing.F) {
	tok := loadCLIP(f)
	for _, s := range []string{"a photo of a cat", "", "<|endoftext|>x<|startoftext|>", "一只猫 🐱", "\x00\xff\xfe", "'S'LL'd", "ΟΔΟΣ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		if len(ids) < 2 || ids[0] != BOS || ids[len(ids)-1] != EOS {
			t.Fatalf("Encode(%q) = %v", s, ids)
		}
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
		if p := tok.EncodePadded(s, MaxLength, PadZero); len(p) != MaxLength {
			t.Fatalf("padded length %d", len(p))
		}
	})
}

// TestPipelineConditioningIDs checks the ids the end-to-end pipeline goldens
// were conditioned on, through the model folder's own tokenizer config.
func TestPipelineConditioningIDs(t *testing.T) {
	dir, err := goldens.Path("sd-tiny", "models", "sd15-tiny-pipe", "tokenizer")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cond, err := goldens.Path("sd-tiny", "pipeline", "conditioning.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := goldens.Load(cond)
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{
		"prompt.cat":        "a photo of a cat",
		"prompt.lighthouse": "a watercolor painting of a lighthouse at dusk, highly detailed",
		"negative.noneg":    "",
		"negative.neg":      "blurry, low quality",
	}
	for key, text := range texts {
		want, ok := ts[key+".input_ids"]
		if !ok {
			t.Fatalf("%s.input_ids missing", key)
		}
		got := tok.Encode77(text)
		for i, id := range want.Ints {
			if got[i] != int(id) {
				t.Errorf("%s: id %d = %d, want %d", key, i, got[i], id)
				break
			}
		}
	}
}
