// Package gallery holds invokego's images, boards, board assignments and bulk downloads: the files on disk
// (PNG with InvokeAI's text chunks, WebP thumbnails, zips) and the rules around them, which it asks the access
// package about. Handlers call it; it calls the store.
package gallery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/store"
)

// ThumbnailSide is the longest side of a thumbnail.
const ThumbnailSide = 256

// Options configure the service.
type Options struct {
	DB *store.DB
	// OutputsDir is the root's outputs folder; images live in OutputsDir/images.
	OutputsDir string
	// MaxImagePixels bounds decoded images (decompression bombs).
	MaxImagePixels int64
	// CompressLevel is PIL's compress_level (0-9) for saved PNGs.
	CompressLevel int
	Events        events.Publisher
	Now           func() time.Time
	Logger        *slog.Logger
	// DownloadTTL is how long a finished zip waits to be fetched (default one hour, docs/security.md D10).
	DownloadTTL time.Duration
}

// Service is the gallery.
type Service struct {
	db        *store.DB
	opts      Options
	imagesDir string
	thumbsDir string
	zipsDir   string
	logger    *slog.Logger
	now       func() time.Time

	// bg tracks background zip builders; ctx ends them on Close.
	bg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// New builds the service and creates its folders.
func New(opts Options) (*Service, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DownloadTTL == 0 {
		opts.DownloadTTL = time.Hour
	}
	if opts.MaxImagePixels <= 0 {
		opts.MaxImagePixels = 64_000_000 // 64 MP
	}
	s := &Service{
		db:        opts.DB,
		opts:      opts,
		imagesDir: filepath.Join(opts.OutputsDir, "images"),
		logger:    opts.Logger,
		now:       opts.Now,
	}
	s.thumbsDir = filepath.Join(s.imagesDir, "thumbnails")
	s.zipsDir = filepath.Join(opts.OutputsDir, "bulk_downloads")
	for _, dir := range []string{s.imagesDir, s.thumbsDir, s.zipsDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Close stops background work and waits for it.
func (s *Service) Close() {
	s.cancel()
	s.bg.Wait()
}

// imageNamePattern is the only shape of image name the server creates; anything else is refused before a
// path is built, so no name can reach outside the images folder.
var imageNamePattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.png$`)

// ValidImageName reports whether name is a server-generated image name.
func ValidImageName(name string) bool { return imageNamePattern.MatchString(name) }

func (s *Service) imagePath(name string) string { return filepath.Join(s.imagesDir, name) }

func (s *Service) thumbPath(name string) string {
	return filepath.Join(s.thumbsDir, name[:len(name)-len(".png")]+".webp")
}

// ImageDTO is an image as the API shows it (docs/compatibility.md §3). The owner is deliberately absent.
type ImageDTO struct {
	ImageName      string  `json:"image_name"`
	ImageURL       string  `json:"image_url"`
	ThumbnailURL   string  `json:"thumbnail_url"`
	ImageOrigin    string  `json:"image_origin"`
	ImageCategory  string  `json:"image_category"`
	Width          int     `json:"width"`
	Height         int     `json:"height"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
	DeletedAt      *string `json:"deleted_at"`
	IsIntermediate bool    `json:"is_intermediate"`
	SessionID      *string `json:"session_id"`
	NodeID         *string `json:"node_id"`
	Starred        bool    `json:"starred"`
	HasWorkflow    bool    `json:"has_workflow"`
	BoardID        *string `json:"board_id"`
}

// ImageURL is the relative URL of an image's full-size bytes.
func ImageURL(name string) string { return "api/v1/images/i/" + name + "/full" }

// ThumbnailURL is the relative URL of an image's thumbnail.
func ThumbnailURL(name string) string { return "api/v1/images/i/" + name + "/thumbnail" }

func toImageDTO(im *store.Image) ImageDTO {
	return ImageDTO{
		ImageName: im.ImageName, ImageURL: ImageURL(im.ImageName), ThumbnailURL: ThumbnailURL(im.ImageName),
		ImageOrigin: im.ImageOrigin, ImageCategory: im.ImageCategory, Width: im.Width, Height: im.Height,
		CreatedAt: im.CreatedAt, UpdatedAt: im.UpdatedAt, DeletedAt: im.DeletedAt, IsIntermediate: im.IsIntermediate,
		SessionID: im.SessionID, NodeID: im.NodeID, Starred: im.Starred, HasWorkflow: im.HasWorkflow, BoardID: im.BoardID,
	}
}

func imageRef(im *store.Image) access.ImageRef {
	ref := access.ImageRef{OwnerID: im.UserID}
	if im.BoardID != nil && im.BoardOwnerID != nil && im.BoardVisibility != nil {
		ref.Board = &access.BoardRef{OwnerID: *im.BoardOwnerID, Visibility: *im.BoardVisibility}
	}
	return ref
}

func boardRef(b *store.BoardRef) access.BoardRef {
	return access.BoardRef{OwnerID: b.OwnerID, Visibility: b.Visibility}
}

// boardKey is how affected_boards names an image's board: its id, or "none".
func boardKey(id *string) string {
	if id == nil {
		return "none"
	}
	return *id
}

var errBoardNotFound = apperr.NotFound("Board not found")

// errImageNotFound is FastAPI's bare 404.
var errImageNotFound = apperr.NotFound("Not Found")

// loadImage finds an image by name; a malformed name is as absent as a missing one.
func (s *Service) loadImage(ctx context.Context, name string) (*store.Image, error) {
	if !ValidImageName(name) {
		return nil, store.ErrNotFound
	}
	return s.db.ImageByName(ctx, name)
}

// imageFor loads an image and applies rule. A missing image gives non-admins the rule's refusal (so that they
// cannot tell missing from forbidden, docs/security.md §5.2) and admins notFound. The refusal comes from the rule itself,
// applied to an owner nobody can be, so its message stays the access package's.
func (s *Service) imageFor(ctx context.Context, p access.Principal, name string, rule func(access.Principal, access.ImageRef) error, notFound error) (*store.Image, error) {
	if !ValidImageName(name) {
		// A name no image can have (a path, a NUL) is simply not found, for everyone: it reveals nothing.
		return nil, notFound
	}
	im, err := s.loadImage(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		if p.IsAdmin {
			return nil, notFound
		}
		return nil, rule(p, absentImage())
	}
	if err != nil {
		return nil, err
	}
	if err := rule(p, imageRef(im)); err != nil {
		return nil, err
	}
	return im, nil
}

// absentImage stands for an image that does not exist: owned by nobody, on no board, so every rule refuses it
// to non-admins with its usual message.
func absentImage() access.ImageRef { return access.ImageRef{OwnerID: "\x00absent"} }

// boardFor loads a board's reference, 404 when absent.
func (s *Service) boardFor(ctx context.Context, id string) (*store.BoardRef, error) {
	b, err := s.db.BoardRefByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBoardNotFound
	}
	return b, err
}

// newImage is everything saveImage needs besides the pixels.
type newImage struct {
	owner          string
	origin         string
	category       string
	isIntermediate bool
	sessionID      *string
	nodeID         *string
	boardID        string
	metadata       *string
	workflow       *string
	graph          *string
}

// saveImage writes the PNG (with its text chunks) and the thumbnail, and records the image, atomically: both
// files are written to temporary names first, the rows are inserted in a transaction, the files are renamed
// into place inside it, and any failure removes whatever was written.
func (s *Service) saveImage(ctx context.Context, img image.Image, n newImage) (*store.Image, error) {
	if img.Bounds().Empty() {
		return nil, apperr.UnsupportedMedia("Failed to read image").Wrap(errEmptyImage)
	}
	name := uuid.NewString() + ".png"
	t0 := time.Now()
	encoded, err := s.encodePNG(img, n)
	if err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	t1 := time.Now()
	thumb, err := encodeThumbnail(makeThumbnail(img, ThumbnailSide))
	if err != nil {
		return nil, fmt.Errorf("encode thumbnail: %w", err)
	}
	// The parts of saving an image, for the whole-image benchmark (bench/queue.sh reads this record).
	s.logger.DebugContext(ctx, "image encoded", "name", name, "png_seconds", t1.Sub(t0).Seconds(),
		"thumbnail_seconds", time.Since(t1).Seconds(), "png_bytes", len(encoded))
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tmpImage, err := writeTemp(s.imagesDir, encoded)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmpImage) // a no-op once renamed
	tmpThumb, err := writeTemp(s.thumbsDir, thumb)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmpThumb)
	finalImage, finalThumb := s.imagePath(name), s.thumbPath(name)
	renamed := false
	b := img.Bounds()
	err = s.db.InsertImage(ctx, store.NewImage{
		ImageName: name, ImageOrigin: n.origin, ImageCategory: n.category, Width: b.Dx(), Height: b.Dy(),
		SessionID: n.sessionID, NodeID: n.nodeID, Metadata: n.metadata, IsIntermediate: n.isIntermediate,
		HasWorkflow: n.workflow != nil || n.graph != nil, UserID: n.owner, BoardID: n.boardID,
	}, func() error {
		if err := os.Rename(tmpImage, finalImage); err != nil {
			return fmt.Errorf("place image file: %w", err)
		}
		renamed = true
		if err := os.Rename(tmpThumb, finalThumb); err != nil {
			return fmt.Errorf("place thumbnail: %w", err)
		}
		return nil
	})
	if err != nil {
		if renamed {
			os.Remove(finalImage)
			os.Remove(finalThumb)
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, errBoardNotFound
		}
		return nil, err
	}
	return s.db.ImageByName(ctx, name)
}

func (s *Service) encodePNG(img image.Image, n newImage) ([]byte, error) {
	switch img.(type) {
	case *image.NRGBA, *image.RGBA, *image.Gray, *image.Paletted, *image.NRGBA64, *image.RGBA64, *image.Gray16:
	default:
		// Go's encoder writes other models (a JPEG's YCbCr, CMYK) as 16-bit RGB; 8 bits per channel is what they hold.
		b := img.Bounds()
		rgba := image.NewNRGBA(b)
		draw.Draw(rgba, b, img, b.Min, draw.Src)
		img = rgba
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: pngLevel(s.opts.CompressLevel)}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	var texts []TextChunk
	for _, t := range []struct {
		key string
		val *string
	}{{KeyMetadata, n.metadata}, {KeyWorkflow, n.workflow}, {KeyGraph, n.graph}} {
		if t.val != nil {
			texts = append(texts, TextChunk{Key: t.key, Value: *t.val})
		}
	}
	if len(texts) == 0 {
		return buf.Bytes(), nil
	}
	return EmbedPNGText(buf.Bytes(), texts)
}

// pngLevel maps PIL's compress_level to Go's encoder levels.
func pngLevel(pil int) png.CompressionLevel {
	switch {
	case pil <= 0:
		return png.NoCompression
	case pil <= 3:
		return png.BestSpeed
	case pil <= 6:
		return png.DefaultCompression
	default:
		return png.BestCompression
	}
}

// writeTemp writes data to a new hidden temporary file in dir and returns its path.
func writeTemp(dir string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("create temporary file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("write temporary file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("close temporary file: %w", err)
	}
	return f.Name(), nil
}

// removeFiles deletes the image and thumbnail files of the named images; missing files are fine.
func (s *Service) removeFiles(names []string) {
	for _, name := range names {
		if !ValidImageName(name) {
			continue
		}
		for _, p := range []string{s.imagePath(name), s.thumbPath(name)} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.logger.Warn("remove image file", "path", p, "error", err)
			}
		}
	}
}

// RemoveUserFiles deletes the files of a deleted user's images (auth.ContentRemover).
func (s *Service) RemoveUserFiles(_ context.Context, content *store.DeletedContent) {
	if content != nil {
		s.removeFiles(content.ImageNames)
	}
}
