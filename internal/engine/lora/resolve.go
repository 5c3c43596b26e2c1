package lora

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Modules describes the layers of one network that a LoRA may adapt: the
// module name (diffusers names for the UNet, transformers names for the text
// encoders, without ".weight") and its weight shape, [out, in] for a linear
// layer or [out, in, kh, kw] for a convolution.
type Modules map[string][]int

// Patch is one layer of a file resolved onto a module of a network.
type Patch struct {
	Module string
	Shape  []int // the module's weight shape
	Layer  *Layer
}

// Resolve maps the file's layers for one network onto its modules, checking
// that every layer's factors fit the module's weight shape. A layer naming a
// module the network does not have, or with factors of the wrong size, is an
// error: the LoRA was made for another model. Layers of other networks are
// ignored. The patches are sorted by module name.
func (f *File) Resolve(comp Component, mods Modules) ([]Patch, error) {
	var flat map[string]string // kohya stems: module name with every "." as "_"
	var sgm *sgmMapper
	var out []Patch
	seen := map[string]string{}
	for _, l := range f.Layers {
		if l.Component != comp {
			continue
		}
		module := l.Key
		if _, ok := mods[module]; !ok && !strings.Contains(module, ".") {
			if flat == nil {
				flat = make(map[string]string, len(mods))
				for name := range mods {
					flat[strings.ReplaceAll(name, ".", "_")] = name
				}
			}
			if m, ok := flat[module]; ok {
				module = m
			} else if comp == UNet {
				if sgm == nil {
					sgm = newSGMMapper(mods)
				}
				if conv, ok := sgm.convert(module); ok {
					if m, ok := flat[conv]; ok {
						module = m
					}
				}
			}
		}
		shape, ok := mods[module]
		if !ok {
			return nil, fmt.Errorf("lora: %s module %q is not in this model (the LoRA was made for another model)", comp, l.Key)
		}
		if prev, dup := seen[module]; dup {
			return nil, fmt.Errorf("lora: %s modules %q and %q both adapt %s", comp, prev, l.Key, module)
		}
		seen[module] = l.Key
		if err := l.fits(shape); err != nil {
			return nil, fmt.Errorf("lora: %s module %s: %w (the LoRA was made for another model)", comp, module, err)
		}
		out = append(out, Patch{Module: module, Shape: append([]int(nil), shape...), Layer: l})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Module < out[j].Module })
	return out, nil
}

// fits checks the layer's factors against a module weight shape.
func (l *Layer) fits(shape []int) error {
	if len(shape) != 2 && len(shape) != 4 {
		return fmt.Errorf("weight shape %v is neither a linear nor a convolution", shape)
	}
	out, in := shape[0], 1
	for _, d := range shape[1:] {
		in *= d
	}
	rows, cols := l.productSize()
	if rows != out || cols != in {
		return fmt.Errorf("%s change of size %dx%d for a weight of shape %v", l.Kind, rows, cols, shape)
	}
	return nil
}

// productSize is the size of ΔW as a matrix [out, in·kh·kw].
func (l *Layer) productSize() (rows, cols int) {
	switch l.Kind {
	case KindLoRA:
		return l.params["up"].rows(), l.params["down"].cols()
	case KindLoHa:
		return l.params["hada_w1_a"].rows(), l.params["hada_w1_b"].cols()
	case KindLoKr:
		a, b := l.factorSize("lokr_w1")
		c, d := l.factorSize("lokr_w2")
		return a * c, b * d
	}
	return -1, -1
}

// factorSize is the matrix size of a LoKr factor, full or a product.
func (l *Layer) factorSize(side string) (rows, cols int) {
	if p, ok := l.params[side]; ok {
		return p.rows(), p.cols()
	}
	return l.params[side+"_a"].rows(), l.params[side+"_b"].cols()
}

// sgmMapper turns kohya stems in the original (SGM / LDM) UNet naming,
// which SDXL LoRAs use, into the diffusers naming with "." as "_". Block
// numbers follow from the model's own layers per block: input block
// 1 + (L+1)·level + j is resnet/attention j of down block level, or its
// downsampler when j = L; output block (L+1)·level + j is resnet/attention
// j of up block level, whose upsampler follows the last pair.
type sgmMapper struct {
	layersPerBlock int
	upAttention    map[int]bool // up blocks with attentions
}

func newSGMMapper(mods Modules) *sgmMapper {
	m := &sgmMapper{upAttention: map[int]bool{}}
	for name := range mods {
		if rest, ok := strings.CutPrefix(name, "down_blocks.0.resnets."); ok {
			if j, err := strconv.Atoi(strings.SplitN(rest, ".", 2)[0]); err == nil && j+1 > m.layersPerBlock {
				m.layersPerBlock = j + 1
			}
		}
		if rest, ok := strings.CutPrefix(name, "up_blocks."); ok {
			parts := strings.SplitN(rest, ".", 3)
			if len(parts) == 3 && parts[1] == "attentions" {
				if i, err := strconv.Atoi(parts[0]); err == nil {
					m.upAttention[i] = true
				}
			}
		}
	}
	return m
}

// sgmResnetParts maps the layers inside an original resnet block.
var sgmResnetParts = map[string]string{
	"in_layers_2":     "conv1",
	"out_layers_3":    "conv2",
	"emb_layers_1":    "time_emb_proj",
	"skip_connection": "conv_shortcut",
}

// sgmTopLevel maps the modules outside the blocks.
var sgmTopLevel = map[string]string{
	"time_embed_0":     "time_embedding_linear_1",
	"time_embed_2":     "time_embedding_linear_2",
	"label_emb_0_0":    "add_embedding_linear_1",
	"label_emb_0_2":    "add_embedding_linear_2",
	"input_blocks_0_0": "conv_in",
	"out_2":            "conv_out",
}

// blockIndices reads "<a>_<b>_<rest>" (rest may be empty).
func blockIndices(s string, n int) ([]int, string, bool) {
	parts := strings.SplitN(s, "_", n+1)
	if len(parts) < n {
		return nil, "", false
	}
	idx := make([]int, n)
	for i := 0; i < n; i++ {
		v, err := strconv.Atoi(parts[i])
		if err != nil || v < 0 || v > 1000 {
			return nil, "", false
		}
		idx[i] = v
	}
	rest := ""
	if len(parts) > n {
		rest = parts[n]
	}
	return idx, rest, true
}

func (m *sgmMapper) convert(stem string) (string, bool) {
	if d, ok := sgmTopLevel[stem]; ok {
		return d, true
	}
	L := m.layersPerBlock
	if L == 0 {
		return "", false
	}
	join := func(prefix, rest string) string {
		if rest == "" {
			return prefix
		}
		return prefix + "_" + rest
	}
	resnet := func(prefix, rest string) (string, bool) {
		p, ok := sgmResnetParts[rest]
		if !ok {
			return "", false
		}
		return prefix + "_" + p, true
	}
	switch {
	case strings.HasPrefix(stem, "input_blocks_"):
		idx, rest, ok := blockIndices(strings.TrimPrefix(stem, "input_blocks_"), 2)
		if !ok || idx[0] == 0 {
			return "", false
		}
		level, j := (idx[0]-1)/(L+1), (idx[0]-1)%(L+1)
		switch {
		case j == L && idx[1] == 0 && rest == "op":
			return fmt.Sprintf("down_blocks_%d_downsamplers_0_conv", level), true
		case j < L && idx[1] == 0:
			return resnet(fmt.Sprintf("down_blocks_%d_resnets_%d", level, j), rest)
		case j < L && idx[1] == 1:
			return join(fmt.Sprintf("down_blocks_%d_attentions_%d", level, j), rest), true
		}
	case strings.HasPrefix(stem, "middle_block_"):
		idx, rest, ok := blockIndices(strings.TrimPrefix(stem, "middle_block_"), 1)
		if !ok {
			return "", false
		}
		switch idx[0] {
		case 0, 2:
			return resnet(fmt.Sprintf("mid_block_resnets_%d", idx[0]/2), rest)
		case 1:
			return join("mid_block_attentions_0", rest), true
		}
	case strings.HasPrefix(stem, "output_blocks_"):
		idx, rest, ok := blockIndices(strings.TrimPrefix(stem, "output_blocks_"), 2)
		if !ok {
			return "", false
		}
		level, j := idx[0]/(L+1), idx[0]%(L+1)
		upsampler := fmt.Sprintf("up_blocks_%d_upsamplers_0_conv", level)
		switch {
		case idx[1] == 0:
			return resnet(fmt.Sprintf("up_blocks_%d_resnets_%d", level, j), rest)
		case idx[1] == 1 && rest == "conv" && !m.upAttention[level]:
			return upsampler, true
		case idx[1] == 1:
			return join(fmt.Sprintf("up_blocks_%d_attentions_%d", level, j), rest), true
		case idx[1] == 2 && rest == "conv":
			return upsampler, true
		}
	}
	return "", false
}
