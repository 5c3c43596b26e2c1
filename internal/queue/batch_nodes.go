package queue

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/invokego/invokego/internal/graph"
	"github.com/invokego/invokego/internal/nodes"
)

// Batch nodes (float_batch, image_batch, ...) are lowered into batch data before a graph is validated, as
// InvokeAI's web UI does before it enqueues (docs/compatibility.md, "Batch nodes"): each batch node's values
// (given directly, or made by the generator node connected to its values field) become one datum per edge
// leaving its output, for the field at the other end; the datums of one batch node form one group, those of
// every batch node of a named batch_group_id one zipped group. The batch nodes, their edges and the generators
// that only feed them leave the graph. Graphs without batch nodes are untouched.

// batchNode is implemented by the batch node types (nodes/core).
type batchNode interface {
	BatchField() string
	BatchGroup() string
}

// batchOutputs are the output fields of a batch node whose values the batch replaces.
var batchOutputs = map[string]bool{"value": true, "image": true}

// lowerBatchNodes returns the data groups the batch nodes of g stand for, removing them from g. A malformed
// batch node is a 422 located at it.
func lowerBatchNodes(g *graph.Graph, reg *nodes.Registry) ([][]BatchDatum, error) {
	var ids []string
	for id, n := range g.Nodes {
		if t, ok := reg.Lookup(n.Type()); ok {
			if _, ok := t.New().(batchNode); ok {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	// InvokeAI's UI walks the nodes in the order of its workflow; a graph's nodes are a map, so their ids order
	// them here. The order only decides which group varies slowest.
	sort.Strings(ids)
	isBatch := map[string]bool{}
	for _, id := range ids {
		isBatch[id] = true
	}
	var out [][]BatchDatum
	zipped := map[string]int{} // group id -> index in out
	usedGenerators := map[string]bool{}
	for _, id := range ids {
		node := g.Nodes[id]
		t, _ := reg.Lookup(node.Type())
		inv, err := t.Decode(withoutEdgeFields(node, g, id), func(string) bool { return true })
		if err != nil {
			return nil, batchProblem(fmt.Sprintf("Node %s: %v", id, err), "graph", "nodes", id)
		}
		bn := inv.(batchNode)
		items, gen, err := batchItems(g, reg, id, node, bn.BatchField())
		if err != nil {
			return nil, batchProblem(fmt.Sprintf("Node %s: %v", id, err), "graph", "nodes", id)
		}
		if gen != "" {
			usedGenerators[gen] = true
		}
		var group []BatchDatum
		for _, e := range g.Edges {
			if e.Source.NodeID != id {
				continue
			}
			if !batchOutputs[e.Source.Field] {
				return nil, batchProblem(fmt.Sprintf("Node %s: a batch node's %s output cannot be connected", id, e.Source.Field), "graph", "nodes", id)
			}
			if isBatch[e.Destination.NodeID] {
				return nil, batchProblem(fmt.Sprintf("Node %s: a batch node cannot feed another batch node", id), "graph", "nodes", id)
			}
			group = append(group, BatchDatum{NodePath: e.Destination.NodeID, FieldName: e.Destination.Field, Items: items})
		}
		if len(group) == 0 {
			continue
		}
		if gid := bn.BatchGroup(); gid != "" && gid != "None" {
			if i, ok := zipped[gid]; ok {
				out[i] = append(out[i], group...)
				continue
			}
			zipped[gid] = len(out)
		}
		out = append(out, group)
	}
	// Drop the generators that feed nothing but batch nodes, then the batch nodes, and every edge they touch.
	for gen := range usedGenerators {
		onlyBatches := true
		for _, e := range g.Edges {
			if e.Source.NodeID == gen && !isBatch[e.Destination.NodeID] {
				onlyBatches = false
			}
		}
		if onlyBatches {
			isBatch[gen] = true
		}
	}
	edges := g.Edges[:0:0]
	for _, e := range g.Edges {
		if !isBatch[e.Source.NodeID] && !isBatch[e.Destination.NodeID] {
			edges = append(edges, e)
		}
	}
	g.Edges = edges
	for id := range isBatch {
		delete(g.Nodes, id)
	}
	return out, nil
}

// withoutEdgeFields is a node's fields less those an edge fills, which the batch node's own values decide.
func withoutEdgeFields(node graph.Node, g *graph.Graph, id string) map[string]json.RawMessage {
	vals := map[string]json.RawMessage{}
	for k, v := range node {
		vals[k] = v
	}
	for _, e := range g.Edges {
		if e.Destination.NodeID == id {
			delete(vals, e.Destination.Field)
		}
	}
	return vals
}

// batchItems returns a batch node's values: its field's, or those of the generator connected to it.
func batchItems(g *graph.Graph, reg *nodes.Registry, id string, node graph.Node, field string) ([]json.RawMessage, string, error) {
	raw := node[field]
	gen := ""
	for _, e := range g.Edges {
		if e.Destination.NodeID != id || e.Destination.Field != field {
			continue
		}
		src, ok := g.Nodes[e.Source.NodeID]
		if !ok {
			return nil, "", fmt.Errorf("its %s come from a missing node %s", field, e.Source.NodeID)
		}
		t, ok := reg.Lookup(src.Type())
		if !ok || !strings.HasSuffix(t.Output.OutputType(), "_generator_output") {
			return nil, "", fmt.Errorf("its %s must be given directly or by a generator node, not by %s", field, src.Type())
		}
		inv, err := t.Decode(src, nil)
		if err != nil {
			return nil, "", fmt.Errorf("generator %s: %v", e.Source.NodeID, err)
		}
		// Generators compute their values from their own settings alone; they never touch the context.
		out, err := inv.Invoke(nil)
		if err != nil {
			return nil, "", fmt.Errorf("generator %s: %v", e.Source.NodeID, err)
		}
		enc, err := nodes.EncodeOutput(out)
		if err != nil {
			return nil, "", err
		}
		raw, gen = enc[e.Source.Field], e.Source.NodeID
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 {
		return nil, "", fmt.Errorf("its %s must be a list of at least one value", field)
	}
	return items, gen, nil
}
