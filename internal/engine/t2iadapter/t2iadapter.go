// Package t2iadapter is diffusers' T2IAdapter (the "full_adapter" and "full_adapter_xl" types): a small
// convolutional network that turns a control image into one feature map per UNet down block. The UNet adds
// them inside its down blocks (sd.UNetOptions.AdapterResiduals). The features depend only on the image, so a
// run computes them once.
package t2iadapter

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// Config is a T2IAdapter config.json.
type Config struct {
	AdapterType     string `json:"adapter_type"`
	Channels        []int  `json:"channels"`
	DownscaleFactor int    `json:"downscale_factor"`
	InChannels      int    `json:"in_channels"`
	NumResBlocks    int    `json:"num_res_blocks"`
}

// maxConfigBytes bounds config.json; real ones are a few hundred bytes.
const maxConfigBytes = 1 << 20

// LoadConfig reads a T2IAdapter config.json (diffusers' defaults fill what it omits).
func LoadConfig(path string) (Config, error) {
	c := Config{AdapterType: "full_adapter", Channels: []int{320, 640, 1280, 1280}, DownscaleFactor: 8, InChannels: 3, NumResBlocks: 2}
	f, err := os.Open(path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return c, err
	}
	if len(b) > maxConfigBytes {
		return c, fmt.Errorf("t2i-adapter config %s: larger than %d bytes", path, maxConfigBytes)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("t2i-adapter config %s: %w", path, err)
	}
	return c, nil
}

// Adapter is a built T2I-Adapter. It is immutable and safe for concurrent use.
type Adapter struct {
	Config Config
	convIn *tensor.Conv2D
	blocks []*block
}

// block is an AdapterBlock: an optional 2×2 average pool (ceil mode), a 1×1 convolution when the channel
// count changes, then residual blocks x + conv1×1(relu(conv3×3(x))).
type block struct {
	down    bool
	inConv  *tensor.Conv2D
	resnets [][2]*tensor.Conv2D
}

// maxDownscale bounds the pixel-unshuffle factor (real adapters use 8 or 16).
const maxDownscale = 64

// New builds an adapter from diffusers-named weights ("adapter.conv_in", "adapter.body.i…").
func New(cfg Config, weights sd.StateDict) (*Adapter, error) {
	n := len(cfg.Channels)
	if n == 0 || cfg.DownscaleFactor < 1 || cfg.DownscaleFactor > maxDownscale || cfg.InChannels < 1 || cfg.NumResBlocks < 1 {
		return nil, fmt.Errorf("build t2i-adapter: invalid config %+v", cfg)
	}
	// Which blocks change the channel count and which downsample: every block after the first in
	// full_adapter; in full_adapter_xl block 1 widens without downsampling and block 2 downsamples.
	type shape struct {
		in, out int
		down    bool
	}
	var shapes []shape
	switch cfg.AdapterType {
	case "full_adapter":
		shapes = append(shapes, shape{cfg.Channels[0], cfg.Channels[0], false})
		for i := 1; i < n; i++ {
			shapes = append(shapes, shape{cfg.Channels[i-1], cfg.Channels[i], true})
		}
	case "full_adapter_xl":
		for i := 0; i < n; i++ {
			switch i {
			case 1:
				shapes = append(shapes, shape{cfg.Channels[0], cfg.Channels[1], false})
			case 2:
				shapes = append(shapes, shape{cfg.Channels[1], cfg.Channels[2], true})
			default:
				shapes = append(shapes, shape{cfg.Channels[i], cfg.Channels[i], false})
			}
		}
	default:
		return nil, fmt.Errorf("build t2i-adapter: adapter_type %q is not supported", cfg.AdapterType)
	}
	r := &reader{weights: weights, used: map[string]bool{}}
	a := &Adapter{Config: cfg, convIn: r.conv("adapter.conv_in", 1)}
	if a.convIn.InC != cfg.InChannels*cfg.DownscaleFactor*cfg.DownscaleFactor || a.convIn.OutC != cfg.Channels[0] {
		r.fail(fmt.Errorf("conv_in is %d→%d, want %d→%d", a.convIn.InC, a.convIn.OutC, cfg.InChannels*cfg.DownscaleFactor*cfg.DownscaleFactor, cfg.Channels[0]))
	}
	for i, s := range shapes {
		p := "adapter.body." + strconv.Itoa(i)
		b := &block{down: s.down}
		if s.in != s.out {
			b.inConv = r.conv(p+".in_conv", 0)
		}
		for j := 0; j < cfg.NumResBlocks; j++ {
			q := p + ".resnets." + strconv.Itoa(j)
			b.resnets = append(b.resnets, [2]*tensor.Conv2D{r.conv(q+".block1", 1), r.conv(q+".block2", 0)})
		}
		a.blocks = append(a.blocks, b)
	}
	if r.err == nil {
		for k := range weights {
			if !r.used[k] {
				r.fail(fmt.Errorf("unexpected weight %q", k))
				break
			}
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("build t2i-adapter: %w", r.err)
	}
	for _, c := range r.convs {
		c.Pack()
	}
	return a, nil
}

type reader struct {
	weights sd.StateDict
	used    map[string]bool
	convs   []*tensor.Conv2D
	err     error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) conv(name string, pad int) *tensor.Conv2D {
	w, ok := r.weights[name+".weight"]
	if !ok || len(w.Shape) != 4 {
		r.fail(fmt.Errorf("missing or malformed weight %q", name+".weight"))
		return &tensor.Conv2D{Stride: 1}
	}
	r.used[name+".weight"] = true
	var bias []float32
	if b, ok := r.weights[name+".bias"]; ok {
		bias = b.Data
		r.used[name+".bias"] = true
	}
	c, err := tensor.NewConv2D(w.Shape[1], w.Shape[0], w.Shape[2], w.Shape[3], 1, pad, w.Data, bias)
	if err != nil {
		r.fail(fmt.Errorf("%s: %w", name, err))
		return &tensor.Conv2D{Stride: 1}
	}
	r.convs = append(r.convs, c)
	return c
}

// Load reads a diffusers T2IAdapter folder.
func Load(dir string) (*Adapter, error) {
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("load t2i-adapter: %w", err)
	}
	weights, err := sd.LoadStateDict(filepath.Join(dir, "diffusion_pytorch_model.safetensors"), nil)
	if err != nil {
		return nil, fmt.Errorf("load t2i-adapter: %w", err)
	}
	a, err := New(cfg, weights)
	if err != nil {
		return nil, fmt.Errorf("load t2i-adapter %s: %w", dir, err)
	}
	return a, nil
}

// TotalDownscale is how much smaller than the input image the first feature map is: the unshuffle factor,
// times two for every downsampling block before the last (diffusers' total_downscale_factor).
func (a *Adapter) TotalDownscale() int {
	f := a.Config.DownscaleFactor
	if a.Config.AdapterType == "full_adapter_xl" {
		return f * 2
	}
	return f << (len(a.Config.Channels) - 1)
}

// Forward returns one feature map per block for image [N, in_channels, H, W] with values in [0, 1]; H and W
// must be multiples of the unshuffle factor.
func (a *Adapter) Forward(image *tensor.Tensor) ([]*tensor.Tensor, error) {
	f := a.Config.DownscaleFactor
	if len(image.Shape) != 4 || image.Shape[1] != a.Config.InChannels || image.Shape[2]%f != 0 || image.Shape[3]%f != 0 || image.Shape[2] == 0 || image.Shape[3] == 0 {
		return nil, fmt.Errorf("t2i-adapter: image %v, want [N, %d, H, W] with H and W multiples of %d", image.Shape, a.Config.InChannels, f)
	}
	x := pixelUnshuffle(image, f)
	h := a.convIn.Forward(x)
	var out []*tensor.Tensor
	for _, b := range a.blocks {
		if b.down {
			h = avgPool2CeilMode(h)
		}
		if b.inConv != nil {
			h = b.inConv.Forward(h)
		}
		for _, rb := range b.resnets {
			t := rb[0].Forward(h)
			for i, v := range t.Data {
				t.Data[i] = max(v, 0)
			}
			h = rb[1].ForwardAdd(t, h)
			t.Release()
		}
		out = append(out, h)
	}
	return out, nil
}

// pixelUnshuffle is torch's pixel_unshuffle: [N, C, H, W] → [N, C·f², H/f, W/f], channel c·f² + i·f + j
// holding the pixels at offset (i, j) of each f×f cell.
func pixelUnshuffle(x *tensor.Tensor, f int) *tensor.Tensor {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	ho, wo := h/f, w/f
	out := tensor.New(n, c*f*f, ho, wo)
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			src := x.Data[(b*c+ch)*h*w:]
			for i := 0; i < f; i++ {
				for j := 0; j < f; j++ {
					dst := out.Data[((b*c+ch)*f*f+i*f+j)*ho*wo:]
					for y := 0; y < ho; y++ {
						for xx := 0; xx < wo; xx++ {
							dst[y*wo+xx] = src[(y*f+i)*w+xx*f+j]
						}
					}
				}
			}
		}
	}
	return out
}

// avgPool2CeilMode is AvgPool2d(2, 2, ceil_mode=True): a window that hangs over the edge averages the
// pixels it covers.
func avgPool2CeilMode(x *tensor.Tensor) *tensor.Tensor {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	ho, wo := (h+1)/2, (w+1)/2
	out := tensor.New(n, c, ho, wo)
	for p := 0; p < n*c; p++ {
		src, dst := x.Data[p*h*w:(p+1)*h*w], out.Data[p*ho*wo:(p+1)*ho*wo]
		for y := 0; y < ho; y++ {
			for xx := 0; xx < wo; xx++ {
				var s float32
				cnt := 0
				for dy := 0; dy < 2 && 2*y+dy < h; dy++ {
					for dx := 0; dx < 2 && 2*xx+dx < w; dx++ {
						s += src[(2*y+dy)*w+2*xx+dx]
						cnt++
					}
				}
				dst[y*wo+xx] = s / float32(cnt)
			}
		}
	}
	return out
}
