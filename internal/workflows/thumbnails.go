package workflows

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // thumbnails may be uploaded as GIF
	_ "image/jpeg"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/store"
)

// Thumbnail limits. The frontend uploads a small cropped PNG; anything far larger is refused before it is
// decoded, so a tiny compressed file claiming huge dimensions cannot exhaust memory.
const (
	// MaxThumbnailUpload bounds the upload's bytes (the route's body limit is a little above it).
	MaxThumbnailUpload = 16 << 20
	maxSourcePixels    = 25_000_000
	maxSourceSide      = 16_384
	// thumbnailSide is the longest side of the stored thumbnail, as InvokeAI's make_thumbnail(image, 256).
	thumbnailSide = 256
)

// workflowIDPattern is what a workflow id must look like before it becomes part of a file name: the uuids this
// server generates and the default_* ids of the built-in library. Nothing else can name a file.
var workflowIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// thumbnailStore keeps <id>.png files in one folder.
type thumbnailStore struct {
	dir string
}

func (t thumbnailStore) path(id string) (string, error) {
	if !workflowIDPattern.MatchString(id) {
		return "", fmt.Errorf("workflow id %q cannot name a thumbnail file", id)
	}
	return filepath.Join(t.dir, id+".png"), nil
}

func (t thumbnailStore) exists(id string) bool {
	p, err := t.path(id)
	if err != nil {
		return false
	}
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// save writes the file atomically, so a reader never sees half a PNG.
func (t thumbnailStore) save(id string, data []byte) error {
	p, err := t.path(id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(t.dir, 0o755); err != nil {
		return fmt.Errorf("create thumbnail folder: %w", err)
	}
	tmp, err := os.CreateTemp(t.dir, ".upload-*.png")
	if err != nil {
		return fmt.Errorf("save thumbnail: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save thumbnail: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save thumbnail: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("save thumbnail: %w", err)
	}
	return nil
}

// remove deletes the file; a missing one is not an error.
func (t thumbnailStore) remove(id string) error {
	p, err := t.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove thumbnail: %w", err)
	}
	return nil
}

// thumbnailURL is the API path of a workflow's thumbnail, or nil when it has none. The path carries no cache
// buster (the spec's form); the route answers with a revalidating cache policy instead.
func (s *Service) thumbnailURL(id string) *string {
	if !s.thumbnails.exists(id) {
		return nil
	}
	u := "api/v1/workflows/i/" + id + "/thumbnail"
	return &u
}

// SetThumbnail stores a thumbnail made from an uploaded image.
func (s *Service) SetThumbnail(ctx context.Context, p access.Principal, id, contentType string, data []byte) error {
	if _, err := s.loadForChange(ctx, p, id, "update"); err != nil {
		return err
	}
	if !strings.HasPrefix(contentType, "image") {
		return apperr.UnsupportedMedia("Not an image")
	}
	thumb, err := MakeThumbnail(data)
	if err != nil {
		s.logger.Info("workflow thumbnail refused", "workflow_id", id, "error", err)
		return apperr.UnsupportedMedia("Failed to read image")
	}
	return s.thumbnails.save(id, thumb)
}

// DeleteThumbnail removes a workflow's thumbnail; removing one that does not exist succeeds.
func (s *Service) DeleteThumbnail(ctx context.Context, p access.Principal, id string) error {
	if _, err := s.loadForChange(ctx, p, id, "update"); err != nil {
		return err
	}
	return s.thumbnails.remove(id)
}

// ThumbnailFile opens the thumbnail of a workflow the caller may read. The caller closes the file.
func (s *Service) ThumbnailFile(ctx context.Context, p access.Principal, id string) (*os.File, error) {
	w, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := access.ReadWorkflow(p, ref(w)); err != nil {
		return nil, err
	}
	path, err := s.thumbnails.path(id)
	if err != nil {
		return nil, apperr.NotFound("Workflow thumbnail not found")
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, apperr.NotFound("Workflow thumbnail not found")
	}
	if err != nil {
		return nil, fmt.Errorf("open workflow thumbnail: %w", err)
	}
	return f, nil
}

// RemoveOrphanThumbnails deletes thumbnail files whose workflow no longer exists (for instance after an
// account was deleted with its content), so that no image outlives its workflow. Run at start-up.
func (s *Service) RemoveOrphanThumbnails(ctx context.Context) error {
	entries, err := os.ReadDir(s.thumbnails.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list workflow thumbnails: %w", err)
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".png")
		if !ok || !e.Type().IsRegular() || !workflowIDPattern.MatchString(id) {
			continue
		}
		if _, err := s.db.WorkflowByID(ctx, id); !errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err := s.thumbnails.remove(id); err != nil {
			return err
		}
		s.logger.Info("removed thumbnail of a deleted workflow", "workflow_id", id)
	}
	return nil
}

// MakeThumbnail decodes a PNG, JPEG or GIF and returns a PNG whose longest side is at most 256 pixels. The
// header is checked before decoding so that decompression bombs are refused cheaply.
func MakeThumbnail(data []byte) ([]byte, error) {
	if len(data) > MaxThumbnailUpload {
		return nil, fmt.Errorf("image is %d bytes; at most %d are accepted", len(data), MaxThumbnailUpload)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read image header: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxSourceSide || cfg.Height > maxSourceSide ||
		int64(cfg.Width)*int64(cfg.Height) > maxSourcePixels {
		return nil, fmt.Errorf("%s image of %dx%d pixels is too large", format, cfg.Width, cfg.Height)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode %s image: %w", format, err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, shrink(img, thumbnailSide)); err != nil {
		return nil, fmt.Errorf("encode thumbnail: %w", err)
	}
	return buf.Bytes(), nil
}

// shrink scales img down (never up) to fit in side×side, keeping the aspect ratio, by averaging the source
// pixels each output pixel covers (a box filter: sharp enough for thumbnails, free of aliasing).
func shrink(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= side && h <= side {
		return img
	}
	tw, th := side, side
	if w >= h {
		th = max(1, h*side/w)
	} else {
		tw = max(1, w*side/h)
	}
	out := image.NewNRGBA(image.Rect(0, 0, tw, th))
	for ty := 0; ty < th; ty++ {
		y0, y1 := b.Min.Y+ty*h/th, b.Min.Y+(ty+1)*h/th
		for tx := 0; tx < tw; tx++ {
			x0, x1 := b.Min.X+tx*w/tw, b.Min.X+(tx+1)*w/tw
			var r, g, bl, a, n uint64
			for y := y0; y < max(y1, y0+1); y++ {
				for x := x0; x < max(x1, x0+1); x++ {
					cr, cg, cb, ca := img.At(x, y).RGBA() // premultiplied, 16 bits
					r, g, bl, a, n = r+uint64(cr), g+uint64(cg), bl+uint64(cb), a+uint64(ca), n+1
				}
			}
			out.SetNRGBA(tx, ty, unpremultiply(r/n, g/n, bl/n, a/n))
		}
	}
	return out
}

func unpremultiply(r, g, b, a uint64) color.NRGBA {
	if a == 0 {
		return color.NRGBA{}
	}
	return color.NRGBA{R: uint8(r * 0xffff / a >> 8), G: uint8(g * 0xffff / a >> 8), B: uint8(b * 0xffff / a >> 8), A: uint8(a >> 8)}
}

// RemoveUserFiles deletes the thumbnails of workflows removed with a deleted account (auth.ContentRemover).
func (s *Service) RemoveUserFiles(_ context.Context, content *store.DeletedContent) {
	if content == nil {
		return
	}
	for _, id := range content.WorkflowIDs {
		if !workflowIDPattern.MatchString(id) {
			continue
		}
		if err := s.thumbnails.remove(id); err != nil {
			s.logger.Warn("remove thumbnail of a deleted workflow", "workflow_id", id, "error", err)
		}
	}
}
