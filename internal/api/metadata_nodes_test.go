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

// An image generator naming a board is resolved at enqueue as InvokeAI's UI resolves it: the board's
// non-intermediate images of the category that the caller may read become the batch's items. Another user's
// private board gives the caller nothing to batch over.
func TestImageGeneratorResolvesBoardImages(t *testing.T) {
	g := gal{apitest.New(t, apitest.Multiuser())}
	cast := g.Cast()
	board := g.createBoard(cast.Other.Token, "inputs")
	a, b := g.uploadImage(cast.Other.Token, board.BoardID), g.uploadImage(cast.Other.Token, board.BoardID)
	graph := map[string]any{"nodes": map[string]any{
		"gen":   map[string]any{"id": "gen", "type": "image_generator", "generator": map[string]any{"type": "image_generator_images_from_board", "board_id": board.BoardID, "category": "images"}},
		"batch": map[string]any{"id": "batch", "type": "image_batch"},
		"img":   map[string]any{"id": "img", "type": "image"},
	}, "edges": []any{
		map[string]any{"source": map[string]any{"node_id": "gen", "field": "images"}, "destination": map[string]any{"node_id": "batch", "field": "images"}},
		map[string]any{"source": map[string]any{"node_id": "batch", "field": "image"}, "destination": map[string]any{"node_id": "img", "field": "image"}},
	}}
	res := enqueue(t, g.Env, cast.Other.Token, map[string]any{"graph": graph})
	if res.Enqueued != 2 {
		t.Fatalf("enqueued %d items for a two-image board", res.Enqueued)
	}
	seen := map[string]bool{}
	for _, id := range res.ItemIDs {
		it := waitStatus(t, g.Env, cast.Other.Token, id, "completed")
		var fvs []struct {
			Value struct {
				ImageName string `json:"image_name"`
			} `json:"value"`
		}
		if err := json.Unmarshal(it.FieldValues, &fvs); err != nil || len(fvs) != 1 {
			t.Fatalf("field values %s: %v", it.FieldValues, err)
		}
		seen[fvs[0].Value.ImageName] = true
	}
	if !seen[a] || !seen[b] {
		t.Errorf("the items ran %v, want %s and %s", seen, a, b)
	}
	// The board's images are not the owner's to batch over.
	r := g.Do("POST", queueBase+"/enqueue_batch", apitest.Token(cast.Owner.Token), apitest.JSON(map[string]any{"batch": map[string]any{"graph": graph}}))
	if r.Status < 400 || r.Status >= 500 || strings.Contains(string(r.Body), a) {
		t.Errorf("another user's board: %d %s", r.Status, r.Body)
	}
}
