package imageops

import (
	"math"
	"strconv"
	"strings"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/nodes"
)

// InvokeImageCompositor is invokeai_img_composite: the subject's backdrop removed (by a chroma key, or by
// flood-filling from the four corners), the subject scaled to the background (stretched, padded or cropped to
// fit) and shifted, then laid over the background.
type InvokeImageCompositor struct {
	saving
	ImageSubject    nodes.ImageField `json:"image_subject" description:"The subject, on a plain background"`
	ImageBackground nodes.ImageField `json:"image_background" description:"The background scene"`
	ChromaKey       string           `json:"chroma_key" default:"\"\"" description:"The backdrop colour (a CSS colour or a tuple such as (0, 255, 0)); empty: flood-fill from the corners"`
	Threshold       int              `json:"threshold" default:"50" ge:"0" description:"How far from the backdrop colour a pixel may be and still be removed"`
	FillX           bool             `json:"fill_x" default:"false" description:"Scale the subject to the background's width"`
	FillY           bool             `json:"fill_y" default:"true" description:"Scale the subject to the background's height"`
	XOffset         int              `json:"x_offset" default:"0" description:"How far to shift the subject right (wrapping around)"`
	YOffset         int              `json:"y_offset" default:"0" description:"How far to shift the subject up (wrapping around)"`
}

// NodeInfo implements nodes.Node.
func (*InvokeImageCompositor) NodeInfo() nodes.Info {
	return nodes.Info{
		Type: "invokeai_img_composite", Title: "Image Compositor", Category: "image", Version: "1.2.0",
		Tags:        []string{"image", "compose", "chroma", "key"},
		Description: "Removes the plain backdrop of a subject image and lays the subject over a background image.",
		Output:      nodes.ImageOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *InvokeImageCompositor) Invoke(ctx nodes.Context) (nodes.Output, error) {
	bg, err := loadAs(ctx, n.ImageBackground, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	subj, err := loadAs(ctx, n.ImageSubject, imaging.ModeRGBA)
	if err != nil {
		return nil, err
	}
	if subj.W == 0 || subj.H == 0 || bg.W == 0 || bg.H == 0 {
		return nil, valueError("the subject image has zero height or width")
	}
	if key := strings.TrimSpace(n.ChromaKey); key != "" {
		k, err := parseChromaKey(key)
		if err != nil {
			return nil, valueError("%v", err)
		}
		thr := math.Pow(float64(n.Threshold), 2)
		for i := 0; i < subj.W*subj.H; i++ {
			px := subj.Pix[i*4 : i*4+4]
			d := 0.0
			for c, kv := range k {
				diff := float64(px[c]) - kv
				d += diff * diff
			}
			if d < thr {
				copy(px, []uint8{0, 0, 0, 0})
			}
		}
	} else {
		for _, c := range [][2]int{{0, 0}, {0, subj.H - 1}, {subj.W - 1, 0}, {subj.W - 1, subj.H - 1}} {
			floodClear(subj, c[0], c[1], n.Threshold)
		}
	}
	ab := float64(bg.W) / float64(bg.H)
	as := float64(subj.W) / float64(subj.H)
	switch {
	case n.FillX && n.FillY:
		subj, err = subj.Resize(bg.W, bg.H, imaging.Bicubic)
	case (n.FillX && ab < as) || (n.FillY && as <= ab):
		subj, err = padPicture(subj, bg.W, bg.H)
	case (n.FillX && as <= ab) || (n.FillY && ab < as):
		subj, err = fitPicture(subj, bg.W, bg.H)
	}
	if err != nil {
		return nil, valueError("%v", err)
	}
	if n.XOffset != 0 || n.YOffset != 0 {
		subj = offsetPicture(subj, n.XOffset, -n.YOffset)
	}
	if subj.W != bg.W || subj.H != bg.H {
		return nil, valueError("images do not match: background %dx%d, subject %dx%d", bg.W, bg.H, subj.W, subj.H)
	}
	pix, err := imaging.AlphaComposite(bg.Pix, subj.Pix)
	if err != nil {
		return nil, valueError("%v", err)
	}
	return n.save(ctx, &imaging.Picture{W: bg.W, H: bg.H, Mode: imaging.ModeRGBA, Pix: pix}, "")
}

// parseChromaKey reads the key as InvokeAI does: a tuple of numbers ("(0, 255, 0)", padded with zeros to three
// and with 255 as the fourth), or a colour Pillow's ImageColor.getcolor(key, "RGBA") understands.
func parseChromaKey(key string) ([]float64, error) {
	if key[0] == '(' {
		inner := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(key, "("), ")"))
		if !strings.HasSuffix(key, ")") {
			return nil, errorf("malformed chroma key %q", key)
		}
		if inner != "" && !strings.Contains(inner, ",") {
			// Python reads "(5)" as the number 5, which InvokeAI's node then fails on.
			return nil, errorf("chroma key %q is a number, not a tuple", key)
		}
		var out []float64
		for _, part := range strings.Split(inner, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			v, err := strconv.ParseFloat(part, 64)
			if err != nil {
				return nil, errorf("malformed chroma key %q", key)
			}
			out = append(out, v)
		}
		for len(out) < 3 {
			out = append(out, 0)
		}
		if len(out) == 3 {
			out = append(out, 255)
		}
		if len(out) > 4 {
			return nil, errorf("chroma key %q has more than four values", key)
		}
		return out, nil
	}
	c, err := imaging.ParseColor(key)
	if err != nil {
		return nil, err
	}
	if len(c) == 3 {
		c = append(c, 255)
	}
	return []float64{float64(c[0]), float64(c[1]), float64(c[2]), float64(c[3])}, nil
}

func errorf(format string, args ...any) error { return valueError(format, args...) }

// floodClear is ImageDraw.floodfill(p, (x, y), (0, 0, 0, 0), thresh=t) on an RGBA picture: the 4-connected
// region around the seed whose pixels differ from the seed's colour by at most t (the sum of the channels'
// absolute differences) becomes transparent black; nothing happens when the seed is that close to it already.
func floodClear(p *imaging.Picture, x, y, t int) {
	at := func(x, y int) []uint8 { return p.Pix[(y*p.W+x)*4 : (y*p.W+x)*4+4] }
	seed := append([]uint8(nil), at(x, y)...)
	diff := func(px []uint8) int {
		d := 0
		for c := range 4 {
			d += abs(int(px[c]) - int(seed[c]))
		}
		return d
	}
	if diff([]uint8{0, 0, 0, 0}) <= t {
		return
	}
	clear := func(px []uint8) { px[0], px[1], px[2], px[3] = 0, 0, 0, 0 }
	clear(at(x, y))
	seen := make([]bool, p.W*p.H)
	seen[y*p.W+x] = true
	queue := [][2]int{{x, y}}
	for len(queue) > 0 {
		q := queue[0]
		queue = queue[1:]
		for _, d := range [][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
			s, u := q[0]+d[0], q[1]+d[1]
			if s < 0 || u < 0 || s >= p.W || u >= p.H || seen[u*p.W+s] {
				continue
			}
			seen[u*p.W+s] = true
			if px := at(s, u); diff(px) <= t {
				clear(px)
				queue = append(queue, [2]int{s, u})
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// padPicture is ImageOps.pad(p, (w, h), color=(0, 0, 0, 0)): ImageOps.contain (the largest size of the
// picture's aspect inside w×h, Python's rounding, Pillow's bicubic resize), centred on a transparent w×h.
func padPicture(p *imaging.Picture, w, h int) (*imaging.Picture, error) {
	cw, ch := w, h
	im, dest := float64(p.W)/float64(p.H), float64(w)/float64(h)
	if im != dest {
		if im > dest {
			if nh := int(math.RoundToEven(float64(p.H) / float64(p.W) * float64(w))); nh != h {
				ch = nh
			}
		} else if nw := int(math.RoundToEven(float64(p.W) / float64(p.H) * float64(h))); nw != w {
			cw = nw
		}
	}
	r, err := p.Resize(cw, ch, imaging.Bicubic)
	if err != nil {
		return nil, err
	}
	if cw == w && ch == h {
		return r, nil
	}
	out, err := imaging.NewPicture(p.Mode, w, h)
	if err != nil {
		return nil, err
	}
	if cw != w {
		err = out.Paste(r, int(math.RoundToEven(float64(w-cw)*0.5)), 0, nil)
	} else {
		err = out.Paste(r, 0, int(math.RoundToEven(float64(h-ch)*0.5)), nil)
	}
	return out, err
}

// fitPicture is ImageOps.fit(p, (w, h)): the centred part of the picture with the target's aspect, resized to
// w×h with Pillow's bicubic filter through a fractional box.
func fitPicture(p *imaging.Picture, w, h int) (*imaging.Picture, error) {
	lw, lh := float64(p.W), float64(p.H)
	live, out := lw/lh, float64(w)/float64(h)
	cw, ch := lw, lh
	switch {
	case live == out:
	case live >= out:
		cw = out * lh
	default:
		ch = lw / out
	}
	left, top := (lw-cw)*0.5, (lh-ch)*0.5
	return p.ResizeBox(w, h, imaging.Bicubic, [4]float64{left, top, left + cw, top + ch})
}

// offsetPicture is ImageChops.offset(p, dx, dy): the picture shifted by (dx, dy), wrapping around.
func offsetPicture(p *imaging.Picture, dx, dy int) *imaging.Picture {
	out := &imaging.Picture{W: p.W, H: p.H, Mode: p.Mode, Pix: make([]uint8, len(p.Pix))}
	ch := p.Channels()
	dx, dy = ((dx%p.W)+p.W)%p.W, ((dy%p.H)+p.H)%p.H
	for y := 0; y < p.H; y++ {
		for x := 0; x < p.W; x++ {
			copy(out.Pix[(((y+dy)%p.H)*p.W+(x+dx)%p.W)*ch:][:ch], p.Pix[(y*p.W+x)*ch:][:ch])
		}
	}
	return out
}
