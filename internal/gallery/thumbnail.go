package gallery

import (
	"bytes"
	"image"

	"github.com/gen2brain/webp"
)

// thumbnailQuality is PIL's default WebP quality, which InvokeAI's thumbnails use.
const thumbnailQuality = 80

// encodeThumbnail encodes a lossy WebP thumbnail.
func encodeThumbnail(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if err := webp.Encode(&buf, img, webp.Options{Quality: thumbnailQuality, Method: 4}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
