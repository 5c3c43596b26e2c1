package queue

import (
	"context"
	"encoding/json"
	"image"
	"testing"

	"github.com/invokego/invokego/internal/graph"
	"github.com/invokego/invokego/internal/nodes"
)

// minPrepared is a lower bound of what a session prepares: it may refuse a graph at enqueue only when running it
// would certainly outgrow max_session_nodes. Each case is run for real and its prepared count compared.
func TestMinPreparedIsALowerBound(t *testing.T) {
	reg := coreRegistry()
	cases := []struct {
		name  string
		graph string
		want  int // the estimate
	}{
		{"no iteration", `{"nodes":{"a":{"id":"a","type":"integer"},"b":{"id":"b","type":"integer"}},"edges":[]}`, 2},
		{"one iteration over a literal range", `{"nodes":{"r":{"id":"r","type":"range","stop":5},"it":{"id":"it","type":"iterate"},"n":{"id":"n","type":"integer"}},
			"edges":[{"source":{"node_id":"r","field":"collection"},"destination":{"node_id":"it","field":"collection"}},
			{"source":{"node_id":"it","field":"item"},"destination":{"node_id":"n","field":"value"}}]}`, 1 + 5 + 5},
		{"a collect closes the iteration", `{"nodes":{"r":{"id":"r","type":"range","stop":4},"it":{"id":"it","type":"iterate"},"n":{"id":"n","type":"integer"},
			"c":{"id":"c","type":"collect"},"it2":{"id":"it2","type":"iterate"},"m":{"id":"m","type":"integer"}},
			"edges":[{"source":{"node_id":"r","field":"collection"},"destination":{"node_id":"it","field":"collection"}},
			{"source":{"node_id":"it","field":"item"},"destination":{"node_id":"n","field":"value"}},
			{"source":{"node_id":"n","field":"value"},"destination":{"node_id":"c","field":"item"}},
			{"source":{"node_id":"c","field":"collection"},"destination":{"node_id":"it2","field":"collection"}},
			{"source":{"node_id":"it2","field":"item"},"destination":{"node_id":"m","field":"value"}}]}`, 1 + 4 + 4 + 1},
		{"two independent iterations meet", `{"nodes":{"r1":{"id":"r1","type":"range","stop":3},"r2":{"id":"r2","type":"range","start":10,"stop":0,"step":-2},
			"i1":{"id":"i1","type":"iterate"},"i2":{"id":"i2","type":"iterate"},"add":{"id":"add","type":"add"}},
			"edges":[{"source":{"node_id":"r1","field":"collection"},"destination":{"node_id":"i1","field":"collection"}},
			{"source":{"node_id":"r2","field":"collection"},"destination":{"node_id":"i2","field":"collection"}},
			{"source":{"node_id":"i1","field":"item"},"destination":{"node_id":"add","field":"a"}},
			{"source":{"node_id":"i2","field":"item"},"destination":{"node_id":"add","field":"b"}}]}`, 2 + 3 + 5 + 15},
		{"an iteration whose length only running tells", `{"nodes":{"r1":{"id":"r1","type":"range","stop":3},"i1":{"id":"i1","type":"iterate"},
			"r2":{"id":"r2","type":"range","stop":6},"i2":{"id":"i2","type":"iterate"},"n":{"id":"n","type":"integer"}},
			"edges":[{"source":{"node_id":"r1","field":"collection"},"destination":{"node_id":"i1","field":"collection"}},
			{"source":{"node_id":"i1","field":"item"},"destination":{"node_id":"r2","field":"start"}},
			{"source":{"node_id":"r2","field":"collection"},"destination":{"node_id":"i2","field":"collection"}},
			{"source":{"node_id":"i2","field":"item"},"destination":{"node_id":"n","field":"value"}}]}`, 1 + 3 + 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := graph.Parse(json.RawMessage(tc.graph))
			if err != nil {
				t.Fatal(err)
			}
			if err := graph.Validate(g, reg, graph.DefaultLimits); err != nil {
				t.Fatal(err)
			}
			est := minPrepared(g, reg)
			if est != tc.want {
				t.Errorf("estimate %d, want %d", est, tc.want)
			}
			st := graph.NewState(g)
			runner := &graph.Runner{Registry: reg}
			if err := runner.Run(t.Context(), st, nopSession{}); err != nil {
				t.Fatal(err)
			}
			if actual := len(st.ExecutionGraph.Nodes); est > actual {
				t.Fatalf("estimate %d above the %d nodes the session prepared", est, actual)
			}
		})
	}
}

// nopSession runs graphs without storage: the estimate cases use no images.
type nopSession struct{}

type nopCtx struct{ context.Context }

func (nopCtx) Item() nodes.Item { return nodes.Item{UserID: "u"} }
func (nopCtx) SaveImage(image.Image, nodes.SaveImageOptions) (nodes.ImageOutput, error) {
	return nodes.ImageOutput{}, nodes.Errorf("RuntimeError", "no images here")
}
func (nopCtx) LoadImage(string) (image.Image, error) {
	return nil, nodes.Errorf("RuntimeError", "no images here")
}
func (nopCtx) ReportProgress(nodes.Progress) {}

func (nopSession) NodeContext(ctx context.Context, _, _ string, _ graph.Node) nodes.Context {
	return nopCtx{ctx}
}
func (nopSession) NodeStarted(string, string, graph.Node)                               {}
func (nopSession) NodeCompleted(string, string, graph.Node, map[string]json.RawMessage) {}
