package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/graph"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/core"
	"github.com/invokego/invokego/internal/store"
)

func coreRegistry() *nodes.Registry {
	r := nodes.NewRegistry()
	core.Register(r)
	return r
}

// newTestService opens a real database in a temporary folder; the processor is not started.
func newTestService(tb testing.TB, opts Options) *Service {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "invokeai.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	opts.DB = db
	if opts.Registry == nil {
		opts.Registry = coreRegistry()
	}
	if opts.Events == nil {
		opts.Events = events.NewBus()
	}
	if opts.MaxQueueSize == 0 {
		opts.MaxQueueSize = 10000
	}
	if opts.MaxPerUser == 0 {
		opts.MaxPerUser = 10000
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return New(opts)
}

func TestPlanBatchCountsAndOrder(t *testing.T) {
	g := json.RawMessage(`{"nodes":{"a":{"id":"a","type":"integer"},"b":{"id":"b","type":"string"},"c":{"id":"c","type":"float"}},"edges":[]}`)
	runs := 2
	b := Batch{Graph: g, Runs: &runs, Data: [][]BatchDatum{
		{{NodePath: "a", FieldName: "value", Items: []json.RawMessage{json.RawMessage("1"), json.RawMessage("2")}}},
		{{NodePath: "b", FieldName: "value", Items: []json.RawMessage{json.RawMessage(`"x"`), json.RawMessage(`"y"`), json.RawMessage(`"z"`)}},
			{NodePath: "c", FieldName: "value", Items: []json.RawMessage{json.RawMessage("1"), json.RawMessage("2.5"), json.RawMessage("3")}}},
	}}
	p, err := planBatch(&b, coreRegistry(), graph.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if p.requested != 12 {
		t.Fatalf("requested %d", p.requested)
	}
	ss := p.sessions(12)
	var got []string
	for _, s := range ss[:6] {
		got = append(got, fmt.Sprintf("%s%s%s", s.fieldValues[0].Value, s.fieldValues[1].Value, s.fieldValues[2].Value))
	}
	want := []string{`1"x"1`, `1"y"2.5`, `1"z"3`, `2"x"1`, `2"y"2.5`, `2"z"3`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	if string(ss[6].state.Graph.Nodes["a"]["value"]) != "1" || ss[0].state.ID == ss[6].state.ID {
		t.Fatal("the second run repeats the product with fresh session ids")
	}
	// Mixed kinds and image items.
	bad := Batch{Graph: g, Data: [][]BatchDatum{{{NodePath: "b", FieldName: "value", Items: []json.RawMessage{json.RawMessage(`"x"`), json.RawMessage("1")}}}}}
	if _, err := planBatch(&bad, coreRegistry(), graph.DefaultLimits); apperr.StatusOf(err) != 422 {
		t.Fatalf("mixed items: %v", err)
	}
	imgGraph := json.RawMessage(`{"nodes":{"i":{"id":"i","type":"image"}},"edges":[]}`)
	ok := Batch{Graph: imgGraph, Data: [][]BatchDatum{{{NodePath: "i", FieldName: "image", Items: []json.RawMessage{json.RawMessage(`{"image_name":"a.png"}`)}}}}}
	if _, err := planBatch(&ok, coreRegistry(), graph.DefaultLimits); err != nil {
		t.Fatalf("image items: %v", err)
	}
}

func TestServiceRoundRobinPrefersPriorityWithinUser(t *testing.T) {
	s := newTestService(t, Options{Multiuser: true, RoundRobin: true})
	ctx := context.Background()
	sys := access.System()
	g := json.RawMessage(`{"nodes":{"a":{"id":"a","type":"integer"}},"edges":[]}`)
	two := 2
	if _, err := s.Enqueue(ctx, sys, "default", Batch{Graph: g, Runs: &two}, false); err != nil {
		t.Fatal(err)
	}
	high, err := s.Enqueue(ctx, sys, "default", Batch{Graph: g}, true)
	if err != nil {
		t.Fatal(err)
	}
	it, err := s.db.DequeueQueueItem(ctx, true)
	if err != nil || it.ItemID != high.ItemIDs[0] {
		t.Fatalf("dequeued %+v (%v), want the prepended %d", it, err, high.ItemIDs[0])
	}
}

// FuzzBatch feeds arbitrary enqueue bodies to batch validation and expansion: no panic, and every accepted
// batch expands into the number of sessions it claims, each carrying one value per datum.
func FuzzBatch(f *testing.F) {
	seeds := []string{
		`{"graph":{"nodes":{"a":{"id":"a","type":"integer"}},"edges":[]},"runs":2,"data":[[{"node_path":"a","field_name":"value","items":[1,2,3]}]]}`,
		`{"graph":{"nodes":{"a":{"id":"a","type":"string"},"b":{"id":"b","type":"float"}},"edges":[]},"data":[[{"node_path":"a","field_name":"value","items":["x","y"]},{"node_path":"b","field_name":"value","items":[1,2.5]}]]}`,
		`{"graph":{"nodes":{"i":{"id":"i","type":"image"}},"edges":[]},"data":[[{"node_path":"i","field_name":"image","items":[{"image_name":"q.png"}]}]]}`,
		`{"graph":{"nodes":{}},"data":[[]],"runs":0}`,
		`{"graph":null}`, `{"batch_id":"b","origin":"o","graph":{"nodes":{"a":{"id":"a","type":"integer"}},"edges":[]},"data":[[{"node_path":"a","field_name":"value","items":[]}]]}`,
		// Batch nodes, grouped and fed by a generator, lowered into data.
		`{"graph":{"nodes":{"b":{"id":"b","type":"integer_batch","integers":[1,2],"batch_group_id":"Group 1"},"c":{"id":"c","type":"string_batch","strings":["x","y"],"batch_group_id":"Group 1"},"g":{"id":"g","type":"float_generator","generator":{"type":"float_generator_linear_distribution","start":0,"end":1,"count":3}},"f":{"id":"f","type":"float_batch"},"n":{"id":"n","type":"integer"},"s":{"id":"s","type":"string"},"x":{"id":"x","type":"float"}},"edges":[{"source":{"node_id":"b","field":"value"},"destination":{"node_id":"n","field":"value"}},{"source":{"node_id":"c","field":"value"},"destination":{"node_id":"s","field":"value"}},{"source":{"node_id":"g","field":"floats"},"destination":{"node_id":"f","field":"floats"}},{"source":{"node_id":"f","field":"value"},"destination":{"node_id":"x","field":"value"}}]},"runs":1}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	reg := coreRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		var b Batch
		if json.Unmarshal(data, &b) != nil {
			return
		}
		p, err := planBatch(&b, reg, graph.Limits{MaxNodes: 50, MaxEdges: 200})
		if err != nil {
			if _, ok := apperr.As(err); !ok {
				t.Fatalf("planBatch returned a non-client error: %v", err)
			}
			return
		}
		datums := 0
		for _, g := range b.Data {
			datums += len(g)
		}
		n := min(p.requested, 64)
		ss := p.sessions(n)
		if len(ss) != n {
			t.Fatalf("expanded %d sessions, want %d", len(ss), n)
		}
		for _, s := range ss {
			if len(s.fieldValues) != datums {
				t.Fatalf("session carries %d values, want %d", len(s.fieldValues), datums)
			}
			for _, fv := range s.fieldValues {
				if string(s.state.Graph.Nodes[fv.NodePath][fv.FieldName]) != string(fv.Value) {
					t.Fatalf("value not applied to %s.%s", fv.NodePath, fv.FieldName)
				}
			}
			if _, err := json.Marshal(s.state); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// BenchmarkEnqueue1000 enqueues a batch that expands to 1 000 sessions (10 × 10 × 10).
func BenchmarkEnqueue1000(b *testing.B) {
	s := newTestService(b, Options{MaxQueueSize: 1 << 30, MaxPerUser: 1 << 30})
	items := func(n int) []json.RawMessage {
		out := make([]json.RawMessage, n)
		for i := range out {
			out[i] = json.RawMessage(fmt.Sprint(i))
		}
		return out
	}
	g := json.RawMessage(`{"nodes":{"a":{"id":"a","type":"integer"},"b":{"id":"b","type":"integer"},"c":{"id":"c","type":"integer"},
		"f":{"id":"f","type":"float"}},"edges":[{"source":{"node_id":"a","field":"value"},"destination":{"node_id":"f","field":"value"}}]}`)
	batch := Batch{Graph: g, Data: [][]BatchDatum{
		{{NodePath: "a", FieldName: "value", Items: items(10)}},
		{{NodePath: "b", FieldName: "value", Items: items(10)}},
		{{NodePath: "c", FieldName: "value", Items: items(10)}},
	}}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		res, err := s.Enqueue(ctx, access.System(), "default", batch, false)
		if err != nil || res.Enqueued != 1000 {
			b.Fatalf("enqueue: %v %+v", err, res)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/batch")
}

// BenchmarkRunTenNodeGraph measures the per-session overhead of the processor: dequeue, ten trivial nodes
// with their events, the session write-back and the final status.
func BenchmarkRunTenNodeGraph(b *testing.B) {
	s := newTestService(b, Options{MaxQueueSize: 1 << 30, MaxPerUser: 1 << 30})
	nodesJSON := `"n0":{"id":"n0","type":"integer","value":1}`
	edges := ""
	for i := 1; i < 10; i++ {
		nodesJSON += fmt.Sprintf(`,"n%d":{"id":"n%d","type":"integer"}`, i, i)
		if i > 1 {
			edges += ","
		}
		edges += fmt.Sprintf(`{"source":{"node_id":"n%d","field":"value"},"destination":{"node_id":"n%d","field":"value"}}`, i-1, i)
	}
	g := json.RawMessage(`{"nodes":{` + nodesJSON + `},"edges":[` + edges + `]}`)
	ctx := context.Background()
	runs := b.N
	if _, err := s.Enqueue(ctx, access.System(), "default", Batch{Graph: g, Runs: &runs}, false); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if !s.processNext(ctx) {
			b.Fatal("nothing to run")
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/session")
	counts, _ := s.db.QueueCounts(ctx, store.QueueFilter{QueueID: "default"})
	if counts[store.QueueCompleted] != b.N {
		b.Fatalf("completed %d of %d", counts[store.QueueCompleted], b.N)
	}
}

// A database failure while enqueuing answers 500 without the database's words (they are logged instead).
func TestEnqueueFailureHidesInternalText(t *testing.T) {
	s := newTestService(t, Options{Multiuser: true})
	ghost := access.Principal{UserID: "no-such-user", Authenticated: true}
	_, err := s.Enqueue(context.Background(), ghost, "default", Batch{Graph: json.RawMessage(`{"nodes":{"a":{"id":"a","type":"integer"}},"edges":[]}`)}, false)
	ae, ok := apperr.As(err)
	if !ok || ae.Status != 500 || ae.Detail != "Unexpected error while enqueuing batch" || ae.Err == nil {
		t.Fatalf("enqueue for a missing account: %v (%+v)", err, ae)
	}
}
