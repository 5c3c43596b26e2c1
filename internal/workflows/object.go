package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// object is a JSON object kept as raw member values in their original order. A workflow is stored as
// received, so the server touches only the members it owns (id, tags) and leaves the rest to the frontend.
// A key that appears twice keeps its first position and its last value, as JSON.parse does; the encoded
// object has each key once, so SQLite's json_extract and Go read the same member.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

var errNotObject = errors.New("not a JSON object")

func parseObject(raw []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	o := &object{vals: map[string]json.RawMessage{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key is %T", tok)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		o.set(key, v)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the object")
	}
	return o, nil
}

func (o *object) get(key string) (json.RawMessage, bool) {
	v, ok := o.vals[key]
	return v, ok
}

func (o *object) set(key string, v json.RawMessage) {
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
}

func (o *object) clone() *object {
	c := &object{keys: append([]string(nil), o.keys...), vals: make(map[string]json.RawMessage, len(o.vals))}
	for k, v := range o.vals {
		c.vals[k] = v
	}
	return c
}

// encode writes the object compactly; member values keep their bytes apart from insignificant whitespace.
func (o *object) encode() []byte {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		name, _ := json.Marshal(k)
		buf.Write(name)
		buf.WriteByte(':')
		if err := json.Compact(&buf, o.vals[k]); err != nil {
			buf.Write(o.vals[k]) // unreachable: values were decoded as valid JSON
		}
	}
	buf.WriteByte('}')
	return buf.Bytes()
}
