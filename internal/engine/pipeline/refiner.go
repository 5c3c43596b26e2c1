package pipeline

import (
	"context"
	"fmt"
)

// SDXLRefinerPrompt is what sdxl_refiner_compel_prompt encodes.
type SDXLRefinerPrompt struct {
	Style                         string
	OriginalWidth, OriginalHeight int
	CropTop, CropLeft             int
	AestheticScore                float64
}

// EncodeSDXLRefinerPrompt is InvokeAI's refiner prompt: the style through the refiner's only text encoder
// (OpenCLIP bigG, the SDXL base's second), its pooled embedding, and five time ids — original height and
// width, crop top and left, aesthetic score. Unlike the base prompt, an empty style is encoded, not zeroed
// (InvokeAI runs it with zero_on_empty off).
func EncodeSDXLRefinerPrompt(ctx context.Context, enc TextEncoder, p SDXLRefinerPrompt) (*Conditioning, error) {
	if enc.Model == nil {
		return nil, fmt.Errorf("sdxl refiner prompt: text encoder missing")
	}
	c, err := EncodePrompt(ctx, enc, p.Style, PenultimateNonNormalized)
	if err != nil {
		return nil, fmt.Errorf("sdxl refiner prompt: %w", err)
	}
	pooled, err := PooledEmbeds(ctx, enc, p.Style)
	if err != nil {
		return nil, fmt.Errorf("sdxl refiner prompt: %w", err)
	}
	return &Conditioning{Embeds: c, PooledEmbeds: pooled, AddTimeIDs: []float32{
		float32(p.OriginalHeight), float32(p.OriginalWidth), float32(p.CropTop), float32(p.CropLeft), float32(p.AestheticScore),
	}}, nil
}
