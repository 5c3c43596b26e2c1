package api_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/config"
	"github.com/invokego/invokego/internal/gallery"
)

// bombPNG is a valid PNG header declaring w×h pixels with a tiny body: decoding it would allocate w×h×4 bytes.
func bombPNGOf(t testing.TB, w, h uint32) []byte {
	data := testPNG(t, 4, 4)
	ihdr := data[8+8 : 8+8+13]
	binary.BigEndian.PutUint32(ihdr[0:4], w)
	binary.BigEndian.PutUint32(ihdr[4:8], h)
	binary.BigEndian.PutUint32(data[8+8+13:], crc32.ChecksumIEEE(data[12:8+8+13]))
	return data
}

func TestUploadBadInput(t *testing.T) {
	g := gal{apitest.New(t, apitest.Multiuser(), apitest.WithConfig(func(c *config.Config) { c.MaxUploadBytes = 64 << 10 }))}
	u := g.Cast()
	tok := u.Owner.Token
	board := g.boardWith(tok, "private")
	g.uploadImage(tok, board) // something to keep
	valid := testPNG(t, 32, 24)
	var jpg bytes.Buffer
	jpeg.Encode(&jpg, image.NewRGBA(image.Rect(0, 0, 40, 40)), nil)
	corrupt := append([]byte{}, valid...)
	corrupt[len(corrupt)-20] ^= 0xff // inside IDAT: bad CRC
	big := make([]byte, 70<<10)
	cases := []struct {
		name        string
		query       string
		data        []byte
		contentType string
		fields      map[string]string
		status      int
		detail      string
	}{
		{"not an image content type", "", valid, "text/plain", nil, 415, "Not an image"},
		{"not an image body", "", []byte("hello, world"), "image/png", nil, 415, "Failed to read image"},
		{"empty file", "", []byte{}, "image/png", nil, 415, "Failed to read image"},
		{"truncated png", "", valid[:len(valid)/2], "image/png", nil, 415, "Failed to read image"},
		{"corrupt png", "", corrupt, "image/png", nil, 415, "Failed to read image"},
		{"truncated jpeg", "", jpg.Bytes()[:len(jpg.Bytes())/2], "image/jpeg", nil, 415, ""},
		{"garbage webp", "", []byte("RIFF\x20\x00\x00\x00WEBPVP8 garbage garbage"), "image/webp", nil, 415, ""},
		{"decompression bomb", "", bombPNGOf(t, 100000, 100000), "image/png", nil, 415, ""},
		{"bomb just over the limit", "", bombPNGOf(t, 8193, 8192), "image/png", nil, 415, ""},
		{"zero width", "", bombPNGOf(t, 0, 10), "image/png", nil, 415, ""},
		{"unknown board", "image_category=general&is_intermediate=false&board_id=nope", valid, "image/png", nil, 404, "Board not found"},
		{"resize_to not json", "", valid, "image/png", map[string]string{"resize_to": "big"}, 400, "Invalid resize_to format or size"},
		{"resize_to zero", "", valid, "image/png", map[string]string{"resize_to": `{"width":0,"height":10}`}, 400, "Invalid resize_to format or size"},
		{"resize_to negative", "", valid, "image/png", map[string]string{"resize_to": `{"width":-5,"height":10}`}, 400, "Invalid resize_to format or size"},
		{"resize_to too large", "", valid, "image/png", map[string]string{"resize_to": `{"width":4097,"height":4096}`}, 400, "Invalid resize_to format or size"},
		{"resize_to missing height", "", valid, "image/png", map[string]string{"resize_to": `{"width":10}`}, 400, "Invalid resize_to format or size"},
		{"resize_to list", "", valid, "image/png", map[string]string{"resize_to": `[1,2]`}, 400, "Invalid resize_to format or size"},
		{"metadata not json", "", valid, "image/png", map[string]string{"metadata": "nope"}, 400, ""},
		{"metadata a list", "", valid, "image/png", map[string]string{"metadata": "[1]"}, 400, ""},
		{"metadata null", "", valid, "image/png", map[string]string{"metadata": "null"}, 400, ""},
		{"too large", "", big, "image/png", nil, 413, ""},
		{"missing category", "is_intermediate=false", valid, "image/png", nil, 422, ""},
		{"bad category", "image_category=bogus&is_intermediate=false", valid, "image/png", nil, 422, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := gal{g.Env}
			g.T = t
			before := g.state()
			res := g.upload(tok, c.query, c.data, c.contentType, c.fields)
			if res.Status != c.status {
				t.Fatalf("status %d, want %d: %s", res.Status, c.status, res.Body)
			}
			if c.detail != "" && res.Detail() != c.detail {
				t.Errorf("detail %q, want %q", res.Detail(), c.detail)
			}
			g.assertUnchanged(before, c.name)
		})
	}
	t.Run("no file part", func(t *testing.T) {
		before := g.state()
		g.Do("POST", "/api/v1/images/upload?image_category=general&is_intermediate=false", apitest.Token(tok),
			apitest.RawBody("application/json", []byte(`{}`))).Expect(422)
		g.assertUnchanged(before, "no file")
	})
}

func TestDecompressionBombLimitIsConfigurable(t *testing.T) {
	g := gal{apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.MaxImagePixels = 1000 }))}
	before := g.state()
	g.upload("", "", testPNG(t, 40, 30), "image/png", nil).Expect(415)
	g.assertUnchanged(before, "an image over the pixel limit")
	g.upload("", "", testPNG(t, 40, 25), "image/png", nil).Expect(201)
}

func TestMaliciousNames(t *testing.T) {
	g := gal{apitest.New(t, apitest.Multiuser())}
	u := g.Cast()
	img := g.uploadImage(u.Owner.Token, "")
	// A file outside the images folder that a traversal would reach.
	secret := filepath.Join(g.Root, "outputs", "secret.png")
	os.WriteFile(secret, testPNG(t, 4, 4), 0o644)
	bad := []string{
		"..%2Fsecret.png", "..%2F..%2Fdatabases%2Finvokeai.db", "%2E%2E%2Fsecret.png", "a%2Fb.png", "secret.png",
		"x%00.png", img + "%00", strings.ToUpper(img), "thumbnails%2F" + strings.TrimSuffix(img, ".png") + ".webp",
		strings.TrimSuffix(img, ".png"), "....%2F%2Fsecret.png",
	}
	for _, name := range bad {
		// A name no image can have is not found, for users as for admins (no 403 guessing game).
		for _, tok := range []string{u.Admin.Token, u.Other.Token} {
			for _, suffix := range []string{"", "/full", "/thumbnail", "/metadata", "/workflow", "/urls"} {
				res := g.Do("GET", "/api/v1/images/i/"+name+suffix, apitest.Token(tok))
				if res.Status != 404 {
					t.Errorf("GET %s%s: %d, want 404", name, suffix, res.Status)
				}
			}
		}
		if res := g.Do("GET", "/api/v1/images/download/"+name, apitest.Token(u.Admin.Token)); res.Status != 404 {
			t.Errorf("download %s: %d", name, res.Status)
		}
	}
	for _, name := range []string{"..%2F..%2Fdatabases%2Finvokeai.db", "..%2Fimages%2F" + img, "x%00.zip", "a.zip%2F..", "nothing.zip", ".tmp-1"} {
		if res := g.Do("GET", "/api/v1/images/download/"+name, apitest.Token(u.Admin.Token)); res.Status != 404 {
			t.Errorf("download %s: %d", name, res.Status)
		}
	}
	// Batch routes ignore malformed names rather than touching anything.
	before := g.state()
	g.Do("POST", "/api/v1/images/delete", apitest.Token(u.Admin.Token), apitest.JSON(map[string]any{"image_names": []string{"../secret.png", "secret.png"}})).Expect(200)
	g.assertUnchanged(before, "deleting malformed names")
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("the file outside the images folder is gone: %v", err)
	}
	// The real image still works.
	g.Do("GET", "/api/v1/images/i/"+img+"/full", apitest.Token(u.Owner.Token)).Expect(200)
}

// Metadata, workflow and graph chunks are read from uploads (invalid ones dropped) and written on save.
func TestUploadMetadataChunks(t *testing.T) {
	g := gal{apitest.New(t)}
	workflow := `{"name":"w","author":"","description":"","version":"1.0.0","contact":"","tags":"","notes":"","exposedFields":[],"meta":{"version":"3.0.0","category":"user"},"nodes":[],"edges":[]}`
	graph := `{"id":"g","nodes":{"a":{"id":"a","type":"integer"}},"edges":[]}`
	upload := func(fields map[string]string, texts ...gallery.TextChunk) gallery.ImageDTO {
		var dto gallery.ImageDTO
		g.upload("", "", testPNG(t, 20, 10, texts...), "image/png", fields).Expect(201).Decode(&dto)
		return dto
	}
	dto := upload(nil, gallery.TextChunk{Key: gallery.KeyMetadata, Value: `{"seed":7,"prompt":"çà"}`},
		gallery.TextChunk{Key: gallery.KeyWorkflow, Value: workflow}, gallery.TextChunk{Key: gallery.KeyGraph, Value: graph})
	if !dto.HasWorkflow {
		t.Error("has_workflow false")
	}
	var meta map[string]any
	g.Do("GET", "/api/v1/images/i/"+dto.ImageName+"/metadata").Expect(200).Decode(&meta)
	if meta["seed"] != float64(7) || meta["prompt"] != "çà" {
		t.Errorf("metadata %v", meta)
	}
	var wg gallery.WorkflowAndGraph
	g.Do("GET", "/api/v1/images/i/"+dto.ImageName+"/workflow").Expect(200).Decode(&wg)
	if wg.Workflow == nil || *wg.Workflow != workflow || wg.Graph == nil || *wg.Graph != graph {
		t.Errorf("workflow and graph: %+v", wg)
	}
	// The stored file carries the chunks.
	data, err := os.ReadFile(filepath.Join(g.Root, "outputs", "images", dto.ImageName))
	if err != nil {
		t.Fatal(err)
	}
	texts, err := gallery.ReadPNGText(data, gallery.KeyMetadata, gallery.KeyWorkflow, gallery.KeyGraph)
	if err != nil || texts[gallery.KeyGraph] != graph {
		t.Errorf("stored chunks %v (%v)", texts, err)
	}

	// Invalid embedded values are dropped silently; the form's metadata overrides the embedded one.
	dto = upload(map[string]string{"metadata": `{"from":"form"}`},
		gallery.TextChunk{Key: gallery.KeyMetadata, Value: `{"from":"file"}`},
		gallery.TextChunk{Key: gallery.KeyWorkflow, Value: `{"name":"missing fields"}`},
		gallery.TextChunk{Key: gallery.KeyGraph, Value: `{"nodes":[],"edges":{}}`})
	if dto.HasWorkflow {
		t.Error("invalid workflow and graph kept")
	}
	g.Do("GET", "/api/v1/images/i/"+dto.ImageName+"/metadata").Expect(200).Decode(&meta)
	if meta["from"] != "form" {
		t.Errorf("metadata %v", meta)
	}
	dto = upload(nil, gallery.TextChunk{Key: gallery.KeyMetadata, Value: `[1,2]`})
	if res := g.Do("GET", "/api/v1/images/i/"+dto.ImageName+"/metadata").Expect(200); string(bytes.TrimSpace(res.Body)) != "null" {
		t.Errorf("invalid metadata kept: %s", res.Body)
	}

	// resize_to and crop_visible shape the stored image.
	var resized gallery.ImageDTO
	g.upload("", "", testPNG(t, 20, 10), "image/png", map[string]string{"resize_to": `{"width":7,"height":5}`}).Expect(201).Decode(&resized)
	if resized.Width != 7 || resized.Height != 5 {
		t.Errorf("resized to %dx%d", resized.Width, resized.Height)
	}
	// A JPEG is re-encoded as PNG.
	var jpg bytes.Buffer
	jpeg.Encode(&jpg, image.NewRGBA(image.Rect(0, 0, 30, 300)), nil)
	var fromJPEG gallery.ImageDTO
	res := g.upload("", "", jpg.Bytes(), "image/jpeg", nil).Expect(201).Decode(&fromJPEG)
	if res.Header.Get("Location") != fromJPEG.ImageURL {
		t.Errorf("Location %q", res.Header.Get("Location"))
	}
	full := g.Do("GET", "/api/v1/images/i/"+fromJPEG.ImageName+"/full").Expect(200)
	if !bytes.HasPrefix(full.Body, []byte("\x89PNG")) || full.Header.Get("Content-Type") != "image/png" {
		t.Errorf("stored file is not a PNG: %q", full.Body[:8])
	}
	// IHDR: bit depth at byte 24, colour type at 25; a JPEG's 8-bit channels stay 8-bit RGB.
	if full.Body[24] != 8 || full.Body[25] != 2 {
		t.Errorf("stored PNG has bit depth %d, colour type %d; want 8-bit RGB", full.Body[24], full.Body[25])
	}
	if cd := full.Header.Get("Content-Disposition"); cd != `inline; filename="`+fromJPEG.ImageName+`"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	thumb := g.Do("GET", "/api/v1/images/i/"+fromJPEG.ImageName+"/thumbnail").Expect(200)
	if thumb.Header.Get("Content-Type") != "image/webp" || string(thumb.Body[8:12]) != "WEBP" {
		t.Errorf("thumbnail: %s %q", thumb.Header.Get("Content-Type"), thumb.Body[:12])
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(thumb.Body))
	if err != nil || cfg.Height != 256 || cfg.Width != 26 {
		t.Errorf("thumbnail %dx%d (%v)", cfg.Width, cfg.Height, err)
	}
}
