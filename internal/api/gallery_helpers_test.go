package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/gallery"
)

// testPNG encodes a w×h gradient PNG, with InvokeAI text chunks if given.
func testPNG(t testing.TB, w, h int, texts ...gallery.TextChunk) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 7), uint8(y * 5), 90, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if len(texts) == 0 {
		return buf.Bytes()
	}
	out, err := gallery.EmbedPNGText(buf.Bytes(), texts)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// uploadForm builds a multipart body with a file part and extra form values.
func uploadForm(t testing.TB, data []byte, contentType string, fields map[string]string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="upload.png"`)
	h.Set("Content-Type", contentType)
	fw, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

// gal wraps an env with gallery helpers.
type gal struct {
	*apitest.Env
}

func (g gal) upload(tok, query string, data []byte, contentType string, fields map[string]string) *apitest.Resp {
	g.T.Helper()
	ct, body := uploadForm(g.T, data, contentType, fields)
	if query == "" {
		query = "image_category=general&is_intermediate=false"
	}
	return g.Do("POST", "/api/v1/images/upload?"+query, apitest.Token(tok), apitest.RawBody(ct, body))
}

// uploadImage uploads a small PNG for tok (optionally onto a board) and returns its name.
func (g gal) uploadImage(tok, boardID string) string {
	g.T.Helper()
	q := "image_category=general&is_intermediate=false"
	if boardID != "" {
		q += "&board_id=" + boardID
	}
	var dto gallery.ImageDTO
	g.upload(tok, q, testPNG(g.T, 16, 12), "image/png", nil).Expect(201).Decode(&dto)
	return dto.ImageName
}

func (g gal) createBoard(tok, name string) gallery.BoardDTO {
	g.T.Helper()
	var b gallery.BoardDTO
	g.Do("POST", "/api/v1/boards/?board_name="+name, apitest.Token(tok)).Expect(201).Decode(&b)
	return b
}

// boardWith creates a board with the visibility for tok.
func (g gal) boardWith(tok, visibility string) string {
	g.T.Helper()
	b := g.createBoard(tok, "board-"+visibility)
	if visibility != "private" {
		g.Do("PATCH", "/api/v1/boards/"+b.BoardID, apitest.Token(tok), apitest.JSON(map[string]any{"board_visibility": visibility})).Expect(201)
	}
	return b.BoardID
}

func (g gal) count(table string) int {
	g.T.Helper()
	var n int
	if err := g.App.DB.SQL().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		g.T.Fatal(err)
	}
	return n
}

// files lists every file under outputs (recursively), temporary files included.
func (g gal) files() []string {
	g.T.Helper()
	var out []string
	root := filepath.Join(g.Root, "outputs")
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			out = append(out, strings.TrimPrefix(p, root))
		}
		return nil
	})
	return out
}

// state is a snapshot of what a failed request must not change: row counts and the image files (zips are
// built in the background and are left out).
type state struct {
	images, boardImages, boards, files int
	fileList                           string
}

func (g gal) state() state {
	var imageFiles []string
	for _, f := range g.files() {
		if strings.HasPrefix(f, "/images/") {
			imageFiles = append(imageFiles, f)
		}
	}
	sum := sha256.Sum256([]byte(strings.Join(imageFiles, ",")))
	return state{g.count("images"), g.count("board_images"), g.count("boards"), len(imageFiles), hex.EncodeToString(sum[:8])}
}

func (g gal) assertUnchanged(before state, what string) {
	g.T.Helper()
	if after := g.state(); after != before {
		g.T.Errorf("%s left something behind: before %+v, after %+v", what, before, after)
	}
}
