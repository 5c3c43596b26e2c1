package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/graph"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/core"
)

func registry() *nodes.Registry {
	r := nodes.NewRegistry()
	core.Register(r)
	return r
}

// fakeSession records what the runner reports; images are kept in memory.
type fakeSession struct {
	started, completed []string
	images             map[string]image.Image
}

type fakeCtx struct {
	context.Context
	s    *fakeSession
	exec string
}

func (c *fakeCtx) Item() nodes.Item { return nodes.Item{UserID: "u", NodeID: c.exec} }
func (c *fakeCtx) SaveImage(img image.Image, _ nodes.SaveImageOptions) (nodes.ImageOutput, error) {
	name := c.exec + ".png"
	c.s.images[name] = img
	return nodes.ImageOutput{Image: nodes.ImageField{ImageName: name}, Width: img.Bounds().Dx(), Height: img.Bounds().Dy()}, nil
}
func (c *fakeCtx) LoadImage(name string) (image.Image, error) {
	if img, ok := c.s.images[name]; ok {
		return img, nil
	}
	return nil, nodes.Errorf("FileNotFoundError", "no image %s", name)
}
func (c *fakeCtx) ReportProgress(nodes.Progress) {}

func (s *fakeSession) NodeContext(ctx context.Context, execID, _ string, _ graph.Node) nodes.Context {
	return &fakeCtx{Context: ctx, s: s, exec: execID}
}
func (s *fakeSession) NodeStarted(_, src string, _ graph.Node) { s.started = append(s.started, src) }
func (s *fakeSession) NodeCompleted(_, src string, _ graph.Node, _ map[string]json.RawMessage) {
	s.completed = append(s.completed, src)
}

func mustParse(t testing.TB, s string) *graph.Graph {
	t.Helper()
	g, err := graph.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestValidateAcceptsIntToFloatAndPolymorphism(t *testing.T) {
	g := mustParse(t, `{"nodes":{"i":{"id":"i","type":"integer","value":3},"f":{"id":"f","type":"float"}},
		"edges":[{"source":{"node_id":"i","field":"value"},"destination":{"node_id":"f","field":"value"}}]}`)
	if err := graph.Validate(g, registry(), graph.DefaultLimits); err != nil {
		t.Fatal(err)
	}
	g = mustParse(t, `{"nodes":{"f":{"id":"f","type":"float"},"i":{"id":"i","type":"integer"}},
		"edges":[{"source":{"node_id":"f","field":"value"},"destination":{"node_id":"i","field":"value"}}]}`)
	var probs graph.Problems
	if err := graph.Validate(g, registry(), graph.DefaultLimits); !errors.As(err, &probs) || probs[0].NodeID != "i" || probs[0].Field != "value" {
		t.Fatalf("float→int must be refused naming i.value: %v", err)
	}
	// collection → single is refused; collection → collection works.
	g = mustParse(t, `{"nodes":{"r":{"id":"r","type":"range"},"i":{"id":"i","type":"integer"}},
		"edges":[{"source":{"node_id":"r","field":"collection"},"destination":{"node_id":"i","field":"value"}}]}`)
	if err := graph.Validate(g, registry(), graph.DefaultLimits); err == nil {
		t.Fatal("list[int] → int accepted")
	}
	g = mustParse(t, `{"nodes":{"r":{"id":"r","type":"range"},"c":{"id":"c","type":"integer_collection"}},
		"edges":[{"source":{"node_id":"r","field":"collection"},"destination":{"node_id":"c","field":"collection"}}]}`)
	if err := graph.Validate(g, registry(), graph.DefaultLimits); err != nil {
		t.Fatal(err)
	}
	// Limits.
	if err := graph.Validate(g, registry(), graph.Limits{MaxNodes: 1}); err == nil {
		t.Fatal("node limit not enforced")
	}
}

func TestRunIterateCollectAndCache(t *testing.T) {
	g := mustParse(t, `{"nodes":{
		"r":{"id":"r","type":"range","start":1,"stop":4},
		"it":{"id":"it","type":"iterate"},
		"b":{"id":"b","type":"blank_image","height":4},
		"c":{"id":"c","type":"collect"}},
	"edges":[
		{"source":{"node_id":"r","field":"collection"},"destination":{"node_id":"it","field":"collection"}},
		{"source":{"node_id":"it","field":"item"},"destination":{"node_id":"b","field":"width"}},
		{"source":{"node_id":"b","field":"width"},"destination":{"node_id":"c","field":"item"}}]}`)
	reg := registry()
	if err := graph.Validate(g, reg, graph.DefaultLimits); err != nil {
		t.Fatal(err)
	}
	cache := graph.NewCache(16)
	run := func() (*graph.State, *fakeSession) {
		st := graph.NewState(g)
		sess := &fakeSession{images: map[string]image.Image{}}
		if err := (&graph.Runner{Registry: reg, Cache: cache}).Run(context.Background(), st, sess); err != nil {
			t.Fatal(err)
		}
		return st, sess
	}
	st, sess := run()
	cid := st.SourcePreparedMapping["c"][0]
	if got := string(st.Results[cid]["collection"]); got != "[1,2,3]" {
		t.Fatalf("collected %s", got)
	}
	if len(sess.images) != 3 || len(st.SourcePreparedMapping["it"]) != 3 {
		t.Fatalf("images %d, iterations %v", len(sess.images), st.SourcePreparedMapping["it"])
	}
	_, sess2 := run()
	if len(sess2.images) != 0 {
		t.Fatalf("second run should come from the cache, saved %d images", len(sess2.images))
	}
	if hits, _, _ := cache.Stats(); hits < 4 {
		t.Fatalf("cache hits %d", hits)
	}
}

func TestRunStopsOnCancelAndReportsFailures(t *testing.T) {
	reg := registry()
	g := mustParse(t, `{"nodes":{"a":{"id":"a","type":"integer"},"b":{"id":"b","type":"integer"}},
		"edges":[{"source":{"node_id":"a","field":"value"},"destination":{"node_id":"b","field":"value"}}]}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (&graph.Runner{Registry: reg}).Run(ctx, graph.NewState(g), &fakeSession{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled run: %v", err)
	}
	g = mustParse(t, `{"nodes":{"r":{"id":"r","type":"rand_int","low":5,"high":5}},"edges":[]}`)
	st := graph.NewState(g)
	var nf *graph.NodeFailure
	if err := (&graph.Runner{Registry: reg}).Run(context.Background(), st, &fakeSession{}); !errors.As(err, &nf) || nf.ErrorType != "ValueError" || nf.SourceID != "r" {
		t.Fatalf("failure: %v", err)
	}
	if len(st.Errors) != 1 {
		t.Fatalf("errors %v", st.Errors)
	}
	// The iterate fan-out bound.
	g = mustParse(t, `{"nodes":{"r":{"id":"r","type":"range","stop":50},"it":{"id":"it","type":"iterate"}},
		"edges":[{"source":{"node_id":"r","field":"collection"},"destination":{"node_id":"it","field":"collection"}}]}`)
	if err := (&graph.Runner{Registry: reg, MaxPrepared: 10}).Run(context.Background(), graph.NewState(g), &fakeSession{}); !errors.As(err, &nf) {
		t.Fatalf("fan-out bound: %v", err)
	}
}

func TestStateJSONShape(t *testing.T) {
	st := graph.NewState(mustParse(t, `{"id":"g","nodes":{},"edges":[]}`))
	b, _ := json.Marshal(st)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"id", "graph", "execution_graph", "executed", "executed_history", "results", "errors",
		"prepared_source_mapping", "source_prepared_mapping"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("missing %s in %s", k, b)
		}
	}
}

// FuzzParseGraph feeds arbitrary JSON to the parser and validator, and runs what validates under a deadline:
// nothing may panic, and a valid graph must run to completion, a node failure or the deadline.
func FuzzParseGraph(f *testing.F) {
	seeds := []string{
		`{"nodes":{"a":{"id":"a","type":"integer","value":1}},"edges":[]}`,
		`{"id":"x","nodes":{"r":{"id":"r","type":"range","stop":3},"it":{"id":"it","type":"iterate"},"c":{"id":"c","type":"collect"}},
		  "edges":[{"source":{"node_id":"r","field":"collection"},"destination":{"node_id":"it","field":"collection"}},
		           {"source":{"node_id":"it","field":"item"},"destination":{"node_id":"c","field":"item"}}]}`,
		`{"nodes":{"b":{"id":"b","type":"blank_image","width":4,"height":4},"k":{"id":"k","type":"canny_edge_detection"}},
		  "edges":[{"source":{"node_id":"b","field":"image"},"destination":{"node_id":"k","field":"image"}}]}`,
		`{"nodes":{"a":{"id":"b","type":"nope"}},"edges":[{"source":{"node_id":"q","field":"z"},"destination":{"node_id":"a","field":"y"}}]}`,
		`{"nodes":{"a":1},"edges":null}`, `[]`, `null`, `{"nodes":{"a":{"id":"a","type":"float","value":"NaN"}}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	reg := registry()
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := graph.Parse(data)
		if err != nil {
			return
		}
		if err := graph.Validate(g, reg, graph.Limits{MaxNodes: 50, MaxEdges: 200}); err != nil {
			var probs graph.Problems
			if !errors.As(err, &probs) || len(probs) == 0 {
				t.Fatalf("validation error of an unexpected kind: %v", err)
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		st := graph.NewState(g)
		err = (&graph.Runner{Registry: reg, MaxPrepared: 2000}).Run(ctx, st, &fakeSession{images: map[string]image.Image{}})
		var nf *graph.NodeFailure
		if err != nil && !errors.As(err, &nf) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("run of a valid graph: %v", err)
		}
		if _, err := json.Marshal(st); err != nil {
			t.Fatalf("state does not encode: %v", err)
		}
	})
}
