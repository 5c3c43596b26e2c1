package core

// The string choices of the image nodes (typing.Literal in InvokeAI): their values go into /openapi.json and
// the validator refuses any other with a literal_error.

// ResampleMode is a PIL resampling filter.
type ResampleMode string

// LiteralValues implements schema.Literal.
func (ResampleMode) LiteralValues() []string {
	return []string{"nearest", "box", "bilinear", "hamming", "bicubic", "lanczos"}
}

// BlankImageMode is the mode of a blank image.
type BlankImageMode string

// LiteralValues implements schema.Literal.
func (BlankImageMode) LiteralValues() []string { return []string{"RGB", "RGBA"} }

// ImageMode is a PIL image mode an image can be converted to.
type ImageMode string

// LiteralValues implements schema.Literal.
func (ImageMode) LiteralValues() []string {
	return []string{"L", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "F"}
}

// BlurType is a blur filter.
type BlurType string

// LiteralValues implements schema.Literal.
func (BlurType) LiteralValues() []string { return []string{"gaussian", "box"} }

// ImageChannelName is one channel of an RGBA image.
type ImageChannelName string

// LiteralValues implements schema.Literal.
func (ImageChannelName) LiteralValues() []string { return []string{"A", "R", "G", "B"} }
