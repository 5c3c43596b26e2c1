// Command fluxmem measures the memory of a FLUX.1 schnell text-to-image run end to end at full model size
// with random weights (bench/flux_memory.sh). -write DIR writes the models: the FLUX.1 schnell transformer
// (19 double + 38 single blocks, hidden 3072) and the T5-XXL encoder (24 layers, d_model 4096, d_ff 10240)
// as GGUF Q8_0 files laid out like city96's conversions (bfloat16 embedders, float32 vectors), CLIP-L as a
// transformers folder (float32) and the FLUX VAE in BFL's ae.safetensors layout (float32). -run DIR runs
// the engine's pipeline on them as flux_text_encoder / flux_denoise / flux_vae_decode do: T5 on 512
// tokens, CLIP-L on 77, both released (closed, collected) before the transformer loads — what the engine
// does when the transformer would not fit beside them — then -steps schnell steps at -size², then the VAE
// decode. Each phase prints one JSON line with its seconds, its own peak RSS (VmHWM after resetting it
// through /proc/self/clear_refs) and the RSS it ends with; weights are memory-mapped, so their pages count
// in RSS as the kernel keeps them. -tiny shrinks every width (a smoke test of the script).
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/invokego/invokego/internal/engine/flux"
	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/engine/quant"
	"github.com/invokego/invokego/internal/engine/safetensors"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/engine/t5"
	"github.com/invokego/invokego/internal/engine/tensor"
)

// dims are the model widths.
type dims struct {
	hidden, mlp, double, single               int // FLUX transformer (heads of 128)
	t5Model, t5FF, t5Heads, t5Layers          int
	clipHidden, clipFF, clipHeads, clipLayers int
	vaeCh                                     int
}

var full = dims{3072, 12288, 19, 38, 4096, 10240, 64, 24, 768, 3072, 12, 12, 128}
var tiny = dims{256, 1024, 1, 1, 256, 512, 4, 2, 64, 128, 2, 2, 32}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "fluxmem:", err)
		os.Exit(1)
	}
}

// ggufTensor is one tensor of a GGUF file, its bytes made on demand.
type ggufTensor struct {
	name  string
	shape []int // PyTorch order
	typ   quant.Type
	rng   *rand.Rand
	fill  string // "weight", "ones", "small"
}

func (t ggufTensor) size() int64 {
	rows := 1
	for _, d := range t.shape[:len(t.shape)-1] {
		rows *= d
	}
	rb, err := quant.RowBytes(t.typ, t.shape[len(t.shape)-1])
	check(err)
	return int64(rb) * int64(rows)
}

// write streams the tensor's bytes: Q8_0 blocks with scale ≈ 1e-3 and random int8, bfloat16 of magnitude
// 2⁻⁷…2⁻⁶, float32 vectors near 1 (norm scales) or near 0 (biases).
func (t ggufTensor) write(w *bufio.Writer) {
	n := t.size()
	buf := make([]byte, 1<<20-(1<<20)%34)
	for left := n; left > 0; {
		b := buf[:min(int64(len(buf)), left)]
		for i := 0; i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], t.rng.Uint64())
		}
		switch t.typ {
		case quant.Q8_0:
			for i := 0; i+2 <= len(b); i += 34 {
				binary.LittleEndian.PutUint16(b[i:], 0x1400)
			}
		case quant.BF16:
			for i := 0; i+2 <= len(b); i += 2 {
				binary.LittleEndian.PutUint16(b[i:], 0x3c00|binary.LittleEndian.Uint16(b[i:])&0x807f)
			}
		case quant.F32:
			base, spread := float32(0), float32(0.02)
			if t.fill == "ones" {
				base, spread = 1, 0.2
			}
			for i := 0; i+4 <= len(b); i += 4 {
				binary.LittleEndian.PutUint32(b[i:], math.Float32bits(base+spread*(t.rng.Float32()-0.5)))
			}
		}
		_, err := w.Write(b)
		check(err)
		left -= int64(len(b))
	}
}

// writeGGUF writes a GGUF v3 file (dims innermost first, data 32-byte aligned).
func writeGGUF(path string, meta map[string]string, tensors []ggufTensor) {
	f, err := os.Create(path)
	check(err)
	w := bufio.NewWriterSize(f, 4<<20)
	le := binary.LittleEndian
	put := func(v any) { check(binary.Write(w, le, v)) }
	str := func(s string) {
		put(uint64(len(s)))
		_, err := w.WriteString(s)
		check(err)
	}
	put(uint32(0x46554747))
	put(uint32(3))
	put(uint64(len(tensors)))
	put(uint64(len(meta)))
	for k, v := range meta {
		str(k)
		put(uint32(8)) // string
		str(v)
	}
	var off int64
	hdr := int64(4 + 4 + 8 + 8)
	for k, v := range meta {
		hdr += 8 + int64(len(k)) + 4 + 8 + int64(len(v))
	}
	for _, t := range tensors {
		str(t.name)
		put(uint32(len(t.shape)))
		for i := len(t.shape) - 1; i >= 0; i-- {
			put(uint64(t.shape[i]))
		}
		put(uint32(t.typ))
		put(uint64(off))
		off += (t.size() + 31) / 32 * 32
		hdr += 8 + int64(len(t.name)) + 4 + 8*int64(len(t.shape)) + 4 + 8
	}
	for ; hdr%32 != 0; hdr++ {
		check(w.WriteByte(0))
	}
	for _, t := range tensors {
		t.write(w)
		for pad := (32 - t.size()%32) % 32; pad > 0; pad-- {
			check(w.WriteByte(0))
		}
	}
	check(w.Flush())
	check(f.Close())
}

func writeTransformer(path string, d dims, rng *rand.Rand) {
	var ts []ggufTensor
	lin := func(name string, typ quant.Type, out, in int) {
		ts = append(ts, ggufTensor{name: name + ".weight", shape: []int{out, in}, typ: typ, rng: rng},
			ggufTensor{name: name + ".bias", shape: []int{out}, typ: quant.F32, rng: rng, fill: "small"})
	}
	norm := func(name string) {
		ts = append(ts, ggufTensor{name: name, shape: []int{128}, typ: quant.F32, rng: rng, fill: "ones"})
	}
	h := d.hidden
	lin("img_in", quant.BF16, h, 64)
	lin("txt_in", quant.BF16, h, d.t5Model)
	lin("time_in.in_layer", quant.BF16, h, 256)
	lin("time_in.out_layer", quant.BF16, h, h)
	lin("vector_in.in_layer", quant.BF16, h, d.clipHidden)
	lin("vector_in.out_layer", quant.BF16, h, h)
	for i := range d.double {
		for _, s := range []string{"img", "txt"} {
			p := "double_blocks." + strconv.Itoa(i) + "." + s
			lin(p+"_mod.lin", quant.Q8_0, 6*h, h)
			lin(p+"_attn.qkv", quant.Q8_0, 3*h, h)
			lin(p+"_attn.proj", quant.Q8_0, h, h)
			lin(p+"_mlp.0", quant.Q8_0, d.mlp, h)
			lin(p+"_mlp.2", quant.Q8_0, h, d.mlp)
			norm(p + "_attn.norm.query_norm.scale")
			norm(p + "_attn.norm.key_norm.scale")
		}
	}
	for i := range d.single {
		p := "single_blocks." + strconv.Itoa(i) + "."
		lin(p+"modulation.lin", quant.Q8_0, 3*h, h)
		lin(p+"linear1", quant.Q8_0, 3*h+d.mlp, h)
		lin(p+"linear2", quant.Q8_0, h, h+d.mlp)
		norm(p + "norm.query_norm.scale")
		norm(p + "norm.key_norm.scale")
	}
	lin("final_layer.adaLN_modulation.1", quant.BF16, 2*h, h)
	lin("final_layer.linear", quant.BF16, 64, h)
	writeGGUF(path, map[string]string{"general.architecture": "flux"}, ts)
}

func writeT5(path string, d dims, rng *rand.Rand) {
	m, ff := d.t5Model, d.t5FF
	inner := d.t5Heads * 64
	ts := []ggufTensor{{name: "token_embd.weight", shape: []int{32128, m}, typ: quant.Q8_0, rng: rng}}
	for i := range d.t5Layers {
		p := "enc.blk." + strconv.Itoa(i) + "."
		for _, n := range []string{"attn_q", "attn_k", "attn_v"} {
			ts = append(ts, ggufTensor{name: p + n + ".weight", shape: []int{inner, m}, typ: quant.Q8_0, rng: rng})
		}
		ts = append(ts, ggufTensor{name: p + "attn_o.weight", shape: []int{m, inner}, typ: quant.Q8_0, rng: rng},
			ggufTensor{name: p + "ffn_gate.weight", shape: []int{ff, m}, typ: quant.Q8_0, rng: rng},
			ggufTensor{name: p + "ffn_up.weight", shape: []int{ff, m}, typ: quant.Q8_0, rng: rng},
			ggufTensor{name: p + "ffn_down.weight", shape: []int{m, ff}, typ: quant.Q8_0, rng: rng},
			ggufTensor{name: p + "attn_norm.weight", shape: []int{m}, typ: quant.F32, rng: rng, fill: "ones"},
			ggufTensor{name: p + "ffn_norm.weight", shape: []int{m}, typ: quant.F32, rng: rng, fill: "ones"})
		if i == 0 {
			ts = append(ts, ggufTensor{name: p + "attn_rel_b.weight", shape: []int{32, d.t5Heads}, typ: quant.F32, rng: rng, fill: "small"})
		}
	}
	ts = append(ts, ggufTensor{name: "enc.output_norm.weight", shape: []int{m}, typ: quant.F32, rng: rng, fill: "ones"})
	writeGGUF(path, map[string]string{"general.architecture": "t5encoder"}, ts)
}

// randT returns a float32 tensor of small random values (or values near 1 for norm weights).
func randT(rng *rand.Rand, base, spread float32, shape ...int) safetensors.WriteTensor {
	n := 1
	for _, s := range shape {
		n *= s
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = base + spread*(rng.Float32()-0.5)
	}
	return safetensors.F32Tensor(shape, v)
}

func writeSafetensors(path string, ts map[string]safetensors.WriteTensor) {
	f, err := os.Create(path)
	check(err)
	check(safetensors.Write(f, ts, nil))
	check(f.Close())
}

func writeCLIP(dir string, d dims, rng *rand.Rand) {
	check(os.MkdirAll(dir, 0o755))
	cfg := map[string]any{"architectures": []string{"CLIPTextModel"}, "hidden_act": "quick_gelu", "hidden_size": d.clipHidden,
		"intermediate_size": d.clipFF, "layer_norm_eps": 1e-5, "max_position_embeddings": 77, "model_type": "clip_text_model",
		"num_attention_heads": d.clipHeads, "num_hidden_layers": d.clipLayers, "bos_token_id": 49406, "eos_token_id": 49407,
		"pad_token_id": 1, "projection_dim": d.clipHidden, "vocab_size": 49408}
	b, err := json.Marshal(cfg)
	check(err)
	check(os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644))
	h := d.clipHidden
	ts := map[string]safetensors.WriteTensor{
		"text_model.embeddings.token_embedding.weight":    randT(rng, 0, 0.04, 49408, h),
		"text_model.embeddings.position_embedding.weight": randT(rng, 0, 0.04, 77, h),
		"text_model.final_layer_norm.weight":              randT(rng, 1, 0.2, h),
		"text_model.final_layer_norm.bias":                randT(rng, 0, 0.02, h),
	}
	for i := range d.clipLayers {
		p := "text_model.encoder.layers." + strconv.Itoa(i) + "."
		for _, n := range []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj"} {
			ts[p+n+".weight"] = randT(rng, 0, 0.04, h, h)
			ts[p+n+".bias"] = randT(rng, 0, 0.02, h)
		}
		ts[p+"mlp.fc1.weight"], ts[p+"mlp.fc1.bias"] = randT(rng, 0, 0.04, d.clipFF, h), randT(rng, 0, 0.02, d.clipFF)
		ts[p+"mlp.fc2.weight"], ts[p+"mlp.fc2.bias"] = randT(rng, 0, 0.04, h, d.clipFF), randT(rng, 0, 0.02, h)
		for _, n := range []string{"layer_norm1", "layer_norm2"} {
			ts[p+n+".weight"], ts[p+n+".bias"] = randT(rng, 1, 0.2, h), randT(rng, 0, 0.02, h)
		}
	}
	writeSafetensors(filepath.Join(dir, "model.safetensors"), ts)
}

// writeVAE writes FLUX's autoencoder (channel multipliers 1, 2, 4, 4, two resnets per encoder level and
// three per decoder level, one mid attention, 16 latent channels) in BFL's LDM names.
func writeVAE(path string, d dims, rng *rand.Rand) {
	ts := map[string]safetensors.WriteTensor{}
	conv := func(name string, out, in, k int) {
		ts[name+".weight"] = randT(rng, 0, 0.04, out, in, k, k)
		ts[name+".bias"] = randT(rng, 0, 0.02, out)
	}
	norm := func(name string, c int) {
		ts[name+".weight"], ts[name+".bias"] = randT(rng, 1, 0.2, c), randT(rng, 0, 0.02, c)
	}
	block := func(p string, in, out int) {
		norm(p+".norm1", in)
		conv(p+".conv1", out, in, 3)
		norm(p+".norm2", out)
		conv(p+".conv2", out, out, 3)
		if in != out {
			conv(p+".nin_shortcut", out, in, 1)
		}
	}
	mid := func(p string, c int) {
		block(p+".mid.block_1", c, c)
		norm(p+".mid.attn_1.norm", c)
		for _, n := range []string{"q", "k", "v", "proj_out"} {
			conv(p+".mid.attn_1."+n, c, c, 1)
		}
		block(p+".mid.block_2", c, c)
	}
	ch, mult := d.vaeCh, []int{1, 2, 4, 4}
	conv("encoder.conv_in", ch, 3, 3)
	in := ch
	for i, m := range mult {
		out := ch * m
		for j := range 2 {
			block(fmt.Sprintf("encoder.down.%d.block.%d", i, j), in, out)
			in = out
		}
		if i != len(mult)-1 {
			conv(fmt.Sprintf("encoder.down.%d.downsample.conv", i), out, out, 3)
		}
	}
	top := ch * mult[len(mult)-1]
	mid("encoder", top)
	norm("encoder.norm_out", top)
	conv("encoder.conv_out", 2*flux.LatentChannels, top, 3)
	conv("decoder.conv_in", top, flux.LatentChannels, 3)
	mid("decoder", top)
	in = top
	for i := len(mult) - 1; i >= 0; i-- {
		out := ch * mult[i]
		for j := range 3 {
			block(fmt.Sprintf("decoder.up.%d.block.%d", i, j), in, out)
			in = out
		}
		if i != 0 {
			conv(fmt.Sprintf("decoder.up.%d.upsample.conv", i), out, out, 3)
		}
	}
	norm("decoder.norm_out", ch)
	conv("decoder.conv_out", 3, ch, 3)
	writeSafetensors(path, ts)
}

// procKB reads a field of /proc/self/status in KiB.
func procKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return -1
}

// pipelinePeak is the largest phase peak: the run's peak RSS.
var pipelinePeak int64

// phase runs fn as one measured phase and prints its JSON line.
func phase(name string, extra map[string]any, fn func()) {
	// Writing 5 to clear_refs resets VmHWM to the current RSS, so each phase's peak is its own.
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	start := time.Now()
	fn()
	rec := map[string]any{"phase": name, "seconds": math.Round(time.Since(start).Seconds()*10) / 10,
		"peak_rss_mib": procKB("VmHWM") / 1024, "rss_after_mib": procKB("VmRSS") / 1024,
		"rss_file_mib": procKB("RssFile") / 1024, "rss_anon_mib": procKB("RssAnon") / 1024}
	pipelinePeak = max(pipelinePeak, rec["peak_rss_mib"].(int64))
	for k, v := range extra {
		rec[k] = v
	}
	b, _ := json.Marshal(rec)
	fmt.Println(string(b))
}

func release() {
	runtime.GC()
	debug.FreeOSMemory()
}

func run(dir string, size, steps int) {
	ctx := context.Background()
	var t5Embeds, pooled *tensor.Tensor
	phase("t5_encode_512", nil, func() {
		enc, err := t5.LoadGGUF(filepath.Join(dir, "t5xxl-Q8_0.gguf"), quant.Options{})
		check(err)
		ids := make([]int, 512)
		rng := rand.New(rand.NewPCG(7, 7))
		for i := range ids {
			ids[i] = 2 + rng.IntN(31998)
		}
		ids[len(ids)-1] = 1
		out, err := enc.ForwardWith(ctx, ids, false, nil)
		check(err)
		t5Embeds = out.LastHiddenState
		check(enc.Close())
	})
	release()
	phase("clip_encode_77", nil, func() {
		clip, err := sd.LoadCLIPTextFolderWithOptions(filepath.Join(dir, "clip-l"), sd.Options{})
		check(err)
		ids := make([]int, 77)
		ids[0] = 49406
		for i := 1; i < 77; i++ {
			ids[i] = 49407
		}
		out, err := clip.Forward(ctx, [][]int{ids})
		check(err)
		pooled = out.Pooled
	})
	release()
	var lat *tensor.Tensor
	var tr *flux.Transformer
	phase("transformer_load", nil, func() {
		var err error
		tr, err = flux.LoadTransformerGGUF(filepath.Join(dir, "flux1-schnell-Q8_0.gguf"), flux.LoadOptions{})
		check(err)
	})
	noiseT, err := flux.Noise(0, size, size, noise.Float16)
	check(err)
	lh, lw := noiseT.Shape[2], noiseT.Shape[3]
	schedule, err := flux.InvokeAISchedule(steps, lh/2*lw/2, false)
	check(err)
	stepStart := time.Now()
	phase("transformer_denoise", map[string]any{"size": size, "steps": steps}, func() {
		lat, err = flux.Denoise(ctx, flux.DenoiseParams{Transformer: tr, Positive: flux.Conditioning{T5: t5Embeds, Pooled: pooled},
			Schedule: schedule, Noise: noiseT, OnStep: func(s flux.StepInfo) error {
				b, _ := json.Marshal(map[string]any{"event": "step", "step": s.Step, "of": s.TotalSteps,
					"seconds": math.Round(time.Since(stepStart).Seconds()*10) / 10, "rss_mib": procKB("VmRSS") / 1024,
					"peak_rss_mib": procKB("VmHWM") / 1024})
				fmt.Println(string(b))
				return nil
			}})
		check(err)
	})
	tr = nil
	release()
	phase("vae_decode", map[string]any{"size": size}, func() {
		vae, err := flux.LoadVAEFile(filepath.Join(dir, "ae.safetensors"), sd.Options{})
		check(err)
		img, err := vae.Decode(ctx, lat)
		check(err)
		_, err = flux.ToImage(img)
		check(err)
	})
	b, _ := json.Marshal(map[string]any{"phase": "end_to_end", "peak_rss_mib": pipelinePeak})
	fmt.Println(string(b))
}

func main() {
	write := flag.String("write", "", "write the random-weight models into this folder")
	runDir := flag.String("run", "", "run the pipeline on the models in this folder")
	small := flag.Bool("tiny", false, "tiny widths (a smoke test)")
	size := flag.Int("size", 512, "image side in pixels")
	steps := flag.Int("steps", 1, "denoising steps")
	flag.Parse()
	d := full
	if *small {
		d = tiny
	}
	switch {
	case *write != "":
		check(os.MkdirAll(*write, 0o755))
		rng := rand.New(rand.NewPCG(1, 2))
		for _, w := range []struct {
			name string
			fn   func()
		}{
			{"flux1-schnell-Q8_0.gguf", func() { writeTransformer(filepath.Join(*write, "flux1-schnell-Q8_0.gguf"), d, rng) }},
			{"t5xxl-Q8_0.gguf", func() { writeT5(filepath.Join(*write, "t5xxl-Q8_0.gguf"), d, rng) }},
			{"clip-l", func() { writeCLIP(filepath.Join(*write, "clip-l"), d, rng) }},
			{"ae.safetensors", func() { writeVAE(filepath.Join(*write, "ae.safetensors"), d, rng) }},
		} {
			start := time.Now()
			w.fn()
			fmt.Fprintf(os.Stderr, "fluxmem: wrote %s in %.0f s\n", w.name, time.Since(start).Seconds())
		}
	case *runDir != "":
		run(*runDir, *size, *steps)
	default:
		flag.Usage()
		os.Exit(2)
	}
}
