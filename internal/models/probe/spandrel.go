package probe

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

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

// spandrelLoadable refuses upscaler checkpoints the engine identifies but cannot load: torch.save files in
// the legacy (pre-1.6, non-zip) format, whose tensor data follows the pickle in a layout the engine does not
// read. Better at install than at the first run.
func spandrelLoadable(path string) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".pth", ".pt", ".ckpt", ".bin":
	default:
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil || !bytes.Equal(magic[:], []byte("PK\x03\x04")) {
		return fmt.Errorf("%w: this upscaler is a legacy (pre-1.6) torch checkpoint, which invokego cannot load; convert it to safetensors or re-save it with a recent torch", ErrUnknownModel)
	}
	return nil
}
