package core

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	imgdraw "image/draw"
	"math"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/nodes"
)

// maxSide bounds the images nodes create, so that a graph cannot ask for gigapixel allocations.
const maxSide = 16384

func structToMap(v any) (nodes.MetadataField, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var all map[string]any
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	out := nodes.MetadataField{}
	for k, val := range all {
		if val != nil {
			out[k] = val
		}
	}
	return out, nil
}

// saving is embedded by every image node that saves its result.
type saving struct {
	nodes.WithMetadata
	nodes.WithBoard
}

func (s *saving) save(ctx nodes.Context, img image.Image) (nodes.Output, error) {
	return ctx.SaveImage(img, nodes.SaveImageOptions{Board: s.Board, Metadata: s.Metadata})
}

func load(ctx nodes.Context, f nodes.ImageField) (image.Image, error) {
	if f.ImageName == "" {
		return nil, nodes.Errorf("ValueError", "no image given")
	}
	return ctx.LoadImage(f.ImageName)
}

func toRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	imgdraw.Draw(out, out.Bounds(), img, b.Min, imgdraw.Src)
	return out
}

// checkSize refuses an image size out of range, or one whose pixels the run's memory budget cannot hold
// (docs/security.md "Resource limits and hostile input"), before anything is allocated.
func checkSize(ctx context.Context, w, h int) error {
	if w <= 0 || h <= 0 || w > maxSide || h > maxSide {
		return nodes.Errorf("ValueError", "image size %dx%d is out of range (1..%d)", w, h, maxSide)
	}
	return tensor.BudgetOf(ctx).Check("the image", 4, h, w)
}

// LoadImage is image: it passes an existing image through.
type LoadImage struct {
	Image nodes.ImageField `json:"image" description:"The image to load"`
}

// NodeInfo implements nodes.Node.
func (*LoadImage) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "image",
		Class:       "ImageInvocation",
		Title:       "Image Primitive",
		Description: "Load an image and provide it as output.",
		Tags:        []string{"primitives", "image"},
		Category:    "primitives",
		Version:     "1.0.2",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *LoadImage) Invoke(ctx nodes.Context) (nodes.Output, error) {
	img, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	return nodes.ImageOutput{Image: n.Image, Width: b.Dx(), Height: b.Dy()}, nil
}

// SaveImage is save_image: it saves its input as a new gallery image.
type SaveImage struct {
	saving
	Image nodes.ImageField `json:"image" description:"The image to process"`
}

// NodeInfo implements nodes.Node.
func (*SaveImage) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "save_image",
		Title:       "Save Image",
		Description: "Saves an image. Unlike other nodes, this node does not use the cache.",
		Tags:        []string{"primitives", "image"},
		Category:    "primitives",
		Version:     "1.2.2",
		NoCache:     true,
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *SaveImage) Invoke(ctx nodes.Context) (nodes.Output, error) {
	img, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	return n.save(ctx, img)
}

// BlankImage is blank_image.
type BlankImage struct {
	saving
	Width  int              `json:"width" default:"512" description:"The width of the image" le:"16384"`
	Height int              `json:"height" default:"512" description:"The height of the image" le:"16384"`
	Mode   BlankImageMode   `json:"mode" default:"RGB" description:"The mode of the image"`
	Color  nodes.ColorField `json:"color" default:"{\"r\":0,\"g\":0,\"b\":0,\"a\":255}" description:"The color of the image"`
}

// NodeInfo implements nodes.Node.
func (*BlankImage) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "blank_image",
		Title:       "Blank Image",
		Description: "Creates a blank image and forwards it to the pipeline",
		Tags:        []string{"image"},
		Category:    "image",
		Version:     "1.2.2",
		Output:      nodes.ImageOutput{},
	}
}

// SizeFields implements nodes.Sizer.
func (*BlankImage) SizeFields() []string { return []string{"width", "height"} }

// Allocation implements nodes.Sizer: the output's pixels.
func (n *BlankImage) Allocation() (string, int, []int) {
	return "the image", 4, []int{n.Height, n.Width}
}

// Invoke implements nodes.Invocation.
func (n *BlankImage) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if err := checkSize(ctx, n.Width, n.Height); err != nil {
		return nil, err
	}
	img := image.NewNRGBA(image.Rect(0, 0, n.Width, n.Height))
	a := uint8(n.Color.A)
	if n.Mode == "RGB" {
		a = 255
	}
	imgdraw.Draw(img, img.Bounds(), image.NewUniform(color.NRGBA{uint8(n.Color.R), uint8(n.Color.G), uint8(n.Color.B), a}), image.Point{}, imgdraw.Src)
	return n.save(ctx, img)
}

// resize is Pillow's Image.resize of the image as InvokeAI holds it (its PNG's mode), with the named filter.
func resize(img image.Image, w, h int, mode string) (image.Image, error) {
	f, err := imaging.ParseFilter(mode)
	if err != nil {
		return nil, nodes.Errorf("ValueError", "%v", err)
	}
	out, err := imaging.FromImage(img).Resize(w, h, f)
	if err != nil {
		return nil, nodes.Errorf("ValueError", "%v", err)
	}
	return out.Image()
}

// ImageResize is img_resize.
type ImageResize struct {
	saving
	Image        nodes.ImageField `json:"image" description:"The image to resize"`
	Width        int              `json:"width" default:"512" gt:"0" description:"The width to resize to (px)" le:"16384"`
	Height       int              `json:"height" default:"512" gt:"0" description:"The height to resize to (px)" le:"16384"`
	ResampleMode ResampleMode     `json:"resample_mode" default:"bicubic" description:"The resampling mode"`
}

// NodeInfo implements nodes.Node.
func (*ImageResize) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "img_resize",
		Title:       "Resize Image",
		Description: "Resizes an image to specific dimensions",
		Tags:        []string{"image", "resize"},
		Category:    "image",
		Version:     "1.2.2",
		Output:      nodes.ImageOutput{},
	}
}

// SizeFields implements nodes.Sizer.
func (*ImageResize) SizeFields() []string { return []string{"width", "height"} }

// Allocation implements nodes.Sizer: the output's pixels.
func (n *ImageResize) Allocation() (string, int, []int) {
	return "the resized image", 4, []int{n.Height, n.Width}
}

// Invoke implements nodes.Invocation.
func (n *ImageResize) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if err := checkSize(ctx, n.Width, n.Height); err != nil {
		return nil, err
	}
	img, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	out, err := resize(img, n.Width, n.Height, string(n.ResampleMode))
	if err != nil {
		return nil, err
	}
	return n.save(ctx, out)
}

// ImageScale is img_scale.
type ImageScale struct {
	saving
	Image        nodes.ImageField `json:"image" description:"The image to scale"`
	ScaleFactor  float64          `json:"scale_factor" default:"2.0" gt:"0" description:"The factor by which to scale the image" le:"16"`
	ResampleMode ResampleMode     `json:"resample_mode" default:"bicubic" description:"The resampling mode"`
}

// NodeInfo implements nodes.Node.
func (*ImageScale) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "img_scale",
		Title:       "Scale Image",
		Description: "Scales an image by a factor",
		Tags:        []string{"image", "scale"},
		Category:    "image",
		Version:     "1.2.2",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ImageScale) Invoke(ctx nodes.Context) (nodes.Output, error) {
	img, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	w, h := int(float64(b.Dx())*n.ScaleFactor), int(float64(b.Dy())*n.ScaleFactor)
	if err := checkSize(ctx, w, h); err != nil {
		return nil, err
	}
	out, err := resize(img, w, h, string(n.ResampleMode))
	if err != nil {
		return nil, err
	}
	return n.save(ctx, out)
}

// ImageCrop is img_crop: the crop box may extend beyond the image (transparent there), as with PIL.
type ImageCrop struct {
	saving
	Image  nodes.ImageField `json:"image" description:"The image to crop"`
	X      int              `json:"x" default:"0" description:"The left x coordinate of the crop rectangle"`
	Y      int              `json:"y" default:"0" description:"The top y coordinate of the crop rectangle"`
	Width  int              `json:"width" default:"512" gt:"0" description:"The width of the crop rectangle" le:"16384"`
	Height int              `json:"height" default:"512" gt:"0" description:"The height of the crop rectangle" le:"16384"`
}

// NodeInfo implements nodes.Node.
func (*ImageCrop) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "img_crop",
		Title:       "Crop Image",
		Description: "Crops an image to a specified box. The box can be outside of the image.",
		Tags:        []string{"image", "crop"},
		Category:    "image",
		Version:     "1.2.2",
		Output:      nodes.ImageOutput{},
	}
}

// SizeFields implements nodes.Sizer.
func (*ImageCrop) SizeFields() []string { return []string{"width", "height"} }

// Allocation implements nodes.Sizer: the output's pixels.
func (n *ImageCrop) Allocation() (string, int, []int) {
	return "the cropped image", 4, []int{n.Height, n.Width}
}

// Invoke implements nodes.Invocation.
func (n *ImageCrop) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if err := checkSize(ctx, n.Width, n.Height); err != nil {
		return nil, err
	}
	img, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	out := image.NewNRGBA(image.Rect(0, 0, n.Width, n.Height))
	b := img.Bounds()
	imgdraw.Draw(out, out.Bounds(), img, image.Pt(b.Min.X+n.X, b.Min.Y+n.Y), imgdraw.Src)
	return n.save(ctx, out)
}

// ImagePaste is img_paste.
type ImagePaste struct {
	saving
	BaseImage nodes.ImageField  `json:"base_image" description:"The base image"`
	Image     nodes.ImageField  `json:"image" description:"The image to paste"`
	Mask      *nodes.ImageField `json:"mask" description:"The mask to use when pasting"`
	X         int               `json:"x" default:"0" description:"The left x coordinate at which to paste the image" ge:"-16384" le:"16384"`
	Y         int               `json:"y" default:"0" description:"The top y coordinate at which to paste the image" ge:"-16384" le:"16384"`
	Crop      bool              `json:"crop" default:"false" description:"Crop to base image dimensions"`
}

// NodeInfo implements nodes.Node.
func (*ImagePaste) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "img_paste",
		Title:       "Paste Image",
		Description: "Pastes an image into another image.",
		Tags:        []string{"image", "paste"},
		Category:    "image",
		Version:     "1.2.2",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ImagePaste) Invoke(ctx nodes.Context) (nodes.Output, error) {
	base, err := load(ctx, n.BaseImage)
	if err != nil {
		return nil, err
	}
	top, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	bb, tb := base.Bounds(), top.Bounds()
	// The canvas grows to hold both images unless crop is set (InvokeAI's behaviour).
	minX, minY := min(0, n.X), min(0, n.Y)
	maxX, maxY := max(bb.Dx(), n.X+tb.Dx()), max(bb.Dy(), n.Y+tb.Dy())
	if err := checkSize(ctx, maxX-minX, maxY-minY); err != nil {
		return nil, err
	}
	canvas := image.NewNRGBA(image.Rect(0, 0, maxX-minX, maxY-minY))
	imgdraw.Draw(canvas, image.Rect(-minX, -minY, -minX+bb.Dx(), -minY+bb.Dy()), base, bb.Min, imgdraw.Src)
	dst := image.Rect(n.X-minX, n.Y-minY, n.X-minX+tb.Dx(), n.Y-minY+tb.Dy())
	if n.Mask != nil && n.Mask.ImageName != "" {
		mask, err := ctx.LoadImage(n.Mask.ImageName)
		if err != nil {
			return nil, err
		}
		imgdraw.DrawMask(canvas, dst, top, tb.Min, grayAlpha{mask}, mask.Bounds().Min, imgdraw.Over)
	} else {
		imgdraw.Draw(canvas, dst, top, tb.Min, imgdraw.Over)
	}
	var out image.Image = canvas
	if n.Crop {
		out = canvas.SubImage(image.Rect(-minX, -minY, -minX+bb.Dx(), -minY+bb.Dy()))
	}
	return n.save(ctx, out)
}

// grayAlpha uses an image's luminance as an alpha mask (PIL's "L" mask).
type grayAlpha struct{ image.Image }

func (g grayAlpha) ColorModel() color.Model { return color.AlphaModel }
func (g grayAlpha) At(x, y int) color.Color {
	l := color.GrayModel.Convert(g.Image.At(x, y)).(color.Gray)
	return color.Alpha{A: l.Y}
}

// ImageBlur is img_blur. The blur costs the same at any radius; the radius is bounded below
// imaging.MaxBlurRadius (a Gaussian's box radius is about its radius), where Pillow's fixed-point window sums
// stay exact.
type ImageBlur struct {
	saving
	Image    nodes.ImageField `json:"image" description:"The image to blur"`
	Radius   float64          `json:"radius" default:"8.0" ge:"0" description:"The blur radius" le:"1000000"`
	BlurType BlurType         `json:"blur_type" default:"gaussian" description:"The type of blur"`
}

// NodeInfo implements nodes.Node.
func (*ImageBlur) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "img_blur",
		Title:       "Blur Image",
		Description: "Blurs an image",
		Tags:        []string{"image", "blur"},
		Category:    "image",
		Version:     "1.2.2",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation. As InvokeAI does, the colours are premultiplied by alpha (Pillow's
// ImageChops.multiply, truncating) before Pillow's blur of all four channels, then divided by the blurred
// alpha/255 + 1e-6 in float32 and truncated, so transparent pixels do not bleed into their neighbours. Both
// steps are reproduced exactly, including the epsilon's effect: an opaque colour value v > 0 comes back as
// v − 1 wherever the blur leaves it unchanged.
func (n *ImageBlur) Invoke(ctx nodes.Context) (nodes.Output, error) {
	img, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	pix, w, h := imaging.NRGBA8(img)
	for i := 0; i < len(pix); i += 4 {
		a := pix[i+3]
		pix[i], pix[i+1], pix[i+2] = imaging.Multiply(pix[i], a), imaging.Multiply(pix[i+1], a), imaging.Multiply(pix[i+2], a)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	blur := imaging.GaussianBlur
	if n.BlurType == "box" {
		blur = imaging.BoxBlur
	}
	if pix, err = blur(pix, w, h, 4, float32(n.Radius)); err != nil {
		return nil, nodes.Errorf("ValueError", "%v", err)
	}
	for i := 0; i < len(pix); i += 4 {
		d := float32(pix[i+3])/255 + 1e-6
		for c := range 3 {
			pix[i+c] = uint8(min(max(float32(pix[i+c])/d, 0), 255))
		}
	}
	return n.save(ctx, &image.NRGBA{Pix: pix, Stride: 4 * w, Rect: image.Rect(0, 0, w, h)})
}

func clamp8(v float64) uint8 {
	return uint8(min(max(math.Round(v), 0), 255))
}

// ImageConvert is img_conv: converts to a PIL mode. Modes Go cannot store as such are rendered as their
// closest RGB or grayscale equivalent.
type ImageConvert struct {
	saving
	Image nodes.ImageField `json:"image" description:"The image to convert"`
	Mode  ImageMode        `json:"mode" default:"L" description:"The mode to convert to"`
}

// NodeInfo implements nodes.Node.
func (*ImageConvert) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "img_conv",
		Title:       "Convert Image Mode",
		Description: "Converts an image to a different mode.",
		Tags:        []string{"image", "convert"},
		Category:    "image",
		Version:     "1.2.2",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ImageConvert) Invoke(ctx nodes.Context) (nodes.Output, error) {
	img, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	var out image.Image
	switch n.Mode {
	case "L", "I", "F":
		g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
		imgdraw.Draw(g, g.Bounds(), img, b.Min, imgdraw.Src)
		out = g
	case "RGB", "CMYK", "YCbCr", "LAB", "HSV":
		rgb := toRGBA(img)
		for i := 3; i < len(rgb.Pix); i += 4 {
			rgb.Pix[i] = 255
		}
		out = rgb
	default:
		out = toRGBA(img)
	}
	return n.save(ctx, out)
}

// ImageChannel is img_chan: one channel as a grayscale image.
type ImageChannel struct {
	saving
	Image   nodes.ImageField `json:"image" description:"The image to get the channel from"`
	Channel ImageChannelName `json:"channel" default:"A" description:"The channel to get"`
}

// NodeInfo implements nodes.Node.
func (*ImageChannel) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "img_chan",
		Title:       "Extract Image Channel",
		Description: "Gets a channel from an image.",
		Tags:        []string{"image", "channel"},
		Category:    "image",
		Version:     "1.2.2",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ImageChannel) Invoke(ctx nodes.Context) (nodes.Output, error) {
	img, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	src := toRGBA(img)
	c := map[string]int{"R": 0, "G": 1, "B": 2, "A": 3}[string(n.Channel)]
	out := image.NewGray(src.Rect)
	for i := 0; i < len(out.Pix); i++ {
		out.Pix[i] = src.Pix[i*4+c]
	}
	return n.save(ctx, out)
}

// ImageMultiply is img_mul: the per-channel product of two images.
type ImageMultiply struct {
	saving
	Image1 nodes.ImageField `json:"image1" description:"The first image to multiply"`
	Image2 nodes.ImageField `json:"image2" description:"The second image to multiply"`
}

// NodeInfo implements nodes.Node.
func (*ImageMultiply) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "img_mul",
		Title:       "Multiply Images",
		Description: "Multiplies two images together using `PIL.ImageChops.multiply()`.",
		Tags:        []string{"image", "multiply"},
		Category:    "image",
		Version:     "1.2.2",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ImageMultiply) Invoke(ctx nodes.Context) (nodes.Output, error) {
	a, err := load(ctx, n.Image1)
	if err != nil {
		return nil, err
	}
	b, err := load(ctx, n.Image2)
	if err != nil {
		return nil, err
	}
	pa, pb := toRGBA(a), toRGBA(b)
	w, h := min(pa.Rect.Dx(), pb.Rect.Dx()), min(pa.Rect.Dy(), pb.Rect.Dy())
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 4; c++ {
				va, vb := int(pa.Pix[y*pa.Stride+x*4+c]), int(pb.Pix[y*pb.Stride+x*4+c])
				out.Pix[y*out.Stride+x*4+c] = uint8(va * vb / 255)
			}
		}
	}
	return n.save(ctx, out)
}

// ImageLerp is img_lerp: maps pixel values linearly into [min, max].
type ImageLerp struct {
	saving
	Image nodes.ImageField `json:"image" description:"The image to lerp"`
	Min   int              `json:"min" default:"0" ge:"0" le:"255" description:"The minimum output value"`
	Max   int              `json:"max" default:"255" ge:"0" le:"255" description:"The maximum output value"`
}

// NodeInfo implements nodes.Node.
func (*ImageLerp) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "img_lerp",
		Title:       "Lerp Image",
		Description: "Linear interpolation of all pixels of an image",
		Tags:        []string{"image", "lerp"},
		Category:    "image",
		Version:     "1.2.2",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ImageLerp) Invoke(ctx nodes.Context) (nodes.Output, error) {
	img, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	out := toRGBA(img)
	for i, v := range out.Pix {
		out.Pix[i] = clamp8(float64(n.Min) + float64(v)/255*float64(n.Max-n.Min))
	}
	return n.save(ctx, out)
}

// CannyEdgeDetection is canny_edge_detection.
type CannyEdgeDetection struct {
	saving
	Image         nodes.ImageField `json:"image" description:"The image to process"`
	LowThreshold  int              `json:"low_threshold" default:"100" ge:"0" le:"255" description:"The low threshold of the Canny pixel gradient (0-255)"`
	HighThreshold int              `json:"high_threshold" default:"200" ge:"0" le:"255" description:"The high threshold of the Canny pixel gradient (0-255)"`
}

// NodeInfo implements nodes.Node.
func (*CannyEdgeDetection) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "canny_edge_detection",
		Title:       "Canny Edge Detection",
		Description: "Geneartes an edge map using a cv2's Canny algorithm.",
		Tags:        []string{"controlnet", "canny"},
		Category:    "controlnet",
		Version:     "1.0.0",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation: cv2.Canny on the RGB image handed over in BGR order, as InvokeAI does
// (the order decides ties between channels), the map repeated in R, G and B.
func (n *CannyEdgeDetection) Invoke(ctx nodes.Context) (nodes.Output, error) {
	img, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	rgb, w, h := imaging.RGB8(img)
	for i := 0; i < len(rgb); i += 3 {
		rgb[i], rgb[i+2] = rgb[i+2], rgb[i]
	}
	edges, err := imaging.Canny(rgb, w, h, 3, float64(n.LowThreshold), float64(n.HighThreshold))
	if err != nil {
		return nil, nodes.Errorf("ValueError", "%v", err)
	}
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i, v := range edges {
		out.Pix[i*4], out.Pix[i*4+1], out.Pix[i*4+2], out.Pix[i*4+3] = v, v, v, 255
	}
	return n.save(ctx, out)
}

func registerImages(r *nodes.Registry) {
	r.Register(&LoadImage{}, &SaveImage{}, &BlankImage{}, &ImageResize{}, &ImageScale{}, &ImageCrop{}, &ImagePaste{},
		&ImageBlur{}, &ImageConvert{}, &ImageChannel{}, &ImageMultiply{}, &ImageLerp{}, &CannyEdgeDetection{}, &ColorMap{}, &ContentShuffle{})
	r.MarkUnavailable(modelProcessorReason, modelProcessors...)
}
