package app_test

import (
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/nodes/nodeschema"
)

// nodeSchemaDifferences are the deliberate differences between invokego's node templates and InvokeAI 6.12's,
// keyed as nodeschema.Difference keys ("type", "type.attribute", "type.inputs.field.attribute", ...), each with
// its reason. Every key is listed in docs/compatibility.md under "Node schema differences". A node type that
// InvokeAI does not have is one key, its type.
var nodeSchemaDifferences = map[string]string{
	"blank_image.inputs.height.maximum":                                 imageSide,
	"create_gradient_mask.inputs.edge_radius.maximum":                   edgeRadius,
	"rectangle_mask.inputs.height.maximum":                              imageSide,
	"rectangle_mask.inputs.width.maximum":                               imageSide,
	"blank_image.inputs.width.maximum":                                  imageSide,
	"denoise_latents.inputs.steps.maximum":                              denoiseSteps,
	"denoise_latents_meta.inputs.steps.maximum":                         denoiseSteps,
	"dynamic_prompt.inputs.max_prompts.maximum":                         promptCount,
	"dynamic_prompt.inputs.max_prompts.minimum":                         noNegativeCount,
	"esrgan.inputs.tile_size.maximum":                                   upscaleTile,
	"flux_denoise.inputs.control.type":                                  fluxUnsupported,
	"flux_denoise.inputs.fill_conditioning.type":                        fluxUnsupported,
	"flux_denoise.inputs.height.exclusiveMinimum":                       positiveSize,
	"flux_denoise.inputs.height.maximum":                                fluxSide,
	"flux_denoise.inputs.ip_adapter.type":                               fluxUnsupported,
	"flux_denoise.inputs.kontext_conditioning.type":                     fluxUnsupported,
	"flux_denoise.inputs.num_steps.exclusiveMinimum":                    positiveSize,
	"flux_denoise.inputs.num_steps.maximum":                             denoiseSteps,
	"flux_denoise.inputs.redux_conditioning.type":                       fluxUnsupported,
	"flux_denoise.inputs.width.exclusiveMinimum":                        positiveSize,
	"flux_denoise.inputs.width.maximum":                                 fluxSide,
	"flux_denoise_meta.inputs.control.type":                             fluxUnsupported,
	"flux_denoise_meta.inputs.fill_conditioning.type":                   fluxUnsupported,
	"flux_denoise_meta.inputs.height.exclusiveMinimum":                  positiveSize,
	"flux_denoise_meta.inputs.height.maximum":                           fluxSide,
	"flux_denoise_meta.inputs.ip_adapter.type":                          fluxUnsupported,
	"flux_denoise_meta.inputs.kontext_conditioning.type":                fluxUnsupported,
	"flux_denoise_meta.inputs.num_steps.exclusiveMinimum":               positiveSize,
	"flux_denoise_meta.inputs.num_steps.maximum":                        denoiseSteps,
	"flux_denoise_meta.inputs.redux_conditioning.type":                  fluxUnsupported,
	"flux_denoise_meta.inputs.width.exclusiveMinimum":                   positiveSize,
	"flux_denoise_meta.inputs.width.maximum":                            fluxSide,
	"i2l.inputs.tile_size.maximum":                                      vaeTile,
	"img_blur.inputs.radius.maximum":                                    blurRadius,
	"img_crop.inputs.height.maximum":                                    imageSide,
	"img_crop.inputs.width.maximum":                                     imageSide,
	"img_paste.inputs.x.maximum":                                        pasteOffset,
	"img_paste.inputs.x.minimum":                                        pasteOffset,
	"img_paste.inputs.y.maximum":                                        pasteOffset,
	"img_paste.inputs.y.minimum":                                        pasteOffset,
	"img_resize.inputs.height.maximum":                                  imageSide,
	"img_resize.inputs.width.maximum":                                   imageSide,
	"img_scale.inputs.scale_factor.maximum":                             scaleFactor,
	"l2i.inputs.tile_size.maximum":                                      vaeTile,
	"lresize.inputs.height.maximum":                                     imageSide,
	"lresize.inputs.width.maximum":                                      imageSide,
	"lscale.inputs.scale_factor.maximum":                                scaleFactor,
	"noise.inputs.height.maximum":                                       imageSide,
	"noise.inputs.width.maximum":                                        imageSide,
	"spandrel_image_to_image.inputs.tile_size.maximum":                  upscaleTile,
	"spandrel_image_to_image.inputs.tile_size.minimum":                  noNegativeTile,
	"spandrel_image_to_image_autoscale.inputs.tile_size.maximum":        upscaleTile,
	"spandrel_image_to_image_autoscale.inputs.tile_size.minimum":        noNegativeTile,
	"tiled_multi_diffusion_denoise_latents.inputs.steps.maximum":        denoiseSteps,
	"tiled_multi_diffusion_denoise_latents.inputs.tile_height.maximum":  tiledTile,
	"tiled_multi_diffusion_denoise_latents.inputs.tile_overlap.maximum": tiledTile,
	"tiled_multi_diffusion_denoise_latents.inputs.tile_width.maximum":   tiledTile,
	"unsharp_mask.inputs.radius.maximum":                                blurRadius,
	"content_shuffle.inputs.scale_factor.maximum":                       shuffleScale,
	"color_map.inputs.tile_size.maximum":                                imageSide,
	"float_range.inputs.steps.maximum":                                  generatedItems,
	"range_of_size.inputs.size.maximum":                                 generatedItems,
	"img_noise.inputs.size.maximum":                                     imageSide,
	"mask_edge.inputs.edge_size.maximum":                                imageSide,
	"heuristic_resize.inputs.width.maximum":                             imageSide,
	"heuristic_resize.inputs.height.maximum":                            imageSide,
	"invokeai_img_dilate_erode.inputs.radius_w.maximum":                 morphRadius,
	"invokeai_img_dilate_erode.inputs.radius_h.maximum":                 morphRadius,
	"ideal_size.inputs.width.maximum":                                   imageSide,
	"ideal_size.inputs.height.maximum":                                  imageSide,
	"random_range.inputs.size.maximum":                                  generatedItems,
	"calculate_image_tiles.inputs.image_height.maximum":                 imageSide,
	"calculate_image_tiles.inputs.image_width.maximum":                  imageSide,
	"calculate_image_tiles.inputs.tile_height.maximum":                  imageSide,
	"calculate_image_tiles.inputs.tile_width.maximum":                   imageSide,
	"calculate_image_tiles_even_split.inputs.image_height.maximum":      imageSide,
	"calculate_image_tiles_even_split.inputs.image_width.maximum":       imageSide,
	"calculate_image_tiles_min_overlap.inputs.image_height.maximum":     imageSide,
	"calculate_image_tiles_min_overlap.inputs.image_width.maximum":      imageSide,
	"calculate_image_tiles_min_overlap.inputs.tile_height.maximum":      imageSide,
	"calculate_image_tiles_min_overlap.inputs.tile_width.maximum":       imageSide,
	"calculate_image_tiles_even_split.inputs.num_tiles_x.maximum":       tileCount,
	"calculate_image_tiles_even_split.inputs.num_tiles_y.maximum":       tileCount,
}

// The reasons for the differences: upper bounds that InvokeAI does not have, since every field that sizes a
// tensor or an image is bounded here (docs/security.md, "Resource limits").
const (
	upscaleTile     = "upscaler tiles are at most 1024 pixels a side"
	edgeRadius      = "the coherence band's radius sizes the filter kernel: at most 1024 pixels"
	imageSide       = "images and latents are at most 16384 pixels a side"
	pasteOffset     = "the pasted image may lie at most 16384 pixels off the base, since the canvas grows to hold it"
	scaleFactor     = "a scale factor sizes the result: at most 16 for images, 8 for latents"
	vaeTile         = "VAE tiles are at most 4096 pixels a side"
	blurRadius      = "a blur radius is bounded: at most 10^6 for img_blur, where Pillow's fixed-point window sums stay exact, and 100000 for unsharp_mask"
	denoiseSteps    = "at most 1000 denoising steps, which bounds the work of one node"
	noNegativeTile  = "a negative tile size means nothing (0 turns tiling off)"
	promptCount     = "dynamic_prompt makes at most 10000 prompts"
	noNegativeCount = "a negative count means nothing"
	fluxSide        = "FLUX images are at most 4096 pixels a side"
	positiveSize    = "sizes and step counts are positive"
	tiledTile       = "tiles and their overlap are at most 8192 pixels"
	fluxUnsupported = "not supported yet: the schema accepts any value, and flux_denoise refuses one when it runs"
	shuffleScale    = "content_shuffle's noise is the image plus twice the scale factor a side: at most 16384"
	generatedItems  = "a generated collection holds at most 2^20 values, as range's"
	morphRadius     = "the dilate/erode element's radii are at most 1024 pixels: its height sets the cost"
	tileCount       = "at most 2048 tiles a side (and 65536 in all, checked when the grid is computed)"
)

// TestNodeSchemasMatchInvokeAI reads /openapi.json as InvokeAI's web UI does and compares every node template
// that invokego registers with InvokeAI 6.12's (testdata/invokeai-schema): field types, defaults, required
// flags, input kinds, bounds, options, ui_* hints, titles, versions, categories, tags, classification and
// outputs. A difference fails the test unless nodeSchemaDifferences lists it; an entry that no longer differs
// fails it too, and so does an entry that docs/compatibility.md does not mention.
func TestNodeSchemasMatchInvokeAI(t *testing.T) {
	path, err := goldens.Path("invokeai-schema", "invokeai-6.12-nodes.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	reference, err := nodeschema.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	env := apitest.New(t)
	ours, err := nodeschema.Parse(env.Do("GET", "/openapi.json").Expect(200).Body)
	if err != nil {
		t.Fatal(err)
	}
	types := env.App.NodeRegistry().Types()
	for _, nt := range types {
		if _, ok := ours[nt.Type]; !ok {
			t.Errorf("node type %s is registered but has no template in /openapi.json", nt.Type)
		}
	}
	if len(ours) != len(types) {
		t.Errorf("/openapi.json has %d node templates, the registry %d types", len(ours), len(types))
	}

	seen := map[string]bool{}
	for _, d := range nodeschema.Compare(reference, ours) {
		if _, ok := nodeSchemaDifferences[d.Key]; !ok {
			t.Errorf("%s (fix it, or list it with a reason in nodeSchemaDifferences and docs/compatibility.md)", d)
		}
		seen[d.Key] = true
	}
	doc, err := os.ReadFile(compatibilityDoc)
	if err != nil {
		t.Fatal(err)
	}
	section := string(doc)
	if i := strings.Index(section, "### Node schema differences"); i >= 0 {
		section = section[i:]
		if j := strings.Index(section[4:], "\n## "); j >= 0 {
			section = section[:j+4]
		}
	} else {
		t.Errorf("%s has no \"### Node schema differences\" section", compatibilityDoc)
		section = ""
	}
	keys := make([]string, 0, len(nodeSchemaDifferences))
	for k := range nodeSchemaDifferences {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !seen[k] {
			t.Errorf("nodeSchemaDifferences lists %s, which no longer differs: remove it (and from docs/compatibility.md)", k)
		}
		if !strings.Contains(section, "`"+k+"`") {
			t.Errorf("docs/compatibility.md, \"Node schema differences\", does not mention `%s`", k)
		}
	}
	t.Logf("compared %d node types with InvokeAI 6.12; %d listed differences", len(ours), len(nodeSchemaDifferences))
}
