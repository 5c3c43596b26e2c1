// Package esrgan runs the image-to-image super-resolution networks InvokeAI loads as
// "spandrel_image_to_image" models: ESRGAN's RRDBNet (the original "old" key layout and the
// basicsr/Real-ESRGAN "new" one, with or without a pixel-unshuffled input as in Real-ESRGAN x2plus)
// and Real-ESRGAN's compact SRVGGNet. Every hyper-parameter (scale, channels, features, block
// counts) is read from the tensor shapes; a state dict that is not exactly one of these networks is
// refused before anything is allocated.
//
// Images are processed as InvokeAI does: each tile is padded to the model's size requirement
// (reflect, then replicate), run, clamped to [0, 1], cropped, truncated to 8 bits and pasted into
// the output keeping half of its top/left overlap (see Upscale).
package esrgan

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Arch names a supported architecture (spandrel's architecture ids).
type Arch string

// The supported architectures.
const (
	ArchESRGAN  Arch = "ESRGAN"  // RRDBNet
	ArchCompact Arch = "Compact" // SRVGGNetCompact
)

// ErrUnsupported means the tensors are not a network this package runs.
var ErrUnsupported = errors.New("unsupported image-to-image model")

// Limits on what a state dict may describe. Real models stay far below them (RealESRGAN_x4plus:
// 64 features, 23 blocks, growth 32; the compact models: 64 features, 32 convolutions); they keep a
// hostile file from describing a network that would need gigabytes of weights or activations per
// pixel.
const (
	maxFeatures   = 512
	maxGrowth     = 512
	maxBlocks     = 128 // RRDB blocks
	maxCompact    = 256 // compact body convolutions
	maxUpConvs    = 4   // ×16 at most
	maxScale      = 8
	maxTensors    = 1 << 14
	maxParameters = 256 << 20 // 1 GiB of float32 weights
)

// Spec is an architecture with its hyper-parameters, as read from the tensor shapes.
type Spec struct {
	Arch Arch
	// Layout is the RRDBNet key layout: "old" (model.0, model.1.sub.N.RDBk.convj.0, ...), "new"
	// (conv_first, body.N.rdbk.convj, conv_body, conv_upN, conv_hr, conv_last) or "bsrgan"
	// (RRDB_trunk, trunk_conv, upconvN, HRconv). Empty for the compact network.
	Layout string
	// Scale is the output size over the input size.
	Scale int
	// InChannels and OutChannels are image channels (3 for RGB); a pixel-unshuffled RRDBNet sees
	// InChannels·Shuffle² channels internally.
	InChannels, OutChannels int
	Features                int
	// Blocks counts RRDB blocks (ESRGAN) or body convolutions after the first (Compact).
	Blocks int
	// Growth is the RRDB dense-block growth (gc); 0 for Compact.
	Growth int
	// Shuffle is the pixel-unshuffle factor of the input (1: none).
	Shuffle int
	// UpConvs counts the ×2 nearest-upsampling stages of an RRDBNet.
	UpConvs int
	// Parameters is the number of weights and biases.
	Parameters int64

	// names maps canonical names (new layout) to the names in the file.
	names map[string]string
}

// Tags describes the model the way spandrel's tags do ("64nf", "23nb", "unshuffle").
func (s *Spec) Tags() []string {
	if s.Arch == ArchCompact {
		return []string{fmt.Sprintf("%dnf", s.Features), fmt.Sprintf("%dnc", s.Blocks)}
	}
	t := []string{fmt.Sprintf("%dnf", s.Features), fmt.Sprintf("%dnb", s.Blocks)}
	if s.Shuffle > 1 {
		t = append(t, "unshuffle")
	}
	return t
}

// String is a short human description.
func (s *Spec) String() string {
	return fmt.Sprintf("%s x%d (%s)", s.Arch, s.Scale, strings.Join(s.Tags(), ", "))
}

// sizeRequirement is spandrel's SizeRequirements: the padded input must be at least minimum
// pixels per side and a multiple of multipleOf.
func (s *Spec) sizeRequirement() (minimum, multipleOf int) {
	if s.Arch == ArchCompact {
		return 0, 1
	}
	if s.Shuffle > 1 {
		return 4, 4
	}
	return 2, 1
}

// fileName returns the name a canonical tensor has in the file.
func (s *Spec) fileName(canonical string) string {
	if n, ok := s.names[canonical]; ok {
		return n
	}
	return canonical
}

var (
	oldRDB     = regexp.MustCompile(`^model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)$`)
	oldTrunk   = regexp.MustCompile(`^model\.1\.sub\.(\d+)\.(weight|bias)$`)
	oldTop     = regexp.MustCompile(`^model\.(\d+)\.(weight|bias)$`)
	newRDB     = regexp.MustCompile(`^body\.(\d+)\.rdb([123])\.conv([1-5])\.(weight|bias)$`)
	bsrganRDB  = regexp.MustCompile(`^RRDB_trunk\.(\d+)\.RDB([123])\.conv([1-5])\.(weight|bias)$`)
	newUp      = regexp.MustCompile(`^(?:conv_up|upconv)(\d)\.(weight|bias)$`)
	compactKey = regexp.MustCompile(`^body\.(\d+)\.(weight|bias)$`)
)

// Inspect identifies the architecture from tensor names and shapes alone and checks every tensor
// against it: a missing, unexpected or mis-shaped tensor is an error wrapping ErrUnsupported.
func Inspect(shapes map[string][]int) (*Spec, error) {
	if len(shapes) == 0 {
		return nil, fmt.Errorf("%w: the file holds no tensors", ErrUnsupported)
	}
	if len(shapes) > maxTensors {
		return nil, fmt.Errorf("%w: %d tensors (at most %d)", ErrUnsupported, len(shapes), maxTensors)
	}
	shapes = stripWrapper(shapes)
	var spec *Spec
	var err error
	switch {
	case has(shapes, "model.0.weight") && has(shapes, "model.1.sub.0.RDB1.conv1.0.weight"):
		spec, err = inspectRRDB(shapes, "old")
	case has(shapes, "conv_first.weight") && has(shapes, "body.0.rdb1.conv1.weight"):
		spec, err = inspectRRDB(shapes, "new")
	case has(shapes, "conv_first.weight") && has(shapes, "RRDB_trunk.0.RDB1.conv1.weight"):
		spec, err = inspectRRDB(shapes, "bsrgan")
	case has(shapes, "body.0.weight") && has(shapes, "body.1.weight"):
		spec, err = inspectCompact(shapes)
	default:
		return nil, fmt.Errorf("%w: the tensors are neither an ESRGAN (RRDBNet) nor a Real-ESRGAN compact network", ErrUnsupported)
	}
	if err != nil {
		return nil, err
	}
	if spec.InChannels != 3 || spec.OutChannels != 3 {
		return nil, fmt.Errorf("%w: %s maps %d to %d channels; only RGB (3 to 3) models are supported", ErrUnsupported, spec.Arch, spec.InChannels, spec.OutChannels)
	}
	return spec, nil
}

// stripWrapper unwraps basicsr training checkpoints, which nest the weights under "params_ema"
// (the averaged weights, preferred as spandrel prefers them) and/or "params": only the tensors
// under the first of those prefixes that occurs are kept, without it.
func stripWrapper(shapes map[string][]int) map[string][]int {
	p := wrapperPrefix(shapes)
	if p == "" {
		return shapes
	}
	out := make(map[string][]int, len(shapes))
	for k, v := range shapes {
		if rest, ok := strings.CutPrefix(k, p); ok {
			out[rest] = v
		}
	}
	return out
}

// wrapperPrefix is the prefix stripWrapper removes ("" when none).
func wrapperPrefix(shapes map[string][]int) string {
	for _, p := range []string{"params_ema.", "params."} {
		for k := range shapes {
			if strings.HasPrefix(k, p) {
				return p
			}
		}
	}
	return ""
}

// Detect reports whether the tensor names are those of a network this package knows (an ESRGAN
// or a compact Real-ESRGAN), without checking them: Inspect does that. Model probing uses it to
// tell "not an upscaler" from "a broken or unsupported upscaler".
func Detect(shapes map[string][]int) bool {
	shapes = stripWrapper(shapes)
	return (has(shapes, "model.0.weight") && has(shapes, "model.1.sub.0.RDB1.conv1.0.weight")) ||
		(has(shapes, "conv_first.weight") && (has(shapes, "body.0.rdb1.conv1.weight") || has(shapes, "RRDB_trunk.0.RDB1.conv1.weight"))) ||
		(has(shapes, "body.0.weight") && has(shapes, "body.1.weight") && !has(shapes, "conv_first.weight"))
}

func has(shapes map[string][]int, name string) bool { _, ok := shapes[name]; return ok }

// canonicalRRDB maps one file name to the new-layout name, or "" when the name does not belong to
// the layout. Old-layout top-level indices are resolved afterwards (they depend on the scale).
func canonicalRRDB(name, layout string) string {
	switch layout {
	case "old":
		if m := oldRDB.FindStringSubmatch(name); m != nil {
			return fmt.Sprintf("body.%s.rdb%s.conv%s.%s", m[1], m[2], m[3], m[4])
		}
		return "" // the trunk conv and top-level convs are resolved by index
	case "bsrgan":
		if m := bsrganRDB.FindStringSubmatch(name); m != nil {
			return fmt.Sprintf("body.%s.rdb%s.conv%s.%s", m[1], m[2], m[3], m[4])
		}
		switch {
		case strings.HasPrefix(name, "trunk_conv."):
			return "conv_body." + strings.TrimPrefix(name, "trunk_conv.")
		case strings.HasPrefix(name, "HRconv."):
			return "conv_hr." + strings.TrimPrefix(name, "HRconv.")
		}
	default:
		if newRDB.MatchString(name) {
			return name
		}
	}
	if m := newUp.FindStringSubmatch(name); m != nil && layout != "old" {
		return "conv_up" + m[1] + "." + m[2]
	}
	switch name {
	case "conv_first.weight", "conv_first.bias", "conv_body.weight", "conv_body.bias", "conv_hr.weight", "conv_hr.bias",
		"conv_last.weight", "conv_last.bias":
		if layout != "old" {
			return name
		}
	}
	return ""
}

// atoiSmall parses a small non-negative decimal index; absurd values are refused.
func atoiSmall(s string) (int, bool) {
	if len(s) > 4 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

func inspectRRDB(shapes map[string][]int, layout string) (*Spec, error) {
	canon := map[string][]int{}
	names := map[string]string{}
	put := func(c, file string) error {
		if prev, dup := names[c]; dup {
			return fmt.Errorf("%w: tensors %q and %q both map to %q", ErrUnsupported, prev, file, c)
		}
		canon[c], names[c] = shapes[file], file
		return nil
	}
	// Old layout: the trunk conv is model.1.sub.<blocks>, the top-level convs sit at model.0,
	// model.3·u (upconvs), then the HR conv and the last conv two and four places after the last one.
	var top []int
	topNames := map[int][2]string{}
	blockIdx := map[int]bool{}
	for name := range shapes {
		c := canonicalRRDB(name, layout)
		if c == "" && layout == "old" {
			if m := oldTrunk.FindStringSubmatch(name); m != nil {
				i, ok := atoiSmall(m[1])
				if !ok {
					return nil, fmt.Errorf("%w: tensor %q has an absurd index", ErrUnsupported, name)
				}
				c = fmt.Sprintf("trunk%d.%s", i, m[2])
			} else if m := oldTop.FindStringSubmatch(name); m != nil {
				i, ok := atoiSmall(m[1])
				if !ok {
					return nil, fmt.Errorf("%w: tensor %q has an absurd index", ErrUnsupported, name)
				}
				if _, seen := topNames[i]; !seen {
					top = append(top, i)
				}
				tn := topNames[i]
				if m[2] == "weight" {
					tn[0] = name
				} else {
					tn[1] = name
				}
				topNames[i] = tn
				continue
			}
		}
		if c == "" {
			return nil, fmt.Errorf("%w: unexpected tensor %q in an ESRGAN (%s layout) state dict", ErrUnsupported, name, layout)
		}
		if strings.HasPrefix(c, "body.") {
			idx := strings.SplitN(c, ".", 3)[1]
			i, ok := atoiSmall(idx)
			if !ok {
				return nil, fmt.Errorf("%w: tensor %q has an absurd block index", ErrUnsupported, name)
			}
			blockIdx[i] = true
		}
		if err := put(c, name); err != nil {
			return nil, err
		}
	}
	blocks := len(blockIdx)
	if blocks == 0 || blocks > maxBlocks {
		return nil, fmt.Errorf("%w: %d RRDB blocks (1..%d supported)", ErrUnsupported, blocks, maxBlocks)
	}
	for i := range blocks {
		if !blockIdx[i] {
			return nil, fmt.Errorf("%w: RRDB block %d is missing", ErrUnsupported, i)
		}
	}
	if layout == "old" {
		// The trunk conv closes the sequential of blocks.
		for _, kind := range []string{"weight", "bias"} {
			file := fmt.Sprintf("model.1.sub.%d.%s", blocks, kind)
			if _, ok := canon[fmt.Sprintf("trunk%d.%s", blocks, kind)]; !ok {
				return nil, fmt.Errorf("%w: missing trunk convolution %q", ErrUnsupported, file)
			}
			delete(canon, fmt.Sprintf("trunk%d.%s", blocks, kind))
			delete(names, fmt.Sprintf("trunk%d.%s", blocks, kind))
			if err := put("conv_body."+kind, file); err != nil {
				return nil, err
			}
		}
		for c := range canon {
			if strings.HasPrefix(c, "trunk") {
				return nil, fmt.Errorf("%w: unexpected tensor %q", ErrUnsupported, names[c])
			}
		}
		slices.Sort(top)
		// model.0, model.3, model.6, ..., model.3U, model.3U+2, model.3U+4.
		if len(top) < 3 || top[0] != 0 {
			return nil, fmt.Errorf("%w: the top-level convolutions model.N are incomplete", ErrUnsupported)
		}
		last := top[len(top)-1]
		up := (last - 4) / 3
		if last < 4 || (last-4)%3 != 0 || up > maxUpConvs {
			return nil, fmt.Errorf("%w: the last convolution model.%d fits no upsampling layout", ErrUnsupported, last)
		}
		want := []int{0}
		for u := 1; u <= up; u++ {
			want = append(want, 3*u)
		}
		want = append(want, 3*up+2, 3*up+4)
		if !slices.Equal(top, want) {
			return nil, fmt.Errorf("%w: top-level convolutions %v, want %v", ErrUnsupported, top, want)
		}
		canonTop := []string{"conv_first"}
		for u := 1; u <= up; u++ {
			canonTop = append(canonTop, fmt.Sprintf("conv_up%d", u))
		}
		canonTop = append(canonTop, "conv_hr", "conv_last")
		for i, idx := range want {
			tn := topNames[idx]
			if tn[0] == "" || tn[1] == "" {
				return nil, fmt.Errorf("%w: model.%d needs a weight and a bias", ErrUnsupported, idx)
			}
			if err := put(canonTop[i]+".weight", tn[0]); err != nil {
				return nil, err
			}
			if err := put(canonTop[i]+".bias", tn[1]); err != nil {
				return nil, err
			}
		}
	}
	first := canon["conv_first.weight"]
	if len(first) != 4 {
		return nil, fmt.Errorf("%w: conv_first weight has shape %v", ErrUnsupported, first)
	}
	feat, inC := first[0], first[1]
	g := canon["body.0.rdb1.conv1.weight"]
	if len(g) != 4 {
		return nil, fmt.Errorf("%w: body.0.rdb1.conv1 weight has shape %v", ErrUnsupported, g)
	}
	growth := g[0]
	if feat < 1 || feat > maxFeatures || growth < 1 || growth > maxGrowth {
		return nil, fmt.Errorf("%w: %d features, growth %d (at most %d and %d)", ErrUnsupported, feat, growth, maxFeatures, maxGrowth)
	}
	last := canon["conv_last.weight"]
	if len(last) != 4 {
		return nil, fmt.Errorf("%w: conv_last weight has shape %v", ErrUnsupported, last)
	}
	outC := last[0]
	up := 0
	for has(canon, fmt.Sprintf("conv_up%d.weight", up+1)) {
		up++
	}
	if up > maxUpConvs {
		return nil, fmt.Errorf("%w: %d upsampling stages (at most %d)", ErrUnsupported, up, maxUpConvs)
	}
	shuffle := 1
	switch {
	case outC > 0 && inC == 4*outC:
		shuffle = 2
	case outC > 0 && inC == 16*outC:
		shuffle = 4
	}
	internal := 1 << up
	if internal%shuffle != 0 {
		return nil, fmt.Errorf("%w: %d upsampling stages cannot undo a pixel-unshuffle by %d", ErrUnsupported, up, shuffle)
	}
	spec := &Spec{Arch: ArchESRGAN, Layout: layout, Scale: internal / shuffle, InChannels: inC / (shuffle * shuffle),
		OutChannels: outC, Features: feat, Blocks: blocks, Growth: growth, Shuffle: shuffle, UpConvs: up, names: names}
	if inC < 1 || inC > 64 || outC < 1 || outC > 16 {
		return nil, fmt.Errorf("%w: %d input and %d output channels", ErrUnsupported, inC, outC)
	}
	// Every expected tensor, with its exact shape; anything left over is refused.
	want := map[string][]int{}
	conv := func(name string, out, in int) {
		want[name+".weight"] = []int{out, in, 3, 3}
		want[name+".bias"] = []int{out}
	}
	conv("conv_first", feat, inC)
	for b := range blocks {
		for r := 1; r <= 3; r++ {
			for k := 1; k <= 4; k++ {
				conv(fmt.Sprintf("body.%d.rdb%d.conv%d", b, r, k), growth, feat+(k-1)*growth)
			}
			conv(fmt.Sprintf("body.%d.rdb%d.conv5", b, r), feat, feat+4*growth)
		}
	}
	conv("conv_body", feat, feat)
	for u := 1; u <= up; u++ {
		conv(fmt.Sprintf("conv_up%d", u), feat, feat)
	}
	conv("conv_hr", feat, feat)
	conv("conv_last", outC, feat)
	n, err := checkShapes(canon, want, names)
	if err != nil {
		return nil, err
	}
	spec.Parameters = n
	return spec, nil
}

// checkShapes compares the canonical tensors with the expected set and counts the parameters.
func checkShapes(canon, want map[string][]int, names map[string]string) (int64, error) {
	var total int64
	for c, shape := range want {
		got, ok := canon[c]
		if !ok {
			return 0, fmt.Errorf("%w: missing tensor %q", ErrUnsupported, c)
		}
		if !slices.Equal(got, shape) {
			n := c
			if f, ok := names[c]; ok {
				n = f
			}
			return 0, fmt.Errorf("%w: tensor %q has shape %v, want %v", ErrUnsupported, n, got, shape)
		}
		total += numel(shape)
	}
	for c := range canon {
		if _, ok := want[c]; !ok {
			n := c
			if f, ok := names[c]; ok {
				n = f
			}
			return 0, fmt.Errorf("%w: unexpected tensor %q", ErrUnsupported, n)
		}
	}
	if total > maxParameters {
		return 0, fmt.Errorf("%w: %d parameters (at most %d)", ErrUnsupported, total, maxParameters)
	}
	return total, nil
}

func numel(shape []int) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= int64(d)
	}
	return n
}

func inspectCompact(shapes map[string][]int) (*Spec, error) {
	highest := -1
	for name := range shapes {
		m := compactKey.FindStringSubmatch(name)
		if m == nil {
			return nil, fmt.Errorf("%w: unexpected tensor %q in a compact (SRVGGNet) state dict", ErrUnsupported, name)
		}
		i, ok := atoiSmall(m[1])
		if !ok {
			return nil, fmt.Errorf("%w: tensor %q has an absurd index", ErrUnsupported, name)
		}
		highest = max(highest, i)
	}
	// body.0 conv, body.1 PReLU, then (conv, PReLU) per body convolution, then the last conv.
	if highest < 2 || highest%2 != 0 {
		return nil, fmt.Errorf("%w: the last compact layer body.%d is not a convolution", ErrUnsupported, highest)
	}
	nconv := (highest - 2) / 2
	if nconv > maxCompact {
		return nil, fmt.Errorf("%w: %d body convolutions (at most %d)", ErrUnsupported, nconv, maxCompact)
	}
	first := shapes["body.0.weight"]
	if len(first) != 4 {
		return nil, fmt.Errorf("%w: body.0 weight has shape %v", ErrUnsupported, first)
	}
	feat, inC := first[0], first[1]
	if feat < 1 || feat > maxFeatures || inC < 1 || inC > 16 {
		return nil, fmt.Errorf("%w: %d features over %d channels", ErrUnsupported, feat, inC)
	}
	lastW := shapes[fmt.Sprintf("body.%d.weight", highest)]
	if len(lastW) != 4 {
		return nil, fmt.Errorf("%w: body.%d weight has shape %v", ErrUnsupported, highest, lastW)
	}
	// The last conv feeds a pixel shuffle: out·scale² channels, with out = in (the network adds
	// the nearest-upsampled input).
	scale := 0
	for s := 1; s <= maxScale; s++ {
		if lastW[0] == inC*s*s {
			scale = s
		}
	}
	if scale == 0 {
		return nil, fmt.Errorf("%w: the last compact convolution has %d channels, not %d·scale² for a scale up to %d", ErrUnsupported, lastW[0], inC, maxScale)
	}
	want := map[string][]int{}
	want["body.0.weight"], want["body.0.bias"] = []int{feat, inC, 3, 3}, []int{feat}
	want["body.1.weight"] = []int{feat}
	for i := range nconv {
		c := 2 + 2*i
		want[fmt.Sprintf("body.%d.weight", c)], want[fmt.Sprintf("body.%d.bias", c)] = []int{feat, feat, 3, 3}, []int{feat}
		want[fmt.Sprintf("body.%d.weight", c+1)] = []int{feat}
	}
	want[fmt.Sprintf("body.%d.weight", highest)] = []int{inC * scale * scale, feat, 3, 3}
	want[fmt.Sprintf("body.%d.bias", highest)] = []int{inC * scale * scale}
	n, err := checkShapes(shapes, want, nil)
	if err != nil {
		return nil, err
	}
	return &Spec{Arch: ArchCompact, Scale: scale, InChannels: inC, OutChannels: inC, Features: feat, Blocks: nconv,
		Shuffle: 1, Parameters: n}, nil
}
