// Package dynamic expands dynamic prompts: the template syntax of the dynamicprompts library that InvokeAI's
// /utilities/dynamicprompts route and dynamic_prompt node use, read by invokego's own parser.
//
// The syntax: {a|b|c} picks one option; options nest ({a|{b|c}}); "2::a" weighs an option for random picks;
// {2$$a|b|c} joins two different options with ","; {1-3$$a|b|c}, {-2$$…} and {2-$$…} give a range;
// {2$$ and $$a|b|c} joins with " and "; a leading ~, ! or @ inside the braces asks for random, combinatorial
// or cyclical sampling of that variant; ${name=value}, ${name=!value} (sampled once), ${name?=value} and
// ${name} / ${name:default} are variables; %{wrapper … $$inner} puts inner where the wrapper has an ellipsis;
// "#" and "//" start comments to the end of the line, as do /* … */ blocks. A backslash makes the next {, }, |,
// #, $, % or _ ordinary text (an invokego addition; other backslashes, as in \( and \), stay).
//
// The combinatorial generator lists every combination in the library's order; the random one draws with a
// reproduction of Python's random.Random, so a seeded expansion picks what InvokeAI picks for that seed.
//
// Differences, on purpose: wildcards (__name__) are refused with an error, since there are no wildcard files;
// a "$" or "%" that does not open ${…} or %{…} is ordinary text (the library rejects the whole prompt); and
// every expansion is bounded — template size, nesting depth, options per variant, total work and output size —
// so a prompt like {a|b}{a|b}… sixty times yields its first max_prompts prompts at once, and one that would need
// too much work fails with an Error instead of running away.
package dynamic

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// Limits on one expansion.
const (
	// MaxPrompts is the most prompts one expansion returns (InvokeAI's route allows 1..10000).
	MaxPrompts = 10000
	// MaxTemplateBytes bounds the template.
	MaxTemplateBytes = 64 << 10
	// MaxDepth bounds how deep {…}, ${…} and %{…} nest.
	MaxDepth = 32
	// MaxOutputBytes bounds the total size of the prompts returned.
	MaxOutputBytes = 16 << 20

	maxNodes = 1 << 15
	// maxLive bounds the enumerations in progress at once, and so the stack of a combinatorial expansion.
	maxLive    = 1 << 13
	maxOptions = 4096
	maxBound   = 1 << 20
	// maxWork bounds the steps of one expansion (combinations tried, values produced, generators made), so
	// that templates whose combinations are mostly discarded as duplicates cannot run for long.
	maxWork = 4_000_000
)

// Error is why a template could not be expanded: a syntax error (Syntax), an unsupported feature or a limit.
// Its message is meant for the person who wrote the prompt.
type Error struct {
	Msg    string
	Syntax bool
}

func (e *Error) Error() string { return e.Msg }

// Options choose the generator.
type Options struct {
	// MaxPrompts is how many prompts to return at most (0..MaxPrompts).
	MaxPrompts int
	// Combinatorial lists combinations in order; otherwise prompts are drawn at random (repeats possible).
	Combinatorial bool
	// Seed makes random draws repeatable; nil draws a seed.
	Seed *int64
}

// Expand returns the prompts a template stands for. An empty template gives none. Errors are *Error.
func Expand(template string, o Options) ([]string, error) {
	if o.MaxPrompts < 0 || o.MaxPrompts > MaxPrompts {
		return nil, &Error{Msg: fmt.Sprintf("max_prompts must be between 0 and %d, not %d", MaxPrompts, o.MaxPrompts)}
	}
	if template == "" {
		return []string{}, nil
	}
	root, err := parse(template)
	if err != nil {
		return nil, err
	}
	if o.MaxPrompts == 0 {
		return []string{}, nil
	}
	seed := int64(0)
	if o.Seed != nil {
		seed = *o.Seed
	} else {
		var b [8]byte
		_, _ = rand.Read(b[:])
		seed = int64(binary.LittleEndian.Uint64(b[:]) >> 1)
	}
	r := newRun(newPyRandom(seed))
	s := scope{method: methodRandom}
	if o.Combinatorial {
		s.method = methodCombinatorial
	}
	out := make([]string, 0, min(o.MaxPrompts, 64))
	total := 0
	emit := func(v string) bool {
		total += len(v)
		if total > MaxOutputBytes {
			return r.fail(&Error{Msg: fmt.Sprintf("the prompts would be longer than %d MiB together; ask for fewer or shorten the prompt", MaxOutputBytes>>20)})
		}
		out = append(out, v)
		return len(out) < o.MaxPrompts
	}
	if m, _ := pick(root, s); m.nonFinite() {
		g := r.gen(root, s)
		for len(out) < o.MaxPrompts {
			v, ok := g.next()
			if !ok || !emit(v) {
				break
			}
		}
	} else {
		r.each(root, s, emit)
	}
	if r.err != nil {
		return nil, r.err
	}
	return out, nil
}

// Check parses a template without expanding it.
func Check(template string) error {
	if template == "" {
		return nil
	}
	_, err := parse(template)
	return err
}
