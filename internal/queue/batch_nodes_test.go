package queue

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/graph"
)

// Batch nodes become batch data as InvokeAI's UI makes it: one group per ungrouped batch node, one zipped group
// per batch_group_id, values from a generator when one feeds the batch node; the batch nodes and their
// generators leave the graph, and every session sets the fields they fed.
func TestBatchNodesBecomeBatchData(t *testing.T) {
	reg := coreRegistry()
	g := `{"nodes":{
		"a":{"id":"a","type":"integer_batch","integers":[1,2,3]},
		"gen":{"id":"gen","type":"integer_generator","generator":{"type":"integer_generator_arithmetic_sequence","start":10,"step":10,"count":2}},
		"b":{"id":"b","type":"integer_batch","batch_group_id":"Group 1"},
		"c":{"id":"c","type":"string_batch","batch_group_id":"Group 1","strings":["x","y"]},
		"add":{"id":"add","type":"add"},
		"s":{"id":"s","type":"string"},
		"s2":{"id":"s2","type":"string"}},
		"edges":[
		{"source":{"node_id":"a","field":"value"},"destination":{"node_id":"add","field":"a"}},
		{"source":{"node_id":"gen","field":"integers"},"destination":{"node_id":"b","field":"integers"}},
		{"source":{"node_id":"b","field":"value"},"destination":{"node_id":"add","field":"b"}},
		{"source":{"node_id":"c","field":"value"},"destination":{"node_id":"s","field":"value"}},
		{"source":{"node_id":"c","field":"value"},"destination":{"node_id":"s2","field":"value"}}]}`
	b := Batch{Graph: json.RawMessage(g)}
	p, err := planBatch(&b, reg, graph.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c", "gen"} {
		if _, ok := p.graph.Nodes[id]; ok {
			t.Errorf("node %s is still in the graph", id)
		}
	}
	if len(p.graph.Edges) != 0 {
		t.Errorf("edges left: %v", p.graph.Edges)
	}
	if len(b.Data) != 2 || len(b.Data[0]) != 1 || len(b.Data[1]) != 3 {
		t.Fatalf("data = %+v", b.Data)
	}
	if p.requested != 6 {
		t.Errorf("requested %d, want 3 × 2", p.requested)
	}
	var got []string
	for _, s := range p.sessions(p.requested) {
		v := map[string]string{}
		for _, fv := range s.fieldValues {
			v[fv.NodePath+"."+fv.FieldName] = string(fv.Value)
		}
		got = append(got, fmt.Sprintf("%s+%s %s %s", v["add.a"], v["add.b"], v["s.value"], v["s2.value"]))
	}
	want := []string{`1+10 "x" "x"`, `1+20 "y" "y"`, `2+10 "x" "x"`, `2+20 "y" "y"`, `3+10 "x" "x"`, `3+20 "y" "y"`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("sessions\n got %q\nwant %q", got, want)
	}
}

func TestBadBatchNodesAreRefused(t *testing.T) {
	reg := coreRegistry()
	cases := map[string]string{
		"empty values": `{"nodes":{"a":{"id":"a","type":"float_batch","floats":[]},"f":{"id":"f","type":"float"}},
			"edges":[{"source":{"node_id":"a","field":"value"},"destination":{"node_id":"f","field":"value"}}]}`,
		"zipped lengths differ": `{"nodes":{"a":{"id":"a","type":"float_batch","batch_group_id":"Group 2","floats":[1,2]},
			"b":{"id":"b","type":"float_batch","batch_group_id":"Group 2","floats":[1]},"f":{"id":"f","type":"float"},"h":{"id":"h","type":"float"}},
			"edges":[{"source":{"node_id":"a","field":"value"},"destination":{"node_id":"f","field":"value"}},
			{"source":{"node_id":"b","field":"value"},"destination":{"node_id":"h","field":"value"}}]}`,
		"values from a non-generator": `{"nodes":{"r":{"id":"r","type":"range","stop":3},"a":{"id":"a","type":"integer_batch"},"n":{"id":"n","type":"integer"}},
			"edges":[{"source":{"node_id":"r","field":"collection"},"destination":{"node_id":"a","field":"integers"}},
			{"source":{"node_id":"a","field":"value"},"destination":{"node_id":"n","field":"value"}}]}`,
		"image batch's width": `{"nodes":{"a":{"id":"a","type":"image_batch","images":[{"image_name":"x.png"}]},"n":{"id":"n","type":"integer"}},
			"edges":[{"source":{"node_id":"a","field":"width"},"destination":{"node_id":"n","field":"value"}}]}`,
		"a generator past its bound": `{"nodes":{"gen":{"id":"gen","type":"float_generator","generator":{"type":"float_generator_arithmetic_sequence","count":2000000}},
			"a":{"id":"a","type":"float_batch"},"f":{"id":"f","type":"float"}},
			"edges":[{"source":{"node_id":"gen","field":"floats"},"destination":{"node_id":"a","field":"floats"}},
			{"source":{"node_id":"a","field":"value"},"destination":{"node_id":"f","field":"value"}}]}`,
	}
	names := make([]string, 0, len(cases))
	for k := range cases {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		b := Batch{Graph: json.RawMessage(cases[name])}
		_, err := planBatch(&b, reg, graph.DefaultLimits)
		if e, ok := apperr.As(err); !ok || e.Status != 422 {
			t.Errorf("%s: %v, want a 422", name, err)
		}
	}
}
