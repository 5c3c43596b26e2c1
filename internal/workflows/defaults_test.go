package workflows

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDefaultWorkflowForms: every built-in workflow's form shows each exposed field exactly once, under an
// element of its own, and names only nodes and inputs the workflow has (two prompt fields once shared one
// element id, so the form showed the negative prompt twice).
func TestDefaultWorkflowForms(t *testing.T) {
	defaults, err := DefaultWorkflows()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defaults {
		var wf struct {
			ExposedFields []struct {
				NodeID    string `json:"nodeId"`
				FieldName string `json:"fieldName"`
			} `json:"exposedFields"`
			Nodes []struct {
				ID   string `json:"id"`
				Data struct {
					Inputs map[string]json.RawMessage `json:"inputs"`
				} `json:"data"`
			} `json:"nodes"`
			Form struct {
				Elements map[string]struct {
					ID       string `json:"id"`
					Type     string `json:"type"`
					ParentID string `json:"parentId"`
					Data     struct {
						FieldIdentifier *struct {
							NodeID    string `json:"nodeId"`
							FieldName string `json:"fieldName"`
						} `json:"fieldIdentifier"`
						Children []string `json:"children"`
					} `json:"data"`
				} `json:"elements"`
				RootElementID string `json:"rootElementId"`
			} `json:"form"`
		}
		if err := json.Unmarshal([]byte(d.Document), &wf); err != nil {
			t.Fatalf("%s: %v", d.ID, err)
		}
		if strings.Count(d.Document, `"node-field-`) != 3*len(wf.ExposedFields) {
			t.Errorf("%s: element ids repeat: %d node-field mentions for %d exposed fields", d.ID, strings.Count(d.Document, `"node-field-`), len(wf.ExposedFields))
		}
		inputs := map[string]map[string]json.RawMessage{}
		for _, n := range wf.Nodes {
			inputs[n.ID] = n.Data.Inputs
		}
		root, ok := wf.Form.Elements[wf.Form.RootElementID]
		if !ok {
			t.Fatalf("%s: no root element", d.ID)
		}
		shown := map[string]int{}
		seen := map[string]bool{}
		for _, c := range root.Data.Children {
			if seen[c] {
				t.Errorf("%s: element %s is listed twice", d.ID, c)
			}
			seen[c] = true
			el, ok := wf.Form.Elements[c]
			if !ok || el.ID != c || el.ParentID != wf.Form.RootElementID {
				t.Errorf("%s: child %s is missing or malformed", d.ID, c)
				continue
			}
			if fi := el.Data.FieldIdentifier; fi != nil {
				if _, ok := inputs[fi.NodeID][fi.FieldName]; !ok {
					t.Errorf("%s: form field %s.%s names no input", d.ID, fi.NodeID, fi.FieldName)
				}
				shown[fi.NodeID+"."+fi.FieldName]++
			}
		}
		for _, f := range wf.ExposedFields {
			if n := shown[f.NodeID+"."+f.FieldName]; n != 1 {
				t.Errorf("%s: exposed field %s.%s is shown %d times", d.ID, f.NodeID, f.FieldName, n)
			}
		}
	}
}
