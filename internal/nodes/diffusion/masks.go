package diffusion

import (
	"image"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/nodes"
)

// Tensor masks: InvokeAI's boolean [1, H, W] tensors (regional prompts, regional IP-Adapters), stored here as
// float32 tensors holding only 0 and 1.

// registerCanvas adds the tensor-mask and latent nodes of InvokeAI's canvas graphs.
func registerCanvas(r *nodes.Registry, store *ObjectStore) {
	r.Register(&RectangleMask{store: store}, &AlphaMaskToTensor{store: store}, &ImageMaskToTensor{store: store},
		&InvertTensorMask{store: store}, &MaskTensorToImage{store: store}, &ApplyMaskTensorToImage{store: store},
		&CropLatents{store: store}, &BlendLatents{store: store})
}

// MaskOutput is mask_output.
type MaskOutput struct {
	Mask   TensorField `json:"mask" description:"The mask."`
	Width  int         `json:"width" description:"The width of the mask in pixels."`
	Height int         `json:"height" description:"The height of the mask in pixels."`
}

// OutputType implements nodes.Output.
func (MaskOutput) OutputType() string { return "mask_output" }

func (s *ObjectStore) saveMask(m *tensor.Tensor) MaskOutput {
	return MaskOutput{Mask: TensorField{TensorName: s.SaveTensor("mask", m)}, Width: m.Shape[2], Height: m.Shape[1]}
}

// maskPlane reads a stored mask as a [1, H, W] plane: a [H, W] tensor gains its channel, and any other shape
// is refused. Values above 0.5 count as set, as InvokeAI thresholds a non-boolean mask.
func (s *ObjectStore) maskPlane(f TensorField) (*tensor.Tensor, error) {
	t, err := s.Tensor(f.TensorName)
	if err != nil {
		return nil, valueError("mask: %v", err)
	}
	switch {
	case len(t.Shape) == 2:
		return tensor.FromData(t.Data, 1, t.Shape[0], t.Shape[1]), nil
	case len(t.Shape) == 3 && t.Shape[0] == 1:
		return t, nil
	}
	return nil, valueError("mask of shape %v: want [1, H, W] or [H, W]", t.Shape)
}

func isSet(v float32) bool { return v > 0.5 }

// maskPixels loads an image as 8-bit RGBA.
func maskPixels(ctx nodes.Context, f nodes.ImageField) (pix []uint8, w, h int, err error) {
	if f.ImageName == "" {
		return nil, 0, 0, valueError("no image given")
	}
	img, err := ctx.LoadImage(f.ImageName)
	if err != nil {
		return nil, 0, 0, err
	}
	pix, w, h = imaging.NRGBA8(img)
	return pix, w, h, nil
}

// RectangleMask is rectangle_mask.
type RectangleMask struct {
	nodes.WithMetadata
	Width           int `json:"width" description:"The width of the mask." le:"16384"`
	Height          int `json:"height" description:"The height of the mask." le:"16384"`
	XLeft           int `json:"x_left" description:"The left edge of the rectangle (inclusive)."`
	YTop            int `json:"y_top" description:"The top edge of the rectangle (inclusive)."`
	RectangleWidth  int `json:"rectangle_width" description:"The width of the rectangle."`
	RectangleHeight int `json:"rectangle_height" description:"The height of the rectangle."`
	store           *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*RectangleMask) NodeInfo() nodes.Info {
	return nodes.Info{Type: "rectangle_mask", Title: "Create Rectangle Mask", Description: "Makes a mask that is set inside a rectangle.",
		Tags: []string{"conditioning"}, Category: "conditioning", Version: "1.0.1", Output: MaskOutput{}}
}

// pySlice is the range a Python slice start:stop selects from n items.
func pySlice(start, stop, n int) (int, int) {
	norm := func(i int) int {
		if i < 0 {
			i += n
		}
		return min(max(i, 0), n)
	}
	return norm(start), norm(stop)
}

// SizeFields implements nodes.Sizer.
func (*RectangleMask) SizeFields() []string { return []string{"width", "height"} }

// Allocation implements nodes.Sizer.
func (n *RectangleMask) Allocation() (string, int, []int) {
	return "the mask", 4, []int{1, n.Height, n.Width}
}

// Invoke implements nodes.Invocation: the rectangle is a Python slice of the mask, so negative or oversized
// coordinates select what NumPy-style slicing selects.
func (n *RectangleMask) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if n.Width < 0 || n.Height < 0 {
		return nil, nodes.Errorf("RuntimeError", "mask size %dx%d is negative", n.Width, n.Height)
	}
	m, err := tensor.NewIn(ctx, 1, n.Height, n.Width)
	if err != nil {
		return nil, err
	}
	y0, y1 := pySlice(n.YTop, n.YTop+n.RectangleHeight, n.Height)
	x0, x1 := pySlice(n.XLeft, n.XLeft+n.RectangleWidth, n.Width)
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			m.Data[y*n.Width+x] = 1
		}
	}
	return n.store.saveMask(m), nil
}

// AlphaMaskToTensor is alpha_mask_to_tensor: set where the image is not fully transparent.
type AlphaMaskToTensor struct {
	Image  nodes.ImageField `json:"image" description:"The mask image to convert."`
	Invert bool             `json:"invert" default:"false" description:"Whether to invert the mask."`
	store  *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*AlphaMaskToTensor) NodeInfo() nodes.Info {
	return nodes.Info{Type: "alpha_mask_to_tensor", Title: "Alpha Mask to Tensor",
		Description: "Turns an image's alpha channel into a mask: set where the image is not fully transparent.",
		Tags:        []string{"conditioning"}, Category: "conditioning", Version: "1.0.0", Output: MaskOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *AlphaMaskToTensor) Invoke(ctx nodes.Context) (nodes.Output, error) {
	pix, w, h, err := maskPixels(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	m := tensor.New(1, h, w)
	for i := range m.Data {
		if (pix[i*4+3] > 0) != n.Invert {
			m.Data[i] = 1
		}
	}
	return n.store.saveMask(m), nil
}

// ImageMaskToTensor is image_mask_to_tensor: set where the image's grey level is below the cutoff.
type ImageMaskToTensor struct {
	nodes.WithMetadata
	Image  nodes.ImageField `json:"image" description:"The mask image to convert."`
	Cutoff int              `json:"cutoff" default:"128" ge:"0" le:"255" description:"Cutoff (<)"`
	Invert bool             `json:"invert" default:"false" description:"Whether to invert the mask."`
	store  *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*ImageMaskToTensor) NodeInfo() nodes.Info {
	return nodes.Info{Type: "image_mask_to_tensor", Title: "Image Mask to Tensor",
		Description: "Turns a grey-level image into a mask: set where the level is below the cutoff.",
		Tags:        []string{"conditioning"}, Category: "conditioning", Version: "1.0.0", Output: MaskOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *ImageMaskToTensor) Invoke(ctx nodes.Context) (nodes.Output, error) {
	pix, w, h, err := maskPixels(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	m := tensor.New(1, h, w)
	for i := range m.Data {
		l := int(imaging.Luma(pix[i*4], pix[i*4+1], pix[i*4+2]))
		if (l < n.Cutoff) != n.Invert {
			m.Data[i] = 1
		}
	}
	return n.store.saveMask(m), nil
}

// InvertTensorMask is invert_tensor_mask.
type InvertTensorMask struct {
	Mask  TensorField `json:"mask" description:"The tensor mask to convert."`
	store *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*InvertTensorMask) NodeInfo() nodes.Info {
	return nodes.Info{Type: "invert_tensor_mask", Title: "Invert Tensor Mask", Description: "Inverts a tensor mask.",
		Tags: []string{"conditioning"}, Category: "conditioning", Version: "1.1.0", Output: MaskOutput{}}
}

// Invoke implements nodes.Invocation. InvokeAI inverts boolean masks only; a tensor holding anything but 0
// and 1 is refused.
func (n *InvertTensorMask) Invoke(nodes.Context) (nodes.Output, error) {
	m, err := n.store.maskPlane(n.Mask)
	if err != nil {
		return nil, err
	}
	out := tensor.New(m.Shape...)
	for i, v := range m.Data {
		switch v {
		case 0:
			out.Data[i] = 1
		case 1:
		default:
			return nil, valueError("the tensor is not a boolean mask (it holds %v)", v)
		}
	}
	return n.store.saveMask(out), nil
}

// MaskTensorToImage is tensor_mask_to_image: white where the mask is set.
type MaskTensorToImage struct {
	nodes.WithMetadata
	nodes.WithBoard
	Mask  TensorField `json:"mask" description:"The mask tensor to convert."`
	store *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*MaskTensorToImage) NodeInfo() nodes.Info {
	return nodes.Info{Type: "tensor_mask_to_image", Title: "Tensor Mask to Image",
		Description: "Turns a tensor mask into a black and white image.",
		Tags:        []string{"mask"}, Category: "mask", Version: "1.1.0", Output: nodes.ImageOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *MaskTensorToImage) Invoke(ctx nodes.Context) (nodes.Output, error) {
	m, err := n.store.maskPlane(n.Mask)
	if err != nil {
		return nil, err
	}
	h, w := m.Shape[1], m.Shape[2]
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i, v := range m.Data {
		if isSet(v) {
			img.Pix[i] = 255
		}
	}
	return ctx.SaveImage(img, nodes.SaveImageOptions{Board: n.Board, Metadata: n.Metadata})
}

// ApplyMaskTensorToImage is apply_tensor_mask_to_image: the mask becomes the alpha of the image's visible
// pixels (fully transparent ones stay transparent).
type ApplyMaskTensorToImage struct {
	nodes.WithMetadata
	nodes.WithBoard
	Mask   TensorField      `json:"mask" description:"The mask tensor to apply."`
	Image  nodes.ImageField `json:"image" description:"The image to apply the mask to."`
	Invert bool             `json:"invert" default:"false" description:"Whether to invert the mask."`
	store  *ObjectStore
}

// NodeInfo implements nodes.Node.
func (*ApplyMaskTensorToImage) NodeInfo() nodes.Info {
	return nodes.Info{Type: "apply_tensor_mask_to_image", Title: "Apply Tensor Mask to Image",
		Description: "Applies a tensor mask to an image's alpha channel, keeping its transparent pixels transparent.",
		Tags:        []string{"mask"}, Category: "mask", Version: "1.0.0", Output: nodes.ImageOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *ApplyMaskTensorToImage) Invoke(ctx nodes.Context) (nodes.Output, error) {
	pix, w, h, err := maskPixels(ctx, n.Image)
	if err != nil {
		return nil, err
	}
	m, err := n.store.maskPlane(n.Mask)
	if err != nil {
		return nil, err
	}
	if m.Shape[1] != h || m.Shape[2] != w {
		return nil, valueError("the mask (%dx%d) and the image (%dx%d) differ in size", m.Shape[2], m.Shape[1], w, h)
	}
	out := &image.NRGBA{Pix: pix, Stride: w * 4, Rect: image.Rect(0, 0, w, h)}
	for i, v := range m.Data {
		a := uint8(0)
		if isSet(v) != n.Invert {
			a = 255
		}
		if pix[i*4+3] > 0 {
			pix[i*4+3] = a
		}
	}
	return ctx.SaveImage(out, nodes.SaveImageOptions{Board: n.Board, Metadata: n.Metadata})
}
