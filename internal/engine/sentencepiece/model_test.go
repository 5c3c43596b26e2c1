package sentencepiece

import (
	"encoding/binary"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/invokego/invokego/internal/engine/goldens"
)

// pb builds protobuf messages for synthetic models.
type pb []byte

func (p pb) varint(v uint64) pb {
	for v >= 0x80 {
		p = append(p, byte(v)|0x80)
		v >>= 7
	}
	return append(p, byte(v))
}

func (p pb) key(num, wire int) pb { return p.varint(uint64(num<<3 | wire)) }

func (p pb) bytes(num int, b []byte) pb {
	p = p.key(num, wireBytes).varint(uint64(len(b)))
	return append(p, b...)
}

func (p pb) uint(num int, v uint64) pb { return p.key(num, wireVarint).varint(v) }

func (p pb) float(num int, f float32) pb {
	p = p.key(num, wireFixed32)
	return binary.LittleEndian.AppendUint32(p, math.Float32bits(f))
}

type testPiece struct {
	text  string
	score float32
	typ   PieceType
}

// synthModel serializes a model with the given pieces, no normalization
// table, and the given trainer flags.
func synthModel(pieces []testPiece, byteFallback bool) []byte {
	var m pb
	for _, p := range pieces {
		var msg pb
		msg = msg.bytes(1, []byte(p.text)).float(2, p.score)
		if p.typ != Normal {
			msg = msg.uint(3, uint64(p.typ))
		}
		m = m.bytes(1, msg)
	}
	var trainer pb
	trainer = trainer.uint(3, 1)
	if byteFallback {
		trainer = trainer.uint(35, 1)
	}
	m = m.bytes(2, trainer)
	var norm pb
	norm = norm.bytes(1, []byte("identity"))
	return m.bytes(3, norm)
}

func basicPieces() []testPiece {
	return []testPiece{
		{"<pad>", 0, Control}, {"</s>", 0, Control}, {"<unk>", 0, Unknown},
		{"▁", -2, Normal}, {"a", -3, Normal}, {"b", -3, Normal}, {"▁ab", -4, Normal}, {"ab", -1, Normal},
		{"▁c", -5, Normal}, {"XY", 0, UserDefined}, {"zz", -1, Unused}, {"z", -6, Normal},
	}
}

func TestSyntheticModel(t *testing.T) {
	m, err := Parse(synthModel(basicPieces(), false))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		in     string
		ids    []int
		pieces []string
	}{
		// "▁ab" (−4) beats "▁"+"ab" (−3) only by score: −4 > −3 is false, so ▁ + ab.
		{"ab", []int{3, 7}, []string{"▁", "ab"}},
		// Unknown characters: q and ü merge into one <unk>; the user-defined
		// piece wins whatever its neighbours.
		{"aqü XY", []int{3, 4, 2, 3, 9}, []string{"▁", "a", "qü", "▁", "XY"}},
		// An unused piece never matches: zz is two z.
		{"zz", []int{3, 11, 11}, []string{"▁", "z", "z"}},
	}
	for _, c := range cases {
		var ids []int
		var pieces []string
		for _, tk := range m.Encode(c.in) {
			ids, pieces = append(ids, tk.ID), append(pieces, tk.Piece)
		}
		if !slices.Equal(ids, c.ids) || !slices.Equal(pieces, c.pieces) {
			t.Errorf("Encode(%q) = %v %q, want %v %q", c.in, ids, pieces, c.ids, c.pieces)
		}
	}
	// Without a table, only the whitespace rules apply.
	if got := m.Normalize("  a\tb  c "); got != "▁a\tb▁c" {
		t.Errorf("Normalize = %q", got)
	}
}

func TestByteFallback(t *testing.T) {
	pieces := basicPieces()
	for b := range 256 {
		pieces = append(pieces, testPiece{text: "<0x" + strings.ToUpper(hex2(b)) + ">", typ: Byte})
	}
	m, err := Parse(synthModel(pieces, true))
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, tk := range m.Encode("aé") {
		ids = append(ids, tk.ID)
	}
	// ▁ a, then é as its two UTF-8 bytes 0xC3 0xA9.
	want := []int{3, 4, 12 + 0xc3, 12 + 0xa9}
	if !slices.Equal(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	// Byte fallback needs all 256 byte pieces.
	if _, err := Parse(synthModel(pieces[:len(pieces)-1], true)); err == nil {
		t.Fatal("incomplete byte pieces accepted")
	}
}

func hex2(b int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

func TestHostileModels(t *testing.T) {
	good := synthModel(basicPieces(), false)
	cases := map[string][]byte{
		"empty":          {},
		"truncated":      good[:len(good)-3],
		"bad wire":       pb{}.key(1, 3),
		"huge length":    pb{}.key(1, wireBytes).varint(1 << 60),
		"long varint":    append(pb{}.key(1, wireVarint), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"field zero":     pb{}.key(0, wireVarint).varint(1),
		"bpe":            pb{}.bytes(1, pb{}.bytes(1, []byte("<unk>")).uint(3, 2)).bytes(2, pb{}.uint(3, 2)),
		"no unk":         synthModel([]testPiece{{"a", -1, Normal}}, false),
		"two unk":        synthModel([]testPiece{{"<unk>", 0, Unknown}, {"<u2>", 0, Unknown}}, false),
		"dup":            synthModel([]testPiece{{"<unk>", 0, Unknown}, {"a", -1, Normal}, {"a", -2, Normal}}, false),
		"empty piece":    synthModel([]testPiece{{"<unk>", 0, Unknown}, {"", -1, Normal}}, false),
		"nan score":      synthModel([]testPiece{{"<unk>", 0, Unknown}, {"a", float32(math.NaN()), Normal}}, false),
		"piece type":     pb{}.bytes(1, pb{}.bytes(1, []byte("x")).uint(3, 9)),
		"bad byte piece": synthModel([]testPiece{{"<unk>", 0, Unknown}, {"<0xZZ>", 0, Byte}}, false),
		"suffix space":   pb{}.bytes(1, pb{}.bytes(1, []byte("<unk>")).uint(3, 2)).bytes(2, pb{}.uint(24, 1)),
		"charsmap short": append(slices.Clone(good), pb{}.bytes(3, pb{}.bytes(2, []byte{1, 0}))...),
		"charsmap size":  append(slices.Clone(good), pb{}.bytes(3, pb{}.bytes(2, []byte{0xff, 0xff, 0, 0, 1, 2, 3, 4}))...),
		"spec wire":      append(slices.Clone(good), pb{}.bytes(3, pb{}.key(3, wireBytes).varint(0))...),
	}
	for name, b := range cases {
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A table whose trie points outside itself must not crash normalization.
func TestCorruptCharsMap(t *testing.T) {
	table := make([]byte, 4+16+4)
	binary.LittleEndian.PutUint32(table, 16)
	for i := range 4 {
		binary.LittleEndian.PutUint32(table[4+4*i:], 0xffffffff) // offsets and labels everywhere
	}
	b := append(synthModel(basicPieces(), false), pb{}.bytes(3, pb{}.bytes(2, table))...)
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	_ = m.Encode("ab\xff\x00 c")
}

// FuzzParse feeds arbitrary model bytes; whatever parses must encode
// arbitrary text without panicking.
func FuzzParse(f *testing.F) {
	f.Add(synthModel(basicPieces(), false))
	if p, err := fixturePathErr("models", "flux-dev-tiny", "tokenizer_2", "spiece.model"); err == nil {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b[:4096]) // the head of the real model: pieces, truncated
		}
	}
	f.Add([]byte(pb{}.bytes(1, pb{}.bytes(1, []byte("<unk>")).uint(3, 2)).bytes(3, pb{}.bytes(2, []byte{8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 1, 1, 1, 0}))))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		for _, s := range []string{"", " a b ", "ab\xffc", "XYZ ▁ é 🙂", strings.Repeat("ab ", 40)} {
			for _, tk := range m.Encode(s) {
				if tk.ID < 0 || tk.ID >= m.Len() {
					t.Fatalf("id %d outside %d pieces", tk.ID, m.Len())
				}
			}
		}
	})
}

// FuzzT5Encode runs arbitrary text through the fixture's T5 tokenizer: the
// pieces of each plain chunk must spell its normalized text, and every
// encoding must have the requested length and end its tokens with </s>.
func FuzzT5Encode(f *testing.F) {
	for _, s := range []string{"a photo of a cat", "", "   ", "<extra_id_0> x </s>", "é🙂\u200d\u2581\t\n", "<pad><unk>", "a\xffb"} {
		f.Add(s)
	}
	tok := loadT5(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range tok.split(s) {
			if c.special != nil {
				continue
			}
			norm := tok.Model().Normalize(c.text)
			var spelled strings.Builder
			for _, tk := range tok.Model().Encode(c.text) {
				spelled.WriteString(tk.Piece)
			}
			if spelled.String() != norm {
				t.Fatalf("pieces of %q spell %q, normalized %q", c.text, spelled.String(), norm)
			}
			if !utf8.ValidString(norm) {
				t.Fatalf("normalized %q is not valid UTF-8", norm)
			}
		}
		enc, err := tok.Encode(s, 16)
		if err != nil || len(enc.IDs) != 16 || len(enc.Mask) != 16 {
			t.Fatalf("encoding %+v, %v", enc, err)
		}
		n := 0
		for n < 16 && enc.Mask[n] == 1 {
			n++
		}
		if n == 0 || enc.IDs[n-1] != tok.EOSID() {
			t.Fatalf("tokens %v do not end with </s>", enc.IDs[:n])
		}
	})
}

func fixturePathErr(elem ...string) (string, error) {
	return goldens.Path(append([]string{"flux-tiny"}, elem...)...)
}
