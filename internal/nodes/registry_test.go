package nodes

import (
	"encoding/json"
	"testing"
)

type echoOutput struct {
	Value int `json:"value"`
}

func (echoOutput) OutputType() string { return "echo_output" }

// Echo is a test node with a dependency in an unexported field.
type Echo struct {
	Value int `json:"value" default:"3" ge:"0" le:"10"`
	dep   *int
}

func (*Echo) NodeInfo() Info {
	return Info{Type: "echo", Title: "Echo", Tags: []string{"test"}, Category: "test", Version: "1.2.3", Output: echoOutput{}}
}

func (n *Echo) Invoke(Context) (Output, error) { return echoOutput{n.Value + *n.dep}, nil }

// A registered prototype gives each decode a fresh copy that keeps its dependencies; the definition comes from
// the type (class from the Go name, stable by default).
func TestRegisterPrototype(t *testing.T) {
	dep := 100
	r := NewRegistry()
	r.Register(&Echo{dep: &dep})
	nt, ok := r.Lookup("echo")
	if !ok || nt.Class != "EchoInvocation" || nt.Classification != "stable" || nt.Version != "1.2.3" || nt.Title != "Echo" {
		t.Fatalf("type %+v", nt.Info)
	}
	a, err := nt.Decode(map[string]json.RawMessage{"value": json.RawMessage("7")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := nt.Decode(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.(*Echo).Value != 7 || b.(*Echo).Value != 3 || a.(*Echo).dep != &dep || a == b {
		t.Fatalf("decoded %+v %+v", a, b)
	}
	_, err = nt.Decode(map[string]json.RawMessage{"value": json.RawMessage("11")}, nil)
	fe, ok := err.(*FieldError)
	if !ok || fe.Type != "less_than_equal" || fe.Field != "value" || fe.Ctx["le"] != int64(10) {
		t.Fatalf("bound: %#v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a second registration of a type must panic")
		}
	}()
	r.Register(&Echo{})
}
