package models

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/models/download"
)

func validationItems(t *testing.T, err error, status int) []apperr.ValidationItem {
	t.Helper()
	ae, ok := apperr.As(err)
	if !ok || ae.Status != status {
		t.Fatalf("error %v, want status %d", err, status)
	}
	if status != http.StatusUnprocessableEntity {
		return nil
	}
	items, ok := ae.Detail.([]apperr.ValidationItem)
	if !ok || len(items) == 0 {
		t.Fatalf("422 detail %#v is not a validation list", ae.Detail)
	}
	return items
}

func TestChangesValidateRefusesBadEnumsWith422(t *testing.T) {
	cases := []struct {
		field   string
		changes Changes
	}{
		{"base", Changes{Base: Ptr[BaseModelType]("sd-9")}},
		{"type", Changes{Type: Ptr[ModelType]("checkpointy")}},
		{"format", Changes{Format: Ptr[ModelFormat]("pickle")}},
		{"variant", Changes{Variant: Ptr[ModelVariantType]("huge")}},
		{"prediction_type", Changes{PredictionType: Ptr[PredictionType]("x")}},
		{"source_type", Changes{SourceType: Ptr[ModelSourceType]("ftp")}},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			items := validationItems(t, c.changes.Validate(), http.StatusUnprocessableEntity)
			if len(items) != 1 || items[0].Type != "enum" || !reflect.DeepEqual(items[0].Loc, []any{"body", c.field}) || items[0].Input == nil {
				t.Fatalf("items %+v", items)
			}
		})
	}
	// Every bad field is reported, in ModelRecordChanges' field order.
	items := validationItems(t, (&Changes{Base: Ptr[BaseModelType]("x"), Variant: Ptr[ModelVariantType]("y"), Type: Ptr[ModelType]("z")}).Validate(), http.StatusUnprocessableEntity)
	var locs []any
	for _, it := range items {
		locs = append(locs, it.Loc[1])
	}
	if !reflect.DeepEqual(locs, []any{"base", "type", "variant"}) {
		t.Fatalf("locs %v", locs)
	}
	ok := Changes{Base: Ptr[BaseModelType](BaseSDXL), Type: Ptr[ModelType](TypeLoRA), Format: Ptr[ModelFormat](FormatLyCORIS), Variant: Ptr[ModelVariantType](VariantInpaint)}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid changes refused: %v", err)
	}
}

func TestChangesDefaultSettingsUnion(t *testing.T) {
	cases := []struct {
		name     string
		settings string
		// wantLocs are the locations of the errors; none means the settings are accepted.
		wantLocs [][]any
		wantType string
	}{
		{name: "main fields", settings: `{"vae":"k","vae_precision":"fp16","scheduler":"dpmpp_2m_k","steps":30,"cfg_scale":7.5,"cfg_rescale_multiplier":0.5,"width":512,"height":768,"guidance":3.5,"cpu_only":false}`},
		{name: "empty object", settings: `{}`},
		{name: "null", settings: `null`},
		{name: "nulls", settings: `{"steps":null,"scheduler":null}`},
		{name: "lax numbers", settings: `{"steps":"30","cfg_scale":7,"width":512.0}`},
		{name: "lora weight", settings: `{"weight":0.75}`},
		{name: "control preprocessor", settings: `{"preprocessor":"canny_image_processor"}`},
		{name: "unknown key", settings: `{"sampler":"x"}`, wantType: "extra_forbidden", wantLocs: [][]any{
			{"body", "default_settings", "MainModelDefaultSettings", "sampler"},
			{"body", "default_settings", "LoraModelDefaultSettings", "sampler"},
			{"body", "default_settings", "ControlAdapterDefaultSettings", "preprocessor"},
			{"body", "default_settings", "ControlAdapterDefaultSettings", "sampler"},
		}},
		{name: "steps not a number", settings: `{"steps":"many"}`, wantType: "int_parsing"},
		{name: "steps fractional", settings: `{"steps":2.5}`, wantType: "int_from_float"},
		{name: "steps zero", settings: `{"steps":0}`, wantType: "greater_than"},
		{name: "width not a multiple of 8", settings: `{"width":500}`, wantType: "multiple_of"},
		{name: "width too small", settings: `{"width":32}`, wantType: "greater_than_equal"},
		{name: "rescale too large", settings: `{"cfg_rescale_multiplier":1}`, wantType: "less_than"},
		{name: "unknown scheduler", settings: `{"scheduler":"warp"}`, wantType: "literal_error"},
		{name: "vae_precision", settings: `{"vae_precision":"bf16"}`, wantType: "literal_error"},
		{name: "cpu_only not a bool", settings: `{"cpu_only":"maybe"}`, wantType: "bool_parsing"},
		{name: "vae not a string", settings: `{"vae":5}`, wantType: "string_type"},
		{name: "not an object", settings: `"fast"`, wantType: "model_type", wantLocs: [][]any{
			{"body", "default_settings", "MainModelDefaultSettings"},
			{"body", "default_settings", "LoraModelDefaultSettings"},
			{"body", "default_settings", "ControlAdapterDefaultSettings"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := Changes{DefaultSettings: SettingsChange(c.settings)}
			err := ch.Validate()
			if c.wantType == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			items := validationItems(t, err, http.StatusUnprocessableEntity)
			if items[0].Type != c.wantType {
				t.Fatalf("first error %+v, want type %s", items[0], c.wantType)
			}
			if c.wantLocs != nil {
				var locs [][]any
				for _, it := range items {
					locs = append(locs, it.Loc)
				}
				if !reflect.DeepEqual(locs, c.wantLocs) {
					t.Fatalf("locs %v, want %v", locs, c.wantLocs)
				}
			}
		})
	}
}

func TestApplyStoresSettingsInTheTypesShape(t *testing.T) {
	cases := []struct {
		name, modelType, settings string
		want                      string // stored JSON; empty means a 409
	}{
		{"main", TypeMain, `{"steps":"30","cfg_scale":7,"scheduler":"euler"}`,
			`{"vae":null,"vae_precision":null,"scheduler":"euler","steps":30,"cfg_scale":7.0,"cfg_rescale_multiplier":null,"width":null,"height":null,"guidance":null,"cpu_only":null}`},
		{"lora", TypeLoRA, `{}`, `{"weight":null}`},
		{"controlnet", TypeControlNet, `{"preprocessor":null}`, `{"preprocessor":null}`},
		{"lora refuses main fields", TypeLoRA, `{"steps":10}`, ""},
		{"vae has no settings", TypeVAE, `{"steps":10}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := &Config{Type: c.modelType, DefaultSettings: json.RawMessage(`{"kept":true}`)}
			err := (&Changes{DefaultSettings: SettingsChange(c.settings)}).Apply(cfg)
			if c.want == "" {
				validationItems(t, err, http.StatusConflict)
				if string(cfg.DefaultSettings) != `{"kept":true}` {
					t.Fatalf("a refused change altered the record: %s", cfg.DefaultSettings)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(cfg.DefaultSettings) != c.want {
				t.Fatalf("stored %s, want %s", cfg.DefaultSettings, c.want)
			}
		})
	}
	// null clears them.
	cfg := &Config{Type: TypeMain, DefaultSettings: defaultMainSettings(BaseSD1)}
	if err := (&Changes{DefaultSettings: SettingsChange(`null`)}).Apply(cfg); err != nil || cfg.DefaultSettings != nil {
		t.Fatalf("null: %v %s", err, cfg.DefaultSettings)
	}
}

// Every starter model's source must be one the installer reads as a Hugging Face source.
func TestStarterSourcesParse(t *testing.T) {
	for _, m := range starterModels() {
		if _, _, _, ok := download.ParseHFSource(m.Source); !ok {
			t.Errorf("%s: source %q does not parse", m.Name, m.Source)
		}
	}
}

// A spandrel record has exactly the fields of InvokeAI's Spandrel_Checkpoint_Config (plus the
// submodels and usage_info every record carries): no config_path although its format is checkpoint.
func TestSpandrelConfigShape(t *testing.T) {
	c := Config{Key: "k", Hash: "blake3:x", Path: "any/spandrel_image_to_image/m.safetensors", Name: "m", Source: "/m.safetensors",
		SourceType: SourcePath, Base: BaseAny, Type: TypeSpandrel, Format: FormatCheckpoint, ConfigPath: Ptr("ignored.yaml")}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"key", "hash", "path", "file_size", "name", "description", "source", "source_type", "source_api_response",
		"cover_image", "base", "type", "format", "source_url", "submodels", "usage_info"}
	got := map[string]bool{}
	for k := range m {
		got[k] = true
	}
	for _, k := range want {
		if !got[k] {
			t.Errorf("missing %q", k)
		}
		delete(got, k)
	}
	if len(got) > 0 {
		t.Errorf("unexpected fields %v in %s", got, b)
	}
}

// Every dependency of a starter is itself a starter (so it shows as installed), and the bases the Upscale
// screen's creative pass supports each have a tile ControlNet to install.
func TestStarterAdaptersAndDependencies(t *testing.T) {
	sources := map[string]StarterModel{}
	for _, m := range starterModels() {
		sources[m.Source] = m
	}
	for _, m := range starterModels() {
		for _, d := range m.Dependencies {
			if s, ok := sources[d.Source]; !ok || s.Type != d.Type {
				t.Errorf("%s: dependency %s (%s) is not a starter of that type", m.Name, d.Source, d.Type)
			}
		}
	}
	for _, base := range []string{BaseSD1, BaseSDXL} {
		found := false
		for _, m := range starterModels() {
			found = found || (m.Base == base && m.Type == TypeControlNet && strings.Contains(m.Source, "tile"))
		}
		if !found {
			t.Errorf("no tile ControlNet starter for %s", base)
		}
	}
}
