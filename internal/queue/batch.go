package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/graph"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/schema"
)

// maxRequested saturates the requested count of absurd batches (the product of large groups).
const maxRequested = math.MaxInt32

// plan is a validated batch, ready to be expanded into sessions.
type plan struct {
	graph     *graph.Graph
	groups    [][]BatchDatum
	runs      int
	perRun    int // product of the group lengths
	requested int
}

// batchProblem is a 422 located in the request body.
func batchProblem(msg string, loc ...any) error {
	return apperr.Invalid(apperr.ValidationItem{Type: "value_error", Loc: append([]any{"body", "batch"}, loc...), Msg: msg, Input: nil})
}

// graphProblems turns graph validation failures into 422 items naming the node and field.
func graphProblems(err error) error {
	probs, ok := err.(graph.Problems)
	if !ok {
		return batchProblem(err.Error(), "graph")
	}
	items := make([]apperr.ValidationItem, 0, len(probs))
	for _, p := range probs {
		loc := []any{"body", "batch", "graph"}
		if p.NodeID != "" {
			loc = append(loc, "nodes", p.NodeID)
		}
		if p.Field != "" {
			loc = append(loc, p.Field)
		}
		msg := p.Msg
		if p.NodeID != "" {
			msg = fmt.Sprintf("Node %s", p.NodeID)
			if p.Field != "" {
				msg += fmt.Sprintf(", field %s", p.Field)
			}
			msg += ": " + p.Msg
		}
		typ := p.Type
		if typ == "" {
			typ = "value_error"
		}
		items = append(items, apperr.ValidationItem{Type: typ, Loc: loc, Msg: msg, Input: p.Input, Ctx: p.Ctx})
	}
	return apperr.Invalid(items...)
}

// planBatch validates a batch against the registry: the graph, then every datum (unique node/field pairs that
// exist, items of one type that the field accepts, equal lengths within a zip group).
func planBatch(b *Batch, reg *nodes.Registry, lim graph.Limits) (*plan, error) {
	if len(bytes.TrimSpace(b.Graph)) == 0 || bytes.Equal(bytes.TrimSpace(b.Graph), []byte("null")) {
		return nil, batchProblem("Field required", "graph")
	}
	g, err := graph.Parse(b.Graph)
	if err != nil {
		return nil, graphProblems(err)
	}
	lowered, err := lowerBatchNodes(g, reg)
	if err != nil {
		return nil, err
	}
	if len(lowered) > 0 {
		b.Data = append(append([][]BatchDatum{}, b.Data...), lowered...)
	}
	// Fields that batch data fills in count as set: validate a copy with each datum's first item applied.
	probe := g.Clone()
	for _, group := range b.Data {
		for _, d := range group {
			if n, ok := probe.Nodes[d.NodePath]; ok && len(d.Items) > 0 {
				n[d.FieldName] = d.Items[0]
			}
		}
	}
	if err := graph.Validate(probe, reg, lim); err != nil {
		return nil, graphProblems(err)
	}
	p := &plan{graph: g, groups: b.Data, runs: 1, perRun: 1}
	if items := schema.CheckSet(b, []any{"body", "batch"}); len(items) > 0 {
		return nil, apperr.Invalid(items...)
	}
	if b.Runs != nil {
		p.runs = *b.Runs
	}
	connected := map[graph.EdgeEnd]bool{}
	for _, e := range g.Edges {
		connected[e.Destination] = true
	}
	seen := map[[2]string]bool{}
	for gi, group := range b.Data {
		if len(group) == 0 {
			return nil, batchProblem("A batch data group must not be empty", "data", gi)
		}
		n := -1
		for di, d := range group {
			loc := []any{"data", gi, di}
			key := [2]string{d.NodePath, d.FieldName}
			if seen[key] {
				return nil, batchProblem(fmt.Sprintf("Duplicate batch data for node %s field %s", d.NodePath, d.FieldName), loc...)
			}
			seen[key] = true
			if n >= 0 && len(d.Items) != n {
				return nil, batchProblem("BatchZippedLengthError: zipped batch items must all have the same length", loc...)
			}
			n = len(d.Items)
			if err := checkDatum(probe, reg, d, connected); err != nil {
				return nil, batchProblem(err.Error(), loc...)
			}
		}
		p.perRun = satMul(p.perRun, n)
	}
	p.requested = satMul(p.perRun, p.runs)
	return p, nil
}

func satMul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > maxRequested/b {
		return maxRequested
	}
	return a * b
}

// itemKind classifies a batch item: str, number, or image.
func itemKind(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", fmt.Errorf("empty batch item")
	}
	switch raw[0] {
	case '"':
		return "str", nil
	case '{':
		var img map[string]json.RawMessage
		if err := json.Unmarshal(raw, &img); err != nil {
			return "", fmt.Errorf("invalid batch item")
		}
		var name string
		if len(img) != 1 || json.Unmarshal(img["image_name"], &name) != nil || name == "" {
			return "", fmt.Errorf("batch items must be a string, a number or {\"image_name\": ...}")
		}
		return "image", nil
	default:
		var f float64
		if json.Unmarshal(raw, &f) != nil {
			return "", fmt.Errorf("batch items must be a string, a number or {\"image_name\": ...}")
		}
		return "number", nil
	}
}

// checkDatum checks that the datum's node and field exist and that the field accepts every item.
func checkDatum(g *graph.Graph, reg *nodes.Registry, d BatchDatum, connected map[graph.EdgeEnd]bool) error {
	node, ok := g.Nodes[d.NodePath]
	if !ok {
		return fmt.Errorf("node %s not found in graph", d.NodePath)
	}
	t, _ := reg.Lookup(node.Type())
	if _, ok := t.Input(d.FieldName); !ok {
		return fmt.Errorf("field %s not found in node %s", d.FieldName, d.NodePath)
	}
	kind := ""
	for i, item := range d.Items {
		k, err := itemKind(item)
		if err != nil {
			return fmt.Errorf("item %d: %v", i, err)
		}
		if kind != "" && k != kind {
			return errors.New("all items in a batch datum must have the same type")
		}
		kind = k
		fields := node.Clone()
		fields[d.FieldName] = item
		nodeID := d.NodePath
		if _, err := t.Decode(fields, func(name string) bool { return connected[graph.EdgeEnd{NodeID: nodeID, Field: name}] }); err != nil {
			return fmt.Errorf("item %d does not fit node %s field %s: %v", i, d.NodePath, d.FieldName, err)
		}
	}
	return nil
}

// expandedSession is one expanded session of a batch.
type expandedSession struct {
	state       *graph.State
	fieldValues []FieldValue
}

// sessions expands the first n sessions: runs outermost, then the cartesian product of the zip groups with
// the first group varying slowest (Python's itertools.product).
func (p *plan) sessions(n int) []expandedSession {
	out := make([]expandedSession, 0, n)
	for k := 0; len(out) < n && k < p.requested; k++ {
		idx := k % p.perRun
		perGroup := make([][]FieldValue, len(p.groups))
		changed := map[string]graph.Node{}
		for gi := len(p.groups) - 1; gi >= 0; gi-- {
			group := p.groups[gi]
			l := len(group[0].Items)
			pick := idx % l
			idx /= l
			for _, d := range group {
				perGroup[gi] = append(perGroup[gi], FieldValue{NodePath: d.NodePath, FieldName: d.FieldName, Value: d.Items[pick]})
				node, ok := changed[d.NodePath]
				if !ok {
					node = p.graph.Nodes[d.NodePath].Clone()
					changed[d.NodePath] = node
				}
				node[d.FieldName] = d.Items[pick]
			}
		}
		var fvs []FieldValue
		for _, g := range perGroup {
			fvs = append(fvs, g...)
		}
		g := &graph.Graph{ID: p.graph.ID, Nodes: p.graph.Nodes, Edges: p.graph.Edges}
		if len(changed) > 0 {
			g.Nodes = make(map[string]graph.Node, len(p.graph.Nodes))
			for id, node := range p.graph.Nodes {
				g.Nodes[id] = node
			}
			for id, node := range changed {
				g.Nodes[id] = node
			}
		}
		out = append(out, expandedSession{state: graph.NewState(g), fieldValues: fvs})
	}
	return out
}

// minPrepared is a lower bound on the nodes one session of g prepares when it runs, known before it runs. A
// node is prepared once per combination of the iterations it depends on (its scope: the iterate nodes above it
// that no collect has closed), so it counts the product of their lengths. An iterate's length is known when its
// collection comes from a node that builds it from its own fields alone (a literal range or collection);
// otherwise it may be empty, and counts 0. The result saturates at maxRequested.
func minPrepared(g *graph.Graph, reg *nodes.Registry) int {
	// Kahn's order over the node ids; Validate has refused cycles already.
	indeg := make(map[string]int, len(g.Nodes))
	children := map[string][]string{}
	for id := range g.Nodes {
		indeg[id] += 0
	}
	for _, e := range g.Edges {
		indeg[e.Destination.NodeID]++
		children[e.Source.NodeID] = append(children[e.Source.NodeID], e.Destination.NodeID)
	}
	var order, ready []string
	for id, d := range indeg {
		if d == 0 {
			ready = append(ready, id)
		}
	}
	for len(ready) > 0 {
		id := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		order = append(order, id)
		for _, c := range children[id] {
			if indeg[c]--; indeg[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
	connected := map[graph.EdgeEnd]bool{}
	for _, e := range g.Edges {
		connected[e.Destination] = true
	}
	scope := make(map[string]map[string]bool, len(g.Nodes))
	length := map[string]int{} // iterate id → known length (0: unknown or empty)
	total := 0
	for _, id := range order {
		node := g.Nodes[id]
		s := map[string]bool{}
		for _, e := range g.Edges {
			if e.Destination.NodeID != id || (node.Type() == "collect" && e.Destination.Field == "item") {
				continue
			}
			for it := range scope[e.Source.NodeID] {
				s[it] = true
			}
			if node.Type() == "iterate" && e.Destination.Field == "collection" {
				length[id] = literalLength(g.Nodes[e.Source.NodeID], e.Source.NodeID, reg, connected)
			}
		}
		if node.Type() == "iterate" {
			s[id] = true
		}
		scope[id] = s
		count := 1
		for it := range s {
			count = satMul(count, length[it])
		}
		total = min(total+count, maxRequested)
	}
	return total
}

// literalLength is the length of the collection node builds when nothing is connected to it, or 0 when only
// running it can tell: a range (start, stop and step as given or defaulted) and the collection primitives.
func literalLength(node graph.Node, id string, reg *nodes.Registry, connected map[graph.EdgeEnd]bool) int {
	for field := range connected {
		if field.NodeID == id {
			return 0
		}
	}
	t, ok := reg.Lookup(node.Type())
	if !ok {
		return 0
	}
	inv, err := t.Decode(node, nil)
	if err != nil {
		return 0
	}
	raw, err := json.Marshal(inv)
	if err != nil {
		return 0
	}
	switch node.Type() {
	case "range":
		var r struct{ Start, Stop, Step int64 }
		if json.Unmarshal(raw, &r) != nil || r.Step == 0 {
			return 0
		}
		// In floating point: the difference of two int64 can overflow, and only the order of magnitude matters
		// once it is large.
		n := math.Ceil((float64(r.Stop) - float64(r.Start)) / float64(r.Step))
		return int(min(max(n, 0), maxRequested))
	case "integer_collection", "float_collection", "string_collection", "boolean_collection":
		var c struct{ Collection []json.RawMessage }
		if json.Unmarshal(raw, &c) != nil {
			return 0
		}
		return len(c.Collection)
	}
	return 0
}

// checkAllocations refuses a batch holding a node whose predictable allocation (nodes.Sizer) could not fit a
// run's memory budget, or whose size overflows: with its size fields as the graph gives them, and as each item
// of every batch data group (a zipped group's datums together) would set them. Nodes whose size fields are
// connected are checked while running.
func checkAllocations(pl *plan, b *Batch, reg *nodes.Registry, budget tensor.Budget) error {
	connected := map[graph.EdgeEnd]bool{}
	for _, e := range pl.graph.Edges {
		connected[e.Destination] = true
	}
	for id, node := range pl.graph.Nodes {
		t, ok := reg.Lookup(node.Type())
		if !ok {
			continue
		}
		isConnected := func(name string) bool { return connected[graph.EdgeEnd{NodeID: id, Field: name}] }
		check := func(fields graph.Node) error {
			inv, err := t.Decode(fields, isConnected)
			if err != nil {
				return nil // Validate reports what does not decode
			}
			sz, ok := inv.(nodes.Sizer)
			if !ok {
				return nil
			}
			for _, f := range sz.SizeFields() {
				if isConnected(f) {
					return nil
				}
			}
			what, elemSize, shape := sz.Allocation()
			if err := budget.Check(what, elemSize, shape...); err != nil {
				return batchProblem(fmt.Sprintf("Node %s: %v", id, err), "graph", "nodes", id)
			}
			return nil
		}
		if inv, err := t.Decode(node, isConnected); err != nil {
			continue
		} else if _, ok := inv.(nodes.Sizer); !ok {
			continue // only sizers are checked, so a large batch costs nothing more for other nodes
		}
		if err := check(node); err != nil {
			return err
		}
		for _, group := range b.Data {
			for k := 0; len(group) > 0 && k < len(group[0].Items); k++ {
				fields, touched := node, false
				for _, d := range group {
					if d.NodePath == id && k < len(d.Items) {
						if !touched {
							fields, touched = node.Clone(), true
						}
						fields[d.FieldName] = d.Items[k]
					}
				}
				if !touched {
					break // this group sets nothing of this node
				}
				if err := check(fields); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
