package gallery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/draw"
	"golang.org/x/image/webp"

	"github.com/invokego/invokego/internal/apperr"
)

// maxResizeArea is InvokeAI's ResizeToDimensions limit (4096²).
const maxResizeArea = 4096 * 4096

// Upload is one uploaded file with the form values that shape it.
type Upload struct {
	Data        []byte
	ContentType string
	// ResizeTo is the raw resize_to form value ("" when absent).
	ResizeTo string
	// Metadata is the raw metadata form value (nil when absent); it overrides embedded metadata.
	Metadata    *string
	CropVisible bool
}

// DecodedUpload is a validated upload: the pixels and the InvokeAI texts worth keeping.
type DecodedUpload struct {
	Image    image.Image
	Metadata *string
	Workflow *string
	Graph    *string
}

// imageFormat is a decoder chosen by magic bytes; the global image registry is not used, so that only these
// formats are ever parsed.
type imageFormat struct {
	name         string
	decode       func(io.Reader) (image.Image, error)
	decodeConfig func(io.Reader) (image.Config, error)
}

func sniffFormat(b []byte) (imageFormat, bool) {
	switch {
	case bytes.HasPrefix(b, pngSignature):
		return imageFormat{"png", png.Decode, png.DecodeConfig}, true
	case bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}):
		return imageFormat{"jpeg", jpeg.Decode, jpeg.DecodeConfig}, true
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return imageFormat{"gif", gif.Decode, gif.DecodeConfig}, true
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return imageFormat{"webp", webp.Decode, webp.DecodeConfig}, true
	case bytes.HasPrefix(b, []byte("BM")):
		return imageFormat{"bmp", bmp.Decode, bmp.DecodeConfig}, true
	}
	return imageFormat{}, false
}

var (
	errNotAnImage  = apperr.UnsupportedMedia("Not an image")
	errUnreadable  = apperr.UnsupportedMedia("Failed to read image")
	errBadResizeTo = apperr.BadRequest("Invalid resize_to format or size")
	errBadMetadata = apperr.BadRequest("Invalid metadata: must be a JSON object")
)

// DecodeImage decodes bytes in a supported format, refusing (before any pixel is decoded) images whose header
// declares more than maxPixels pixels. Every failure is errUnreadable.
func DecodeImage(data []byte, maxPixels int64) (image.Image, error) {
	format, ok := sniffFormat(data)
	if !ok {
		return nil, errUnreadable
	}
	cfg, err := format.decodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, apperr.UnsupportedMedia("Failed to read image").Wrap(err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, apperr.UnsupportedMedia(fmt.Sprintf("Image too large: %dx%d exceeds the limit of %d pixels", cfg.Width, cfg.Height, maxPixels))
	}
	img, err := format.decode(bytes.NewReader(data))
	if err != nil {
		return nil, apperr.UnsupportedMedia("Failed to read image").Wrap(err)
	}
	// A GIF's first frame may be smaller than its screen; no decoder may return more than it declared.
	b := img.Bounds()
	if b.Empty() || b.Dx() > cfg.Width || b.Dy() > cfg.Height {
		return nil, errUnreadable
	}
	return img, nil
}

// DecodeUpload validates an upload without touching disk or database: the content type, the form values,
// the pixel limit, then the pixels themselves. Errors are client errors (400 or 415).
func DecodeUpload(u Upload, maxPixels int64) (*DecodedUpload, error) {
	if !strings.HasPrefix(u.ContentType, "image") {
		return nil, errNotAnImage
	}
	var resize *image.Point
	if u.ResizeTo != "" {
		p, err := parseResizeTo(u.ResizeTo)
		if err != nil {
			return nil, err
		}
		resize = &p
	}
	var formMetadata *string
	if u.Metadata != nil {
		if !isJSONObject(*u.Metadata) {
			return nil, errBadMetadata
		}
		formMetadata = u.Metadata
	}
	img, err := DecodeImage(u.Data, maxPixels)
	if err != nil {
		return nil, err
	}
	out := &DecodedUpload{Image: img}
	if bytes.HasPrefix(u.Data, pngSignature) {
		// A damaged text chunk is not a reason to refuse pixels that decoded; what was read before it counts.
		texts, _ := ReadPNGText(u.Data, KeyMetadata, KeyWorkflow, KeyGraph)
		out.Metadata = validText(texts, KeyMetadata, isJSONObject)
		out.Workflow = validText(texts, KeyWorkflow, isWorkflow)
		out.Graph = validText(texts, KeyGraph, isGraph)
	}
	if formMetadata != nil {
		out.Metadata = formMetadata
	}
	if u.CropVisible {
		out.Image = cropVisible(out.Image)
	}
	if resize != nil {
		out.Image = resizeExact(out.Image, resize.X, resize.Y)
	}
	return out, nil
}

func validText(texts map[string]string, key string, valid func(string) bool) *string {
	v, ok := texts[key]
	if !ok || !valid(v) {
		return nil
	}
	return &v
}

func parseResizeTo(raw string) (image.Point, error) {
	var dims map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &dims); err != nil || dims == nil {
		return image.Point{}, errBadResizeTo
	}
	w, okW := positiveInt(dims["width"])
	h, okH := positiveInt(dims["height"])
	if !okW || !okH || w*h > maxResizeArea {
		return image.Point{}, errBadResizeTo
	}
	return image.Point{X: int(w), Y: int(h)}, nil
}

func positiveInt(raw json.RawMessage) (int64, bool) {
	if raw == nil {
		return 0, false
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f != float64(int64(f)) || f <= 0 || f > maxResizeArea {
		return 0, false
	}
	return int64(f), true
}

func isJSONObject(s string) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal([]byte(s), &m) == nil && m != nil
}

// isGraph: a JSON object with an object "nodes" and a list "edges" (docs/compatibility.md §8).
func isGraph(s string) bool {
	var g struct {
		Nodes map[string]json.RawMessage `json:"nodes"`
		Edges []json.RawMessage          `json:"edges"`
	}
	if json.Unmarshal([]byte(s), &g) != nil || g.Nodes == nil || g.Edges == nil {
		return false
	}
	return true
}

// isWorkflow checks the top level of WorkflowWithoutID (docs/compatibility.md §3): the required fields with their types.
func isWorkflow(s string) bool {
	var w map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &w) != nil || w == nil {
		return false
	}
	for _, k := range []string{"name", "author", "description", "version", "contact", "tags", "notes"} {
		var v string
		if json.Unmarshal(w[k], &v) != nil || w[k] == nil {
			return false
		}
	}
	var exposed []struct {
		NodeID    *string `json:"nodeId"`
		FieldName *string `json:"fieldName"`
	}
	if json.Unmarshal(w["exposedFields"], &exposed) != nil || w["exposedFields"] == nil {
		return false
	}
	for _, f := range exposed {
		if f.NodeID == nil || f.FieldName == nil {
			return false
		}
	}
	var meta struct {
		Version  *string `json:"version"`
		Category *string `json:"category"`
	}
	if json.Unmarshal(w["meta"], &meta) != nil || meta.Version == nil || !isSemver(*meta.Version) {
		return false
	}
	if meta.Category != nil && *meta.Category != "user" && *meta.Category != "default" {
		return false
	}
	for _, k := range []string{"nodes", "edges"} {
		var list []map[string]json.RawMessage
		if json.Unmarshal(w[k], &list) != nil || w[k] == nil {
			return false
		}
		for _, item := range list {
			if item == nil {
				return false
			}
		}
	}
	return true
}

// isSemver accepts MAJOR.MINOR.PATCH with optional pre-release and build parts.
func isSemver(v string) bool {
	core, _, _ := strings.Cut(v, "+")
	core, _, _ = strings.Cut(core, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || (len(p) > 1 && p[0] == '0') {
			return false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// cropVisible crops to PIL's getbbox: the non-transparent area of images with alpha, the non-black area of
// others. An image with nothing visible is kept whole (PIL crops to None, i.e. everything).
func cropVisible(img image.Image) image.Image {
	b := img.Bounds()
	hasAlpha := false
	switch img.ColorModel() {
	case color.RGBAModel, color.NRGBAModel, color.RGBA64Model, color.NRGBA64Model, color.AlphaModel, color.Alpha16Model:
		hasAlpha = true
	}
	if _, ok := img.(*image.Paletted); ok {
		hasAlpha = true
	}
	minX, minY, maxX, maxY := b.Max.X, b.Max.Y, b.Min.X-1, b.Min.Y-1
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			visible := a != 0
			if !hasAlpha {
				visible = r|g|bl != 0
			}
			if visible {
				minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
			}
		}
	}
	if maxX < minX {
		return img
	}
	rect := image.Rect(minX, minY, maxX+1, maxY+1)
	if rect == b {
		return img
	}
	dst := image.NewNRGBA(image.Rect(0, 0, rect.Dx(), rect.Dy()))
	draw.Draw(dst, dst.Bounds(), img, rect.Min, draw.Src)
	return dst
}

func resizeExact(img image.Image, w, h int) image.Image {
	b := img.Bounds()
	if b.Dx() == w && b.Dy() == h {
		return img
	}
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	scalerFor(b.Dx()*b.Dy(), w*h).Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

// scalerFor picks CatmullRom for ordinary sizes and the much cheaper approximate bilinear filter when either
// side of the resize is huge, so that one request cannot spend seconds of CPU on a filter nobody will notice.
func scalerFor(srcPixels, dstPixels int) draw.Scaler {
	if srcPixels > 4096*4096 || dstPixels > 2048*2048 {
		return draw.ApproxBiLinear
	}
	return draw.CatmullRom
}

// thumbnailSize fits (w, h) into a square of side max, keeping the aspect ratio and never enlarging.
func thumbnailSize(w, h, side int) (int, int) {
	if w <= side && h <= side {
		return w, h
	}
	if w >= h {
		return side, max(1, int(float64(h)*float64(side)/float64(w)+0.5))
	}
	return max(1, int(float64(w)*float64(side)/float64(h)+0.5)), side
}

// makeThumbnail scales img to fit in side×side.
func makeThumbnail(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := thumbnailSize(b.Dx(), b.Dy(), side)
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	scalerFor(b.Dx()*b.Dy(), w*h).Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

// errEmptyImage is the cause logged when a node hands the gallery an image without pixels.
var errEmptyImage = errors.New("image has no pixels")
