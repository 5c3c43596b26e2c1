package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"

	"github.com/google/uuid"

	"github.com/invokego/invokego/internal/engine/tensor"
	"github.com/invokego/invokego/internal/nodes"
)

// State is InvokeAI's GraphExecutionState, the queue item's session.
type State struct {
	ID                    string                                `json:"id"`
	Graph                 *Graph                                `json:"graph"`
	ExecutionGraph        *Graph                                `json:"execution_graph"`
	Executed              []string                              `json:"executed"`
	ExecutedHistory       []string                              `json:"executed_history"`
	Results               map[string]map[string]json.RawMessage `json:"results"`
	Errors                map[string]string                     `json:"errors"`
	PreparedSourceMapping map[string]string                     `json:"prepared_source_mapping"`
	SourcePreparedMapping map[string][]string                   `json:"source_prepared_mapping"`
	ReadyOrder            []string                              `json:"ready_order"`
	Indegree              map[string]int                        `json:"indegree"`
}

// NewState wraps a source graph in a fresh execution state.
func NewState(g *Graph) *State {
	return &State{
		ID: uuid.NewString(), Graph: g, ExecutionGraph: &Graph{ID: uuid.NewString(), Nodes: map[string]Node{}, Edges: []Edge{}},
		Executed: []string{}, ExecutedHistory: []string{}, Results: map[string]map[string]json.RawMessage{},
		Errors: map[string]string{}, PreparedSourceMapping: map[string]string{}, SourcePreparedMapping: map[string][]string{},
		ReadyOrder: []string{}, Indegree: map[string]int{},
	}
}

// Session is what the runner reports to while it executes (the queue processor implements it).
type Session interface {
	// NodeContext builds the execution context of one prepared node.
	NodeContext(ctx context.Context, execID, sourceID string, node Node) nodes.Context
	NodeStarted(execID, sourceID string, node Node)
	NodeCompleted(execID, sourceID string, node Node, result map[string]json.RawMessage)
}

// NodeFailure is a node that raised an error (or panicked).
type NodeFailure struct {
	ExecID, SourceID string
	Node             Node
	ErrorType        string
	Message          string
	Traceback        string
}

func (f *NodeFailure) Error() string {
	return fmt.Sprintf("node %s (%s) failed: %s: %s", f.SourceID, f.Node.Type(), f.ErrorType, f.Message)
}

// Runner executes sessions.
type Runner struct {
	Registry *nodes.Registry
	// Cache memoises outputs; nil disables caching.
	Cache *Cache
	// MaxPrepared bounds the prepared nodes of one session (iterate fan-out); 0 means DefaultMaxPrepared.
	MaxPrepared int
	// MaxBytes bounds the size of a session's state (the prepared nodes and their results, as stored with the
	// queue item); 0 means DefaultMaxBytes.
	MaxBytes int64
}

// DefaultMaxPrepared and DefaultMaxBytes keep one session's expansion within what a server can store and list
// (config max_session_nodes, max_session_bytes).
const (
	DefaultMaxPrepared       = 10_000
	DefaultMaxBytes    int64 = 16 << 20
)

// tooLarge fails a session that outgrew a limit, naming the limit.
func tooLarge(id string, node Node, msg string) error {
	return &NodeFailure{SourceID: id, Node: node, ErrorType: "ValueError", Message: msg}
}

// instance is one prepared copy of a source node, bound to one index of each iterator above it.
type instance struct {
	id       string
	source   string
	iters    map[string]int       // iterate source id → index
	picks    map[string]*instance // source parent id → the instance feeding this one
	gathered map[string][]*instance
	executed bool
}

type run struct {
	*Runner
	st        *State
	order     []string
	prepared  map[string]bool
	instances map[string][]*instance
	pending   []*instance
	parents   map[string][]string // distinct source parents (non-item for collect)
	items     map[string][]string // collect: distinct item parents
	// bytes approximates the size of the session's state: prepared nodes, edges, mappings and results.
	bytes int64
}

// stateOverhead approximates what a prepared node or an edge adds to the stored state besides its own JSON:
// two ids in the mappings, keys and punctuation.
const stateOverhead = 160

func (x *run) maxBytes() int64 {
	if x.MaxBytes > 0 {
		return x.MaxBytes
	}
	return DefaultMaxBytes
}

// checkBytes fails the session once its state outgrows the byte limit, before it grows further.
func (x *run) checkBytes(id string, node Node) error {
	if x.bytes > x.maxBytes() {
		return tooLarge(id, node, fmt.Sprintf("the session's state grows beyond %d bytes (max_session_bytes)", x.maxBytes()))
	}
	return nil
}

// Run executes the state's graph to the end, a node failure (*NodeFailure), or ctx's cancellation.
func (r *Runner) Run(ctx context.Context, st *State, sess Session) error {
	order, err := st.Graph.topoOrder()
	if err != nil {
		return err
	}
	x := &run{Runner: r, st: st, order: order, prepared: map[string]bool{}, instances: map[string][]*instance{},
		parents: map[string][]string{}, items: map[string][]string{}}
	for _, e := range st.Graph.Edges {
		dest := e.Destination.NodeID
		isItem := st.Graph.Nodes[dest].Type() == "collect" && e.Destination.Field == "item"
		if isItem {
			x.items[dest] = appendUnique(x.items[dest], e.Source.NodeID)
		} else {
			x.parents[dest] = appendUnique(x.parents[dest], e.Source.NodeID)
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := x.prepareReady(); err != nil {
			return err
		}
		if len(x.pending) == 0 {
			return nil
		}
		inst := x.pending[0]
		x.pending = x.pending[1:]
		if err := x.execute(ctx, inst, sess); err != nil {
			return err
		}
	}
}

func appendUnique(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

// done reports whether a source node is prepared and all its instances ran.
func (x *run) done(id string) bool {
	if !x.prepared[id] {
		return false
	}
	for _, in := range x.instances[id] {
		if !in.executed {
			return false
		}
	}
	return true
}

// prepareReady prepares every source node whose parents have fully run.
func (x *run) prepareReady() error {
	for _, id := range x.order {
		if x.prepared[id] {
			continue
		}
		ready := true
		for _, p := range append(append([]string{}, x.parents[id]...), x.items[id]...) {
			if !x.done(p) {
				ready = false
				break
			}
		}
		if !ready {
			continue
		}
		if err := x.prepare(id); err != nil {
			return err
		}
	}
	return nil
}

func consistent(a, b map[string]int) bool {
	for k, v := range a {
		if w, ok := b[k]; ok && w != v {
			return false
		}
	}
	return true
}

// prepare creates the instances of a source node: one per consistent combination of parent instances, fanned
// out over the collection for iterate, gathering consistent item instances for collect.
func (x *run) prepare(id string) error {
	x.prepared[id] = true
	node := x.st.Graph.Nodes[id]
	limit := x.MaxPrepared
	if limit <= 0 {
		limit = DefaultMaxPrepared
	}
	combos := []*instance{{iters: map[string]int{}, picks: map[string]*instance{}}}
	for _, p := range x.parents[id] {
		var next []*instance
		for _, c := range combos {
			for _, pi := range x.instances[p] {
				if !consistent(c.iters, pi.iters) {
					continue
				}
				n := &instance{iters: map[string]int{}, picks: map[string]*instance{}}
				for k, v := range c.iters {
					n.iters[k] = v
				}
				for k, v := range pi.iters {
					n.iters[k] = v
				}
				for k, v := range c.picks {
					n.picks[k] = v
				}
				n.picks[p] = pi
				next = append(next, n)
				if len(next) > limit {
					return tooLarge(id, node, fmt.Sprintf("the session expands to more than %d nodes (max_session_nodes)", limit))
				}
			}
		}
		combos = next
	}
	for _, c := range combos {
		if len(x.st.ExecutionGraph.Nodes) > limit {
			return tooLarge(id, node, fmt.Sprintf("the session expands to more than %d nodes (max_session_nodes)", limit))
		}
		if err := x.checkBytes(id, node); err != nil {
			return err
		}
		switch node.Type() {
		case "iterate":
			coll, err := x.iterateCollection(id, node, c)
			if err != nil {
				return err
			}
			if len(x.st.ExecutionGraph.Nodes)+len(coll) > limit {
				return tooLarge(id, node, fmt.Sprintf("iterating %d items expands the session to more than %d nodes (max_session_nodes)", len(coll), limit))
			}
			for i := range coll {
				in := &instance{iters: map[string]int{id: i}, picks: c.picks}
				for k, v := range c.iters {
					in.iters[k] = v
				}
				x.add(id, node, in, map[string]json.RawMessage{"index": json.RawMessage(strconv.Itoa(i))})
			}
		case "collect":
			c.gathered = map[string][]*instance{}
			for _, p := range x.items[id] {
				for _, pi := range x.instances[p] {
					if consistent(c.iters, pi.iters) {
						c.gathered[p] = append(c.gathered[p], pi)
					}
				}
			}
			x.add(id, node, c, nil)
		default:
			x.add(id, node, c, nil)
		}
	}
	return nil
}

// iterateCollection reads the collection an iterate instance will walk.
func (x *run) iterateCollection(id string, node Node, c *instance) ([]json.RawMessage, error) {
	raw := node["collection"]
	for _, e := range x.st.Graph.incoming(id) {
		if e.Destination.Field == "collection" {
			raw = x.st.Results[c.picks[e.Source.NodeID].id][e.Source.Field]
		}
	}
	var coll []json.RawMessage
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &coll); err != nil {
			return nil, &NodeFailure{SourceID: id, Node: node, ErrorType: "ValueError", Message: "iterate input is not a collection"}
		}
	}
	return coll, nil
}

// add registers a prepared instance in the execution graph.
func (x *run) add(source string, node Node, in *instance, overrides map[string]json.RawMessage) {
	in.id = uuid.NewString()
	in.source = source
	exec := node.Clone()
	exec["id"], _ = json.Marshal(in.id)
	for k, v := range overrides {
		exec[k] = v
	}
	x.st.ExecutionGraph.Nodes[in.id] = exec
	x.bytes += stateOverhead
	for k, v := range exec {
		x.bytes += int64(len(k) + len(v))
	}
	x.st.PreparedSourceMapping[in.id] = source
	x.st.SourcePreparedMapping[source] = append(x.st.SourcePreparedMapping[source], in.id)
	for _, e := range x.st.Graph.incoming(source) {
		if p, ok := in.picks[e.Source.NodeID]; ok {
			x.st.ExecutionGraph.Edges = append(x.st.ExecutionGraph.Edges, Edge{Source: EdgeEnd{p.id, e.Source.Field}, Destination: EdgeEnd{in.id, e.Destination.Field}})
			x.bytes += stateOverhead
		}
		for _, g := range in.gathered[e.Source.NodeID] {
			x.st.ExecutionGraph.Edges = append(x.st.ExecutionGraph.Edges, Edge{Source: EdgeEnd{g.id, e.Source.Field}, Destination: EdgeEnd{in.id, e.Destination.Field}})
			x.bytes += stateOverhead
		}
	}
	x.instances[source] = append(x.instances[source], in)
	x.pending = append(x.pending, in)
}

// inputs resolves an instance's field values: its JSON plus the values its incoming edges deliver.
func (x *run) inputs(in *instance) (map[string]json.RawMessage, error) {
	node := x.st.ExecutionGraph.Nodes[in.id]
	vals := make(map[string]json.RawMessage, len(node))
	for k, v := range node {
		if !nodes.IsBaseField(k) {
			vals[k] = v
		}
	}
	var items []json.RawMessage
	isCollect := node.Type() == "collect"
	for _, e := range x.st.Graph.incoming(in.source) {
		if isCollect && e.Destination.Field == "item" {
			for _, g := range in.gathered[e.Source.NodeID] {
				items = append(items, x.st.Results[g.id][e.Source.Field])
			}
			continue
		}
		p, ok := in.picks[e.Source.NodeID]
		if !ok {
			continue
		}
		v, ok := x.st.Results[p.id][e.Source.Field]
		if !ok {
			continue // an optional output that was not set: the field keeps its own value
		}
		vals[e.Destination.Field] = v
	}
	if isCollect {
		var base []json.RawMessage
		if raw, ok := vals["collection"]; ok {
			_ = json.Unmarshal(raw, &base)
		}
		all, err := json.Marshal(append(base, items...))
		if err != nil {
			return nil, err
		}
		vals["collection"] = all
		delete(vals, "item")
	}
	return vals, nil
}

// execute runs one instance: decode, cache, invoke, record.
func (x *run) execute(ctx context.Context, in *instance, sess Session) (err error) {
	node := x.st.ExecutionGraph.Nodes[in.id]
	fail := func(typ, msg, tb string) error {
		x.st.Errors[in.id] = typ + ": " + msg
		return &NodeFailure{ExecID: in.id, SourceID: in.source, Node: node, ErrorType: typ, Message: msg, Traceback: tb}
	}
	t, ok := x.Registry.Lookup(node.Type())
	if !ok {
		return fail("InvalidNodeError", fmt.Sprintf("unknown node type %q", node.Type()), "")
	}
	sess.NodeStarted(in.id, in.source, node)
	vals, err := x.inputs(in)
	if err != nil {
		return fail("ValueError", err.Error(), "")
	}
	inv, err := t.Decode(vals, nil)
	if err != nil {
		var fe *nodes.FieldError
		if errors.As(err, &fe) && fe.Msg == "Field required" {
			return fail("RequiredConnectionException", fmt.Sprintf("Node %s has no value for required input %s", in.source, fe.Field), "")
		}
		return fail("ValidationError", err.Error(), "")
	}
	var key string
	cacheable := x.Cache != nil && !t.NoCache && node.UseCache() && t.Type != "iterate" && t.Type != "collect"
	var result map[string]json.RawMessage
	if cacheable {
		nctx := sess.NodeContext(ctx, in.id, in.source, node)
		key = cacheKey(nctx.Item().UserID, t.Type, node.IsIntermediate(), inv)
		result = x.Cache.Get(key)
	}
	if result == nil {
		out, tb, err := invoke(inv, sess.NodeContext(ctx, in.id, in.source, node))
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			var ne *nodes.NodeError
			if errors.As(err, &ne) {
				return fail(ne.Type, ne.Message, tb)
			}
			var se *tensor.SizeError
			if errors.As(err, &se) {
				// An allocation refused by the run's memory budget (docs/security.md "Resource limits and hostile input").
				return fail("MemoryError", err.Error(), tb)
			}
			return fail(errorType(err), err.Error(), tb)
		}
		result, err = nodes.EncodeOutput(out)
		if err != nil {
			return fail("ValueError", err.Error(), "")
		}
		if cacheable {
			x.Cache.Put(key, result)
		}
	}
	x.st.Results[in.id] = result
	for k, v := range result {
		x.bytes += int64(len(k) + len(v))
	}
	if err := x.checkBytes(in.source, node); err != nil {
		delete(x.st.Results, in.id) // the state is stored with the item: it keeps within the limit
		return err
	}
	x.st.Executed = append(x.st.Executed, in.id)
	x.st.ExecutedHistory = append(x.st.ExecutedHistory, in.id)
	in.executed = true
	if x.done(in.source) {
		x.st.Executed = append(x.st.Executed, in.source)
		x.st.ExecutedHistory = append(x.st.ExecutedHistory, in.source)
	}
	sess.NodeCompleted(in.id, in.source, node, result)
	return nil
}

// invoke runs a node, turning a panic into an error with its stack, so a broken node fails its item and
// never the server.
func invoke(inv nodes.Invocation, ctx nodes.Context) (out nodes.Output, traceback string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &nodes.NodeError{Type: "PanicError", Message: fmt.Sprint(p)}
			if se, ok := p.(*tensor.SizeError); ok {
				err = se // a shape too large to exist, refused before it was allocated
			}
			traceback = string(debug.Stack())
		}
	}()
	out, err = inv.Invoke(ctx)
	if err == nil && out == nil {
		err = &nodes.NodeError{Type: "ValueError", Message: "node returned no output"}
	}
	if err != nil {
		traceback = fmt.Sprintf("%+v", err)
	}
	return out, traceback, err
}

func errorType(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "TimeoutError"
	}
	return "Exception"
}
