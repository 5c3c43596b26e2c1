package api

import (
	"errors"
	"net/http"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/prompts/dynamic"
)

// Body_parse_dynamicprompts is the body of /utilities/dynamicprompts, named as InvokeAI's schema names it.
type Body_parse_dynamicprompts struct {
	Prompt        string `json:"prompt" description:"The prompt to parse with dynamicprompts"`
	MaxPrompts    *int   `json:"max_prompts" default:"1000" ge:"1" le:"10000" description:"The max number of prompts to generate"`
	Combinatorial *bool  `json:"combinatorial" default:"true" description:"Whether to use the combinatorial generator"`
	Seed          *int64 `json:"seed" description:"The seed to use for random generation. Only used if not combinatorial"`
}

// DynamicPromptsResponse is what /utilities/dynamicprompts answers.
type DynamicPromptsResponse struct {
	Prompts []string `json:"prompts"`
	Error   *string  `json:"error"`
}

// UtilitiesRoutes are /api/v1/utilities/*.
func UtilitiesRoutes() []Route {
	return []Route{
		JSON(Op{Method: http.MethodPost, Path: "/api/v1/utilities/dynamicprompts", Summary: "Parse Dynamicprompts", ID: "parse_dynamicprompts",
			Tags: []string{"utilities"}, Policy: access.LoggedIn,
			Description: "Expands a dynamic prompt ({a|b} syntax) with the combinatorial or the random generator. A prompt that cannot be " +
				"expanded answers 200 with the prompt itself and the reason in error, as InvokeAI does."},
			func(c *Call, in *struct {
				Body Body_parse_dynamicprompts `body:"json"`
			}) (DynamicPromptsResponse, error) {
				o := dynamic.Options{MaxPrompts: 1000, Combinatorial: true, Seed: in.Body.Seed}
				if in.Body.MaxPrompts != nil {
					o.MaxPrompts = min(*in.Body.MaxPrompts, dynamic.MaxPrompts)
				}
				if in.Body.Combinatorial != nil {
					o.Combinatorial = *in.Body.Combinatorial
				}
				prompts, err := dynamic.Expand(in.Body.Prompt, o)
				var de *dynamic.Error
				switch {
				case errors.As(err, &de):
					msg := de.Msg
					return DynamicPromptsResponse{Prompts: []string{in.Body.Prompt}, Error: &msg}, nil
				case err != nil:
					return DynamicPromptsResponse{}, err
				case len(prompts) == 0:
					prompts = []string{""}
				}
				return DynamicPromptsResponse{Prompts: prompts}, nil
			}),
	}
}
