package dynamic

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// kind is what a node of the template is.
type kind uint8

const (
	kLiteral kind = iota
	kSequence
	kVariant
	kAssign
	kAccess
	kWrap
)

// method is a sampling method: the generator's own, or one a variant or wildcard asks for with ~, ! or @.
type method uint8

const (
	methodNone method = iota
	methodCombinatorial
	methodRandom
	methodCyclical
)

func (m method) nonFinite() bool { return m == methodRandom || m == methodCyclical }

// node is one command of a parsed template.
type node struct {
	kind kind
	// eq identifies the node's structure: nodes are equal (as the library's commands compare) when their eq is.
	eq int
	// text is a literal's text or a variable's name.
	text string
	// items are a sequence's tokens, a variant's option values, [value] of an assignment, [default] (or none)
	// of an access, and [wrapper, inner] of a wrap.
	items   []*node
	weights []float64
	// min and max bound how many options a variant joins, sep joins them.
	min, max int
	sep      string
	method   method
	// overwrite is false for ${x?=...}; immediate is ${x=!...}, sampled once when assigned.
	overwrite, immediate bool
}

// parser reads the template syntax of the dynamicprompts library (see the package comment).
type parser struct {
	src   string
	pos   int
	depth int
	nodes int
	// intern gives structurally equal nodes the same eq.
	intern map[string]int
	// sep and rangeOnlyLower carry bound's separator and whether "N-" (rather than "N") was read.
	sep            string
	rangeOnlyLower bool
}

// where says which grammar a prompt is read with: the whole template, or a piece inside {...}, ${...} or %{...}.
type where uint8

const (
	atTop where = iota
	inVariant
)

func parse(src string) (*node, error) {
	if len(src) > MaxTemplateBytes {
		return nil, &Error{Msg: fmt.Sprintf("the prompt is %d bytes long; at most %d can be expanded", len(src), MaxTemplateBytes)}
	}
	if !utf8.ValidString(src) {
		return nil, &Error{Msg: "the prompt is not valid UTF-8"}
	}
	p := &parser{src: src, intern: map[string]int{}}
	items, err := p.chunks(atTop)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.src) {
		return nil, p.errorf(p.pos, "unexpected %s", p.describe(p.pos))
	}
	return p.single(items), nil
}

// errorf builds a syntax error located at byte offset at, counted in characters as the library reports it.
func (p *parser) errorf(at int, format string, args ...any) error {
	before := p.src[:at]
	line := strings.Count(before, "\n") + 1
	col := utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	return &Error{Msg: fmt.Sprintf(format, args...) + fmt.Sprintf(" (at char %d), (line:%d, col:%d)", utf8.RuneCountInString(before), line, col), Syntax: true}
}

// describe names what is at a position for an error message.
func (p *parser) describe(at int) string {
	if at >= len(p.src) {
		return "end of text"
	}
	r, _ := utf8.DecodeRuneInString(p.src[at:])
	return strconv.QuoteRune(r)
}

func (p *parser) rest() string { return p.src[p.pos:] }

// newNode registers a node, giving it the equality class of its structure.
func (p *parser) newNode(n *node) (*node, error) {
	p.nodes++
	if p.nodes > maxNodes {
		return nil, &Error{Msg: fmt.Sprintf("the prompt has more than %d parts", maxNodes)}
	}
	var b strings.Builder
	switch n.kind {
	case kLiteral:
		b.WriteString("L")
		b.WriteString(n.text)
	case kSequence:
		b.WriteString("S")
	case kVariant:
		fmt.Fprintf(&b, "V%d,%d,%d,%q", n.min, n.max, n.method, n.sep)
	case kAssign:
		fmt.Fprintf(&b, "A%t,%t,%s", n.overwrite, n.immediate, n.text)
	case kAccess:
		fmt.Fprintf(&b, "G%s", n.text)
	case kWrap:
		b.WriteString("W")
	}
	for i, c := range n.items {
		if n.kind == kVariant {
			w := n.weights[i]
			if w == 0 {
				w = 0 // -0 equals 0, as in Python
			}
			fmt.Fprintf(&b, ",%x:%d", math.Float64bits(w), c.eq)
		} else {
			fmt.Fprintf(&b, ",%d", c.eq)
		}
	}
	key := b.String()
	id, ok := p.intern[key]
	if !ok {
		id = len(p.intern)
		p.intern[key] = id
	}
	n.eq = id
	return n, nil
}

// single is what a prompt of several chunks becomes: the chunk itself when there is one, else a sequence.
func (p *parser) single(items []*node) *node {
	if len(items) == 1 {
		return items[0]
	}
	n, _ := p.newNode(&node{kind: kSequence, items: items})
	return n
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errorf(p.pos, "the prompt nests {…} more than %d deep", MaxDepth)
	}
	return nil
}

// skipIgnorables passes over comments, as the library does before every element: "#" or "//" to the end of the
// line and /* ... */, each with the whitespace before it. Whitespace not followed by a comment stays.
func (p *parser) skipIgnorables() {
	for {
		q := p.pos
		for q < len(p.src) && isWS(p.src[q]) {
			q++
		}
		r := p.src[q:]
		switch {
		case strings.HasPrefix(r, "#"), strings.HasPrefix(r, "//"):
			end := strings.IndexByte(r, '\n')
			if end < 0 {
				end = len(r)
			}
			p.pos = q + end
		case strings.HasPrefix(r, "/*"):
			end := strings.Index(r[2:], "*/")
			if end < 0 {
				return
			}
			p.pos = q + 2 + end + 2
		default:
			return
		}
	}
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipWS is the library's optional whitespace: comments, then spaces, tabs and line breaks.
func (p *parser) skipWS() {
	p.skipIgnorables()
	for p.pos < len(p.src) && isWS(p.src[p.pos]) {
		p.pos++
	}
}

// wildcardAt reports the wildcard reference (__name__) that starts at byte offset at, if any. The library would
// look it up in wildcard files, which invokego does not have.
func (p *parser) wildcardAt(at int) (string, bool) {
	r := p.src[at:]
	if !strings.HasPrefix(r, "__") {
		return "", false
	}
	i := 2
	if i < len(r) && strings.IndexByte("~!@", r[i]) >= 0 {
		i++
	}
	start := i
	for i < len(r) {
		c := r[i]
		if c == '_' && i+1 < len(r) && r[i+1] == '_' && i > start {
			return r[:i+2], true
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-/*.", c) >= 0) {
			return "", false
		}
		i++
	}
	return "", false
}

// chunks reads chunks until none fits: literals, {variants}, ${variables}, %{wraps}.
func (p *parser) chunks(w where) ([]*node, error) {
	var out []*node
	for {
		p.skipIgnorables()
		if p.pos >= len(p.src) {
			return out, nil
		}
		r := p.rest()
		var n *node
		var err error
		switch {
		case strings.HasPrefix(r, "${"):
			n, err = p.variable(w)
		case strings.HasPrefix(r, "%{"):
			n, err = p.wrap()
		case r[0] == '{':
			n, err = p.variant()
		default:
			if name, ok := p.wildcardAt(p.pos); ok {
				return nil, &Error{Msg: fmt.Sprintf("wildcards are not supported (%s at char %d): invokego has no wildcard files; write the choices in the prompt as {a|b|c}",
					name, utf8.RuneCountInString(p.src[:p.pos]))}
			}
			n, err = p.literal(w)
			if n == nil && err == nil {
				return out, nil // nothing here belongs to this prompt: the caller decides what comes next
			}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
}

// literalEnd scans one run of literal text from the current position.
func (p *parser) literalEnd(w where) int {
	i := p.pos
	for i < len(p.src) {
		c := p.src[i]
		switch {
		case c == '\\' && i+1 < len(p.src) && strings.IndexByte(escapable, p.src[i+1]) >= 0:
			i += 2
			continue
		case c == '#' || c == '{':
			return i
		case (c == '$' || c == '%') && i+1 < len(p.src) && p.src[i+1] == '{':
			return i
		case c == '_' && i+1 < len(p.src) && p.src[i+1] == '_':
			if _, ok := p.wildcardAt(i); ok {
				return i
			}
			i += 2
			continue
		case w == inVariant && (c == '|' || c == '}'):
			return i
		case w == inVariant && c == '$' && i+1 < len(p.src) && p.src[i+1] == '$':
			return i
		}
		i++
	}
	return i
}

// escapable are the characters a backslash makes literal (an invokego addition: the library has no escapes).
// Other backslashes stay as they are, so the prompt syntax's \( and \) reach the text encoder unchanged.
const escapable = "{}|#$%_"

// unescape drops the backslash of every escape in a run of literal text.
func unescape(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(escapable, s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// literal reads literal text. Runs separated only by comments are joined with one space, as the library joins
// them.
func (p *parser) literal(w where) (*node, error) {
	end := p.literalEnd(w)
	if end == p.pos {
		return nil, nil
	}
	text := unescape(p.src[p.pos:end])
	p.pos = end
	for {
		save := p.pos
		p.skipIgnorables()
		if p.pos == save {
			break
		}
		end := p.literalEnd(w)
		if end == p.pos {
			break
		}
		text += " " + unescape(p.src[p.pos:end])
		p.pos = end
	}
	return p.newNode(&node{kind: kLiteral, text: text})
}

// variant reads {[~|!|@][bound$$[separator$$]]option|option...}, each option an optional "weight::" and a prompt.
func (p *parser) variant() (*node, error) {
	open := p.pos
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.pos++
	p.skipWS()
	n := &node{kind: kVariant, min: 1, max: 1, sep: ","}
	if p.pos < len(p.src) {
		switch p.src[p.pos] {
		case '~':
			n.method, p.pos = methodRandom, p.pos+1
		case '!':
			n.method, p.pos = methodCombinatorial, p.pos+1
		case '@':
			n.method, p.pos = methodCyclical, p.pos+1
		}
	}
	lower, upper, hasLower, hasUpper, bounded := p.bound()
	p.skipWS()
	for {
		p.skipWS()
		weight := p.weight()
		items, err := p.chunks(inVariant)
		if err != nil {
			return nil, err
		}
		p.skipWS()
		n.items = append(n.items, p.single(items))
		n.weights = append(n.weights, weight)
		if len(n.items) > maxOptions {
			return nil, p.errorf(p.pos, "a {…} has more than %d options", maxOptions)
		}
		p.skipIgnorables()
		if p.pos >= len(p.src) {
			return nil, p.errorf(open, "'{' is never closed")
		}
		switch p.src[p.pos] {
		case '|':
			p.pos++
			continue
		case '}':
			p.pos++
		default:
			return nil, p.errorf(p.pos, "expected '|' or '}' in the {…} opened at char %d, found %s", utf8.RuneCountInString(p.src[:open]), p.describe(p.pos))
		}
		break
	}
	if bounded {
		n.min, n.max = 1, len(n.items)
		if hasLower {
			n.min = lower
		}
		if hasUpper {
			n.max = upper
		}
		if !hasUpper && hasLower && !p.rangeOnlyLower {
			n.max = lower // an exact count
		}
		if n.min > n.max {
			n.min, n.max = n.max, n.min
		}
		n.min = max(n.min, 0)
		n.sep = p.sep
	}
	return p.newNode(n)
}

// bound reads "N$$", "N-M$$", "-M$$" or "N-$$", then an optional "separator$$". It leaves the position
// unchanged when there is none. The separator is kept in p.sep, and p.rangeOnlyLower tells "N-" from "N".
func (p *parser) bound() (lower, upper int, hasLower, hasUpper, ok bool) {
	start := p.pos
	p.sep, p.rangeOnlyLower = ",", false
	num := func() (int, bool) {
		p.skipIgnorables()
		i := p.pos
		for i < len(p.src) && p.src[i] >= '0' && p.src[i] <= '9' {
			i++
		}
		if i == p.pos {
			return 0, false
		}
		v, err := strconv.Atoi(p.src[p.pos:i])
		if err != nil || v > maxBound {
			v = maxBound // any count past the number of options means all of them
		}
		p.pos = i
		return v, true
	}
	dash := func() bool {
		p.skipIgnorables()
		if p.pos < len(p.src) && p.src[p.pos] == '-' {
			p.pos++
			return true
		}
		return false
	}
	delim := func() bool {
		p.skipIgnorables()
		if strings.HasPrefix(p.rest(), "$$") {
			p.pos += 2
			return true
		}
		return false
	}
	fail := func() (int, int, bool, bool, bool) {
		p.pos = start
		p.sep, p.rangeOnlyLower = ",", false
		return 0, 0, false, false, false
	}
	if v, isNum := num(); isNum {
		lower, hasLower = v, true
		mark := p.pos
		if dash() {
			if u, isNum := num(); isNum {
				upper, hasUpper = u, true
			} else {
				p.rangeOnlyLower = true
			}
		} else {
			p.pos = mark
		}
	} else if dash() {
		u, isNum := num()
		if !isNum {
			return fail()
		}
		upper, hasUpper = u, true
	} else {
		return fail()
	}
	if !delim() {
		return fail()
	}
	// An optional separator: printable ASCII and spaces without '$', '{' or '}', followed by "$$".
	mark := p.pos
	p.skipIgnorables()
	i := p.pos
	for i < len(p.src) && p.src[i] >= ' ' && p.src[i] <= '~' && p.src[i] != '$' && p.src[i] != '{' && p.src[i] != '}' {
		i++
	}
	if i > p.pos && strings.HasPrefix(p.src[i:], "$$") {
		p.sep = p.src[p.pos:i]
		p.pos = i + 2
	} else {
		p.pos = mark
	}
	return lower, upper, hasLower, hasUpper, true
}

// weight reads an option's "2::" or "0.5::"; without one the weight is 1.
func (p *parser) weight() float64 {
	start := p.pos
	p.skipIgnorables()
	r := p.rest()
	i := 0
	if i < len(r) && (r[i] == '+' || r[i] == '-') {
		i++
	}
	digits := 0
	for i < len(r) && r[i] >= '0' && r[i] <= '9' {
		i++
		digits++
	}
	if i < len(r) && r[i] == '.' {
		i++
		frac := 0
		for i < len(r) && r[i] >= '0' && r[i] <= '9' {
			i++
			frac++
		}
		if digits == 0 && frac == 0 {
			p.pos = start
			return 1
		}
	} else if digits == 0 || r[0] == '+' || r[0] == '-' {
		// an integer weight has no sign; only a real one (with a dot) may
		p.pos = start
		return 1
	}
	if !strings.HasPrefix(r[i:], "::") {
		p.pos = start
		return 1
	}
	v, err := strconv.ParseFloat(r[:i], 64)
	if err != nil {
		p.pos = start
		return 1
	}
	p.pos += i + 2
	return v
}

// variable reads ${name=value}, ${name?=value}, ${name=!value} (outside {…} only), ${name} or ${name:default}.
func (p *parser) variable(w where) (*node, error) {
	open := p.pos
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.pos += 2
	p.skipWS()
	name := p.varName()
	if name == "" {
		return nil, p.errorf(p.pos, "expected a variable name after '${', found %s", p.describe(p.pos))
	}
	p.skipWS()
	n := &node{kind: kAccess, text: name, overwrite: true}
	r := p.rest()
	switch {
	case strings.HasPrefix(r, "?=") || strings.HasPrefix(r, "="):
		if w != atTop {
			return nil, p.errorf(open, "variables can only be assigned outside {…}")
		}
		n.kind = kAssign
		if r[0] == '?' {
			n.overwrite = false
			p.pos++
		}
		p.pos++
		if strings.HasPrefix(p.rest(), "!") {
			n.immediate = true
			p.pos++
		}
		p.skipWS()
		items, err := p.chunks(inVariant)
		if err != nil {
			return nil, err
		}
		n.items = []*node{p.single(items)}
	case strings.HasPrefix(r, ":"):
		p.pos++
		p.skipWS()
		items, err := p.chunks(inVariant)
		if err != nil {
			return nil, err
		}
		n.items = []*node{p.single(items)}
	}
	p.skipWS()
	if !strings.HasPrefix(p.rest(), "}") {
		return nil, p.errorf(p.pos, "expected '}' to close the '${' at char %d, found %s", utf8.RuneCountInString(p.src[:open]), p.describe(p.pos))
	}
	p.pos++
	return p.newNode(n)
}

func (p *parser) varName() string {
	i := p.pos
	for i < len(p.src) {
		c := p.src[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-'
		if !letter && !(i > p.pos && c >= '0' && c <= '9') {
			break
		}
		i++
	}
	name := p.src[p.pos:i]
	p.pos = i
	return name
}

// wrap reads %{wrapper$$inner}: the inner prompt is put where the wrapper has an ellipsis ("..." or "…").
func (p *parser) wrap() (*node, error) {
	open := p.pos
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.pos += 2
	p.skipWS()
	wrapper, err := p.chunks(inVariant)
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if !strings.HasPrefix(p.rest(), "$$") {
		return nil, p.errorf(p.pos, "expected '$$' after the wrapper of the '%%{' at char %d, found %s", utf8.RuneCountInString(p.src[:open]), p.describe(p.pos))
	}
	p.pos += 2
	p.skipWS()
	inner, err := p.chunks(inVariant)
	if err != nil {
		return nil, err
	}
	p.skipIgnorables()
	if !strings.HasPrefix(p.rest(), "}") {
		return nil, p.errorf(p.pos, "expected '}' to close the '%%{' at char %d, found %s", utf8.RuneCountInString(p.src[:open]), p.describe(p.pos))
	}
	p.pos++
	return p.newNode(&node{kind: kWrap, items: []*node{p.single(wrapper), p.single(inner)}})
}
