package diffusion

// ColorCompensation is the VAE colour compensation i2l applies.
type ColorCompensation string

// LiteralValues implements schema.Literal.
func (ColorCompensation) LiteralValues() []string { return []string{"None", "SDXL"} }

// LatentInterpolationMode is a torch interpolation mode for resizing latents.
type LatentInterpolationMode string

// LiteralValues implements schema.Literal.
func (LatentInterpolationMode) LiteralValues() []string {
	return []string{"nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact"}
}
