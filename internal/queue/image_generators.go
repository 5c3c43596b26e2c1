package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/graph"
)

// boardImages is what an Images implementation offers to list the images of a board that p may read.
type boardImages interface {
	BoardImageNames(ctx context.Context, p access.Principal, boardID string, categories []string) ([]string, error)
}

// The image categories InvokeAI's image generator reads: "images" or "assets".
var (
	imageCategories = []string{"general"}
	assetCategories = []string{"control", "mask", "user", "other"}
)

// maxGeneratedImages bounds the images one generator contributes (as every generator's values).
const maxGeneratedImages = 1 << 20

// resolveImageGenerators fills the values of the image_generator nodes of a graph that name a board
// ("image_generator_images_from_board") with the board's images, as InvokeAI's UI does before it enqueues: the
// non-intermediate images of the category, read as p — a board p may not read gives nothing or fails as the
// gallery answers. Graphs without such a node come back unchanged.
func resolveImageGenerators(ctx context.Context, raw json.RawMessage, list func(ctx context.Context, boardID string, categories []string) ([]string, error)) (json.RawMessage, error) {
	if !bytes.Contains(raw, []byte("image_generator_images_from_board")) {
		return raw, nil
	}
	g, err := graph.Parse(raw)
	if err != nil {
		return raw, nil // planBatch reports it
	}
	changed := false
	for id, n := range g.Nodes {
		if n.Type() != "image_generator" {
			continue
		}
		var spec map[string]json.RawMessage
		if json.Unmarshal(n["generator"], &spec) != nil {
			continue
		}
		var typ, board, category string
		_ = json.Unmarshal(spec["type"], &typ)
		if typ != "image_generator_images_from_board" || (len(spec["values"]) > 0 && string(spec["values"]) != "null") {
			continue
		}
		_ = json.Unmarshal(spec["board_id"], &board)
		_ = json.Unmarshal(spec["category"], &category)
		images := []map[string]string{}
		if board != "" {
			cats := imageCategories
			if category == "assets" {
				cats = assetCategories
			}
			names, err := list(ctx, board, cats)
			if err != nil {
				return nil, err
			}
			if len(names) > maxGeneratedImages {
				return nil, batchProblem(fmt.Sprintf("Node %s: a board with more than %d images", id, maxGeneratedImages), "graph", "nodes", id)
			}
			for _, name := range names {
				images = append(images, map[string]string{"image_name": name})
			}
		}
		spec["values"], _ = json.Marshal(images)
		n["generator"], _ = json.Marshal(spec)
		changed = true
	}
	if !changed {
		return raw, nil
	}
	return json.Marshal(g)
}
