package imageops

import (
	"math"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/core"
)

// ShowImage is show_image. InvokeAI opens the image in the server's desktop viewer; a server has none, so
// the image only passes through.
type ShowImage struct {
	Image nodes.ImageField `json:"image" description:"The image to pass on"`
}

// NodeInfo implements nodes.Node.
func (*ShowImage) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "show_image", Title: "Show Image", Category: "image", Version: "1.0.1", Tags: []string{"image"},
		Description: "Passes an image on unchanged (InvokeAI also shows it in the server's image viewer).",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ShowImage) Invoke(ctx nodes.Context) (nodes.Output, error) {
	p, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	return nodes.ImageOutput{Image: n.Image, Width: p.W, Height: p.H}, nil
}

// MaskFromAlpha is tomask: the image's last channel (its alpha, when it has one) as a mask.
type MaskFromAlpha struct {
	saving
	Image  nodes.ImageField `json:"image" description:"The image whose last channel becomes the mask"`
	Invert bool             `json:"invert" default:"false" description:"Invert the mask"`
}

// NodeInfo implements nodes.Node.
func (*MaskFromAlpha) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "tomask", Title: "Mask from Alpha", Category: "image", Version: "1.2.2", Tags: []string{"image", "mask"},
		Description: "Takes the alpha channel of an image as a mask.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *MaskFromAlpha) Invoke(ctx nodes.Context) (nodes.Output, error) {
	p, idx, err := loadIndexed(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	if idx != nil {
		// A palette image has one band, itself: Pillow's split()[-1] is the image, which ImageOps.invert
		// refuses.
		if n.Invert {
			return nil, nodes.Errorf("OSError", "not supported for this image mode")
		}
		return n.save(ctx, p, "mask")
	}
	m := p.Band(p.Channels() - 1)
	if n.Invert {
		if m, err = m.Invert(); err != nil {
			return nil, valueError("%v", err)
		}
	}
	return n.save(ctx, m, "mask")
}

// MaskCombine is mask_combine: the product of two masks (ImageChops.multiply of their "L" forms).
type MaskCombine struct {
	saving
	Mask1 nodes.ImageField `json:"mask1" description:"The first mask"`
	Mask2 nodes.ImageField `json:"mask2" description:"The second mask"`
}

// NodeInfo implements nodes.Node.
func (*MaskCombine) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "mask_combine", Title: "Combine Masks", Category: "image", Version: "1.2.2",
		Tags:        []string{"image", "mask", "multiply"},
		Description: "Multiplies two masks, as PIL's ImageChops.multiply does.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *MaskCombine) Invoke(ctx nodes.Context) (nodes.Output, error) {
	a, err := loadAs(ctx, n.Mask1, imaging.ModeL)
	if err != nil {
		return nil, err
	}
	b, err := loadAs(ctx, n.Mask2, imaging.ModeL)
	if err != nil {
		return nil, err
	}
	out, err := imaging.MultiplyPictures(a, b)
	if err != nil {
		return nil, valueError("%v", err)
	}
	return n.save(ctx, out, "mask")
}

// MaskFromID is mask_from_id: white where a pixel's RGBA is within the threshold (Euclidean distance) of the
// colour.
type MaskFromID struct {
	saving
	Image     nodes.ImageField `json:"image" description:"The id map"`
	Color     nodes.ColorField `json:"color" description:"The id's colour"`
	Threshold int              `json:"threshold" default:"100" description:"How far from the colour a pixel may be"`
	Invert    bool             `json:"invert" default:"false" description:"Invert the mask"`
}

// NodeInfo implements nodes.Node.
func (*MaskFromID) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "mask_from_id", Title: "Mask from Segmented Image", Category: "image", Version: "1.0.1",
		Tags:        []string{"image", "mask", "id"},
		Description: "Makes a mask of the pixels of an id map that are close to one colour.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation: the distance in double precision, as numpy.linalg.norm computes it.
func (n *MaskFromID) Invoke(ctx nodes.Context) (nodes.Output, error) {
	p, err := loadAs(ctx, n.Image, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	c := [4]int{n.Color.R, n.Color.G, n.Color.B, n.Color.A}
	out := &imaging.Picture{W: p.W, H: p.H, Mode: imaging.ModeL, Pix: make([]uint8, p.W*p.H)}
	for i := range out.Pix {
		s := 0
		for k := 0; k < 4; k++ {
			d := int(p.Pix[i*4+k]) - c[k]
			s += d * d
		}
		in := math.Sqrt(float64(s)) < float64(n.Threshold)
		if in != n.Invert {
			out.Pix[i] = 255
		}
	}
	return n.save(ctx, out, "mask")
}

// ImageInverseLerp is img_ilerp: every byte maps [min, max] onto [0, 255], clipped.
type ImageInverseLerp struct {
	saving
	Image nodes.ImageField `json:"image" description:"The image to stretch"`
	Min   int              `json:"min" default:"0" ge:"0" le:"255" description:"The input value that becomes 0"`
	Max   int              `json:"max" default:"255" ge:"0" le:"255" description:"The input value that becomes 255"`
}

// NodeInfo implements nodes.Node.
func (*ImageInverseLerp) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "img_ilerp", Title: "Inverse Lerp Image", Category: "image", Version: "1.2.2",
		Tags:        []string{"image", "ilerp"},
		Description: "Stretches the values of an image so that min becomes 0 and max 255.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation: NumPy's float32 arithmetic, then its cast to uint8, which on x86-64
// goes through a 32-bit integer (so min > max wraps negative values, and 0/0 gives 0, as there).
func (n *ImageInverseLerp) Invoke(ctx nodes.Context) (nodes.Output, error) {
	p, idx, err := loadIndexed(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	if idx != nil {
		p = idx // NumPy reads a palette image as its indices, and the result is an "L" image of them
	}
	d := float32(float64(n.Max - n.Min))
	lo := float32(n.Min)
	var lut [256]uint8
	for v := range lut {
		t := min(max(float32(v)-lo, 0)/d, 1) * 255
		lut[v] = castUint8(t)
	}
	for i, v := range p.Pix {
		p.Pix[i] = lut[v]
	}
	return n.save(ctx, p, "")
}

// castUint8 is NumPy's float32 → uint8 cast on x86-64: truncation to a 32-bit integer (NaN and values out
// of its range give its minimum), keeping the low byte.
func castUint8(f float32) uint8 {
	if f != f || f >= 2147483648 || f < -2147483648 {
		return 0
	}
	return uint8(int32(f))
}

// CenterPadCrop is img_pad_crop: the image pasted onto a transparent canvas grown (or shrunk) by the given
// number of pixels on each side.
type CenterPadCrop struct {
	Image  nodes.ImageField `json:"image" description:"The image to pad or crop"`
	Left   int              `json:"left" default:"0" description:"Pixels to add on the left (negative: remove)"`
	Right  int              `json:"right" default:"0" description:"Pixels to add on the right (negative: remove)"`
	Top    int              `json:"top" default:"0" description:"Pixels to add at the top (negative: remove)"`
	Bottom int              `json:"bottom" default:"0" description:"Pixels to add at the bottom (negative: remove)"`
}

// NodeInfo implements nodes.Node.
func (*CenterPadCrop) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "img_pad_crop", Title: "Center Pad or Crop Image", Category: "image", Version: "1.0.0",
		Tags:        []string{"image", "pad", "crop"},
		Description: "Grows or shrinks each side of an image by a number of pixels; new pixels are transparent.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *CenterPadCrop) Invoke(ctx nodes.Context) (nodes.Output, error) {
	p, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	if !inRange(n.Left, n.Right, n.Top, n.Bottom) {
		return nil, valueError("padding (%d, %d, %d, %d) is out of range", n.Left, n.Right, n.Top, n.Bottom)
	}
	// With every side within ±2^31 the sums cannot overflow; a size beyond the bound is refused before
	// anything is made.
	w, h := int64(p.W)+int64(n.Left)+int64(n.Right), int64(p.H)+int64(n.Top)+int64(n.Bottom)
	if w <= 0 || h <= 0 || w > maxSide || h > maxSide {
		return nil, valueError("image size %dx%d is out of range (1..%d)", w, h, maxSide)
	}
	if err := checkSize(ctx, int(w), int(h)); err != nil {
		return nil, err
	}
	out, err := imaging.NewPicture(imaging.ModeRGBA, int(w), int(h))
	if err != nil {
		return nil, valueError("%v", err)
	}
	if err := out.Paste(p, n.Left, n.Top, nil); err != nil {
		return nil, valueError("%v", err)
	}
	var s saving
	return s.save(ctx, out, "")
}

// ImagePanelCoordinateOutput is image_panel_coordinate_output.
type ImagePanelCoordinateOutput struct {
	XLeft  int `json:"x_left" description:"The left edge of the panel"`
	YTop   int `json:"y_top" description:"The top edge of the panel"`
	Width  int `json:"width" description:"The panel's width"`
	Height int `json:"height" description:"The panel's height"`
}

// OutputType implements nodes.Output.
func (ImagePanelCoordinateOutput) OutputType() string { return "image_panel_coordinate_output" }

// ImagePanelLayout is image_panel_layout: the rectangle of one panel of a grid laid over an image.
type ImagePanelLayout struct {
	Width       int `json:"width" description:"The grid's width"`
	Height      int `json:"height" description:"The grid's height"`
	NumCols     int `json:"num_cols" default:"1" ge:"1" description:"The number of columns"`
	NumRows     int `json:"num_rows" default:"1" ge:"1" description:"The number of rows"`
	PanelColIdx int `json:"panel_col_idx" default:"0" ge:"0" description:"The panel's column, from 0"`
	PanelRowIdx int `json:"panel_row_idx" default:"0" ge:"0" description:"The panel's row, from 0"`
}

// NodeInfo implements nodes.Node.
func (*ImagePanelLayout) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "image_panel_layout", Title: "Image Panel Layout", Category: "image", Version: "1.0.0",
		Tags: []string{"image", "panel", "layout"}, Classification: "prototype",
		Description: "The position and size of one panel of a grid of equal panels (the grid may leave a margin when the size does not divide evenly).",
		Output:      ImagePanelCoordinateOutput{},
	}
}

// Invoke implements nodes.Invocation: floor divisions, as Python's // on these non-negative counts.
func (n *ImagePanelLayout) Invoke(nodes.Context) (nodes.Output, error) {
	if n.PanelColIdx >= n.NumCols {
		return nil, valueError("panel_col_idx must be between 0 and %d", n.NumCols-1)
	}
	if n.PanelRowIdx >= n.NumRows {
		return nil, valueError("panel_row_idx must be between 0 and %d", n.NumRows-1)
	}
	w, h := floorDiv(n.Width, n.NumCols), floorDiv(n.Height, n.NumRows)
	return ImagePanelCoordinateOutput{XLeft: n.PanelColIdx * w, YTop: n.PanelRowIdx * h, Width: w, Height: h}, nil
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// GetMaskBoundingBox is get_image_mask_bounding_box: the box of the pixels that have exactly the mask
// colour, its maxima inclusive as InvokeAI computes them, grown by the margin and clipped to the image.
type GetMaskBoundingBox struct {
	Mask      nodes.ImageField `json:"mask" description:"The mask"`
	Margin    int              `json:"margin" default:"0" description:"Pixels to add around the box"`
	MaskColor nodes.ColorField `json:"mask_color" default:"{\"r\":255,\"g\":255,\"b\":255,\"a\":255}" description:"The mask's colour"`
}

// NodeInfo implements nodes.Node.
func (*GetMaskBoundingBox) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "get_image_mask_bounding_box", Title: "Get Image Mask Bounding Box", Category: "mask",
		Version: "1.0.0", Tags: []string{"mask"}, Class: "GetMaskBoundingBoxInvocation",
		Description: "The bounding box of the pixels of a mask image that have the mask colour.",
		Output:      core.BoundingBoxOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *GetMaskBoundingBox) Invoke(ctx nodes.Context) (nodes.Output, error) {
	p, err := loadAs(ctx, n.Mask, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	c := [4]int{n.MaskColor.R, n.MaskColor.G, n.MaskColor.B, n.MaskColor.A}
	x0, y0, x1, y1, found := p.W, p.H, -1, -1, false
	for y := 0; y < p.H; y++ {
		for x := 0; x < p.W; x++ {
			px := p.Pix[(y*p.W+x)*4:]
			if int(px[0]) == c[0] && int(px[1]) == c[1] && int(px[2]) == c[2] && int(px[3]) == c[3] {
				found = true
				x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
			}
		}
	}
	if !found {
		return core.BoundingBoxOutput{}, nil
	}
	// The margin is clamped to ±2^40 so that nothing overflows: a larger positive one changes nothing (the
	// box is clipped to the image), a larger negative one gives a box as far outside the image as 2^40.
	margin := min(max(n.Margin, -1<<40), 1<<40)
	box := core.BoundingBoxField{XMin: max(0, x0-margin), YMin: max(0, y0-margin),
		XMax: min(p.W, x1+margin), YMax: min(p.H, y1+margin)}
	return core.BoundingBoxOutput{BoundingBox: box}, nil
}

// CropImageToBoundingBox is crop_image_to_bounding_box: Image.crop to the box, or without one to the
// image's non-zero (for images with alpha: non-transparent) pixels.
type CropImageToBoundingBox struct {
	saving
	Image       nodes.ImageField       `json:"image" description:"The image to crop"`
	BoundingBox *core.BoundingBoxField `json:"bounding_box" default:"null" description:"The box to crop to; without it, the box of the image's non-transparent pixels"`
}

// NodeInfo implements nodes.Node.
func (*CropImageToBoundingBox) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "crop_image_to_bounding_box", Title: "Crop Image to Bounding Box", Category: "image",
		Version: "1.0.0", Tags: []string{"image", "crop"},
		Description: "Crops an image to a bounding box, or to its non-transparent pixels when no box is given.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *CropImageToBoundingBox) Invoke(ctx nodes.Context) (nodes.Output, error) {
	p, err := load(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	x0, y0, x1, y1 := 0, 0, p.W, p.H
	if b := n.BoundingBox; b != nil {
		x0, y0, x1, y1 = b.XMin, b.YMin, b.XMax, b.YMax
	} else if bx0, by0, bx1, by1, ok := p.BBox(); ok {
		x0, y0, x1, y1 = bx0, by0, bx1, by1
	}
	if !inRange(x0, y0, x1, y1) || x1 < x0 || y1 < y0 {
		return nil, valueError("the bounding box (%d, %d, %d, %d) has its right or lower edge before its left or upper one", x0, y0, x1, y1)
	}
	if err := checkSize(ctx, x1-x0, y1-y0); err != nil {
		return nil, err
	}
	out, err := p.Crop(x0, y0, x1, y1)
	if err != nil {
		return nil, valueError("%v", err)
	}
	return n.save(ctx, out, "")
}

// PasteImageIntoBoundingBox is paste_image_into_bounding_box: the source (RGBA) laid over the target (RGBA)
// through its own alpha, at the box, which must be the source's size.
type PasteImageIntoBoundingBox struct {
	saving
	SourceImage nodes.ImageField      `json:"source_image" description:"The image to paste"`
	TargetImage nodes.ImageField      `json:"target_image" description:"The image to paste onto"`
	BoundingBox core.BoundingBoxField `json:"bounding_box" description:"Where to paste, the source's size"`
}

// NodeInfo implements nodes.Node.
func (*PasteImageIntoBoundingBox) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "paste_image_into_bounding_box", Title: "Paste Image into Bounding Box", Category: "image",
		Version: "1.0.0", Tags: []string{"image", "crop"},
		Description: "Pastes an image, through its alpha channel, into another at a bounding box of its size.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *PasteImageIntoBoundingBox) Invoke(ctx nodes.Context) (nodes.Output, error) {
	src, err := loadAs(ctx, n.SourceImage, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	dst, err := loadAs(ctx, n.TargetImage, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	b := n.BoundingBox
	if !inRange(b.XMin, b.YMin, b.XMax, b.YMax) {
		return nil, valueError("the bounding box (%d, %d, %d, %d) is out of range", b.XMin, b.YMin, b.XMax, b.YMax)
	}
	if b.XMax-b.XMin != src.W || b.YMax-b.YMin != src.H {
		return nil, valueError("images do not match: the box is %dx%d, the source image %dx%d", b.XMax-b.XMin, b.YMax-b.YMin, src.W, src.H)
	}
	if err := dst.Paste(src, b.XMin, b.YMin, src); err != nil {
		return nil, valueError("%v", err)
	}
	return n.save(ctx, dst, "")
}

// boxLimit bounds the coordinates of a bounding box, far beyond any picture, so that no arithmetic on them
// overflows.
const boxLimit = 1 << 31

func inRange(v ...int) bool {
	for _, x := range v {
		if x < -boxLimit || x > boxLimit {
			return false
		}
	}
	return true
}
