package app_test

import (
	"encoding/json"
	"testing"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/workflows"
)

// TestDefaultWorkflowsUseRegisteredNodes keeps the built-in library runnable: every node a default workflow
// uses must be a registered node type, with the inputs and outputs its fields and edges name.
func TestDefaultWorkflowsUseRegisteredNodes(t *testing.T) {
	env := apitest.New(t)
	reg := env.App.NodeRegistry()
	defaults, err := workflows.DefaultWorkflows()
	if err != nil || len(defaults) == 0 {
		t.Fatalf("defaults: %v (%d)", err, len(defaults))
	}
	for _, d := range defaults {
		var doc struct {
			Nodes []struct {
				ID   string `json:"id"`
				Type string `json:"type"`
				Data struct {
					Type   string                     `json:"type"`
					Inputs map[string]json.RawMessage `json:"inputs"`
				} `json:"data"`
			} `json:"nodes"`
			Edges []struct {
				Source       string `json:"source"`
				Target       string `json:"target"`
				SourceHandle string `json:"sourceHandle"`
				TargetHandle string `json:"targetHandle"`
			} `json:"edges"`
		}
		if err := json.Unmarshal([]byte(d.Document), &doc); err != nil {
			t.Fatalf("%s: %v", d.ID, err)
		}
		typeOf := map[string]string{}
		for _, n := range doc.Nodes {
			if n.Type != "invocation" {
				continue
			}
			typeOf[n.ID] = n.Data.Type
			nt, ok := reg.Lookup(n.Data.Type)
			if !ok {
				t.Errorf("%s: node %s has unknown type %q", d.ID, n.ID, n.Data.Type)
				continue
			}
			for name := range n.Data.Inputs {
				if _, ok := nt.Input(name); !ok {
					t.Errorf("%s: %s has no input %q", d.ID, n.Data.Type, name)
				}
			}
		}
		for _, e := range doc.Edges {
			if src, ok := reg.Lookup(typeOf[e.Source]); ok {
				if _, ok := src.OutputField(e.SourceHandle); !ok {
					t.Errorf("%s: %s has no output %q", d.ID, typeOf[e.Source], e.SourceHandle)
				}
			}
			if dst, ok := reg.Lookup(typeOf[e.Target]); ok {
				if _, ok := dst.Input(e.TargetHandle); !ok {
					t.Errorf("%s: %s has no input %q", d.ID, typeOf[e.Target], e.TargetHandle)
				}
			}
		}
	}
}
