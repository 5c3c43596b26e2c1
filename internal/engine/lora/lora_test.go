package lora

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/safetensors"
)

// build writes a safetensors file from name → (shape, values); a nil value
// slice is filled with a deterministic pattern.
type spec struct {
	shape []int
	data  []float32
}

func build(t testing.TB, tensors map[string]spec) []byte {
	t.Helper()
	w := map[string]safetensors.WriteTensor{}
	for name, s := range tensors {
		n := 1
		for _, d := range s.shape {
			n *= d
		}
		data := s.data
		if data == nil {
			data = make([]float32, n)
			for i := range data {
				data[i] = float32((i*7+len(name))%11-5) / 8
			}
		}
		w[name] = safetensors.F32Tensor(s.shape, data)
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, w, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sd1Modules is a slice of an SD-1 UNet and text encoder, with the names
// whose underscores make kohya stems ambiguous.
var sd1UNet = Modules{
	"down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q":     {8, 8},
	"down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0": {8, 8},
	"down_blocks.0.attentions.0.proj_in":                             {8, 8, 1, 1},
	"down_blocks.0.resnets.0.conv1":                                  {8, 4, 3, 3},
	"down_blocks.0.resnets.0.conv_shortcut":                          {8, 4, 1, 1},
	"down_blocks.0.resnets.0.time_emb_proj":                          {8, 16},
}

var sd1TE = Modules{
	"text_model.encoder.layers.0.self_attn.q_proj":   {8, 8},
	"text_model.encoder.layers.0.self_attn.out_proj": {8, 8},
	"text_model.encoder.layers.0.mlp.fc1":            {12, 8},
}

func TestKohyaStemsResolveAgainstModuleNames(t *testing.T) {
	data := build(t, map[string]spec{
		"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0.lora_down.weight": {shape: []int{2, 8}},
		"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0.lora_up.weight":   {shape: []int{8, 2}},
		"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0.alpha":            {shape: []int{}, data: []float32{1}},
		"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight":                             {shape: []int{2, 8, 1, 1}},
		"lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight":                               {shape: []int{8, 2, 1, 1}},
		"lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight":                                  {shape: []int{2, 4, 3, 3}},
		"lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight":                                    {shape: []int{8, 2, 1, 1}},
		"lora_unet_down_blocks_0_resnets_0_conv_shortcut.lora_down.weight":                          {shape: []int{2, 4, 1, 1}},
		"lora_unet_down_blocks_0_resnets_0_conv_shortcut.lora_up.weight":                            {shape: []int{8, 2, 1, 1}},
		"lora_unet_down_blocks_0_resnets_0_time_emb_proj.lora_down.weight":                          {shape: []int{2, 16}},
		"lora_unet_down_blocks_0_resnets_0_time_emb_proj.lora_up.weight":                            {shape: []int{8, 2}},
		"lora_te_text_model_encoder_layers_0_self_attn_out_proj.lora_down.weight":                   {shape: []int{2, 8}},
		"lora_te_text_model_encoder_layers_0_self_attn_out_proj.lora_up.weight":                     {shape: []int{8, 2}},
	})
	f, err := ParseBytes(data, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if f.Format != FormatKohya {
		t.Errorf("format %q", f.Format)
	}
	if got := f.Components(); len(got) != 2 || got[0] != UNet || got[1] != TextEncoder {
		t.Errorf("components %v", got)
	}
	patches, err := f.Resolve(UNet, sd1UNet)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range patches {
		names = append(names, p.Module)
		if p.Module == "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0" && p.Layer.Scale() != 0.5 {
			t.Errorf("alpha 1 at rank 2: scale %v, want 0.5", p.Layer.Scale())
		}
		if p.Module == "down_blocks.0.resnets.0.conv1" && p.Layer.Scale() != 1 {
			t.Errorf("no alpha: scale %v, want 1", p.Layer.Scale())
		}
	}
	want := "down_blocks.0.attentions.0.proj_in down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0 down_blocks.0.resnets.0.conv1 down_blocks.0.resnets.0.conv_shortcut down_blocks.0.resnets.0.time_emb_proj"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("modules\n got %s\nwant %s", got, want)
	}
	te, err := f.Resolve(TextEncoder, sd1TE)
	if err != nil || len(te) != 1 || te[0].Module != "text_model.encoder.layers.0.self_attn.out_proj" {
		t.Errorf("text encoder: %v %v", te, err)
	}
	if te2, err := f.Resolve(TextEncoder2, sd1TE); err != nil || len(te2) != 0 {
		t.Errorf("no second encoder layers expected: %v %v", te2, err)
	}
}

func TestConvDeltaIsConvThenOneByOne(t *testing.T) {
	// ΔW of a 3x3 conv LoRA is up [out,r,1,1] after down [r,in,3,3]:
	// ΔW[o,i,y,x] = Σ_r up[o,r]·down[r,i,y,x].
	data := build(t, map[string]spec{
		"lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight": {shape: []int{2, 4, 3, 3}},
		"lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight":   {shape: []int{8, 2, 1, 1}},
		"lora_unet_down_blocks_0_resnets_0_conv1.alpha":            {shape: []int{}, data: []float32{3}},
	})
	f, err := ParseBytes(data, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	l := f.Layers[0]
	d, err := l.Delta([]int{8, 4, 3, 3})
	if err != nil {
		t.Fatal(err)
	}
	up, down := l.params["up"].data, l.params["down"].data
	for o := 0; o < 8; o++ {
		for k := 0; k < 36; k++ {
			want := 1.5 * (up[o*2]*down[k] + up[o*2+1]*down[36+k])
			if math.Abs(float64(d[o*36+k]-want)) > 1e-6 {
				t.Fatalf("ΔW[%d,%d] = %v, want %v", o, k, d[o*36+k], want)
			}
		}
	}
}

func TestLoKrKroneckerLayout(t *testing.T) {
	// kron([a,b], [c,d]) puts x[i,j]·y[k,l] at [i·c+k, j·d+l]; with both
	// factors full there is no rank and the stored alpha is ignored.
	x := []float32{1, 2, 3, 4, 5, 6} // [2,3]
	y := []float32{1, 10, 100, 1000} // [2,2]
	data := build(t, map[string]spec{
		"lora_te_text_model_encoder_layers_0_mlp_fc1.lokr_w1": {shape: []int{2, 3}, data: x},
		"lora_te_text_model_encoder_layers_0_mlp_fc1.lokr_w2": {shape: []int{2, 2}, data: y},
		"lora_te_text_model_encoder_layers_0_mlp_fc1.alpha":   {shape: []int{}, data: []float32{8}},
	})
	f, err := ParseBytes(data, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	l := f.Layers[0]
	if l.Kind != KindLoKr || l.Scale() != 1 {
		t.Fatalf("kind %v scale %v", l.Kind, l.Scale())
	}
	if _, err := l.Delta([]int{12, 8}); err == nil {
		t.Error("a 4x6 change accepted for a 12x8 weight")
	}
	d, err := l.Delta([]int{4, 6})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 2; k++ {
				for m := 0; m < 2; m++ {
					if got, want := d[(i*2+k)*6+j*2+m], x[i*3+j]*y[k*2+m]; got != want {
						t.Fatalf("[%d,%d] = %v, want %v", i*2+k, j*2+m, got, want)
					}
				}
			}
		}
	}
}

func TestSGMNamesMapToDiffusers(t *testing.T) {
	// Real SDXL layout: three levels, two layers per block, attention in the
	// two lower levels of the down path and the two upper of the up path.
	mods := Modules{}
	for _, m := range []string{
		"conv_in", "time_embedding.linear_1", "add_embedding.linear_2",
		"down_blocks.0.resnets.0.conv1", "down_blocks.0.resnets.1.conv2", "down_blocks.0.downsamplers.0.conv",
		"down_blocks.1.resnets.0.conv_shortcut", "down_blocks.1.attentions.1.proj_in",
		"down_blocks.2.attentions.0.transformer_blocks.9.attn2.to_k", "down_blocks.2.resnets.1.time_emb_proj",
		"mid_block.resnets.0.conv1", "mid_block.attentions.0.proj_out", "mid_block.resnets.1.conv2",
		"up_blocks.0.resnets.2.conv_shortcut", "up_blocks.0.attentions.2.transformer_blocks.0.ff.net.2",
		"up_blocks.0.upsamplers.0.conv", "up_blocks.1.upsamplers.0.conv", "up_blocks.1.attentions.0.proj_in",
		"up_blocks.2.resnets.0.conv1",
	} {
		mods[m] = []int{4, 4}
	}
	m := newSGMMapper(mods)
	for stem, want := range map[string]string{
		"input_blocks_0_0":                                 "conv_in",
		"time_embed_0":                                     "time_embedding_linear_1",
		"label_emb_0_2":                                    "add_embedding_linear_2",
		"input_blocks_1_0_in_layers_2":                     "down_blocks_0_resnets_0_conv1",
		"input_blocks_2_0_out_layers_3":                    "down_blocks_0_resnets_1_conv2",
		"input_blocks_3_0_op":                              "down_blocks_0_downsamplers_0_conv",
		"input_blocks_4_0_skip_connection":                 "down_blocks_1_resnets_0_conv_shortcut",
		"input_blocks_5_1_proj_in":                         "down_blocks_1_attentions_1_proj_in",
		"input_blocks_7_1_transformer_blocks_9_attn2_to_k": "down_blocks_2_attentions_0_transformer_blocks_9_attn2_to_k",
		"input_blocks_8_0_emb_layers_1":                    "down_blocks_2_resnets_1_time_emb_proj",
		"middle_block_0_in_layers_2":                       "mid_block_resnets_0_conv1",
		"middle_block_1_proj_out":                          "mid_block_attentions_0_proj_out",
		"middle_block_2_out_layers_3":                      "mid_block_resnets_1_conv2",
		"output_blocks_2_0_skip_connection":                "up_blocks_0_resnets_2_conv_shortcut",
		"output_blocks_2_1_transformer_blocks_0_ff_net_2":  "up_blocks_0_attentions_2_transformer_blocks_0_ff_net_2",
		"output_blocks_2_2_conv":                           "up_blocks_0_upsamplers_0_conv",
		"output_blocks_3_1_proj_in":                        "up_blocks_1_attentions_0_proj_in",
		"output_blocks_5_2_conv":                           "up_blocks_1_upsamplers_0_conv",
		"output_blocks_6_0_in_layers_2":                    "up_blocks_2_resnets_0_conv1",
	} {
		got, ok := m.convert(stem)
		if !ok || got != want {
			t.Errorf("%s -> %q (%v), want %q", stem, got, ok, want)
		}
	}
	// An up block without attentions has its upsampler right after the resnet.
	noAttn := newSGMMapper(Modules{"down_blocks.0.resnets.0.conv1": {1, 1}, "down_blocks.0.resnets.1.conv1": {1, 1}})
	if got, ok := noAttn.convert("output_blocks_2_1_conv"); !ok || got != "up_blocks_0_upsamplers_0_conv" {
		t.Errorf("upsampler without attention: %q %v", got, ok)
	}
	for _, bad := range []string{"input_blocks_x_0", "input_blocks_0_1", "middle_block_7", "output_blocks_99999_0_in_layers_2", "input_blocks_1_0_in_layers_0"} {
		if got, ok := m.convert(bad); ok {
			t.Errorf("%s converted to %q", bad, got)
		}
	}
}

func TestPEFTAndDiffusersLayouts(t *testing.T) {
	for _, c := range []struct {
		names  [2]string
		format Format
		comp   Component
		module string
	}{
		{[2]string{"unet.down_blocks.0.resnets.0.conv1.lora_A.weight", "unet.down_blocks.0.resnets.0.conv1.lora_B.weight"}, FormatPEFT, UNet, "down_blocks.0.resnets.0.conv1"},
		{[2]string{"text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight", "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight"}, FormatPEFT, TextEncoder, "text_model.encoder.layers.0.self_attn.q_proj"},
		{[2]string{"text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight", "text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight"}, FormatPEFT, TextEncoder2, "text_model.encoder.layers.0.self_attn.q_proj"},
		{[2]string{"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora.down.weight", "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora.up.weight"}, FormatDiffusers, UNet, "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"},
		{[2]string{"text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_linear_layer.down.weight", "text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_linear_layer.up.weight"}, FormatDiffusers, TextEncoder, "text_model.encoder.layers.0.mlp.fc1"},
		{[2]string{"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_out_lora.down.weight", "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_out_lora.up.weight"}, FormatDiffusersOld, UNet, "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0"},
		{[2]string{"down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.down.weight", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.up.weight"}, FormatDiffusersOld, UNet, "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"},
		{[2]string{"text_encoder.text_model.encoder.layers.0.self_attn.to_out_lora.down.weight", "text_encoder.text_model.encoder.layers.0.self_attn.to_out_lora.up.weight"}, FormatDiffusersOld, TextEncoder, "text_model.encoder.layers.0.self_attn.out_proj"},
		{[2]string{"base_model.model.down_blocks.0.resnets.0.time_emb_proj.lora_A.weight", "base_model.model.down_blocks.0.resnets.0.time_emb_proj.lora_B.weight"}, FormatPEFT, UNet, "down_blocks.0.resnets.0.time_emb_proj"},
	} {
		k0, err0 := classify(c.names[0])
		k1, err1 := classify(c.names[1])
		if err0 != nil || err1 != nil {
			t.Errorf("%s: %v %v", c.names[0], err0, err1)
			continue
		}
		if k0.format != c.format || k0.comp != c.comp || k0.module != c.module || k0.suffix != "down" || k1.suffix != "up" || k1.module != c.module {
			t.Errorf("%s: %+v / %+v", c.names[0], k0, k1)
		}
	}
}

func TestRefusals(t *testing.T) {
	stem := "lora_unet_down_blocks_0_resnets_0_time_emb_proj"
	ok := map[string]spec{
		stem + ".lora_down.weight": {shape: []int{2, 16}},
		stem + ".lora_up.weight":   {shape: []int{8, 2}},
	}
	with := func(extra map[string]spec, drop ...string) map[string]spec {
		m := map[string]spec{}
		for k, v := range ok {
			m[k] = v
		}
		for _, d := range drop {
			delete(m, d)
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for name, c := range map[string]struct {
		tensors map[string]spec
		lim     Limits
		want    string
	}{
		"up only":          {with(nil, stem+".lora_down.weight"), DefaultLimits, "both the up and the down"},
		"rank mismatch":    {with(map[string]spec{stem + ".lora_up.weight": {shape: []int{8, 3}}}), DefaultLimits, "does not match"},
		"dora":             {with(map[string]spec{stem + ".dora_scale": {shape: []int{1, 16}}}), DefaultLimits, "DoRA"},
		"tucker locon":     {with(map[string]spec{stem + ".lora_mid.weight": {shape: []int{2, 2, 3, 3}}}), DefaultLimits, "Tucker"},
		"unknown":          {with(map[string]spec{"model.diffusion_model.x.weight": {shape: []int{2}}}), DefaultLimits, "unrecognised"},
		"vector alpha":     {with(map[string]spec{stem + ".alpha": {shape: []int{2}}}), DefaultLimits, "scalar"},
		"rank limit":       {ok, Limits{MaxTensors: 10, MaxLayers: 10, MaxRank: 1, MaxElements: 1000}, "rank 2"},
		"tensor limit":     {ok, Limits{MaxTensors: 1, MaxLayers: 10, MaxRank: 8, MaxElements: 1000}, "tensors"},
		"element limit":    {ok, Limits{MaxTensors: 10, MaxLayers: 10, MaxRank: 8, MaxElements: 40}, "values"},
		"loha incomplete":  {map[string]spec{stem + ".hada_w1_a": {shape: []int{8, 2}}, stem + ".hada_w1_b": {shape: []int{2, 16}}}, DefaultLimits, "LoHa needs"},
		"lokr both halves": {map[string]spec{stem + ".lokr_w1": {shape: []int{2, 2}}, stem + ".lokr_w1_a": {shape: []int{2, 1}}, stem + ".lokr_w1_b": {shape: []int{1, 2}}, stem + ".lokr_w2": {shape: []int{4, 8}}}, DefaultLimits, "LoKr needs"},
		"alpha alone":      {map[string]spec{stem + ".alpha": {shape: []int{}}}, DefaultLimits, "only an alpha"},
	} {
		_, err := ParseBytes(build(t, c.tensors), c.lim)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.want)
		}
	}
	// Integer tensors are not weights.
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, map[string]safetensors.WriteTensor{
		stem + ".lora_down.weight": {DType: safetensors.I32, Shape: []int{2, 16}, Data: make([]byte, 128)},
		stem + ".lora_up.weight":   safetensors.F32Tensor([]int{8, 2}, make([]float32, 16)),
	}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseBytes(buf.Bytes(), DefaultLimits); err == nil || !strings.Contains(err.Error(), "dtype") {
		t.Errorf("int tensor: %v", err)
	}
}

func TestResolveRefusesOtherModels(t *testing.T) {
	f, err := ParseBytes(build(t, map[string]spec{
		"lora_unet_down_blocks_0_resnets_0_time_emb_proj.lora_down.weight": {shape: []int{2, 16}},
		"lora_unet_down_blocks_0_resnets_0_time_emb_proj.lora_up.weight":   {shape: []int{8, 2}},
	}), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	wider := Modules{"down_blocks.0.resnets.0.time_emb_proj": {8, 32}}
	if _, err := f.Resolve(UNet, wider); err == nil || !strings.Contains(err.Error(), "another model") {
		t.Errorf("shape mismatch: %v", err)
	}
	if _, err := f.Resolve(UNet, Modules{"conv_in": {8, 4, 3, 3}}); err == nil || !strings.Contains(err.Error(), "not in this model") {
		t.Errorf("missing module: %v", err)
	}
}

// fuzzModules is the network FuzzParse resolves against: small, with every
// layer kind (linear, 1x1 and 3x3 conv).
var fuzzModules = Modules{
	"down_blocks.0.resnets.0.conv1":         {8, 4, 3, 3},
	"down_blocks.0.resnets.0.time_emb_proj": {8, 16},
	"down_blocks.0.attentions.0.proj_in":    {8, 8, 1, 1},
	"up_blocks.0.upsamplers.0.conv":         {4, 4, 3, 3},
}

func FuzzParse(f *testing.F) {
	stem := "lora_unet_down_blocks_0_resnets_0_conv1"
	seeds := []map[string]spec{
		{stem + ".lora_down.weight": {shape: []int{2, 4, 3, 3}}, stem + ".lora_up.weight": {shape: []int{8, 2, 1, 1}}, stem + ".alpha": {shape: []int{}}},
		{stem + ".hada_w1_a": {shape: []int{8, 2}}, stem + ".hada_w1_b": {shape: []int{2, 36}}, stem + ".hada_w2_a": {shape: []int{8, 2}}, stem + ".hada_w2_b": {shape: []int{2, 36}}},
		{stem + ".lokr_w1": {shape: []int{2, 2}}, stem + ".lokr_w2_a": {shape: []int{4, 1}}, stem + ".lokr_w2_b": {shape: []int{1, 18}}},
		// A Kronecker product far larger than any layer, from a few bytes.
		{stem + ".lokr_w1": {shape: []int{1, 1}}, stem + ".lokr_w2_a": {shape: []int{4096, 1}}, stem + ".lokr_w2_b": {shape: []int{1, 4096}}},
		// SGM names, an upsampler and a rank far above the layer's size.
		{"lora_unet_output_blocks_2_1_conv.lora_down.weight": {shape: []int{64, 4, 3, 3}}, "lora_unet_output_blocks_2_1_conv.lora_up.weight": {shape: []int{4, 64, 1, 1}}},
		{"unet.down_blocks.0.attentions.0.proj_in.lora_A.weight": {shape: []int{1, 8, 1, 1}}, "unet.down_blocks.0.attentions.0.proj_in.lora_B.weight": {shape: []int{8, 1}}},
	}
	for _, s := range seeds {
		f.Add(build(f, s))
	}
	// A header that claims huge shapes with no data behind them.
	f.Add([]byte("\x50\x00\x00\x00\x00\x00\x00\x00{\"a.lora_down.weight\":{\"dtype\":\"F32\",\"shape\":[1000000,1000000],\"data_offsets\":[0,4]}}   "))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxTensors: 64, MaxLayers: 16, MaxRank: 64, MaxElements: 1 << 16}
		file, err := ParseBytes(data, lim)
		if err != nil {
			return
		}
		for _, comp := range []Component{UNet, TextEncoder, TextEncoder2} {
			patches, err := file.Resolve(comp, fuzzModules)
			if err != nil {
				continue
			}
			for _, p := range patches {
				d, err := p.Layer.Delta(p.Shape)
				if err != nil {
					t.Fatalf("resolved layer %s: %v", p.Module, err)
				}
				n := 1
				for _, s := range p.Shape {
					n *= s
				}
				if len(d) != n {
					t.Fatalf("delta of %d values for shape %v", len(d), p.Shape)
				}
			}
		}
	})
}
