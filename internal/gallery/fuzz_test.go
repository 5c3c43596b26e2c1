package gallery_test

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
	"unicode/utf8"

	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/gallery"
)

func pngWithTexts(t testing.TB, texts ...gallery.TextChunk) []byte {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 3, 2)))
	out, err := gallery.EmbedPNGText(buf.Bytes(), texts)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPNGTextRoundTrip(t *testing.T) {
	texts := []gallery.TextChunk{
		{Key: gallery.KeyMetadata, Value: `{"a":1}`},
		{Key: gallery.KeyWorkflow, Value: `{"name":"ünïcödé ✓"}`}, // goes to iTXt
		{Key: gallery.KeyGraph, Value: ""},
	}
	data := pngWithTexts(t, texts...)
	got, err := gallery.ReadPNGText(data, gallery.KeyMetadata, gallery.KeyWorkflow, gallery.KeyGraph)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range texts {
		if got[c.Key] != c.Value {
			t.Errorf("%s: %q, want %q", c.Key, got[c.Key], c.Value)
		}
	}
	if !bytes.Contains(data, []byte("iTXt"+gallery.KeyWorkflow)) || !bytes.Contains(data, []byte("tEXt"+gallery.KeyMetadata)) {
		t.Error("chunk types not as expected")
	}
	// Still a valid PNG.
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	// Unwanted keys are not returned.
	if got, _ := gallery.ReadPNGText(data, "other"); len(got) != 0 {
		t.Errorf("unwanted keys: %v", got)
	}
	// A corrupted CRC ends the walk with an error.
	bad := append([]byte{}, data...)
	bad[len(bad)-5] ^= 1
	if _, err := gallery.ReadPNGText(bad, gallery.KeyGraph); err == nil {
		t.Error("bad CRC accepted")
	}
	if _, err := gallery.ReadPNGText([]byte("not a png"), gallery.KeyGraph); err == nil {
		t.Error("non-PNG accepted")
	}
	if _, err := gallery.EmbedPNGText([]byte("\x89PNG\r\n\x1a\n"), texts); err == nil {
		t.Error("embedding into a truncated PNG accepted")
	}
}

// FuzzReadPNGChunks: the chunk reader never panics or reads out of bounds, and any text embedded in a valid
// PNG reads back unchanged.
func FuzzReadPNGChunks(f *testing.F) {
	f.Add(pngWithTexts(f, gallery.TextChunk{Key: gallery.KeyMetadata, Value: `{"seed":1}`}), `{"x":"é"}`)
	f.Add(pngWithTexts(f, gallery.TextChunk{Key: gallery.KeyGraph, Value: "ünï"}), "")
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), "a")
	f.Add([]byte("\x89PNG\r\n\x1a\n\xff\xff\xff\xffzTXt"), "b")
	f.Fuzz(func(t *testing.T, data []byte, value string) {
		texts, err := gallery.ReadPNGText(data, gallery.KeyMetadata, gallery.KeyWorkflow, gallery.KeyGraph)
		if err == nil && len(texts) > 3 {
			t.Fatalf("more keys than wanted: %v", texts)
		}
		for _, v := range texts {
			if !utf8.ValidString(v) {
				t.Fatalf("invalid UTF-8 returned: %q", v)
			}
		}
		if !utf8.ValidString(value) {
			return
		}
		embedded := pngWithTexts(t, gallery.TextChunk{Key: gallery.KeyWorkflow, Value: value})
		got, err := gallery.ReadPNGText(embedded, gallery.KeyWorkflow)
		if err != nil || got[gallery.KeyWorkflow] != value {
			t.Fatalf("round trip of %q: %q, %v", value, got[gallery.KeyWorkflow], err)
		}
	})
}

// FuzzUpload drives the upload decode and validation path (no HTTP, no disk): it must never panic, must answer
// every bad input with a 400 or 415, and must never hand back an image over the pixel limit.
func FuzzUpload(f *testing.F) {
	const maxPixels = 1 << 16
	var jpg, gf bytes.Buffer
	jpeg.Encode(&jpg, image.NewRGBA(image.Rect(0, 0, 9, 7)), nil)
	gif.Encode(&gf, image.NewPaletted(image.Rect(0, 0, 5, 5), color.Palette{color.Black, color.White}), nil)
	f.Add(pngWithTexts(f, gallery.TextChunk{Key: gallery.KeyMetadata, Value: `{"seed":1}`},
		gallery.TextChunk{Key: gallery.KeyGraph, Value: `{"nodes":{},"edges":[]}`}), "", "", false)
	f.Add(jpg.Bytes(), `{"width":3,"height":2}`, `{"a":1}`, true)
	f.Add(gf.Bytes(), "", "", true)
	f.Add([]byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"), "", "", false)
	f.Add([]byte("BM"), `{"width":0}`, "[]", false)
	f.Fuzz(func(t *testing.T, data []byte, resizeTo, metadata string, crop bool) {
		up := gallery.Upload{Data: data, ContentType: "image/png", ResizeTo: resizeTo, CropVisible: crop}
		if metadata != "" {
			up.Metadata = &metadata
		}
		out, err := gallery.DecodeUpload(up, maxPixels)
		if err != nil {
			if s := apperr.StatusOf(err); s != 400 && s != 415 {
				t.Fatalf("status %d for a bad upload: %v", s, err)
			}
			return
		}
		b := out.Image.Bounds()
		if b.Empty() {
			t.Fatal("empty image accepted")
		}
		if resizeTo == "" && int64(b.Dx())*int64(b.Dy()) > maxPixels {
			t.Fatalf("%v exceeds the pixel limit", b)
		}
		if out.Metadata != nil && metadata != "" && *out.Metadata != metadata {
			t.Fatal("form metadata did not win")
		}
	})
}
