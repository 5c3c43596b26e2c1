// Package graph is InvokeAI's graph model: parsing graph JSON, validating it against the node registry
// (types, fields, edges, cycles, required inputs), and executing it as a GraphExecutionState with
// iterate/collect expansion and the invocation cache.
package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/invokego/invokego/internal/nodes"
)

// Node is one node's JSON, kept raw so that values survive a round trip exactly.
type Node map[string]json.RawMessage

// ID returns the node's id.
func (n Node) ID() string { return n.str("id") }

// Type returns the node's type discriminator.
func (n Node) Type() string { return n.str("type") }

// IsIntermediate reports the node's is_intermediate flag.
func (n Node) IsIntermediate() bool { return n.boolean("is_intermediate", false) }

// UseCache reports the node's use_cache flag (true unless set false).
func (n Node) UseCache() bool { return n.boolean("use_cache", true) }

func (n Node) str(key string) string {
	var s string
	_ = json.Unmarshal(n[key], &s)
	return s
}

func (n Node) boolean(key string, def bool) bool {
	raw, ok := n[key]
	if !ok {
		return def
	}
	var b bool
	if json.Unmarshal(raw, &b) != nil {
		return def
	}
	return b
}

// Clone copies the node (the raw values are immutable and shared).
func (n Node) Clone() Node {
	out := make(Node, len(n))
	for k, v := range n {
		out[k] = v
	}
	return out
}

// EdgeEnd is one end of an edge.
type EdgeEnd struct {
	NodeID string `json:"node_id"`
	Field  string `json:"field"`
}

// Edge connects an output field to an input field.
type Edge struct {
	Source      EdgeEnd `json:"source"`
	Destination EdgeEnd `json:"destination"`
}

// Graph is InvokeAI's Graph JSON.
type Graph struct {
	ID    string          `json:"id"`
	Nodes map[string]Node `json:"nodes"`
	Edges []Edge          `json:"edges"`
}

// New returns an empty graph with a fresh id.
func New() *Graph { return &Graph{ID: uuid.NewString(), Nodes: map[string]Node{}, Edges: []Edge{}} }

// Clone deep-copies the graph's structure.
func (g *Graph) Clone() *Graph {
	out := &Graph{ID: g.ID, Nodes: make(map[string]Node, len(g.Nodes)), Edges: append([]Edge{}, g.Edges...)}
	for k, n := range g.Nodes {
		out.Nodes[k] = n.Clone()
	}
	return out
}

// Limits bound what a graph may hold.
type Limits struct {
	MaxNodes int
	MaxEdges int
}

// DefaultLimits are generous for real workflows and small enough to bound the work of one enqueue.
var DefaultLimits = Limits{MaxNodes: 1000, MaxEdges: 5000}

// Problem is one validation failure, located at a node and field when it has one. A failed field rule carries
// pydantic's error type, the offending input and the rule (Ctx); other problems have no Type.
type Problem struct {
	NodeID string
	Field  string
	Msg    string
	Type   string
	Input  any
	Ctx    map[string]any
}

func (p *Problem) Error() string {
	switch {
	case p.NodeID != "" && p.Field != "":
		return fmt.Sprintf("node %s field %s: %s", p.NodeID, p.Field, p.Msg)
	case p.NodeID != "":
		return fmt.Sprintf("node %s: %s", p.NodeID, p.Msg)
	}
	return p.Msg
}

// Problems is a list of validation failures.
type Problems []*Problem

func (ps Problems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "; ")
}

// Parse reads graph JSON. Structural problems (not an object, nodes not objects, missing ids) are Problems.
func Parse(data []byte) (*Graph, error) {
	var raw struct {
		ID    *string                    `json:"id"`
		Nodes map[string]json.RawMessage `json:"nodes"`
		Edges []Edge                     `json:"edges"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, Problems{{Msg: "Invalid graph JSON: " + err.Error()}}
	}
	g := &Graph{Nodes: make(map[string]Node, len(raw.Nodes)), Edges: raw.Edges}
	if raw.ID != nil && *raw.ID != "" {
		g.ID = *raw.ID
	} else {
		g.ID = uuid.NewString()
	}
	if g.Edges == nil {
		g.Edges = []Edge{}
	}
	var probs Problems
	keys := make([]string, 0, len(raw.Nodes))
	for k := range raw.Nodes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		var n Node
		if err := json.Unmarshal(raw.Nodes[key], &n); err != nil || n == nil {
			probs = append(probs, &Problem{NodeID: key, Msg: "node must be a JSON object"})
			continue
		}
		for _, k := range []string{"id", "type"} {
			var s string
			if err := json.Unmarshal(n[k], &s); err != nil || s == "" {
				probs = append(probs, &Problem{NodeID: key, Field: k, Msg: "Field required (a non-empty string)"})
			}
		}
		for _, k := range []string{"is_intermediate", "use_cache"} {
			if v, ok := n[k]; ok {
				var b bool
				if json.Unmarshal(v, &b) != nil {
					probs = append(probs, &Problem{NodeID: key, Field: k, Msg: "Input should be a valid boolean"})
				}
			}
		}
		g.Nodes[key] = n
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return g, nil
}

// ErrCycle reports a cyclic graph.
var ErrCycle = errors.New("graph contains a cycle")

// topoOrder returns the node ids in a dependency order (ties by id), or ErrCycle.
func (g *Graph) topoOrder() ([]string, error) {
	indeg := make(map[string]int, len(g.Nodes))
	children := map[string][]string{}
	for id := range g.Nodes {
		indeg[id] = 0
	}
	for _, e := range g.Edges {
		indeg[e.Destination.NodeID]++
		children[e.Source.NodeID] = append(children[e.Source.NodeID], e.Destination.NodeID)
	}
	var ready []string
	for id, d := range indeg {
		if d == 0 {
			ready = append(ready, id)
		}
	}
	sort.Strings(ready)
	order := make([]string, 0, len(g.Nodes))
	for len(ready) > 0 {
		id := ready[0]
		ready = ready[1:]
		order = append(order, id)
		var next []string
		for _, c := range children[id] {
			indeg[c]--
			if indeg[c] == 0 {
				next = append(next, c)
			}
		}
		sort.Strings(next)
		ready = append(ready, next...)
	}
	if len(order) != len(g.Nodes) {
		return nil, ErrCycle
	}
	return order, nil
}

// incoming lists the edges into a node.
func (g *Graph) incoming(nodeID string) []Edge {
	var out []Edge
	for _, e := range g.Edges {
		if e.Destination.NodeID == nodeID {
			out = append(out, e)
		}
	}
	return out
}

// Validate checks the graph against the registry. It returns Problems naming the node and field.
func Validate(g *Graph, reg *nodes.Registry, lim Limits) error {
	if lim.MaxNodes > 0 && len(g.Nodes) > lim.MaxNodes {
		return Problems{{Msg: fmt.Sprintf("graph has %d nodes, more than the limit of %d", len(g.Nodes), lim.MaxNodes)}}
	}
	if lim.MaxEdges > 0 && len(g.Edges) > lim.MaxEdges {
		return Problems{{Msg: fmt.Sprintf("graph has %d edges, more than the limit of %d", len(g.Edges), lim.MaxEdges)}}
	}
	var probs Problems
	types := map[string]*nodes.NodeType{}
	ids := make([]string, 0, len(g.Nodes))
	for id := range g.Nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, key := range ids {
		n := g.Nodes[key]
		if n.ID() != key {
			probs = append(probs, &Problem{NodeID: key, Field: "id", Msg: fmt.Sprintf("node id %q does not match its key %q", n.ID(), key)})
		}
		t, ok := reg.Lookup(n.Type())
		if !ok {
			msg := fmt.Sprintf("unknown node type %q", n.Type())
			if reason, known := reg.Unavailable(n.Type()); known {
				msg = fmt.Sprintf("node type %q cannot run here: %s", n.Type(), reason)
			}
			probs = append(probs, &Problem{NodeID: key, Field: "type", Msg: msg})
			continue
		}
		types[key] = t
	}
	seenInput := map[EdgeEnd]bool{}
	connected := map[string]map[string]bool{}
	for _, e := range g.Edges {
		st, sok := types[e.Source.NodeID]
		dt, dok := types[e.Destination.NodeID]
		if _, exists := g.Nodes[e.Source.NodeID]; !exists {
			probs = append(probs, &Problem{NodeID: e.Source.NodeID, Msg: "edge source node does not exist"})
			continue
		}
		if _, exists := g.Nodes[e.Destination.NodeID]; !exists {
			probs = append(probs, &Problem{NodeID: e.Destination.NodeID, Msg: "edge destination node does not exist"})
			continue
		}
		if !sok || !dok {
			continue // unknown type already reported
		}
		if _, ok := st.OutputField(e.Source.Field); !ok {
			probs = append(probs, &Problem{NodeID: e.Source.NodeID, Field: e.Source.Field, Msg: fmt.Sprintf("%s has no output field %q", st.Type, e.Source.Field)})
			continue
		}
		df, ok := dt.Input(e.Destination.Field)
		if !ok {
			probs = append(probs, &Problem{NodeID: e.Destination.NodeID, Field: e.Destination.Field, Msg: fmt.Sprintf("%s has no input field %q", dt.Type, e.Destination.Field)})
			continue
		}
		if df.Input == "direct" {
			probs = append(probs, &Problem{NodeID: e.Destination.NodeID, Field: e.Destination.Field, Msg: "field does not accept connections"})
		}
		if seenInput[e.Destination] && !(dt.Type == "collect" && e.Destination.Field == "item") {
			probs = append(probs, &Problem{NodeID: e.Destination.NodeID, Field: e.Destination.Field, Msg: "input already has an incoming edge"})
		}
		seenInput[e.Destination] = true
		if connected[e.Destination.NodeID] == nil {
			connected[e.Destination.NodeID] = map[string]bool{}
		}
		connected[e.Destination.NodeID][e.Destination.Field] = true
	}
	if len(probs) > 0 {
		return probs
	}
	if _, err := g.topoOrder(); err != nil {
		return Problems{{Msg: "The graph contains a cycle"}}
	}
	inf := &inference{g: g, types: types, memo: map[EdgeEnd]nodes.FieldType{}}
	for _, e := range g.Edges {
		from := inf.outType(e.Source)
		df, _ := types[e.Destination.NodeID].Input(e.Destination.Field)
		to := df.Type
		if types[e.Destination.NodeID].Type == "iterate" && e.Destination.Field == "collection" {
			if !from.Collection && from.Name != nodes.AnyType {
				probs = append(probs, &Problem{NodeID: e.Destination.NodeID, Field: e.Destination.Field,
					Msg: fmt.Sprintf("iterate needs a collection, got %s from %s.%s", from, e.Source.NodeID, e.Source.Field)})
			}
			continue
		}
		if !nodes.Compatible(from, to) {
			probs = append(probs, &Problem{NodeID: e.Destination.NodeID, Field: e.Destination.Field,
				Msg: fmt.Sprintf("type mismatch: %s.%s is %s, %s.%s is %s", e.Source.NodeID, e.Source.Field, from, e.Destination.NodeID, e.Destination.Field, to)})
		}
	}
	for _, id := range ids {
		t := types[id]
		if t.Type == "collect" {
			var first *nodes.FieldType
			for _, e := range g.incoming(id) {
				if e.Destination.Field != "item" {
					continue
				}
				ft := inf.outType(e.Source)
				if first != nil && first.Name != ft.Name && first.Name != nodes.AnyType && ft.Name != nodes.AnyType {
					probs = append(probs, &Problem{NodeID: id, Field: "item", Msg: "collect inputs must all have the same type"})
					break
				}
				first = &ft
			}
		}
		fields := map[string]json.RawMessage{}
		for k, v := range g.Nodes[id] {
			fields[k] = v
		}
		_, err := t.Decode(fields, func(name string) bool { return connected[id][name] })
		var fe *nodes.FieldError
		if errors.As(err, &fe) {
			probs = append(probs, &Problem{NodeID: id, Field: fe.Field, Msg: fe.Msg, Type: fe.Type, Input: fe.Input, Ctx: fe.Ctx})
		} else if err != nil {
			probs = append(probs, &Problem{NodeID: id, Msg: err.Error()})
		}
	}
	if len(probs) > 0 {
		return probs
	}
	return nil
}

// inference works out the output types of iterate.item and collect.collection from what feeds them.
type inference struct {
	g     *Graph
	types map[string]*nodes.NodeType
	memo  map[EdgeEnd]nodes.FieldType
	depth int
}

func (inf *inference) outType(end EdgeEnd) nodes.FieldType {
	if t, ok := inf.memo[end]; ok {
		return t
	}
	nt := inf.types[end.NodeID]
	f, _ := nt.OutputField(end.Field)
	t := f.Type
	inf.depth++
	defer func() { inf.depth-- }()
	if inf.depth < 10000 { // the graph is acyclic by now; the bound only guards pathological depth
		switch {
		case nt.Type == "iterate" && end.Field == "item":
			for _, e := range inf.g.incoming(end.NodeID) {
				if e.Destination.Field == "collection" {
					src := inf.outType(e.Source)
					t = nodes.FieldType{Name: src.Name}
				}
			}
		case nt.Type == "collect" && end.Field == "collection":
			for _, e := range inf.g.incoming(end.NodeID) {
				if e.Destination.Field == "item" {
					src := inf.outType(e.Source)
					t = nodes.FieldType{Name: src.Name, Collection: true}
					break
				}
			}
		}
	}
	inf.memo[end] = t
	return t
}
