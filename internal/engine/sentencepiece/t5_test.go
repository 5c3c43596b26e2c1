package sentencepiece

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

type goldenCase struct {
	Name    string `json:"name"`
	Text    string `json:"text"`
	TextHex string `json:"text_utf8_hex"`
	Chunks  []struct {
		Text       *string `json:"text"`
		Normalized string  `json:"normalized"`
		Special    string  `json:"special"`
		ID         int     `json:"id"`
	} `json:"chunks"`
	Pieces   []string `json:"pieces"`
	PieceIDs []int    `json:"piece_ids"`
	L512     goldenEncoding
	L256     goldenEncoding
}

type goldenEncoding struct {
	InputIDs      []int `json:"input_ids"`
	AttentionMask []int `json:"attention_mask"`
	NAttended     int   `json:"n_attended"`
	Truncated     bool  `json:"truncated"`
}

func fixturePath(t testing.TB, elem ...string) string {
	t.Helper()
	p, err := goldens.Path(append([]string{"flux-tiny"}, elem...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loadT5(t testing.TB) *T5 {
	t.Helper()
	tok, err := LoadT5(fixturePath(t, "models", "flux-dev-tiny", "tokenizer_2"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestT5Goldens checks every fixture case exactly: the normalized form of
// each plain chunk, the pieces and ids before </s>, and the padded,
// truncated encodings at FLUX's two lengths.
func TestT5Goldens(t *testing.T) {
	tok := loadT5(t)
	b, err := os.ReadFile(fixturePath(t, "goldens", "t5_tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []goldenCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) != 28 {
		t.Fatalf("%d cases, want 28", len(g.Cases))
	}
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			raw, err := hex.DecodeString(c.TextHex)
			if err != nil || string(raw) != c.Text {
				t.Fatalf("text and its hex disagree")
			}
			chunks := tok.split(c.Text)
			var plain []chunk
			for _, ch := range chunks {
				if ch.special != nil || ch.text != "" {
					plain = append(plain, ch)
				}
			}
			if len(plain) != len(c.Chunks) {
				t.Fatalf("%d chunks, want %d", len(plain), len(c.Chunks))
			}
			for i, want := range c.Chunks {
				got := plain[i]
				if want.Text == nil {
					if got.special == nil || got.special.text != want.Special || got.special.id != want.ID {
						t.Fatalf("chunk %d: %+v, want special %q (%d)", i, got, want.Special, want.ID)
					}
					continue
				}
				if got.special != nil || got.text != *want.Text {
					t.Fatalf("chunk %d: %+v, want text %q", i, got, *want.Text)
				}
				if n := tok.Model().Normalize(got.text); n != want.Normalized {
					t.Fatalf("chunk %d normalized to %q, want %q", i, n, want.Normalized)
				}
			}
			toks := tok.Tokenize(c.Text)
			var pieces []string
			var ids []int
			for _, tk := range toks {
				pieces = append(pieces, tk.Piece)
				ids = append(ids, tk.ID)
			}
			if !slices.Equal(ids, c.PieceIDs) {
				t.Fatalf("ids %v\nwant %v", ids, c.PieceIDs)
			}
			if !slices.Equal(pieces, c.Pieces) {
				t.Fatalf("pieces %q\nwant %q", pieces, c.Pieces)
			}
			for _, l := range []struct {
				n    int
				want goldenEncoding
			}{{512, c.L512}, {256, c.L256}} {
				enc, err := tok.Encode(c.Text, l.n)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(enc.IDs, l.want.InputIDs) || !slices.Equal(enc.Mask, l.want.AttentionMask) {
					t.Fatalf("L%d: ids %v\nwant %v", l.n, enc.IDs, l.want.InputIDs)
				}
				if enc.Truncated != l.want.Truncated {
					t.Fatalf("L%d: truncated %v, want %v", l.n, enc.Truncated, l.want.Truncated)
				}
			}
		})
	}
}

func TestT5Basics(t *testing.T) {
	tok := loadT5(t)
	if tok.EOSID() != 1 || tok.PadID() != 0 || tok.Model().UnknownID() != 2 || tok.Model().Len() != 2000 {
		t.Fatalf("eos %d pad %d unk %d pieces %d", tok.EOSID(), tok.PadID(), tok.Model().UnknownID(), tok.Model().Len())
	}
	if _, err := tok.Encode("x", 0); err == nil {
		t.Fatal("length 0 accepted")
	}
	if _, err := tok.Encode("x", MaxLength+1); err == nil {
		t.Fatal("huge length accepted")
	}
	enc, _ := tok.Encode("a photo of a cat", 1)
	if !slices.Equal(enc.IDs, []int{1}) || !enc.Truncated {
		t.Fatalf("length 1: %+v", enc)
	}
	// Invalid UTF-8 decodes as U+FFFD (unknown) rather than failing.
	toks := tok.Tokenize("a\xffb")
	if len(toks) == 0 {
		t.Fatal("no tokens for invalid UTF-8")
	}
}

// TestRandomStringsMatchSentencePiece compares Model.Encode with
// SentencePiece 0.1.97 itself on 1500 random strings (see
// testdata/flux-tiny/spm-random/make_spm_random.py): ids and pieces exactly.
func TestRandomStringsMatchSentencePiece(t *testing.T) {
	tok := loadT5(t)
	b, err := os.ReadFile(fixturePath(t, "spm-random", "spm_random.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []struct {
			Hex    string   `json:"text_utf8_hex"`
			IDs    []int    `json:"ids"`
			Pieces []string `json:"pieces"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) != 1500 {
		t.Fatalf("%d cases", len(g.Cases))
	}
	bad := 0
	for i, c := range g.Cases {
		raw, err := hex.DecodeString(c.Hex)
		if err != nil {
			t.Fatal(err)
		}
		toks := tok.Model().Encode(string(raw))
		ids, pieces := []int{}, []string{}
		for _, tk := range toks {
			ids = append(ids, tk.ID)
			pieces = append(pieces, tk.Piece)
		}
		if !slices.Equal(ids, c.IDs) || !slices.Equal(pieces, c.Pieces) {
			if bad < 5 {
				t.Errorf("case %d %q:\n ids %v pieces %q\nwant %v %q", i, raw, ids, pieces, c.IDs, c.Pieces)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d strings differ", bad, len(g.Cases))
	}
}
