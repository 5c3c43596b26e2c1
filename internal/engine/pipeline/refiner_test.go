package pipeline

import (
	"testing"

	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// An SDXL UNet takes six time ids (base) or five (refiner), the same on both sides, filling its add_embedding.
func TestSDXLConditionedTimeIDs(t *testing.T) {
	cond := func(pooled, ids int) *Conditioning {
		return &Conditioning{Embeds: tensor.New(1, 77, 8), PooledEmbeds: tensor.New(1, pooled), AddTimeIDs: make([]float32, ids)}
	}
	base := sd.UNetConfig{AdditionTimeEmbedDim: 8, ProjectionClassEmbeddingsInputDim: 32 + 6*8}
	refiner := sd.UNetConfig{AdditionTimeEmbedDim: 8, ProjectionClassEmbeddingsInputDim: 32 + 5*8}
	cases := []struct {
		name     string
		cfg      sd.UNetConfig
		pos, neg *Conditioning
		ok       bool
	}{
		{"base", base, cond(32, 6), cond(32, 6), true},
		{"refiner", refiner, cond(32, 5), cond(32, 5), true},
		{"refiner conditioning on the base", base, cond(32, 5), cond(32, 5), false},
		{"base conditioning on the refiner", refiner, cond(32, 6), cond(32, 6), false},
		{"sides differ", refiner, cond(32, 5), cond(32, 6), false},
		{"no pooled embedding", base, &Conditioning{AddTimeIDs: make([]float32, 6)}, cond(32, 6), false},
		{"four ids", sd.UNetConfig{}, cond(32, 4), cond(32, 4), false},
	}
	for _, c := range cases {
		if got := sdxlConditioned(c.cfg, c.pos, c.neg); got != c.ok {
			t.Errorf("%s: %v, want %v", c.name, got, c.ok)
		}
	}
}
