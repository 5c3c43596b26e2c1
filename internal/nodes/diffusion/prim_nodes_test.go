package diffusion

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/store"
)

// Expected sizes from InvokeAI's formula evaluated in Python (math.floor, math.sqrt, x - x % 8).
func TestIdealSizeAsInvokeAI(t *testing.T) {
	cases := []struct {
		base         string
		w, h         float64
		mult         float64
		wantW, wantH int64
	}{
		{models.BaseSD1, 1024, 576, 1, 680, 384},
		{models.BaseSDXL, 1024, 576, 1, 1360, 768},
		{models.BaseSD2, 512, 2048, 1, 384, 1536},
		{models.BaseSD1, 4000, 100, 1.5, 15360, 384},
		{models.BaseSDXL, 1000, 1000, 0.75, 768, 768},
	}
	for _, c := range cases {
		w, h, err := idealSize(c.base, c.w, c.h, c.mult)
		if err != nil || w != c.wantW || h != c.wantH {
			t.Errorf("%s %vx%v ×%v = %dx%d, %v; want %dx%d", c.base, c.w, c.h, c.mult, w, h, err, c.wantW, c.wantH)
		}
	}
	if _, _, err := idealSize("sd-3.5", 1, 1, 1); err == nil {
		t.Error("an unsupported base was accepted")
	}
	// Through the node, with the model's base read from its record.
	h := newHarness(t)
	unet := UNetField{UNet: h.model.WithSubmodel(SubUNet)}
	out := h.run("ideal_size", map[string]any{"unet": unet, "width": 1024, "height": 576})
	if string(out["width"]) != "680" || string(out["height"]) != "384" {
		t.Errorf("ideal_size = %s×%s", out["width"], out["height"])
	}
	if _, err := h.try("ideal_size", map[string]any{"unet": unet, "height": 0}); err == nil {
		t.Error("height 0 was accepted")
	}
}

func TestDiffusionPrimitives(t *testing.T) {
	h := newHarness(t)
	name := h.store.SaveTensor("latents", tensor.New(1, 4, 6, 10))
	out := h.run("latents", map[string]any{"latents": map[string]any{"latents_name": name, "seed": 5}})
	if string(out["width"]) != "80" || string(out["height"]) != "48" {
		t.Errorf("latents size %s×%s", out["width"], out["height"])
	}
	if _, err := h.try("latents", map[string]any{"latents": map[string]any{"latents_name": "missing"}}); err == nil {
		t.Error("missing latents were accepted")
	}
	cond := map[string]any{"conditioning_name": "c1", "mask": nil}
	out = h.run("conditioning", map[string]any{"conditioning": cond})
	var c ConditioningField
	_ = json.Unmarshal(out["conditioning"], &c)
	if c.ConditioningName != "c1" {
		t.Errorf("conditioning = %s", out["conditioning"])
	}
	out = h.run("conditioning_collection", map[string]any{})
	if string(out["collection"]) != "[]" {
		t.Errorf("empty conditioning collection = %s", out["collection"])
	}
	out = h.run("latents_collection", map[string]any{"collection": []any{map[string]any{"latents_name": "a"}, map[string]any{"latents_name": "b"}}})
	var lc []LatentsField
	_ = json.Unmarshal(out["collection"], &lc)
	if len(lc) != 2 || lc[1].LatentsName != "b" {
		t.Errorf("latents collection = %s", out["collection"])
	}
	if got := string(h.run("scheduler", map[string]any{"scheduler": "dpmpp_2m_k"})["scheduler"]); got != `"dpmpp_2m_k"` {
		t.Errorf("scheduler = %s", got)
	}
	if got := string(h.run("scheduler", map[string]any{})["scheduler"]); got != `"euler"` {
		t.Errorf("default scheduler = %s", got)
	}
	out = h.run("model_identifier", map[string]any{"model": h.model})
	if got := string(out["model"]); got == "" || !json.Valid(out["model"]) {
		t.Errorf("model_identifier = %s", got)
	}
	if _, err := h.try("model_identifier", map[string]any{"model": map[string]any{"key": "nope", "hash": "", "name": "", "base": "sd-1", "type": "main"}}); err == nil {
		t.Error("an unknown model was accepted")
	}
}

// listingModels adds a name search to the fake records, as the model manager offers it.
type listingModels struct {
	*fakeModels
	vae *models.Config
}

func (l listingModels) Get(ctx context.Context, key string) (*models.Config, error) {
	if key == l.vae.Key {
		return l.vae, nil
	}
	return l.fakeModels.Get(ctx, key)
}

func (l listingModels) List(_ context.Context, f store.ModelFilter) ([]*models.Config, error) {
	var out []*models.Config
	for _, c := range []*models.Config{l.cfg, l.vae} {
		if c.Name == f.Name && c.Type == f.Type {
			out = append(out, c)
		}
	}
	return out, nil
}

func TestMetadataToModels(t *testing.T) {
	h := newHarness(t)
	vae := &models.Config{Key: "v1", Name: "tiny-vae", Base: models.BaseSD1, Type: models.TypeVAE, Hash: "hv"}
	reg := nodes.NewRegistry()
	Register(reg, Deps{Records: listingModels{h.models, vae}, Cache: cacheAdapter{h.models}, Store: h.store})
	h.reg = reg
	def := map[string]any{"key": "k1", "hash": "", "name": "tiny", "base": "sd-1", "type": "main"}
	check := func(out map[string]json.RawMessage, key string) {
		t.Helper()
		var m ModelIdentifierField
		_ = json.Unmarshal(out["model"], &m)
		if m.Key != key {
			t.Errorf("model %s, want %s", out["model"], key)
		}
	}
	// By key, by name, by model_name, and the default when neither names an installed model.
	for _, md := range []map[string]any{
		{"model": map[string]any{"key": "k1"}},
		{"model": map[string]any{"key": "gone", "name": "tiny"}},
		{"model": map[string]any{"model_name": "tiny"}},
		{"model": map[string]any{"key": "gone", "name": "other"}},
		{},
	} {
		out := h.run("metadata_to_model", map[string]any{"metadata": md, "default_value": def})
		check(out, "k1")
		if got := string(out["name"]); got != `"sd-1: tiny"` {
			t.Errorf("name = %s", got)
		}
		var unet UNetField
		_ = json.Unmarshal(out["unet"], &unet)
		if unet.UNet.SubmodelType == nil || *unet.UNet.SubmodelType != SubUNet || unet.Scheduler.Key != "k1" {
			t.Errorf("unet = %s", out["unet"])
		}
	}
	out := h.run("metadata_to_sdxl_model", map[string]any{"metadata": map[string]any{}, "default_value": def})
	var clip2 CLIPField
	_ = json.Unmarshal(out["clip2"], &clip2)
	if clip2.TextEncoder.SubmodelType == nil || *clip2.TextEncoder.SubmodelType != SubTextEncoder2 {
		t.Errorf("clip2 = %s", out["clip2"])
	}
	if _, err := h.try("metadata_to_model", map[string]any{"default_value": map[string]any{"key": "gone", "hash": "", "name": "", "base": "sd-1", "type": "main"}}); err == nil {
		t.Error("an unknown default model was accepted")
	}
	out = h.run("metadata_to_vae", map[string]any{"metadata": map[string]any{"vae": map[string]any{"name": "tiny-vae"}},
		"default_value": map[string]any{"vae": def, "seamless_axes": []string{}}})
	var v VAEField
	_ = json.Unmarshal(out["vae"], &v)
	if v.VAE.Key != "v1" || v.VAE.SubmodelType == nil || *v.VAE.SubmodelType != SubVAE {
		t.Errorf("vae = %s", out["vae"])
	}
	out = h.run("metadata_to_scheduler", map[string]any{"metadata": map[string]any{"scheduler": "lms_k"}})
	if got := string(out["scheduler"]); got != `"lms_k"` {
		t.Errorf("scheduler = %s", got)
	}
	out = h.run("metadata_to_scheduler", map[string]any{"metadata": map[string]any{}, "default_value": "ddim"})
	if got := string(out["scheduler"]); got != `"ddim"` {
		t.Errorf("default scheduler = %s", got)
	}
	for _, bad := range []map[string]any{
		{"metadata": map[string]any{"scheduler": "warp"}},
		{"label": "* CUSTOM LABEL *"},
	} {
		if _, err := h.try("metadata_to_scheduler", bad); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}
