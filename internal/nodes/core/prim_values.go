package core

import "github.com/invokego/invokego/internal/nodes"

// Primitive values without tensors: color, bounding_box, image_collection.

// ColorOutput is color_output.
type ColorOutput struct {
	Color nodes.ColorField `json:"color" description:"The colour"`
}

// OutputType implements nodes.Output.
func (ColorOutput) OutputType() string { return "color_output" }

// Color is the color primitive.
type Color struct {
	Color nodes.ColorField `json:"color" default:"{\"r\":0,\"g\":0,\"b\":0,\"a\":255}" description:"The colour"`
}

// NodeInfo implements nodes.Node.
func (*Color) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "color",
		Title:       "Color Primitive",
		Description: "One RGBA colour.",
		Tags:        []string{"primitives", "color"},
		Category:    "primitives",
		Version:     "1.0.1",
		Output:      ColorOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *Color) Invoke(nodes.Context) (nodes.Output, error) { return ColorOutput{n.Color}, nil }

// BoundingBoxField is a rectangle in pixels: x_min and y_min inclusive, x_max and y_max exclusive, with the
// confidence of the detector that found it, if one did.
type BoundingBoxField struct {
	XMin  int      `json:"x_min" description:"The left edge (inclusive)"`
	XMax  int      `json:"x_max" description:"The right edge (exclusive)"`
	YMin  int      `json:"y_min" description:"The top edge (inclusive)"`
	YMax  int      `json:"y_max" description:"The bottom edge (exclusive)"`
	Score *float64 `json:"score" default:"null" ge:"0" le:"1" description:"A detector's confidence in the box, 0 to 1"`
}

// FieldTypeName implements nodes.TypeNamer.
func (BoundingBoxField) FieldTypeName() string { return "BoundingBoxField" }

// BoundingBoxOutput is bounding_box_output.
type BoundingBoxOutput struct {
	BoundingBox BoundingBoxField `json:"bounding_box" description:"The box"`
}

// OutputType implements nodes.Output.
func (BoundingBoxOutput) OutputType() string { return "bounding_box_output" }

// BoundingBox is bounding_box.
type BoundingBox struct {
	XMin int `json:"x_min" default:"0" description:"The left edge"`
	YMin int `json:"y_min" default:"0" description:"The top edge"`
	XMax int `json:"x_max" default:"0" description:"The right edge"`
	YMax int `json:"y_max" default:"0" description:"The bottom edge"`
}

// NodeInfo implements nodes.Node.
func (*BoundingBox) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "bounding_box",
		Title:       "Bounding Box",
		Description: "A bounding box from its four edges.",
		Tags:        []string{"primitives", "segmentation", "collection", "bounding box"},
		Category:    "primitives",
		Version:     "1.0.0",
		Output:      BoundingBoxOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *BoundingBox) Invoke(nodes.Context) (nodes.Output, error) {
	return BoundingBoxOutput{BoundingBoxField{XMin: n.XMin, XMax: n.XMax, YMin: n.YMin, YMax: n.YMax}}, nil
}

// ImageCollectionOutput is image_collection_output.
type ImageCollectionOutput struct {
	Collection []nodes.ImageField `json:"collection" description:"The images"`
}

// OutputType implements nodes.Output.
func (ImageCollectionOutput) OutputType() string { return "image_collection_output" }

// ImageCollection is image_collection.
type ImageCollection struct {
	Collection []nodes.ImageField `json:"collection" description:"The images"`
}

// NodeInfo implements nodes.Node.
func (*ImageCollection) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "image_collection",
		Title:       "Image Collection Primitive",
		Description: "A list of images.",
		Tags:        []string{"primitives", "image", "collection"},
		Category:    "primitives",
		Version:     "1.0.1",
		Output:      ImageCollectionOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *ImageCollection) Invoke(nodes.Context) (nodes.Output, error) {
	return ImageCollectionOutput{orEmpty(n.Collection)}, nil
}

func registerPrimValues(r *nodes.Registry) {
	r.Register(&Color{}, &BoundingBox{}, &ImageCollection{})
}
