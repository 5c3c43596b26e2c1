// Package prompt parses InvokeAI's prompt syntax (that of the compel
// library) into weighted text fragments for the text-encoder layer:
//
//	a cat+            "cat" weighted 1.1 (each + multiplies by 1.1)
//	a cat--           "cat" weighted 0.9² (each - multiplies by 0.9)
//	a (red cat)1.3    an explicit weight on a group
//	((nested)+)0.5    weights multiply through nesting
//	"quoted text"++   quotes group like parentheses
//	\( \) \" \, \. \+ \- \=   escaped, literal characters
//	("a cat", "a dog").and()              a conjunction of prompts
//	("a cat", "a dog").and(1, 0.5)        with per-prompt weights
//	("a cat", "a dog").blend(0.7, 0.3)    a weighted blend of embeddings
//	(a cat).swap(dog)                     cross-attention swap: parsed,
//	                                      the original text is kept
//
// Text without syntax passes through unchanged apart from whitespace runs
// collapsing to single spaces.
package prompt

import (
	"fmt"
	"math"
	"strings"
)

// Compel's default attention bases.
const (
	PlusBase  = 1.1
	MinusBase = 0.9
)

// Fragment is a run of text with one attention weight.
type Fragment struct {
	Text   string
	Weight float64
}

// Blend mixes the embeddings of several prompts with weights.
type Blend struct {
	Prompts [][]Fragment
	Weights []float64
	// Normalize is false when the blend asked for no_normalize; otherwise
	// the weights are to be divided by their sum.
	Normalize bool
}

// Part is one prompt of a conjunction: either plain weighted fragments or
// a blend.
type Part struct {
	Fragments []Fragment
	Blend     *Blend
}

// Conjunction is the parse result: one or more prompts, each encoded
// separately and combined with Weights (all 1 unless .and() gave weights).
type Conjunction struct {
	Parts   []Part
	Weights []float64
}

// Text returns a plain-text rendering of the conjunction's first part
// (weights dropped), useful for logging or as a fallback.
func (c Conjunction) Text() string {
	if len(c.Parts) == 0 {
		return ""
	}
	frags := c.Parts[0].Fragments
	if c.Parts[0].Blend != nil && len(c.Parts[0].Blend.Prompts) > 0 {
		frags = c.Parts[0].Blend.Prompts[0]
	}
	texts := make([]string, len(frags))
	for i, f := range frags {
		texts[i] = f.Text
	}
	return strings.Join(texts, " ")
}

// SyntaxError describes where parsing failed.
type SyntaxError struct {
	Offset int // byte offset in the prompt
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("prompt: syntax error at byte %d: %s", e.Offset, e.Msg)
}

// maxDepth bounds nesting so hostile prompts cannot exhaust the stack.
const maxDepth = 100

// Parse parses a prompt.
func Parse(prompt string) (Conjunction, error) {
	p := &parser{src: prompt}
	c, err := p.parseTop()
	if err != nil {
		return Conjunction{}, err
	}
	// Nested weights multiply; absurd ones can overflow.
	for _, part := range c.Parts {
		all := [][]Fragment{part.Fragments}
		if part.Blend != nil {
			all = part.Blend.Prompts
		}
		for _, frags := range all {
			for _, f := range frags {
				if math.IsInf(f.Weight, 0) || math.IsNaN(f.Weight) {
					return Conjunction{}, &SyntaxError{Msg: fmt.Sprintf("weight of %q overflows", f.Text)}
				}
			}
		}
	}
	return c, nil
}

// ParseOrPlain parses a prompt, falling back to the whole prompt as a
// single weight-1 fragment when it has a syntax error (InvokeAI likewise
// keeps going with malformed prompts). The error, if any, is returned for
// logging.
func ParseOrPlain(prompt string) (Conjunction, error) {
	c, err := Parse(prompt)
	if err == nil {
		return c, nil
	}
	text := strings.Join(strings.Fields(prompt), " ")
	var frags []Fragment
	if text != "" {
		frags = []Fragment{{Text: text, Weight: 1}}
	}
	return Conjunction{Parts: []Part{{Fragments: frags}}, Weights: []float64{1}}, err
}

// node is the parse tree before flattening.
type node struct {
	text     string  // leaf text (a word, or a literal "," / "+")
	weight   float64 // multiplier for children
	children []node
	leaf     bool
}

type parser struct {
	src   string
	pos   int
	depth int
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

func (p *parser) skipSpace() {
	for !p.eof() && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// syntaxChars are the characters compel gives meaning to.
const syntaxChars = `()",.+-=`

func isSyntax(c byte) bool { return strings.IndexByte(syntaxChars, c) >= 0 }

// parseTop recognises a whole-prompt .and()/.blend() call on a tuple of
// prompts, or else parses an ordinary prompt.
func (p *parser) parseTop() (Conjunction, error) {
	if op, items, args, ok, err := p.tryTupleCall(); err != nil {
		return Conjunction{}, err
	} else if ok {
		return buildCall(op, items, args, p)
	}
	p.pos = 0
	n, err := p.parseSequence(0)
	if err != nil {
		return Conjunction{}, err
	}
	if !p.eof() {
		return Conjunction{}, p.errorf("unexpected %q", p.peek())
	}
	return Conjunction{Parts: []Part{{Fragments: flatten(n)}}, Weights: []float64{1}}, nil
}

// tryTupleCall parses `( item, item, ... ).op(args)` spanning the whole
// prompt (surrounding whitespace allowed). ok is false, with no error, when
// the prompt does not have that shape.
func (p *parser) tryTupleCall() (op string, items []string, args []string, ok bool, err error) {
	s := strings.TrimSpace(p.src)
	for _, name := range []string{"and", "blend"} {
		suffixStart := strings.LastIndex(s, ")."+name+"(")
		if !strings.HasPrefix(s, "(") || suffixStart < 0 || !strings.HasSuffix(s, ")") {
			continue
		}
		inner := s[1:suffixStart]
		argText := s[suffixStart+len(")."+name+"(") : len(s)-1]
		items, ok := splitTopLevel(inner)
		if !ok {
			continue
		}
		for i, it := range items {
			it = strings.TrimSpace(it)
			if len(it) >= 2 && it[0] == '"' && it[len(it)-1] == '"' {
				it = unescapeQuotes(it[1 : len(it)-1])
			}
			items[i] = it
		}
		var args []string
		if strings.TrimSpace(argText) != "" {
			for _, a := range strings.Split(argText, ",") {
				args = append(args, strings.TrimSpace(a))
			}
		}
		return name, items, args, true, nil
	}
	return "", nil, nil, false, nil
}

// splitTopLevel splits s at commas outside quotes and parentheses. ok is
// false when quotes or parentheses are unbalanced.
func splitTopLevel(s string) ([]string, bool) {
	var out []string
	depth, inQuote, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				return nil, false
			}
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if depth != 0 || inQuote {
		return nil, false
	}
	return append(out, s[start:]), true
}

func unescapeQuotes(s string) string { return strings.ReplaceAll(s, `\"`, `"`) }

func buildCall(op string, items, args []string, p *parser) (Conjunction, error) {
	prompts := make([][]Fragment, len(items))
	for i, it := range items {
		sub := &parser{src: it, depth: p.depth + 1}
		n, err := sub.parseSequence(0)
		if err == nil && !sub.eof() {
			err = sub.errorf("unexpected %q", sub.peek())
		}
		if err != nil {
			return Conjunction{}, fmt.Errorf("prompt: in %s() item %d: %w", op, i+1, err)
		}
		prompts[i] = flatten(n)
	}
	normalize := true
	var weights []float64
	for _, a := range args {
		if a == "no_normalize" {
			normalize = false
			continue
		}
		if a == "normalize" {
			continue
		}
		w, err := parseNumber(a)
		if err != nil {
			return Conjunction{}, fmt.Errorf("prompt: %s() argument %q: %w", op, a, err)
		}
		weights = append(weights, w)
	}
	if len(weights) == 0 {
		weights = make([]float64, len(items))
		for i := range weights {
			weights[i] = 1
		}
	}
	if len(weights) != len(items) {
		return Conjunction{}, fmt.Errorf("prompt: %s() has %d prompts but %d weights", op, len(items), len(weights))
	}
	if op == "blend" {
		return Conjunction{
			Parts:   []Part{{Blend: &Blend{Prompts: prompts, Weights: weights, Normalize: normalize}}},
			Weights: []float64{1},
		}, nil
	}
	c := Conjunction{Weights: weights}
	for _, fr := range prompts {
		c.Parts = append(c.Parts, Part{Fragments: fr})
	}
	return c, nil
}

// parseSequence parses items until end of input or, when closer is
// non-zero, until that closing character (not consumed).
func (p *parser) parseSequence(closer byte) (node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return node{}, p.errorf("nesting deeper than %d", maxDepth)
	}
	seq := node{weight: 1}
	for {
		p.skipSpace()
		if p.eof() {
			if closer != 0 {
				return node{}, p.errorf("missing %q", closer)
			}
			return seq, nil
		}
		c := p.peek()
		if closer != 0 && c == closer {
			return seq, nil
		}
		item, err := p.parseItem(closer)
		if err != nil {
			return node{}, err
		}
		seq.children = append(seq.children, item)
	}
}

// parseItem parses one target with its optional weight operator, or a
// literal punctuation fragment.
func (p *parser) parseItem(closer byte) (node, error) {
	start := p.pos
	var target node
	switch c := p.peek(); {
	case c == '(':
		p.pos++
		inner, err := p.parseSequence(')')
		if err != nil {
			return node{}, err
		}
		p.pos++ // ')'
		target = inner
	case c == '"' && closer != '"':
		p.pos++
		inner, err := p.parseSequence('"')
		if err != nil {
			return node{}, err
		}
		p.pos++ // closing quote
		target = inner
	case c == ')':
		return node{}, p.errorf("unbalanced ')'")
	case c == ',' || c == '.' || c == '=' || c == '+' || c == '-' || (c == '"' && closer == '"'):
		if c == '"' {
			return node{}, p.errorf("unexpected quote")
		}
		// Lone punctuation with no target: keep it as text.
		p.pos++
		for !p.eof() && p.peek() == c && (c == '+' || c == '-') {
			p.pos++
		}
		return node{leaf: true, text: p.src[start:p.pos], weight: 1}, nil
	default:
		w := p.parseWord()
		if w == "" {
			return node{}, p.errorf("unexpected %q", c)
		}
		target = node{leaf: true, text: w, weight: 1}
	}
	if err := p.parseSwap(); err != nil {
		return node{}, err
	}
	weight, err := p.parseWeightOp()
	if err != nil {
		return node{}, err
	}
	if target.leaf {
		return node{weight: weight, children: []node{target}}, nil
	}
	target.weight *= weight
	return target, nil
}

// parseSwap consumes a `.swap(...)` suffix. Cross-attention swapping is
// not supported by InvokeAI's current engine, so the replacement is parsed
// for validity and dropped.
func (p *parser) parseSwap() error {
	if !strings.HasPrefix(p.src[p.pos:], ".swap(") {
		return nil
	}
	p.pos += len(".swap(")
	if _, err := p.parseSequence(')'); err != nil {
		return err
	}
	p.pos++
	return nil
}

// parseWeightOp reads + runs, - runs or a number directly after a target.
func (p *parser) parseWeightOp() (float64, error) {
	if p.eof() {
		return 1, nil
	}
	switch c := p.peek(); {
	case c == '+' || c == '-':
		n := 0
		for !p.eof() && p.peek() == c {
			n++
			p.pos++
		}
		base := PlusBase
		if c == '-' {
			base = MinusBase
		}
		return math.Pow(base, float64(n)), nil
	case c >= '0' && c <= '9' || c == '.' && p.pos+1 < len(p.src) && isDigit(p.src[p.pos+1]):
		start := p.pos
		for !p.eof() && (isDigit(p.peek()) || p.peek() == '.') {
			p.pos++
		}
		w, err := parseNumber(p.src[start:p.pos])
		if err != nil {
			p.pos = start
			return 0, p.errorf("bad weight %q", p.src[start:p.pos])
		}
		return w, nil
	}
	return 1, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func parseNumber(s string) (float64, error) {
	var w float64
	if _, err := fmt.Sscanf(s, "%g", &w); err != nil || math.IsNaN(w) || math.IsInf(w, 0) {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	// Sscanf accepts prefixes; insist the whole string was a number.
	if strings.TrimLeft(s, "+-0123456789.eE") != "" || strings.Count(s, ".") > 1 {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return w, nil
}

// parseWord reads a run of ordinary characters: anything but whitespace and
// syntax characters, plus escaped syntax characters, plus + and - that are
// followed by an ordinary character (so "e-mail" and "a+b" stay words while
// "cat++" ends in an operator). Digits directly after a word's letters are
// part of it ("1girl", "4k"), as in compel.
func (p *parser) parseWord() string {
	var b strings.Builder
	for !p.eof() {
		c := p.peek()
		switch {
		case c == '\\' && p.pos+1 < len(p.src) && isSyntax(p.src[p.pos+1]):
			b.WriteByte(p.src[p.pos+1])
			p.pos += 2
		case c == '+' || c == '-':
			if p.pos+1 < len(p.src) && !isSpace(p.src[p.pos+1]) && !isSyntax(p.src[p.pos+1]) && b.Len() > 0 {
				b.WriteByte(c)
				p.pos++
				continue
			}
			return b.String()
		case isSpace(c) || isSyntax(c):
			// A '.' between digits (a decimal number like 1.5 in running
			// text) stays in the word only when not followed by "swap(".
			if c == '.' && b.Len() > 0 && p.pos+1 < len(p.src) && isDigit(p.src[p.pos+1]) && isDigit(p.src[p.pos-1]) {
				b.WriteByte(c)
				p.pos++
				continue
			}
			return b.String()
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return b.String()
}

// flatten walks the tree multiplying weights and merges neighbouring
// fragments of equal weight, joined by spaces.
func flatten(n node) []Fragment {
	var out []Fragment
	var walk func(n node, w float64)
	walk = func(n node, w float64) {
		w *= n.weight
		if n.leaf {
			if len(out) > 0 && out[len(out)-1].Weight == w {
				sep := " "
				if n.text == "," || n.text == "." {
					sep = "" // "cat," rather than "cat ,"; CLIP tokenizes both alike
				}
				out[len(out)-1].Text += sep + n.text
			} else {
				out = append(out, Fragment{Text: n.text, Weight: w})
			}
			return
		}
		for _, c := range n.children {
			walk(c, w)
		}
	}
	walk(n, 1)
	return out
}
