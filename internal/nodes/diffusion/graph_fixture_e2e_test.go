package diffusion_test

import (
	"bytes"
	"encoding/json"
	"image/png"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
)

// TestE2EGraphFixtureLoRAsTIControlNetIPAdapter enqueues testdata/sd-ext/graphs/txt2img_loras_ti_canny_ipadapter.json,
// a batch in InvokeAI's enqueue_batch format as its UI builds it for SD-1.5: two LoRAs through lora_selector →
// collect → lora_collection_loader, an embedding named in the negative prompt ("blurry, <tiny-ti>"), a canny
// ControlNet on a control image drawn in the graph (rectangle_mask → tensor_mask_to_image → canny_edge_detection)
// and an IP-Adapter on that image, core_metadata with the LoRAs. The models are installed with the model manager
// from testdata/sd-ext. Model keys are per installation in InvokeAI too, so each model identifier's key is
// replaced by the installed model with the identifier's content hash; nothing else of the file changes.
//
// The graph has no independent golden (diffusers has no pipeline for all four at once); the test pins that the
// run is deterministic and that each part acts: LoRA weights 0, ControlNet weight 0, IP-Adapter weight 0, and
// the embedding uninstalled (its trigger then stays plain text, as in InvokeAI) each change the image.
func TestE2EGraphFixtureLoRAsTIControlNetIPAdapter(t *testing.T) {
	env := apitest.New(t)
	installed := map[string]map[string]any{}
	for _, m := range []map[string]any{
		installTinyModel(t, env),
		installSource(t, env, sdExtPath(t, "lora", "models", "sd15-locon-kohya.safetensors"), map[string]any{}),
		installSource(t, env, sdExtPath(t, "lora", "models", "sd15-lora-peft.safetensors"), map[string]any{}),
		installSource(t, env, sdExtPath(t, "controlnet", "models", "sd15-controlnet"), map[string]any{}),
		installSource(t, env, sdExtPath(t, "ip_adapter", "models", "ip-adapter_sd15-tiny.safetensors"), map[string]any{}),
	} {
		installed[m["hash"].(string)] = m
	}
	installSource(t, env, sdExtPath(t, "ip_adapter", "models", "image_encoder"), map[string]any{"name": "ip_adapter_sd_image_encoder"})
	ti := installSource(t, env, sdExtPath(t, "textual_inversion", "models", "tiny-ti.safetensors"), map[string]any{})
	if ti["type"] != "embedding" || ti["base"] != "sd-1" || ti["name"] != "tiny-ti" {
		t.Fatalf("embedding installed as %v", ti)
	}

	raw, err := os.ReadFile(sdExtPath(t, "graphs", "txt2img_loras_ti_canny_ipadapter.json"))
	if err != nil {
		t.Fatal(err)
	}
	load := func() map[string]any {
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatal(err)
		}
		rekey(t, body, installed)
		return body
	}
	run := func(body map[string]any) []byte {
		t.Helper()
		var res struct {
			ItemIDs []int `json:"item_ids"`
		}
		env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.JSON(body)).Expect(http.StatusOK).Decode(&res)
		if len(res.ItemIDs) != 1 {
			t.Fatalf("enqueued %d items", len(res.ItemIDs))
		}
		it := waitItem(t, env, res.ItemIDs[0], 2*time.Minute)
		if it.Status != "completed" {
			t.Fatalf("%s %s: %s", it.Status, it.ErrorType, it.ErrorMessage)
		}
		// The graph saves three images (the control image, its edges and the result): take canvas_output's.
		var item struct {
			Session struct {
				Results map[string]map[string]any `json:"results"`
				Mapping map[string][]string       `json:"source_prepared_mapping"`
			} `json:"session"`
		}
		env.Do("GET", "/api/v1/queue/default/i/"+strconv.Itoa(res.ItemIDs[0])).Expect(http.StatusOK).Decode(&item)
		prepared := item.Session.Mapping["canvas_output"]
		if len(prepared) != 1 {
			t.Fatalf("canvas_output prepared as %v", prepared)
		}
		name, _ := item.Session.Results[prepared[0]]["image"].(map[string]any)["image_name"].(string)
		img, err := png.Decode(bytes.NewReader(env.Do("GET", "/api/v1/images/i/"+name+"/full").Expect(http.StatusOK).Body))
		if err != nil {
			t.Fatal(err)
		}
		var pix []byte
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				pix = append(pix, byte(r>>8), byte(g>>8), byte(bl>>8))
			}
		}
		if b.Dx() != 64 || b.Dy() != 64 {
			t.Fatalf("image %v", b)
		}
		return pix
	}
	differs := func(a, b []byte) int {
		n := 0
		for i := range a {
			if a[i] != b[i] {
				n++
			}
		}
		return n
	}
	nodesOf := func(body map[string]any) map[string]any {
		return body["batch"].(map[string]any)["graph"].(map[string]any)["nodes"].(map[string]any)
	}

	base := run(load())
	if again := run(load()); differs(base, again) != 0 {
		t.Errorf("the same graph gave a different image (%d values)", differs(base, again))
	}
	for _, c := range []struct {
		name string
		edit func(nodes map[string]any)
	}{
		{"LoRA weights 0", func(n map[string]any) {
			n["lora_selector:1"].(map[string]any)["weight"] = 0
			n["lora_selector:2"].(map[string]any)["weight"] = 0
		}},
		{"ControlNet weight 0", func(n map[string]any) { n["controlnet"].(map[string]any)["control_weight"] = 0 }},
		{"IP-Adapter weight 0", func(n map[string]any) { n["ip_adapter"].(map[string]any)["weight"] = 0 }},
	} {
		body := load()
		c.edit(nodesOf(body))
		d := differs(base, run(body))
		t.Logf("%s: %d of %d values change", c.name, d, len(base))
		if d == 0 {
			t.Errorf("%s: the image did not change", c.name)
		}
	}
	if res := env.Do("DELETE", "/api/v2/models/i/"+ti["key"].(string)); res.Status >= 300 {
		t.Fatalf("deleting the embedding: %d %s", res.Status, res.Body)
	}
	// The prompt node's cached output (same inputs) would be reused: run it afresh.
	body := load()
	nodesOf(body)["negative_prompt"].(map[string]any)["use_cache"] = false
	d := differs(base, run(body))
	t.Logf("embedding uninstalled: %d of %d values change", d, len(base))
	if d == 0 {
		t.Error("uninstalling the embedding did not change the image")
	}
}

// rekey replaces the key of every model identifier (an object with key, hash, name, base and type) by the
// key of the installed model with that hash.
func rekey(t *testing.T, v any, installed map[string]map[string]any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		_, hasKey := x["key"]
		hash, hasHash := x["hash"].(string)
		_, hasType := x["type"]
		if hasKey && hasHash && hasType {
			m, ok := installed[hash]
			if !ok {
				var have []string
				for h, m := range installed {
					have = append(have, m["name"].(string)+"="+h)
				}
				sort.Strings(have)
				t.Fatalf("no installed model has hash %s (%v); installed: %s", hash, x["name"], strings.Join(have, ", "))
			}
			x["key"] = m["key"]
		}
		for _, c := range x {
			rekey(t, c, installed)
		}
	case []any:
		for _, c := range x {
			rekey(t, c, installed)
		}
	}
}
