package imageops

import (
	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/nodes"
)

// ImageWatermark is img_watermark: InvokeAI's invisible watermark, invisible-watermark's "dwtDct" encoding
// of the text's UTF-8 bits in the image's blue-difference (U) channel (imaging.EmbedWatermarkDwtDct). As
// with InvokeAI, the image must have at least 256×256 pixels and comes back as opaque RGBA.
type ImageWatermark struct {
	saving
	Image nodes.ImageField `json:"image" description:"The image to watermark"`
	Text  string           `json:"text" default:"\"InvokeAI\"" description:"The text to hide in the image"`
}

// NodeInfo implements nodes.Node.
func (*ImageWatermark) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "img_watermark", Title: "Add Invisible Watermark", Category: "image", Version: "1.2.2",
		Tags:        []string{"image", "watermark"},
		Description: "Hides a text in an image as an invisible watermark (invisible-watermark's dwtDct method).",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ImageWatermark) Invoke(ctx nodes.Context) (nodes.Output, error) {
	p, err := loadAs(ctx, n.Image, imaging.ModeRGB)
	if err != nil {
		return nil, err
	}
	if p.W*p.H < imaging.MinWatermarkPixels {
		return nil, nodes.Errorf("RuntimeError", "image too small, should be larger than 256x256")
	}
	msg := []byte(n.Text)
	if len(msg) == 0 {
		// InvokeAI's encoder divides by the message's length and fails the same way.
		return nil, nodes.Errorf("ZeroDivisionError", "integer division or modulo by zero")
	}
	bits := make([]uint8, 0, len(msg)*8)
	for _, b := range msg {
		for k := 7; k >= 0; k-- {
			bits = append(bits, b>>k&1)
		}
	}
	bgr := p.Pix
	for i := 0; i < len(bgr); i += 3 {
		bgr[i], bgr[i+2] = bgr[i+2], bgr[i]
	}
	if err := imaging.EmbedWatermarkDwtDct(bgr, p.W, p.H, bits); err != nil {
		return nil, valueError("%v", err)
	}
	for i := 0; i < len(bgr); i += 3 {
		bgr[i], bgr[i+2] = bgr[i+2], bgr[i]
	}
	out, err := convert(p, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	return n.save(ctx, out, "")
}
