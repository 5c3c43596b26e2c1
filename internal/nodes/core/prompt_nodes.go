package core

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/invokego/invokego/internal/nodes"
)

// prompt_from_file and prompt_template.

// MaxPromptFileBytes bounds the prompt file prompt_from_file reads.
const MaxPromptFileBytes = 16 << 20

// PromptFiles is where prompt_from_file may read. InvokeAI opens any path on the server; invokego reads only
// files inside Dir (a relative file_path is taken inside it), so that no user — with or without an account —
// reads other server files through a graph (docs/security.md, "Server files").
type PromptFiles struct {
	Dir string
}

// resolve returns the real path of a file inside the folder, or a ValueError.
func (p PromptFiles) resolve(name string) (string, error) {
	if p.Dir == "" {
		return "", nodes.Errorf("ValueError", "prompt files are not available on this server")
	}
	root, err := filepath.EvalSymlinks(p.Dir)
	if err != nil {
		return "", nodes.Errorf("FileNotFoundError", "the prompts folder does not exist")
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", nodes.Errorf("FileNotFoundError", "prompt file %s not found", name)
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", nodes.Errorf("ValueError", "prompt files must be inside the server's prompts folder")
	}
	return real, nil
}

// PromptsFromFile is prompt_from_file.
type PromptsFromFile struct {
	FilePath   string  `json:"file_path" description:"Path to prompt text file"`
	PrePrompt  *string `json:"pre_prompt" default:"null" ui_component:"textarea" description:"String to prepend to each prompt"`
	PostPrompt *string `json:"post_prompt" default:"null" ui_component:"textarea" description:"String to append to each prompt"`
	StartLine  int64   `json:"start_line" default:"1" ge:"1" description:"Line in the file to start start from"`
	MaxPrompts int64   `json:"max_prompts" default:"1" ge:"0" description:"Max lines to read from file (0=all)"`
	files      PromptFiles
}

// NodeInfo implements nodes.Node.
func (*PromptsFromFile) NodeInfo() nodes.Info {
	return nodes.Info{Type: "prompt_from_file", Class: "PromptsFromFileInvocation", Title: "Prompts from File",
		Description: "Loads prompts from a text file", Tags: []string{"prompt", "file"}, Category: "prompt",
		Version: "1.0.2", Output: StringCollectionOutput{}}
}

// Invoke implements nodes.Invocation: lines start_line.. (at most max_prompts of them, 0 meaning all), each
// stripped of surrounding whitespace and wrapped in pre_prompt and post_prompt.
func (n *PromptsFromFile) Invoke(nodes.Context) (nodes.Output, error) {
	path, err := n.files.resolve(n.FilePath)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nodes.Errorf("FileNotFoundError", "prompt file %s not found", n.FilePath)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPromptFileBytes+1))
	if err != nil {
		return nil, nodes.Errorf("OSError", "could not read prompt file %s", n.FilePath)
	}
	if len(data) > MaxPromptFileBytes {
		return nil, nodes.Errorf("ValueError", "prompt files are at most %d bytes", MaxPromptFileBytes)
	}
	if !utf8.Valid(data) {
		return nil, nodes.Errorf("UnicodeDecodeError", "prompt file %s is not UTF-8 text", n.FilePath)
	}
	return StringCollectionOutput{promptLines(string(data), deref(n.PrePrompt), deref(n.PostPrompt), n.StartLine, n.MaxPrompts)}, nil
}

// promptLines is InvokeAI's loop over a text file: Python's universal newlines (\n, \r\n, \r) and str.strip().
func promptLines(text, pre, post string, startLine, maxPrompts int64) []string {
	start := startLine - 1
	end := start + maxPrompts
	if maxPrompts <= 0 {
		end = 1<<31 - 1
	}
	out := []string{}
	var i int64
	for len(text) > 0 && i < end {
		line := text
		if k := strings.IndexAny(text, "\r\n"); k >= 0 {
			skip := 1
			if text[k] == '\r' && k+1 < len(text) && text[k+1] == '\n' {
				skip = 2
			}
			line, text = text[:k], text[k+skip:]
		} else {
			text = ""
		}
		if i >= start {
			out = append(out, pre+pyStrip(line)+post)
		}
		i++
	}
	return out
}

// pyStrip is Python's str.strip() with no arguments.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) || r == 0x85 })
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// PresetSource reads a style preset's prompts with the rights of the queue item's owner.
type PresetSource interface {
	PresetPrompts(ctx context.Context, userID, presetID string) (positive, negative string, err error)
}

// StylePresetField names a style preset.
type StylePresetField struct {
	StylePresetID string `json:"style_preset_id" description:"The id of the style preset"`
}

// FieldTypeName implements nodes.TypeNamer.
func (StylePresetField) FieldTypeName() string { return "StylePresetField" }

// PromptTemplateOutput is prompt_template_output.
type PromptTemplateOutput struct {
	PositivePrompt string `json:"positive_prompt" description:"The positive prompt with the template applied"`
	NegativePrompt string `json:"negative_prompt" description:"The negative prompt with the template applied"`
}

// OutputType implements nodes.Output.
func (PromptTemplateOutput) OutputType() string { return "prompt_template_output" }

// PromptTemplate is prompt_template.
type PromptTemplate struct {
	StylePreset    StylePresetField `json:"style_preset" description:"The Style Preset to use as a template"`
	PositivePrompt string           `json:"positive_prompt" default:"\"\"" ui_component:"textarea" description:"The positive prompt to insert into the template's {prompt} placeholder"`
	NegativePrompt string           `json:"negative_prompt" default:"\"\"" ui_component:"textarea" description:"The negative prompt to insert into the template's {prompt} placeholder"`
	presets        PresetSource
}

// NodeInfo implements nodes.Node.
func (*PromptTemplate) NodeInfo() nodes.Info {
	return nodes.Info{Type: "prompt_template", Title: "Prompt Template",
		Description: "Applies a Style Preset template to positive and negative prompts.\n\nSelect a Style Preset and provide positive/negative prompts. The node replaces\n{prompt} placeholders in the template with your input prompts.",
		Tags:        []string{"prompt", "template", "style", "preset"}, Category: "prompt", Version: "1.0.0",
		Output: PromptTemplateOutput{}}
}

// Invoke implements nodes.Invocation: every {prompt} in the preset's prompts becomes the input prompt.
func (n *PromptTemplate) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if n.presets == nil {
		return nil, nodes.Errorf("RuntimeError", "style presets are not available")
	}
	pos, neg, err := n.presets.PresetPrompts(ctx, ctx.Item().UserID, n.StylePreset.StylePresetID)
	if err != nil {
		var ne *nodes.NodeError
		if errors.As(err, &ne) {
			return nil, err
		}
		return nil, nodes.Errorf("ValueError", "style preset %s: %v", n.StylePreset.StylePresetID, err)
	}
	return PromptTemplateOutput{
		PositivePrompt: strings.ReplaceAll(pos, "{prompt}", n.PositivePrompt),
		NegativePrompt: strings.ReplaceAll(neg, "{prompt}", n.NegativePrompt),
	}, nil
}

// RegisterPromptFile adds prompt_from_file, reading from files.
func RegisterPromptFile(r *nodes.Registry, files PromptFiles) {
	r.Register(&PromptsFromFile{files: files})
}

// RegisterPromptTemplate adds prompt_template, reading presets from src.
func RegisterPromptTemplate(r *nodes.Registry, src PresetSource) {
	r.Register(&PromptTemplate{presets: src})
}
