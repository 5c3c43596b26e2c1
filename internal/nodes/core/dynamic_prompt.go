package core

import (
	"errors"

	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/prompts/dynamic"
)

// DynamicPrompt is dynamic_prompt: the prompts a dynamic-prompt template expands to, with the parser of the
// /utilities/dynamicprompts route. max_prompts is bounded (InvokeAI leaves it open) since it sizes the batch of
// everything downstream.
type DynamicPrompt struct {
	Prompt        string `json:"prompt" description:"The prompt to parse with dynamicprompts" ui_component:"textarea"`
	MaxPrompts    int    `json:"max_prompts" default:"1" ge:"0" le:"10000" description:"The number of prompts to generate"`
	Combinatorial bool   `json:"combinatorial" default:"false" description:"Whether to use the combinatorial generator"`
}

// NodeInfo implements nodes.Node.
func (*DynamicPrompt) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "dynamic_prompt",
		Class:       "DynamicPromptInvocation",
		Title:       "Dynamic Prompt",
		Description: "Parses a prompt using adieyal/dynamicprompts' random or combinatorial generator",
		Tags:        []string{"prompt", "collection"},
		Category:    "prompt",
		Version:     "1.0.1",
		NoCache:     true,
		Output:      StringCollectionOutput{},
	}
}

// Invoke implements nodes.Invocation. Random expansions draw a fresh seed each run, as InvokeAI's node does.
func (n *DynamicPrompt) Invoke(ctx nodes.Context) (nodes.Output, error) {
	prompts, err := dynamic.Expand(n.Prompt, dynamic.Options{MaxPrompts: n.MaxPrompts, Combinatorial: n.Combinatorial})
	var de *dynamic.Error
	switch {
	case errors.As(err, &de) && de.Syntax:
		return nil, nodes.Errorf("ParseException", "%s", de.Msg)
	case errors.As(err, &de):
		return nil, nodes.Errorf("ValueError", "%s", de.Msg)
	case err != nil:
		return nil, err
	}
	return StringCollectionOutput{Collection: prompts}, nil
}
