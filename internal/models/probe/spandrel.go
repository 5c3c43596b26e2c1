package probe

import (
	"fmt"
	"math"

	"github.com/invokego/invokego/internal/engine/esrgan"
)

// spandrelResult identifies the image-to-image (upscaling) networks the engine runs, from tensor
// names and shapes alone. It answers ok=false when the tensors are not such a network at all, and an
// error when they look like one but are not a network the engine supports (ESRGAN+, a missing
// layer, a grayscale model): InvokeAI would accept some of those through spandrel, invokego must
// refuse them at install time rather than at run time.
func spandrelResult(sd *StateDict) (*Result, bool, error) {
	shapes := make(map[string][]int, len(sd.Shapes))
	for name, s := range sd.Shapes {
		dims := make([]int, len(s))
		for i, d := range s {
			if d < 0 || d > math.MaxInt32 {
				return nil, false, nil // no real network has such a tensor; let the other probes say no
			}
			dims[i] = int(d)
		}
		shapes[name] = dims
	}
	if !esrgan.Detect(shapes) {
		return nil, false, nil
	}
	spec, err := esrgan.Inspect(shapes)
	if err != nil {
		return nil, true, fmt.Errorf("%w: %v", ErrUnknownModel, err)
	}
	return &Result{Type: "spandrel_image_to_image", Format: "checkpoint", Base: "any", Spandrel: spec}, true, nil
}
