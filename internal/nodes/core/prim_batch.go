package core

import (
	"encoding/json"
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/invokego/invokego/internal/engine/noise"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/prompts/dynamic"
	"github.com/invokego/invokego/internal/schema"
)

// Batch and generator nodes (InvokeAI's "special" primitives). InvokeAI never runs them: its web UI resolves
// the generators, turns each batch node's values into the batch data of the enqueue request and leaves both out
// of the graph. invokego does the same at enqueue for graphs that still contain them (queue.LowerBatchNodes,
// docs/compatibility.md "Batch nodes"), so API clients get the same runs; the generators compute their values
// here, exactly as InvokeAI's UI computes them.

// BatchGroupID is a batch node's group: batch nodes of one group (other than "None") are zipped.
type BatchGroupID string

// LiteralValues implements schema.Literal.
func (BatchGroupID) LiteralValues() []string {
	return []string{"None", "Group 1", "Group 2", "Group 3", "Group 4", "Group 5"}
}

// errNotExecutable is what a batch node answers if it reaches the runner (InvokeAI's NotExecutableNodeError).
func errNotExecutable() error {
	return nodes.Errorf("NotExecutableNodeError", "This class should never be executed or instantiated directly.")
}

// BatchNode is implemented by the batch node types: the field that holds their values and their group.
type BatchNode interface {
	nodes.Node
	// BatchField names the input that holds the values to batch over.
	BatchField() string
	// BatchGroup is the batch_group_id.
	BatchGroup() string
}

// ImageBatch is image_batch.
type ImageBatch struct {
	BatchGroupID BatchGroupID       `json:"batch_group_id" default:"None" input:"direct" title:"Batch Group" description:"The ID of this batch node's group. If provided, all batch nodes in with the same ID will be 'zipped' before execution, and all nodes' collections must be of the same size."`
	Images       []nodes.ImageField `json:"images" min_length:"1" description:"The images to batch over"`
}

// NodeInfo implements nodes.Node.
func (*ImageBatch) NodeInfo() nodes.Info {
	return nodes.Info{Type: "image_batch", Class: "ImageBatchInvocation", Title: "Image Batch",
		Description: "Create a batched generation, where the workflow is executed once for each image in the batch.",
		Tags:        []string{"primitives", "image", "batch", "special"}, Category: "primitives", Version: "1.0.0",
		Classification: "special", Output: nodes.ImageOutput{}}
}

// Invoke implements nodes.Invocation.
func (*ImageBatch) Invoke(nodes.Context) (nodes.Output, error) { return nil, errNotExecutable() }

// BatchField implements BatchNode.
func (*ImageBatch) BatchField() string { return "images" }

// BatchGroup implements BatchNode.
func (n *ImageBatch) BatchGroup() string { return string(n.BatchGroupID) }

// StringBatch is string_batch.
type StringBatch struct {
	BatchGroupID BatchGroupID `json:"batch_group_id" default:"None" input:"direct" title:"Batch Group" description:"The ID of this batch node's group. If provided, all batch nodes in with the same ID will be 'zipped' before execution, and all nodes' collections must be of the same size."`
	Strings      []string     `json:"strings" min_length:"1" description:"The strings to batch over"`
}

// NodeInfo implements nodes.Node.
func (*StringBatch) NodeInfo() nodes.Info {
	return nodes.Info{Type: "string_batch", Class: "StringBatchInvocation", Title: "String Batch",
		Description: "Create a batched generation, where the workflow is executed once for each string in the batch.",
		Tags:        []string{"primitives", "string", "batch", "special"}, Category: "primitives", Version: "1.0.0",
		Classification: "special", Output: StringOutput{}}
}

// Invoke implements nodes.Invocation.
func (*StringBatch) Invoke(nodes.Context) (nodes.Output, error) { return nil, errNotExecutable() }

// BatchField implements BatchNode.
func (*StringBatch) BatchField() string { return "strings" }

// BatchGroup implements BatchNode.
func (n *StringBatch) BatchGroup() string { return string(n.BatchGroupID) }

// IntegerBatch is integer_batch.
type IntegerBatch struct {
	BatchGroupID BatchGroupID `json:"batch_group_id" default:"None" input:"direct" title:"Batch Group" description:"The ID of this batch node's group. If provided, all batch nodes in with the same ID will be 'zipped' before execution, and all nodes' collections must be of the same size."`
	Integers     []int64      `json:"integers" min_length:"1" description:"The integers to batch over"`
}

// NodeInfo implements nodes.Node.
func (*IntegerBatch) NodeInfo() nodes.Info {
	return nodes.Info{Type: "integer_batch", Class: "IntegerBatchInvocation", Title: "Integer Batch",
		Description: "Create a batched generation, where the workflow is executed once for each integer in the batch.",
		Tags:        []string{"primitives", "integer", "number", "batch", "special"}, Category: "primitives",
		Version: "1.0.0", Classification: "special", Output: IntegerOutput{}}
}

// Invoke implements nodes.Invocation.
func (*IntegerBatch) Invoke(nodes.Context) (nodes.Output, error) { return nil, errNotExecutable() }

// BatchField implements BatchNode.
func (*IntegerBatch) BatchField() string { return "integers" }

// BatchGroup implements BatchNode.
func (n *IntegerBatch) BatchGroup() string { return string(n.BatchGroupID) }

// FloatBatch is float_batch.
type FloatBatch struct {
	BatchGroupID BatchGroupID `json:"batch_group_id" default:"None" input:"direct" title:"Batch Group" description:"The ID of this batch node's group. If provided, all batch nodes in with the same ID will be 'zipped' before execution, and all nodes' collections must be of the same size."`
	Floats       []float64    `json:"floats" min_length:"1" description:"The floats to batch over"`
}

// NodeInfo implements nodes.Node.
func (*FloatBatch) NodeInfo() nodes.Info {
	return nodes.Info{Type: "float_batch", Class: "FloatBatchInvocation", Title: "Float Batch",
		Description: "Create a batched generation, where the workflow is executed once for each float in the batch.",
		Tags:        []string{"primitives", "float", "number", "batch", "special"}, Category: "primitives",
		Version: "1.0.0", Classification: "special", Output: FloatOutput{}}
}

// Invoke implements nodes.Invocation.
func (*FloatBatch) Invoke(nodes.Context) (nodes.Output, error) { return nil, errNotExecutable() }

// BatchField implements BatchNode.
func (*FloatBatch) BatchField() string { return "floats" }

// BatchGroup implements BatchNode.
func (n *FloatBatch) BatchGroup() string { return string(n.BatchGroupID) }

// Generators.

// MaxGenerated bounds the values one generator makes (as range's collections).
const MaxGenerated = maxRange

// generatorSpec is a generator field's value: an object with a "type" and that type's settings, as InvokeAI's
// UI stores it. InvokeAI's schema declares the field as an object without properties.
type generatorSpec map[string]json.RawMessage

func (g generatorSpec) kind() string {
	var s string
	_ = json.Unmarshal(g["type"], &s)
	return s
}

// num reads a number setting, def when absent or null.
func (g generatorSpec) num(name string, def float64) (float64, error) {
	raw, ok := g[name]
	if !ok || string(raw) == "null" {
		return def, nil
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, nodes.Errorf("ValueError", "generator %s must be a number", name)
	}
	return v, nil
}

// integer reads an integer setting.
func (g generatorSpec) integer(name string, def int64) (int64, error) {
	v, err := g.num(name, float64(def))
	if err != nil {
		return 0, err
	}
	if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
		return 0, nodes.Errorf("ValueError", "generator %s must be an integer", name)
	}
	return int64(v), nil
}

func (g generatorSpec) str(name, def string) (string, error) {
	raw, ok := g[name]
	if !ok || string(raw) == "null" {
		return def, nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", nodes.Errorf("ValueError", "generator %s must be a string", name)
	}
	return v, nil
}

// count reads a count and bounds it.
func (g generatorSpec) count(def int64) (int, error) {
	c, err := g.integer("count", def)
	if err != nil {
		return 0, err
	}
	if c < 0 || c > MaxGenerated {
		return 0, nodes.Errorf("ValueError", "generator count must be between 0 and %d, not %d", MaxGenerated, c)
	}
	return int(c), nil
}

// seed reads the optional seed of a random generator.
func (g generatorSpec) seed() (*int64, error) {
	raw, ok := g["seed"]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	s, err := g.integer("seed", 0)
	return &s, err
}

// given returns the values the UI already resolved ("values"), if any.
func given[T any](g generatorSpec) ([]T, bool, error) {
	raw, ok := g["values"]
	if !ok || string(raw) == "null" {
		return nil, false, nil
	}
	var v []T
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false, nodes.Errorf("ValueError", "generator values: %v", err)
	}
	if len(v) > MaxGenerated {
		return nil, false, nodes.Errorf("ValueError", "a generator makes at most %d values", MaxGenerated)
	}
	return v, true, nil
}

// splitList splits a parse_string generator's input as InvokeAI's UI does: splitOn is first read as the body of
// a JSON string (so "\n" means a newline), an empty one keeps the input whole.
func splitList(input, splitOn string) []string {
	if splitOn == "" {
		return []string{input}
	}
	sep := splitOn
	var decoded string
	if err := json.Unmarshal([]byte(`"`+splitOn+`"`), &decoded); err == nil {
		sep = decoded
	}
	if sep == "" {
		// JavaScript's split("") splits between UTF-16 units; runes are close enough for the printable text
		// this sees.
		var out []string
		for _, r := range input {
			out = append(out, string(r))
		}
		return out
	}
	return strings.Split(input, sep)
}

// jsTrim is JavaScript's String.prototype.trim (lodash's trim strips the same whitespace).
func jsTrim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		switch r {
		case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
			return true
		}
		return r >= 0x2000 && r <= 0x200a
	})
}

// jsParseFloat is JavaScript's parseFloat: the longest leading decimal literal (or Infinity); ok is false for NaN.
func jsParseFloat(s string) (float64, bool) {
	s = jsTrim(s)
	for _, inf := range []string{"+Infinity", "-Infinity", "Infinity"} {
		if strings.HasPrefix(s, inf) {
			if inf[0] == '-' {
				return math.Inf(-1), true
			}
			return math.Inf(1), true
		}
	}
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(s[:i], "."), 64)
	if err != nil && !strings.Contains(err.Error(), "range") {
		return 0, false
	}
	return v, true
}

// jsParseInt is JavaScript's parseInt(s, 10): the leading decimal digits.
func jsParseInt(s string) (int64, bool) {
	s = jsTrim(s)
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i {
		return 0, false
	}
	v, err := strconv.ParseInt(s[:j], 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// mersenneTwister is the MT19937 of the mersenne-twister package InvokeAI's UI draws seeded values with:
// init_genrand seeding, random() = genrand_int32 / 2^32.
type mersenneTwister struct {
	mt  [624]uint32
	idx int
}

func newMersenneTwister(seed int64) *mersenneTwister {
	m := &mersenneTwister{idx: 624}
	m.mt[0] = uint32(seed) // JavaScript's seed >>> 0
	for i := 1; i < 624; i++ {
		p := m.mt[i-1]
		m.mt[i] = 1812433253*(p^(p>>30)) + uint32(i)
	}
	return m
}

func (m *mersenneTwister) uint32() uint32 {
	if m.idx >= 624 {
		for i := 0; i < 624; i++ {
			y := m.mt[i]&0x80000000 | m.mt[(i+1)%624]&0x7fffffff
			v := m.mt[(i+397)%624] ^ y>>1
			if y&1 != 0 {
				v ^= 0x9908b0df
			}
			m.mt[i] = v
		}
		m.idx = 0
	}
	y := m.mt[m.idx]
	m.idx++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

func (m *mersenneTwister) random() float64 { return float64(m.uint32()) / 4294967296.0 }

// uniform returns the [0,1) source of a random generator: seeded as InvokeAI's UI, or unseeded.
func uniform(seed *int64) func() float64 {
	if seed == nil {
		return rand.Float64
	}
	return newMersenneTwister(*seed).random
}

// FloatGeneratorField is a float generator's settings.
type FloatGeneratorField struct{ generatorSpec }

// FieldTypeName implements nodes.TypeNamer.
func (FloatGeneratorField) FieldTypeName() string { return "FloatGeneratorField" }

// OpenAPISchema implements schema.Provider.
func (FloatGeneratorField) OpenAPISchema(c *schema.Components) map[string]any {
	return emptyObject(c, "FloatGeneratorField")
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *FloatGeneratorField) UnmarshalJSON(b []byte) error {
	return json.Unmarshal(b, &f.generatorSpec)
}

// MarshalJSON implements json.Marshaler.
func (f FloatGeneratorField) MarshalJSON() ([]byte, error) { return marshalSpec(f.generatorSpec) }

// IntegerGeneratorField is an integer generator's settings.
type IntegerGeneratorField struct{ generatorSpec }

// FieldTypeName implements nodes.TypeNamer.
func (IntegerGeneratorField) FieldTypeName() string { return "IntegerGeneratorField" }

// OpenAPISchema implements schema.Provider.
func (IntegerGeneratorField) OpenAPISchema(c *schema.Components) map[string]any {
	return emptyObject(c, "IntegerGeneratorField")
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *IntegerGeneratorField) UnmarshalJSON(b []byte) error {
	return json.Unmarshal(b, &f.generatorSpec)
}

// MarshalJSON implements json.Marshaler.
func (f IntegerGeneratorField) MarshalJSON() ([]byte, error) { return marshalSpec(f.generatorSpec) }

// StringGeneratorField is a string generator's settings.
type StringGeneratorField struct{ generatorSpec }

// FieldTypeName implements nodes.TypeNamer.
func (StringGeneratorField) FieldTypeName() string { return "StringGeneratorField" }

// OpenAPISchema implements schema.Provider.
func (StringGeneratorField) OpenAPISchema(c *schema.Components) map[string]any {
	return emptyObject(c, "StringGeneratorField")
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *StringGeneratorField) UnmarshalJSON(b []byte) error {
	return json.Unmarshal(b, &f.generatorSpec)
}

// MarshalJSON implements json.Marshaler.
func (f StringGeneratorField) MarshalJSON() ([]byte, error) { return marshalSpec(f.generatorSpec) }

// ImageGeneratorField is an image generator's settings.
type ImageGeneratorField struct{ generatorSpec }

// FieldTypeName implements nodes.TypeNamer.
func (ImageGeneratorField) FieldTypeName() string { return "ImageGeneratorField" }

// OpenAPISchema implements schema.Provider.
func (ImageGeneratorField) OpenAPISchema(c *schema.Components) map[string]any {
	return emptyObject(c, "ImageGeneratorField")
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *ImageGeneratorField) UnmarshalJSON(b []byte) error {
	return json.Unmarshal(b, &f.generatorSpec)
}

// MarshalJSON implements json.Marshaler.
func (f ImageGeneratorField) MarshalJSON() ([]byte, error) { return marshalSpec(f.generatorSpec) }

func marshalSpec(g generatorSpec) ([]byte, error) {
	if g == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]json.RawMessage(g))
}

func emptyObject(c *schema.Components, name string) map[string]any {
	if !c.Has(name) {
		c.Add(name, map[string]any{"properties": map[string]any{}, "title": name, "type": "object"})
	}
	return schema.Ref(name)
}

// FloatGeneratorOutput is float_generator_output.
type FloatGeneratorOutput struct {
	Floats []float64 `json:"floats" description:"The generated floats"`
}

// OutputType implements nodes.Output.
func (FloatGeneratorOutput) OutputType() string { return "float_generator_output" }

// IntegerGeneratorOutput is integer_generator_output.
type IntegerGeneratorOutput struct {
	Integers []int64 `json:"integers" description:"The generated integers"`
}

// OutputType implements nodes.Output.
func (IntegerGeneratorOutput) OutputType() string { return "integer_generator_output" }

// StringGeneratorOutput is string_generator_output.
type StringGeneratorOutput struct {
	Strings []string `json:"strings" description:"The generated strings"`
}

// OutputType implements nodes.Output.
func (StringGeneratorOutput) OutputType() string { return "string_generator_output" }

// ImageGeneratorOutput is image_generator_output.
type ImageGeneratorOutput struct {
	Images []nodes.ImageField `json:"images" description:"The generated images"`
}

// OutputType implements nodes.Output.
func (ImageGeneratorOutput) OutputType() string { return "image_generator_output" }

// FloatGenerator is float_generator.
type FloatGenerator struct {
	Generator FloatGeneratorField `json:"generator" input:"direct" title:"Generator Type" description:"The float generator."`
}

// NodeInfo implements nodes.Node.
func (*FloatGenerator) NodeInfo() nodes.Info {
	return nodes.Info{Type: "float_generator", Class: "FloatGenerator", Title: "Float Generator",
		Description: "Generated a range of floats for use in a batched generation",
		Tags:        []string{"primitives", "float", "number", "batch", "special"}, Category: "primitives",
		Version: "1.0.0", Classification: "special", Output: FloatGeneratorOutput{}}
}

// Invoke implements nodes.Invocation. Infinities and NaN (a parsed "Infinity", an overflowing sequence) have no
// JSON form, which InvokeAI's UI would send as null: they are refused.
func (n *FloatGenerator) Invoke(nodes.Context) (nodes.Output, error) {
	v, err := n.Generator.floats()
	if err != nil {
		return nil, err
	}
	for _, x := range v {
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, nodes.Errorf("ValueError", "the float generator made %v, which is not a finite number", x)
		}
	}
	return FloatGeneratorOutput{orEmpty(v)}, nil
}

func (g generatorSpec) floats() ([]float64, error) {
	if v, ok, err := given[float64](g); ok || err != nil {
		return v, err
	}
	switch g.kind() {
	case "float_generator_arithmetic_sequence":
		start, err1 := g.num("start", 0)
		step, err2 := g.num("step", 0.1)
		count, err3 := g.count(10)
		if err := firstErr(err1, err2, err3); err != nil {
			return nil, err
		}
		if step == 0 {
			return []float64{start}, nil
		}
		out := make([]float64, count)
		for i := range out {
			out[i] = start + float64(i)*step
		}
		return out, nil
	case "float_generator_linear_distribution":
		start, err1 := g.num("start", 0)
		end, err2 := g.num("end", 1)
		count, err3 := g.count(10)
		if err := firstErr(err1, err2, err3); err != nil {
			return nil, err
		}
		if count == 1 {
			return []float64{start}, nil
		}
		out := make([]float64, count)
		for i := range out {
			out[i] = start + (end-start)*(float64(i)/float64(count-1))
		}
		return out, nil
	case "float_generator_random_distribution_uniform":
		lo, err1 := g.num("min", 0)
		hi, err2 := g.num("max", 1)
		count, err3 := g.count(10)
		seed, err4 := g.seed()
		if err := firstErr(err1, err2, err3, err4); err != nil {
			return nil, err
		}
		rng := uniform(seed)
		out := make([]float64, count)
		for i := range out {
			out[i] = rng()*(hi-lo) + lo
		}
		return out, nil
	case "float_generator_parse_string":
		input, err1 := g.str("input", "0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1")
		splitOn, err2 := g.str("splitOn", ",")
		if err := firstErr(err1, err2); err != nil {
			return nil, err
		}
		out := []float64{}
		for _, s := range splitList(input, splitOn) {
			if s = jsTrim(s); s == "" {
				continue
			}
			if v, ok := jsParseFloat(s); ok {
				out = append(out, v)
			}
		}
		return bounded(out)
	}
	return nil, nodes.Errorf("ValueError", "unknown float generator type %q", g.kind())
}

// IntegerGenerator is integer_generator.
type IntegerGenerator struct {
	Generator IntegerGeneratorField `json:"generator" input:"direct" title:"Generator Type" description:"The integer generator."`
}

// NodeInfo implements nodes.Node.
func (*IntegerGenerator) NodeInfo() nodes.Info {
	return nodes.Info{Type: "integer_generator", Class: "IntegerGenerator", Title: "Integer Generator",
		Description: "Generated a range of integers for use in a batched generation",
		Tags:        []string{"primitives", "int", "number", "batch", "special"}, Category: "primitives",
		Version: "1.0.0", Classification: "special", Output: IntegerGeneratorOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *IntegerGenerator) Invoke(nodes.Context) (nodes.Output, error) {
	v, err := n.Generator.integers()
	if err != nil {
		return nil, err
	}
	return IntegerGeneratorOutput{orEmpty(v)}, nil
}

func (g generatorSpec) integers() ([]int64, error) {
	if v, ok, err := given[int64](g); ok || err != nil {
		return v, err
	}
	switch g.kind() {
	case "integer_generator_arithmetic_sequence":
		start, err1 := g.integer("start", 0)
		step, err2 := g.integer("step", 1)
		count, err3 := g.count(10)
		if err := firstErr(err1, err2, err3); err != nil {
			return nil, err
		}
		if step == 0 {
			return []int64{start}, nil
		}
		out := make([]int64, count)
		for i := range out {
			// JavaScript's numbers are exact to 2^53; beyond, the UI's values would not be integers.
			if f := float64(start) + float64(i)*float64(step); math.Abs(f) > 1<<53 {
				return nil, nodes.Errorf("ValueError", "the integer sequence leaves ±2^53 at its %d-th value", i+1)
			}
			out[i] = start + int64(i)*step
		}
		return out, nil
	case "integer_generator_linear_distribution":
		start, err1 := g.integer("start", 0)
		end, err2 := g.integer("end", 10)
		count, err3 := g.count(10)
		if err := firstErr(err1, err2, err3); err != nil {
			return nil, err
		}
		if count == 1 {
			return []int64{start}, nil
		}
		out := make([]int64, count)
		for i := range out {
			out[i] = start + int64(jsRound(float64(end-start)*(float64(i)/float64(count-1))))
		}
		return out, nil
	case "integer_generator_random_distribution_uniform":
		lo, err1 := g.integer("min", 0)
		hi, err2 := g.integer("max", 10)
		count, err3 := g.count(10)
		seed, err4 := g.seed()
		if err := firstErr(err1, err2, err3, err4); err != nil {
			return nil, err
		}
		rng := uniform(seed)
		out := make([]int64, count)
		for i := range out {
			out[i] = int64(math.Floor(rng()*float64(hi-lo+1))) + lo
		}
		return out, nil
	case "integer_generator_parse_string":
		input, err1 := g.str("input", "1,2,3,4,5,6,7,8,9,10")
		splitOn, err2 := g.str("splitOn", ",")
		if err := firstErr(err1, err2); err != nil {
			return nil, err
		}
		out := []int64{}
		for _, s := range splitList(input, splitOn) {
			if s = jsTrim(s); s == "" {
				continue
			}
			if v, ok := jsParseInt(s); ok {
				out = append(out, v)
			}
		}
		return bounded(out)
	}
	return nil, nodes.Errorf("ValueError", "unknown integer generator type %q", g.kind())
}

// jsRound is JavaScript's Math.round: halves round up.
func jsRound(x float64) float64 { return math.Floor(x + 0.5) }

// StringGenerator is string_generator.
type StringGenerator struct {
	Generator StringGeneratorField `json:"generator" input:"direct" title:"Generator Type" description:"The string generator."`
}

// NodeInfo implements nodes.Node.
func (*StringGenerator) NodeInfo() nodes.Info {
	return nodes.Info{Type: "string_generator", Class: "StringGenerator", Title: "String Generator",
		Description: "Generated a range of strings for use in a batched generation",
		Tags:        []string{"primitives", "string", "number", "batch", "special"}, Category: "primitives",
		Version: "1.0.0", Classification: "special", Output: StringGeneratorOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *StringGenerator) Invoke(nodes.Context) (nodes.Output, error) {
	v, err := n.Generator.strings()
	if err != nil {
		return nil, err
	}
	return StringGeneratorOutput{orEmpty(v)}, nil
}

func (g generatorSpec) strings() ([]string, error) {
	if v, ok, err := given[string](g); ok || err != nil {
		return v, err
	}
	switch g.kind() {
	case "string_generator_parse_string":
		input, err1 := g.str("input", "foo,bar,baz,qux")
		splitOn, err2 := g.str("splitOn", ",")
		if err := firstErr(err1, err2); err != nil {
			return nil, err
		}
		out := []string{}
		for _, s := range splitList(input, splitOn) {
			if s != "" {
				out = append(out, s)
			}
		}
		return bounded(out)
	case "string_generator_dynamic_prompts_combinatorial", "string_generator_dynamic_prompts_random":
		// InvokeAI's UI asks its dynamicprompts route; this is the same expansion.
		input, err := g.str("input", "a super {cute|ferocious} {dog|cat}")
		if err != nil {
			return nil, err
		}
		o := dynamic.Options{Combinatorial: g.kind() == "string_generator_dynamic_prompts_combinatorial"}
		var n int64
		if o.Combinatorial {
			n, err = g.integer("maxPrompts", 10)
		} else {
			n, err = g.integer("count", 10)
			if err == nil {
				o.Seed, err = g.seed()
			}
		}
		if err != nil {
			return nil, err
		}
		if n < 1 || n > dynamic.MaxPrompts {
			return nil, nodes.Errorf("ValueError", "a dynamic prompts generator makes 1 to %d prompts, not %d", dynamic.MaxPrompts, n)
		}
		o.MaxPrompts = int(n)
		out, err := dynamic.Expand(input, o)
		if err != nil {
			return nil, nodes.Errorf("ValueError", "%v", err)
		}
		return out, nil
	}
	return nil, nodes.Errorf("ValueError", "unknown string generator type %q", g.kind())
}

// ImageGenerator is image_generator. Its one kind in InvokeAI's UI lists the images of a board, which the UI
// resolves before enqueueing, and the queue at enqueue for graphs that still carry one (with the caller's
// rights); here it only hands on the resolved "values".
type ImageGenerator struct {
	Generator ImageGeneratorField `json:"generator" input:"direct" title:"Generator Type" description:"The image generator."`
}

// NodeInfo implements nodes.Node.
func (*ImageGenerator) NodeInfo() nodes.Info {
	return nodes.Info{Type: "image_generator", Class: "ImageGenerator", Title: "Image Generator",
		Description: "Generated a collection of images for use in a batched generation",
		Tags:        []string{"primitives", "board", "image", "batch", "special"}, Category: "primitives",
		Version: "1.0.0", Classification: "special", Output: ImageGeneratorOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *ImageGenerator) Invoke(nodes.Context) (nodes.Output, error) {
	v, ok, err := given[nodes.ImageField](n.Generator.generatorSpec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nodes.Errorf("ValueError", "image generator %q: the client resolves the board's images into \"values\"", n.Generator.kind())
	}
	return ImageGeneratorOutput{orEmpty(v)}, nil
}

func bounded[T any](v []T) ([]T, error) {
	if len(v) > MaxGenerated {
		return nil, nodes.Errorf("ValueError", "a generator makes at most %d values", MaxGenerated)
	}
	return v, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// RandomRange is random_range: size integers drawn by NumPy's default_rng(seed).integers(low, high).
type RandomRange struct {
	Low  int64 `json:"low" default:"0" description:"The inclusive low value"`
	High int64 `json:"high" default:"2147483647" description:"The exclusive high value"`
	Size int   `json:"size" default:"1" le:"1048576" description:"The number of values to generate"`
	Seed int64 `json:"seed" default:"0" ge:"0" le:"4294967295" description:"The seed for the RNG (omit for random)"`
}

// NodeInfo implements nodes.Node.
func (*RandomRange) NodeInfo() nodes.Info {
	return nodes.Info{Type: "random_range", Class: "RandomRangeInvocation", Title: "Random Range",
		Description: "Creates a collection of random numbers", Tags: []string{"range", "integer", "random", "collection"},
		Category: "collections", Version: "1.0.1", NoCache: true, Output: IntegerCollectionOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *RandomRange) Invoke(nodes.Context) (nodes.Output, error) {
	if n.Size < 0 {
		return nil, nodes.Errorf("ValueError", "negative dimensions are not allowed")
	}
	if n.High <= n.Low {
		return nil, nodes.Errorf("ValueError", "low >= high")
	}
	rng := noise.NewNumPyRNG(uint64(n.Seed))
	// NumPy draws from [0, span] with span = high-1-low, on 32-bit draws when span fits in them.
	span := uint64(n.High-1) - uint64(n.Low)
	out := make([]int64, n.Size)
	for i := range out {
		var v uint64
		if span <= math.MaxUint32 {
			v = uint64(rng.Intn(int(span + 1)))
		} else {
			v = lemire64(rng, span)
		}
		out[i] = n.Low + int64(v)
	}
	return IntegerCollectionOutput{out}, nil
}

// lemire64 is NumPy's bounded_lemire_uint64: a draw in [0, span] by multiply-and-reject on 64-bit draws.
func lemire64(rng *noise.PCG64, span uint64) uint64 {
	if span == math.MaxUint64 {
		return rng.Uint64()
	}
	excl := span + 1
	hi, lo := bits.Mul64(rng.Uint64(), excl)
	if lo < excl {
		threshold := (math.MaxUint64 - span) % excl
		for lo < threshold {
			hi, lo = bits.Mul64(rng.Uint64(), excl)
		}
	}
	return hi
}

func registerPrimBatch(r *nodes.Registry) {
	r.Register(&ImageBatch{}, &StringBatch{}, &IntegerBatch{}, &FloatBatch{},
		&FloatGenerator{}, &IntegerGenerator{}, &StringGenerator{}, &ImageGenerator{}, &RandomRange{})
}
