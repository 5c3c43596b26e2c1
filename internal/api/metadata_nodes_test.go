package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
)

// metadata_from_image and metadata_field_extractor read an image's metadata as the queue item's owner: a user
// reads their own images' metadata, and another user's image fails the node as loading it would
// (docs/security.md).
func TestMetadataNodesObeyTheImageReadRule(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	edge := func(from, out, to, in string) map[string]any {
		return map[string]any{"source": map[string]any{"node_id": from, "field": out}, "destination": map[string]any{"node_id": to, "field": in}}
	}
	// Other makes an image with metadata.
	gen := map[string]any{"nodes": map[string]any{
		"md":    map[string]any{"id": "md", "type": "core_metadata", "positive_prompt": "a secret fox", "seed": 77},
		"blank": map[string]any{"id": "blank", "type": "blank_image", "width": 8, "height": 8, "is_intermediate": false},
	}, "edges": []any{edge("md", "metadata", "blank", "metadata")}}
	res := enqueue(t, env, cast.Other.Token, map[string]any{"graph": gen})
	waitStatus(t, env, cast.Other.Token, res.ItemIDs[0], "completed")
	var imgs struct {
		Items []struct {
			ImageName string `json:"image_name"`
		} `json:"items"`
	}
	env.Do("GET", "/api/v1/images/?limit=1", apitest.Token(cast.Other.Token)).Expect(200).Decode(&imgs)
	if len(imgs.Items) != 1 {
		t.Fatalf("images %v", imgs)
	}
	name := imgs.Items[0].ImageName
	read := map[string]any{"nodes": map[string]any{
		"from": map[string]any{"id": "from", "type": "metadata_from_image", "image": map[string]any{"image_name": name}},
		"seed": map[string]any{"id": "seed", "type": "metadata_to_integer", "label": "seed", "default_value": 0},
		"ex":   map[string]any{"id": "ex", "type": "metadata_field_extractor", "image": map[string]any{"image_name": name}, "key": "positive_prompt"},
	}, "edges": []any{edge("from", "metadata", "seed", "metadata")}}

	res = enqueue(t, env, cast.Other.Token, map[string]any{"graph": read})
	it := waitStatus(t, env, cast.Other.Token, res.ItemIDs[0], "completed")
	var sess struct {
		SourcePrepared map[string][]string                   `json:"source_prepared_mapping"`
		Results        map[string]map[string]json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(it.Session, &sess); err != nil {
		t.Fatal(err)
	}
	if got := string(sess.Results[sess.SourcePrepared["seed"][0]]["value"]); got != "77" {
		t.Errorf("seed read back = %s", got)
	}
	if got := string(sess.Results[sess.SourcePrepared["ex"][0]]["value"]); got != `"a secret fox"` {
		t.Errorf("prompt read back = %s", got)
	}

	// The owner may not read Other's image, so neither node may read its metadata.
	for _, node := range []string{"from", "ex"} {
		g := map[string]any{"nodes": map[string]any{node: read["nodes"].(map[string]any)[node]}, "edges": []any{}}
		res = enqueue(t, env, cast.Owner.Token, map[string]any{"graph": g})
		it = waitStatus(t, env, cast.Owner.Token, res.ItemIDs[0], "failed")
		if it.ErrorMessage == nil || strings.Contains(*it.ErrorMessage, "fox") {
			t.Errorf("%s: error %v", node, it.ErrorMessage)
		}
		if strings.Contains(string(it.Session), "secret") {
			t.Errorf("%s: the session leaks the metadata", node)
		}
	}
}

// prompt_template reads a real style preset with the rights of the queue item's owner: the owner's own
// private preset fills the template, another user's private preset fails the node.
func TestPromptTemplateReadsPresetsAsTheOwner(t *testing.T) {
	env := apitest.New(t, apitest.Multiuser())
	cast := env.Cast()
	var created struct {
		ID string `json:"id"`
	}
	env.Do("POST", spAPI+"/", apitest.Token(cast.Other.Token), presetForm(t, uiData("Moody", "{prompt}, moody light, {prompt}", "bright, {prompt}"), nil)).
		Expect(http.StatusOK).Decode(&created)
	g := map[string]any{"nodes": map[string]any{"t": map[string]any{"id": "t", "type": "prompt_template",
		"style_preset": map[string]any{"style_preset_id": created.ID}, "positive_prompt": "a fox", "negative_prompt": "blur"}}, "edges": []any{}}
	res := enqueue(t, env, cast.Other.Token, map[string]any{"graph": g})
	it := waitStatus(t, env, cast.Other.Token, res.ItemIDs[0], "completed")
	var sess struct {
		SourcePrepared map[string][]string                   `json:"source_prepared_mapping"`
		Results        map[string]map[string]json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(it.Session, &sess); err != nil {
		t.Fatal(err)
	}
	out := sess.Results[sess.SourcePrepared["t"][0]]
	if string(out["positive_prompt"]) != `"a fox, moody light, a fox"` || string(out["negative_prompt"]) != `"bright, blur"` {
		t.Errorf("template gave %s / %s", out["positive_prompt"], out["negative_prompt"])
	}
	res = enqueue(t, env, cast.Owner.Token, map[string]any{"graph": g})
	it = waitStatus(t, env, cast.Owner.Token, res.ItemIDs[0], "failed")
	if strings.Contains(string(it.Session), "moody") {
		t.Error("another user's preset leaked into the session")
	}
}
