package core

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/version"
)

// The metadata nodes: build metadata dictionaries (metadata_item, metadata, metadata_item_linked,
// merge_metadata), read them from images (metadata_from_image, metadata_field_extractor: only images the
// queue item's owner may read, docs/security.md) and read values back out (metadata_to_*). Values convert as
// InvokeAI's Python does (str(), int(), float(), bool()).

// CustomLabel is the label choice that means "use custom_label".
const CustomLabel = "* CUSTOM LABEL *"

// MetadataItemField is one label and its value.
type MetadataItemField struct {
	Label string `json:"label" description:"Label for this metadata item"`
	Value any    `json:"value" description:"The value for this metadata item (may be any type)"`
}

// FieldTypeName implements nodes.TypeNamer.
func (MetadataItemField) FieldTypeName() string { return "MetadataItemField" }

// MetadataItemOutput is metadata_item_output.
type MetadataItemOutput struct {
	Item MetadataItemField `json:"item" description:"Metadata Item"`
}

// OutputType implements nodes.Output.
func (MetadataItemOutput) OutputType() string { return "metadata_item_output" }

// MetadataItem is metadata_item.
type MetadataItem struct {
	Label string `json:"label" description:"Label for this metadata item"`
	Value any    `json:"value" ui_type:"AnyField" description:"The value for this metadata item (may be any type)"`
}

// NodeInfo implements nodes.Node.
func (*MetadataItem) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata_item", Title: "Metadata Item",
		Description: `Used to create an arbitrary metadata item. Provide "label" and make a connection to "value" to store that data as the value.`,
		Tags:        []string{"metadata"}, Category: "metadata", Version: "1.0.1", Output: MetadataItemOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *MetadataItem) Invoke(nodes.Context) (nodes.Output, error) {
	return MetadataItemOutput{MetadataItemField{Label: n.Label, Value: n.Value}}, nil
}

// Metadata is metadata: items into a metadata dictionary.
type Metadata struct {
	Items []MetadataItemField `json:"items" poly:"true" description:"A single metadata item or collection of metadata items"`
}

// NodeInfo implements nodes.Node.
func (*Metadata) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata", Class: "MetadataInvocation", Title: "Metadata",
		Description: "Takes a MetadataItem or collection of MetadataItems and outputs a MetadataDict.",
		Tags:        []string{"metadata"}, Category: "metadata", Version: "1.0.1", Output: MetadataOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *Metadata) Invoke(nodes.Context) (nodes.Output, error) {
	md := nodes.MetadataField{}
	for _, it := range n.Items {
		md[it.Label] = it.Value
	}
	md["app_version"] = version.Version
	return MetadataOutput{md}, nil
}

// MetadataLabel is metadata_item_linked's label: a core metadata field or a custom one.
type MetadataLabel string

// LiteralValues implements schema.Literal.
func (MetadataLabel) LiteralValues() []string {
	return []string{CustomLabel, "positive_prompt", "positive_style_prompt", "negative_prompt", "negative_style_prompt",
		"width", "height", "seed", "cfg_scale", "cfg_rescale_multiplier", "steps", "scheduler", "clip_skip", "model", "vae",
		"seamless_x", "seamless_y", "guidance", "cfg_scale_start_step", "cfg_scale_end_step"}
}

// labelOf is the label a node reads or writes: custom_label when the choice is the custom one, which must
// then be given.
func labelOf(label string, custom *string) (string, error) {
	if label != CustomLabel {
		return label, nil
	}
	if custom == nil || strings.TrimSpace(*custom) == "" {
		return "", nodes.Errorf("ValueError", "You must enter a Custom Label")
	}
	return *custom, nil
}

// MetadataItemLinked is metadata_item_linked: sets one label of the incoming metadata.
type MetadataItemLinked struct {
	nodes.WithMetadata
	Label       MetadataLabel `json:"label" default:"* CUSTOM LABEL *" input:"direct" description:"Label for this metadata item"`
	CustomLabel *string       `json:"custom_label" default:"null" input:"direct" description:"Label for this metadata item"`
	Value       any           `json:"value" ui_type:"AnyField" description:"The value for this metadata item (may be any type)"`
}

// NodeInfo implements nodes.Node.
func (*MetadataItemLinked) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata_item_linked", Title: "Metadata Item Linked",
		Description: "Used to Create/Add/Update a value into a metadata label", Tags: []string{"metadata"},
		Category: "metadata", Version: "1.0.1", Classification: "beta", Output: MetadataOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *MetadataItemLinked) Invoke(nodes.Context) (nodes.Output, error) {
	k, err := labelOf(string(n.Label), n.CustomLabel)
	if err != nil {
		return nil, err
	}
	md := copyMetadata(n.Metadata)
	v := n.Value
	// A VAE connection stores its model, as InvokeAI does.
	if m, ok := v.(map[string]any); ok && len(m) > 0 {
		if vae, ok := m["vae"].(map[string]any); ok && isVAEField(m) {
			v = vae
		}
	}
	md[k] = v
	md["app_version"] = version.Version
	return MetadataOutput{md}, nil
}

// isVAEField tells a VAEField ({vae, seamless_axes}) from other objects.
func isVAEField(m map[string]any) bool {
	for k := range m {
		if k != "vae" && k != "seamless_axes" {
			return false
		}
	}
	return true
}

func copyMetadata(md *nodes.MetadataField) nodes.MetadataField {
	out := nodes.MetadataField{}
	if md != nil {
		for k, v := range *md {
			out[k] = v
		}
	}
	return out
}

// MergeMetadata is merge_metadata.
type MergeMetadata struct {
	Collection []nodes.MetadataField `json:"collection" description:"Collection of Metadata"`
}

// NodeInfo implements nodes.Node.
func (*MergeMetadata) NodeInfo() nodes.Info {
	return nodes.Info{Type: "merge_metadata", Title: "Metadata Merge",
		Description: "Merged a collection of MetadataDict into a single MetadataDict.", Tags: []string{"metadata"},
		Category: "metadata", Version: "1.0.1", Output: MetadataOutput{}}
}

// Invoke implements nodes.Invocation: later dictionaries win.
func (n *MergeMetadata) Invoke(nodes.Context) (nodes.Output, error) {
	md := nodes.MetadataField{}
	for _, m := range n.Collection {
		for k, v := range m {
			md[k] = v
		}
	}
	return MetadataOutput{md}, nil
}

// imageMetadataReader is what the queue's Context offers to read an image's metadata as the item's owner.
type imageMetadataReader interface {
	ImageMetadata(name string) (nodes.MetadataField, error)
}

func readImageMetadata(ctx nodes.Context, name string) (nodes.MetadataField, error) {
	r, ok := ctx.(imageMetadataReader)
	if !ok {
		return nil, nodes.Errorf("RuntimeError", "image metadata cannot be read here")
	}
	return r.ImageMetadata(name)
}

// MetadataFromImage is metadata_from_image.
type MetadataFromImage struct {
	Image nodes.ImageField `json:"image" description:"The image to process"`
}

// NodeInfo implements nodes.Node.
func (*MetadataFromImage) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata_from_image", Title: "Metadata From Image",
		Description: "Used to create a core metadata item then Add/Update it to the provided metadata",
		Tags:        []string{"metadata"}, Category: "metadata", Version: "1.0.1", Classification: "beta",
		Output: MetadataOutput{}}
}

// Invoke implements nodes.Invocation: the image's metadata, an empty dictionary when it has none.
func (n *MetadataFromImage) Invoke(ctx nodes.Context) (nodes.Output, error) {
	md, err := readImageMetadata(ctx, n.Image.ImageName)
	if err != nil {
		return nil, err
	}
	if md == nil {
		md = nodes.MetadataField{}
	}
	return MetadataOutput{md}, nil
}

// MetadataFieldExtractor is metadata_field_extractor (deprecated in InvokeAI).
type MetadataFieldExtractor struct {
	Image nodes.ImageField `json:"image" description:"The image to extract metadata from"`
	Key   string           `json:"key" description:"The key in the image's metadata to extract the value from"`
}

// NodeInfo implements nodes.Node.
func (*MetadataFieldExtractor) NodeInfo() nodes.Info {
	return nodes.Info{Type: "metadata_field_extractor", Title: "Metadata Field Extractor",
		Description: "Extracts the text value from an image's metadata given a key.\nRaises an error if the image has no metadata or if the value is not a string (nesting not permitted).",
		Tags:        []string{"metadata"}, Category: "metadata", Version: "1.0.0", Classification: "deprecated",
		Output: StringOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *MetadataFieldExtractor) Invoke(ctx nodes.Context) (nodes.Output, error) {
	md, err := readImageMetadata(ctx, n.Image.ImageName)
	if err != nil {
		return nil, err
	}
	if len(md) == 0 {
		return nil, nodes.Errorf("ValueError", "No metadata found on image")
	}
	v, ok := md[n.Key]
	if !ok {
		return nil, nodes.Errorf("ValueError", "No key '%s' found in the metadata", n.Key)
	}
	s, ok := v.(string)
	if !ok {
		return nil, nodes.Errorf("ValueError", "Metadata at key '%s' must be a string", n.Key)
	}
	return StringOutput{s}, nil
}

// Labels of the metadata_to_* nodes.

// StringLabel is a string metadata label.
type StringLabel string

// LiteralValues implements schema.Literal.
func (StringLabel) LiteralValues() []string {
	return []string{CustomLabel, "positive_prompt", "positive_style_prompt", "negative_prompt", "negative_style_prompt"}
}

// IntegerLabel is an integer metadata label.
type IntegerLabel string

// LiteralValues implements schema.Literal.
func (IntegerLabel) LiteralValues() []string {
	return []string{CustomLabel, "width", "height", "seed", "steps", "clip_skip", "cfg_scale_start_step", "cfg_scale_end_step"}
}

// FloatLabel is a float metadata label.
type FloatLabel string

// LiteralValues implements schema.Literal.
func (FloatLabel) LiteralValues() []string {
	return []string{CustomLabel, "cfg_scale", "cfg_rescale_multiplier", "guidance"}
}

// BoolLabel is a boolean metadata label.
type BoolLabel string

// LiteralValues implements schema.Literal.
func (BoolLabel) LiteralValues() []string { return []string{CustomLabel, "seamless_x", "seamless_y"} }

// lookup returns the value under the node's label, or def.
func lookup(md *nodes.MetadataField, label string, custom *string, def any) (any, error) {
	k, err := labelOf(label, custom)
	if err != nil {
		return nil, err
	}
	if md != nil {
		if v, ok := (*md)[k]; ok {
			return v, nil
		}
	}
	return def, nil
}

// lookupList returns the list under the node's label, or def.
func lookupList[T any](md *nodes.MetadataField, label string, custom *string, def []T, conv func(any) (T, error)) ([]T, error) {
	v, err := lookup(md, label, custom, nil)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return orEmpty(def), nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, nodes.Errorf("ValueError", "the metadata value is not a list")
	}
	out := make([]T, 0, len(list))
	for _, item := range list {
		c, err := conv(item)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// pyStr is Python's str() of a JSON value.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		return pyNumber(x)
	case json.Number:
		return x.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		// A Python dict keeps insertion order, which a decoded JSON object has lost: keys are sorted.
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyRepr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// pyRepr is Python's repr() of a JSON value inside a container.
func pyRepr(v any) string {
	if s, ok := v.(string); ok {
		q := "'"
		if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
			q = `"`
		}
		r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
		s = r.Replace(s)
		if q == "'" {
			s = strings.ReplaceAll(s, "'", `\'`)
		}
		return q + s + q
	}
	return pyStr(v)
}

// pyNumber prints a JSON number as Python prints the int or float it was: an integral value without a
// fraction is an int (metadata keeps ints as ints), anything else Python's shortest float repr.
func pyNumber(x float64) string {
	if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
		return strconv.FormatInt(int64(x), 10)
	}
	return pyFloat(x)
}

// pyFloat is Python's repr() of a float.
func pyFloat(x float64) string {
	switch {
	case math.IsNaN(x):
		return "nan"
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(x, 'e', -1, 64) // d.ddde±XX
	mant, expS, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expS)
	if exp < -4 || exp >= 16 {
		if !strings.Contains(mant, ".") {
			mant = strings.TrimSuffix(mant, ".")
		}
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	s := strconv.FormatFloat(x, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// pyInt is Python's int() of a JSON value.
func pyInt(v any) (int64, error) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) >= 1<<63 {
			return 0, nodes.Errorf("ValueError", "cannot convert float %s to integer", pyFloat(x))
		}
		return int64(x), nil // truncates toward zero, as int() does
	case string:
		s := strings.ReplaceAll(strings.TrimSpace(x), "_", "")
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		return 0, nodes.Errorf("ValueError", "invalid literal for int() with base 10: %s", pyRepr(x))
	}
	return 0, nodes.Errorf("TypeError", "int() argument must be a string, a bytes-like object or a real number, not '%s'", pyType(v))
}

// finiteFloat is pyFloatOf for a node's output: an infinity or NaN ("inf" and "nan" convert in Python) has no
// JSON form, so it is refused.
func finiteFloat(v any) (float64, error) {
	f, err := pyFloatOf(v)
	if err == nil && (math.IsInf(f, 0) || math.IsNaN(f)) {
		return 0, nodes.Errorf("ValueError", "metadata value %s is not a finite number", pyFloat(f))
	}
	return f, err
}

// pyFloatOf is Python's float() of a JSON value.
func pyFloatOf(v any) (float64, error) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case float64:
		return x, nil
	case string:
		s := strings.ToLower(strings.TrimSpace(x))
		switch strings.TrimLeft(s, "+-") {
		case "inf", "infinity", "nan":
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return f, nil
			}
		}
		if f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
			return f, nil
		}
		return 0, nodes.Errorf("ValueError", "could not convert string to float: %s", pyRepr(x))
	}
	return 0, nodes.Errorf("TypeError", "float() argument must be a string or a real number, not '%s'", pyType(v))
}

// pyBool is Python's truthiness of a JSON value.
func pyBool(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

func pyType(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// MetadataToString is metadata_to_string.
type MetadataToString struct {
	nodes.WithMetadata
	Label        StringLabel `json:"label" default:"* CUSTOM LABEL *" input:"direct" description:"Label for this metadata item"`
	CustomLabel  *string     `json:"custom_label" default:"null" input:"direct" description:"Label for this metadata item"`
	DefaultValue string      `json:"default_value" description:"The default string to use if not found in the metadata"`
}

// NodeInfo implements nodes.Node.
func (*MetadataToString) NodeInfo() nodes.Info {
	return metaInfo("metadata_to_string", "Metadata To String", "Extracts a string value of a label from metadata", "1.0.0", StringOutput{})
}

func metaInfo(typ, title, desc, ver string, out nodes.Output) nodes.Info {
	return nodes.Info{Type: typ, Title: title, Description: desc, Tags: []string{"metadata"}, Category: "metadata",
		Version: ver, Classification: "beta", Output: out}
}

// Invoke implements nodes.Invocation.
func (n *MetadataToString) Invoke(nodes.Context) (nodes.Output, error) {
	v, err := lookup(n.Metadata, string(n.Label), n.CustomLabel, n.DefaultValue)
	if err != nil {
		return nil, err
	}
	return StringOutput{pyStr(v)}, nil
}

// MetadataToStringCollection is metadata_to_string_collection.
type MetadataToStringCollection struct {
	nodes.WithMetadata
	Label        StringLabel `json:"label" default:"* CUSTOM LABEL *" input:"direct" description:"Label for this metadata item"`
	CustomLabel  *string     `json:"custom_label" default:"null" input:"direct" description:"Label for this metadata item"`
	DefaultValue []string    `json:"default_value" description:"The default string collection to use if not found in the metadata"`
}

// NodeInfo implements nodes.Node.
func (*MetadataToStringCollection) NodeInfo() nodes.Info {
	return metaInfo("metadata_to_string_collection", "Metadata To String Collection", "Extracts a string collection value of a label from metadata", "1.0.0", StringCollectionOutput{})
}

// Invoke implements nodes.Invocation.
func (n *MetadataToStringCollection) Invoke(nodes.Context) (nodes.Output, error) {
	v, err := lookupList(n.Metadata, string(n.Label), n.CustomLabel, n.DefaultValue, func(a any) (string, error) { return pyStr(a), nil })
	if err != nil {
		return nil, err
	}
	return StringCollectionOutput{v}, nil
}

// MetadataToInteger is metadata_to_integer.
type MetadataToInteger struct {
	nodes.WithMetadata
	Label        IntegerLabel `json:"label" default:"* CUSTOM LABEL *" input:"direct" description:"Label for this metadata item"`
	CustomLabel  *string      `json:"custom_label" default:"null" input:"direct" description:"Label for this metadata item"`
	DefaultValue int64        `json:"default_value" description:"The default integer to use if not found in the metadata"`
}

// NodeInfo implements nodes.Node.
func (*MetadataToInteger) NodeInfo() nodes.Info {
	return metaInfo("metadata_to_integer", "Metadata To Integer", "Extracts an integer value of a label from metadata", "1.0.0", IntegerOutput{})
}

// Invoke implements nodes.Invocation.
func (n *MetadataToInteger) Invoke(nodes.Context) (nodes.Output, error) {
	v, err := lookup(n.Metadata, string(n.Label), n.CustomLabel, float64(n.DefaultValue))
	if err != nil {
		return nil, err
	}
	i, err := pyInt(v)
	if err != nil {
		return nil, err
	}
	return IntegerOutput{i}, nil
}

// MetadataToIntegerCollection is metadata_to_integer_collection.
type MetadataToIntegerCollection struct {
	nodes.WithMetadata
	Label        IntegerLabel `json:"label" default:"* CUSTOM LABEL *" input:"direct" description:"Label for this metadata item"`
	CustomLabel  *string      `json:"custom_label" default:"null" input:"direct" description:"Label for this metadata item"`
	DefaultValue []int64      `json:"default_value" description:"The default integer to use if not found in the metadata"`
}

// NodeInfo implements nodes.Node.
func (*MetadataToIntegerCollection) NodeInfo() nodes.Info {
	return metaInfo("metadata_to_integer_collection", "Metadata To Integer Collection", "Extracts an integer value Collection of a label from metadata", "1.0.0", IntegerCollectionOutput{})
}

// Invoke implements nodes.Invocation.
func (n *MetadataToIntegerCollection) Invoke(nodes.Context) (nodes.Output, error) {
	v, err := lookupList(n.Metadata, string(n.Label), n.CustomLabel, n.DefaultValue, pyInt)
	if err != nil {
		return nil, err
	}
	return IntegerCollectionOutput{v}, nil
}

// MetadataToFloat is metadata_to_float.
type MetadataToFloat struct {
	nodes.WithMetadata
	Label        FloatLabel `json:"label" default:"* CUSTOM LABEL *" input:"direct" description:"Label for this metadata item"`
	CustomLabel  *string    `json:"custom_label" default:"null" input:"direct" description:"Label for this metadata item"`
	DefaultValue float64    `json:"default_value" description:"The default float to use if not found in the metadata"`
}

// NodeInfo implements nodes.Node.
func (*MetadataToFloat) NodeInfo() nodes.Info {
	return metaInfo("metadata_to_float", "Metadata To Float", "Extracts a Float value of a label from metadata", "1.1.0", FloatOutput{})
}

// Invoke implements nodes.Invocation.
func (n *MetadataToFloat) Invoke(nodes.Context) (nodes.Output, error) {
	v, err := lookup(n.Metadata, string(n.Label), n.CustomLabel, n.DefaultValue)
	if err != nil {
		return nil, err
	}
	f, err := finiteFloat(v)
	if err != nil {
		return nil, err
	}
	return FloatOutput{f}, nil
}

// MetadataToFloatCollection is metadata_to_float_collection.
type MetadataToFloatCollection struct {
	nodes.WithMetadata
	Label        FloatLabel `json:"label" default:"* CUSTOM LABEL *" input:"direct" description:"Label for this metadata item"`
	CustomLabel  *string    `json:"custom_label" default:"null" input:"direct" description:"Label for this metadata item"`
	DefaultValue []float64  `json:"default_value" description:"The default float to use if not found in the metadata"`
}

// NodeInfo implements nodes.Node.
func (*MetadataToFloatCollection) NodeInfo() nodes.Info {
	return metaInfo("metadata_to_float_collection", "Metadata To Float Collection", "Extracts a Float value Collection of a label from metadata", "1.0.0", FloatCollectionOutput{})
}

// Invoke implements nodes.Invocation.
func (n *MetadataToFloatCollection) Invoke(nodes.Context) (nodes.Output, error) {
	v, err := lookupList(n.Metadata, string(n.Label), n.CustomLabel, n.DefaultValue, finiteFloat)
	if err != nil {
		return nil, err
	}
	return FloatCollectionOutput{v}, nil
}

// MetadataToBool is metadata_to_bool.
type MetadataToBool struct {
	nodes.WithMetadata
	Label        BoolLabel `json:"label" default:"* CUSTOM LABEL *" input:"direct" description:"Label for this metadata item"`
	CustomLabel  *string   `json:"custom_label" default:"null" input:"direct" description:"Label for this metadata item"`
	DefaultValue bool      `json:"default_value" description:"The default bool to use if not found in the metadata"`
}

// NodeInfo implements nodes.Node.
func (*MetadataToBool) NodeInfo() nodes.Info {
	return metaInfo("metadata_to_bool", "Metadata To Bool", "Extracts a Boolean value of a label from metadata", "1.0.0", BooleanOutput{})
}

// Invoke implements nodes.Invocation.
func (n *MetadataToBool) Invoke(nodes.Context) (nodes.Output, error) {
	v, err := lookup(n.Metadata, string(n.Label), n.CustomLabel, n.DefaultValue)
	if err != nil {
		return nil, err
	}
	return BooleanOutput{pyBool(v)}, nil
}

// MetadataToBoolCollection is metadata_to_bool_collection.
type MetadataToBoolCollection struct {
	nodes.WithMetadata
	Label        BoolLabel `json:"label" default:"* CUSTOM LABEL *" input:"direct" description:"Label for this metadata item"`
	CustomLabel  *string   `json:"custom_label" default:"null" input:"direct" description:"Label for this metadata item"`
	DefaultValue []bool    `json:"default_value" description:"The default bool to use if not found in the metadata"`
}

// NodeInfo implements nodes.Node.
func (*MetadataToBoolCollection) NodeInfo() nodes.Info {
	return metaInfo("metadata_to_bool_collection", "Metadata To Bool Collection", "Extracts a Boolean value Collection of a label from metadata", "1.0.0", BooleanCollectionOutput{})
}

// Invoke implements nodes.Invocation.
func (n *MetadataToBoolCollection) Invoke(nodes.Context) (nodes.Output, error) {
	v, err := lookupList(n.Metadata, string(n.Label), n.CustomLabel, n.DefaultValue, func(a any) (bool, error) { return pyBool(a), nil })
	if err != nil {
		return nil, err
	}
	return BooleanCollectionOutput{v}, nil
}

func registerMetadata(r *nodes.Registry) {
	r.Register(&MetadataItem{}, &Metadata{}, &MetadataItemLinked{}, &MergeMetadata{}, &MetadataFromImage{},
		&MetadataFieldExtractor{}, &MetadataToString{}, &MetadataToStringCollection{}, &MetadataToInteger{},
		&MetadataToIntegerCollection{}, &MetadataToFloat{}, &MetadataToFloatCollection{}, &MetadataToBool{},
		&MetadataToBoolCollection{})
}
