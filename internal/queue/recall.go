package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/store"
)

// ControlMode is how a control adapter weighs the prompt against the control image.
type ControlMode string

// LiteralValues implements schema.Literal.
func (ControlMode) LiteralValues() []string {
	return []string{"balanced", "more_prompt", "more_control"}
}

// IPAdapterMethod is what an IP adapter transfers.
type IPAdapterMethod string

// LiteralValues implements schema.Literal.
func (IPAdapterMethod) LiteralValues() []string { return []string{"full", "style", "composition"} }

// ImageInfluence is how strongly a reference image steers a FLUX Redux generation.
type ImageInfluence string

// LiteralValues implements schema.Literal.
func (ImageInfluence) LiteralValues() []string {
	return []string{"lowest", "low", "medium", "high", "highest"}
}

// RecallLoRA is one LoRA to recall.
type RecallLoRA struct {
	ModelName string   `json:"model_name"`
	Weight    *float64 `json:"weight,omitempty" ge:"-10" le:"10"`
	IsEnabled *bool    `json:"is_enabled,omitempty"`
}

// RecallControlLayer is one control adapter to recall.
type RecallControlLayer struct {
	ModelName        string       `json:"model_name"`
	ImageName        *string      `json:"image_name,omitempty"`
	Weight           *float64     `json:"weight,omitempty" ge:"-1" le:"2"`
	BeginStepPercent *float64     `json:"begin_step_percent,omitempty" ge:"0" le:"1"`
	EndStepPercent   *float64     `json:"end_step_percent,omitempty" ge:"0" le:"1"`
	ControlMode      *ControlMode `json:"control_mode,omitempty"`
}

// RecallIPAdapter is one IP adapter to recall.
type RecallIPAdapter struct {
	ModelName        string           `json:"model_name"`
	ImageName        *string          `json:"image_name,omitempty"`
	Weight           *float64         `json:"weight,omitempty"`
	BeginStepPercent *float64         `json:"begin_step_percent,omitempty" ge:"0" le:"1"`
	EndStepPercent   *float64         `json:"end_step_percent,omitempty" ge:"0" le:"1"`
	Method           *IPAdapterMethod `json:"method,omitempty"`
	ImageInfluence   *ImageInfluence  `json:"image_influence,omitempty"`
}

// RecallParameter is POST /recall/{queue_id}'s body; every field is optional and extra keys are refused.
type RecallParameter struct {
	PositivePrompt                *string              `json:"positive_prompt,omitempty"`
	NegativePrompt                *string              `json:"negative_prompt,omitempty"`
	Model                         *string              `json:"model,omitempty"`
	RefinerModel                  *string              `json:"refiner_model,omitempty"`
	VAEModel                      *string              `json:"vae_model,omitempty"`
	Scheduler                     *string              `json:"scheduler,omitempty"`
	Steps                         *int                 `json:"steps,omitempty" ge:"1"`
	RefinerSteps                  *int                 `json:"refiner_steps,omitempty" ge:"0"`
	CfgScale                      *float64             `json:"cfg_scale,omitempty"`
	CfgRescaleMultiplier          *float64             `json:"cfg_rescale_multiplier,omitempty"`
	RefinerCfgScale               *float64             `json:"refiner_cfg_scale,omitempty"`
	Guidance                      *float64             `json:"guidance,omitempty"`
	Width                         *int                 `json:"width,omitempty" ge:"64"`
	Height                        *int                 `json:"height,omitempty" ge:"64"`
	Seed                          *int64               `json:"seed,omitempty" ge:"0"`
	DenoiseStrength               *float64             `json:"denoise_strength,omitempty" ge:"0" le:"1"`
	RefinerDenoiseStart           *float64             `json:"refiner_denoise_start,omitempty" ge:"0" le:"1"`
	ClipSkip                      *int                 `json:"clip_skip,omitempty" ge:"0"`
	SeamlessX                     *bool                `json:"seamless_x,omitempty"`
	SeamlessY                     *bool                `json:"seamless_y,omitempty"`
	RefinerPositiveAestheticScore *float64             `json:"refiner_positive_aesthetic_score,omitempty"`
	RefinerNegativeAestheticScore *float64             `json:"refiner_negative_aesthetic_score,omitempty"`
	LoRAs                         []RecallLoRA         `json:"loras,omitempty"`
	ControlLayers                 []RecallControlLayer `json:"control_layers,omitempty"`
	IPAdapters                    []RecallIPAdapter    `json:"ip_adapters,omitempty"`
}

// RecallResult answers POST /recall/{queue_id}.
type RecallResult struct {
	Status       string         `json:"status"`
	QueueID      string         `json:"queue_id,omitempty"`
	UpdatedCount int            `json:"updated_count"`
	Parameters   map[string]any `json:"parameters,omitempty"`
}

// ModelResolver maps a model name to its key; ok is false when no installed model has that name.
type ModelResolver func(ctx context.Context, name string) (key string, ok bool)

// Recall stores per-user recall parameters and announces them.
type Recall struct {
	DB     *store.DB
	Images Images
	Events events.Publisher
	// Models resolves model names in the echoed parameters; nil drops them (nothing can be resolved).
	Models ModelResolver
}

// modelParams are the parameters that name models.
var modelParams = map[string]bool{"model": true, "refiner_model": true, "vae_model": true}

// Update checks every referenced image against the caller's read rights, stores each set parameter under
// recall_<name> in the caller's client state, and emits recall_parameters_updated.
func (r *Recall) Update(ctx context.Context, p access.Principal, queueID string, params RecallParameter) (*RecallResult, error) {
	images := map[string]map[string]any{}
	check := func(name *string) error {
		if name == nil || *name == "" {
			return nil
		}
		if _, done := images[*name]; done {
			return nil
		}
		w, h, err := r.Images.Size(ctx, p, *name)
		if err != nil {
			if ae, ok := apperr.As(err); ok && (ae.Status == 403 || ae.Status == 404) {
				return apperr.Forbidden(fmt.Sprintf("Not authorized to access image %s", *name))
			}
			return err
		}
		images[*name] = map[string]any{"image_name": *name, "width": w, "height": h}
		return nil
	}
	for _, c := range params.ControlLayers {
		if err := check(c.ImageName); err != nil {
			return nil, err
		}
	}
	for _, a := range params.IPAdapters {
		if err := check(a.ImageName); err != nil {
			return nil, err
		}
	}
	stored := map[string]string{}
	echoed := map[string]any{}
	v := reflect.ValueOf(params)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		fv := v.Field(i)
		if fv.IsNil() || (fv.Kind() == reflect.Slice && fv.Len() == 0 && fv.IsNil()) {
			continue
		}
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		b, err := json.Marshal(fv.Interface())
		if err != nil {
			return nil, err
		}
		stored["recall_"+name] = string(b)
		echoed[name] = r.resolve(ctx, name, fv.Interface(), images)
		if echoed[name] == nil {
			delete(echoed, name)
		}
	}
	if len(stored) == 0 {
		return &RecallResult{Status: "no_parameters_provided", UpdatedCount: 0}, nil
	}
	if err := r.DB.SetClientStateValues(ctx, p.UserID, stored); err != nil {
		return nil, err
	}
	if r.Events != nil {
		r.Events.Publish(events.Event{Name: "recall_parameters_updated", UserID: p.UserID, Audience: events.OwnerAndAdmins, QueueID: queueID,
			Payload: events.Fields(RecallParametersUpdatedEvent{QueueID: queueID, UserID: p.UserID, Parameters: echoed})})
	}
	return &RecallResult{Status: "success", QueueID: queueID, UpdatedCount: len(stored), Parameters: echoed}, nil
}

// resolve renders one parameter for the echo: model names become keys, image names become image objects.
func (r *Recall) resolve(ctx context.Context, name string, value any, images map[string]map[string]any) any {
	key := func(model string) (string, bool) {
		if r.Models == nil {
			return "", false
		}
		return r.Models(ctx, model)
	}
	if modelParams[name] {
		if k, ok := key(*(value.(*string))); ok {
			return k
		}
		return nil
	}
	switch list := value.(type) {
	case []RecallLoRA:
		out := []map[string]any{}
		for _, l := range list {
			if k, ok := key(l.ModelName); ok {
				weight, enabled := 0.75, true
				if l.Weight != nil {
					weight = *l.Weight
				}
				if l.IsEnabled != nil {
					enabled = *l.IsEnabled
				}
				out = append(out, map[string]any{"model_key": k, "weight": weight, "is_enabled": enabled})
			}
		}
		return out
	case []RecallControlLayer:
		out := []map[string]any{}
		for _, c := range list {
			k, ok := key(c.ModelName)
			if !ok {
				continue
			}
			weight := 1.0
			if c.Weight != nil {
				weight = *c.Weight
			}
			m := map[string]any{"model_key": k, "weight": weight, "begin_step_percent": c.BeginStepPercent,
				"end_step_percent": c.EndStepPercent, "control_mode": c.ControlMode, "image": nil}
			if c.ImageName != nil {
				m["image"] = images[*c.ImageName]
			}
			out = append(out, m)
		}
		return out
	case []RecallIPAdapter:
		out := []map[string]any{}
		for _, a := range list {
			k, ok := key(a.ModelName)
			if !ok {
				continue
			}
			m := map[string]any{"model_key": k, "weight": a.Weight, "begin_step_percent": a.BeginStepPercent,
				"end_step_percent": a.EndStepPercent, "method": a.Method, "image_influence": a.ImageInfluence, "image": nil}
			if a.ImageName != nil {
				m["image"] = images[*a.ImageName]
			}
			out = append(out, m)
		}
		return out
	}
	return reflect.ValueOf(value).Elem().Interface()
}
