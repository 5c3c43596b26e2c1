package core

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/invokego/invokego/internal/nodes"
)

// InvokeAI's string nodes: join, split, split into positive/negative, replace.

// StringJoin is string_join.
type StringJoin struct {
	StringLeft  string `json:"string_left" default:"\"\"" description:"The text that comes first" ui_component:"textarea"`
	StringRight string `json:"string_right" default:"\"\"" description:"The text appended to it" ui_component:"textarea"`
}

// NodeInfo implements nodes.Node.
func (*StringJoin) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "string_join",
		Title:       "String Join",
		Description: "Concatenates two strings.",
		Tags:        []string{"string", "join"},
		Category:    "string",
		Version:     "1.0.1",
		Output:      StringOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *StringJoin) Invoke(nodes.Context) (nodes.Output, error) {
	return StringOutput{n.StringLeft + n.StringRight}, nil
}

// StringJoinThree is string_join_three.
type StringJoinThree struct {
	StringLeft   string `json:"string_left" default:"\"\"" description:"The text that comes first" ui_component:"textarea"`
	StringMiddle string `json:"string_middle" default:"\"\"" description:"The text in the middle" ui_component:"textarea"`
	StringRight  string `json:"string_right" default:"\"\"" description:"The text that comes last" ui_component:"textarea"`
}

// NodeInfo implements nodes.Node.
func (*StringJoinThree) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "string_join_three",
		Title:       "String Join Three",
		Description: "Concatenates three strings.",
		Tags:        []string{"string", "join"},
		Category:    "string",
		Version:     "1.0.1",
		Output:      StringOutput{},
	}
}

// Invoke implements nodes.Invocation.
func (n *StringJoinThree) Invoke(nodes.Context) (nodes.Output, error) {
	return StringOutput{n.StringLeft + n.StringMiddle + n.StringRight}, nil
}

// String2Output is string_2_output.
type String2Output struct {
	String1 string `json:"string_1" description:"The part before the delimiter"`
	String2 string `json:"string_2" description:"The part after it"`
}

// OutputType implements nodes.Output.
func (String2Output) OutputType() string { return "string_2_output" }

// StringSplit is string_split.
type StringSplit struct {
	String    string `json:"string" default:"\"\"" description:"The text to split" ui_component:"textarea"`
	Delimiter string `json:"delimiter" default:"\"\"" description:"Where to split; empty splits at the first run of whitespace"`
}

// NodeInfo implements nodes.Node.
func (*StringSplit) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "string_split",
		Title:       "String Split",
		Description: "Splits a string in two at the first delimiter, which is dropped.",
		Tags:        []string{"string", "split"},
		Category:    "string",
		Version:     "1.0.1",
		Output:      String2Output{},
	}
}

// Invoke implements nodes.Invocation: Python's str.split(delimiter, 1). An empty delimiter, which Python
// refuses, splits as str.split(None, 1) does, as the field's description promises.
func (n *StringSplit) Invoke(nodes.Context) (nodes.Output, error) {
	if n.Delimiter != "" {
		a, b, _ := strings.Cut(n.String, n.Delimiter)
		return String2Output{a, b}, nil
	}
	s := strings.TrimLeftFunc(n.String, isPySpace)
	i := strings.IndexFunc(s, isPySpace)
	if i < 0 {
		return String2Output{s, ""}, nil
	}
	return String2Output{s[:i], strings.TrimLeftFunc(s[i:], isPySpace)}, nil
}

// isPySpace is Python's str.isspace for one character: Unicode's white space plus the ASCII separators
// U+001C–U+001F.
func isPySpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// StringPosNegOutput is string_pos_neg_output.
type StringPosNegOutput struct {
	PositiveString string `json:"positive_string" description:"The text outside brackets"`
	NegativeString string `json:"negative_string" description:"The text inside brackets"`
}

// OutputType implements nodes.Output.
func (StringPosNegOutput) OutputType() string { return "string_pos_neg_output" }

// StringSplitNeg is string_split_neg.
type StringSplitNeg struct {
	String string `json:"string" default:"\"\"" description:"The text to split" ui_component:"textarea"`
}

// NodeInfo implements nodes.Node.
func (*StringSplitNeg) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "string_split_neg",
		Title:       "String Split Negative",
		Description: "Sends the text inside [brackets] to the negative string and the rest to the positive one; each opening bracket becomes a space in the negative string.",
		Tags:        []string{"string", "split", "negative"},
		Category:    "string",
		Version:     "1.0.1",
		Output:      StringPosNegOutput{},
	}
}

// Invoke implements nodes.Invocation, character by character as InvokeAI: an unescaped "[" adds a space to
// the negative text and opens a level, an unescaped "]" closes one and is dropped, a backslash escapes the
// next character (and stays in the text).
func (n *StringSplitNeg) Invoke(nodes.Context) (nodes.Output, error) {
	var pos, neg strings.Builder
	depth := 0
	escaped := false
	for _, c := range n.String {
		switch {
		case c == '[' && !escaped:
			neg.WriteByte(' ')
			depth++
		case c == ']' && !escaped:
			depth--
			c = ' '
		case depth > 0:
			neg.WriteRune(c)
		default:
			pos.WriteRune(c)
		}
		escaped = c == '\\' && !escaped
	}
	return StringPosNegOutput{PositiveString: pos.String(), NegativeString: neg.String()}, nil
}

// StringReplace is string_replace.
type StringReplace struct {
	String        string `json:"string" default:"\"\"" description:"The text to change" ui_component:"textarea"`
	SearchString  string `json:"search_string" default:"\"\"" description:"What to look for" ui_component:"textarea"`
	ReplaceString string `json:"replace_string" default:"\"\"" description:"What to put in its place" ui_component:"textarea"`
	UseRegex      bool   `json:"use_regex" default:"false" description:"Read the search string as a regular expression (otherwise it is literal text, matched ignoring case)"`
}

// NodeInfo implements nodes.Node.
func (*StringReplace) NodeInfo() nodes.Info {
	return nodes.Info{
		Type:        "string_replace",
		Title:       "String Replace",
		Description: "Replaces every match of the search string with the replacement.",
		Tags:        []string{"string", "replace", "regex"},
		Category:    "string",
		Version:     "1.0.1",
		Output:      StringOutput{},
	}
}

// Invoke implements nodes.Invocation: Python's re.sub. Patterns are RE2's syntax (Python's lookarounds and
// backreferences are refused); the replacement is read as Python reads it (\1, \g<name>, \n...) in both
// modes.
func (n *StringReplace) Invoke(nodes.Context) (nodes.Output, error) {
	if n.SearchString == "" {
		return StringOutput{n.String}, nil
	}
	pattern := n.SearchString
	if !n.UseRegex {
		pattern = "(?i)" + regexp.QuoteMeta(pattern)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, nodes.Errorf("ValueError", "invalid regular expression: %v", err)
	}
	tmpl, err := parseReplacement(n.ReplaceString, re)
	if err != nil {
		return nil, nodes.Errorf("ValueError", "%v", err)
	}
	var out strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(n.String, -1) {
		out.WriteString(n.String[last:m[0]])
		for _, p := range tmpl {
			if p.group < 0 {
				out.WriteString(p.literal)
			} else if s, e := m[2*p.group], m[2*p.group+1]; s >= 0 {
				out.WriteString(n.String[s:e])
			}
		}
		last = m[1]
	}
	out.WriteString(n.String[last:])
	return StringOutput{out.String()}, nil
}

// replPart is a literal text or a group reference of a replacement template.
type replPart struct {
	literal string
	group   int // -1: literal
}

// parseReplacement reads a replacement as Python's re module does: \n \t \r \f \v \a \b and \\ are
// characters, \0 and three octal digits are a character code, \1–\99 and \g<n> or \g<name> are groups; any
// other backslash before an ASCII letter is an error, before anything else it stays as written.
func parseReplacement(repl string, re *regexp.Regexp) ([]replPart, error) {
	var parts []replPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, replPart{literal: lit.String(), group: -1})
			lit.Reset()
		}
	}
	group := func(g int) error {
		if g > re.NumSubexp() {
			return fmt.Errorf("invalid group reference %d", g)
		}
		flush()
		parts = append(parts, replPart{group: g})
		return nil
	}
	isOct := func(c byte) bool { return c >= '0' && c <= '7' }
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '\\' {
			lit.WriteByte(c)
			continue
		}
		if i+1 >= len(repl) {
			return nil, fmt.Errorf("bad escape (end of pattern)")
		}
		i++
		c = repl[i]
		switch {
		case c == 'g':
			end := strings.IndexByte(repl[i:], '>')
			if i+1 >= len(repl) || repl[i+1] != '<' || end < 0 {
				return nil, fmt.Errorf("missing group name in \\g<...>")
			}
			name := repl[i+2 : i+end]
			i += end
			if g, err := strconv.Atoi(name); err == nil && g >= 0 && isAllDigits(name) {
				if err := group(g); err != nil {
					return nil, err
				}
				continue
			}
			g := re.SubexpIndex(name)
			if g < 0 {
				return nil, fmt.Errorf("unknown group name '%s'", name)
			}
			if err := group(g); err != nil {
				return nil, err
			}
		case c == '0':
			// \0 with up to two more octal digits.
			code := 0
			j := i + 1
			for ; j < len(repl) && j < i+3 && isOct(repl[j]); j++ {
				code = code*8 + int(repl[j]-'0')
			}
			lit.WriteRune(rune(code))
			i = j - 1
		case isDigit(c):
			// Three octal digits are a character; otherwise one or two digits name a group.
			if i+2 < len(repl) && isOct(c) && isOct(repl[i+1]) && isOct(repl[i+2]) {
				code := int(c-'0')*64 + int(repl[i+1]-'0')*8 + int(repl[i+2]-'0')
				if code > 0o377 {
					return nil, fmt.Errorf("octal escape value \\%s outside of range 0-0o377", repl[i:i+3])
				}
				lit.WriteRune(rune(code))
				i += 2
				continue
			}
			g := int(c - '0')
			if i+1 < len(repl) && isDigit(repl[i+1]) {
				g = g*10 + int(repl[i+1]-'0')
				i++
			}
			if err := group(g); err != nil {
				return nil, err
			}
		default:
			if r, ok := replEscapes[c]; ok {
				lit.WriteByte(r)
			} else if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
				return nil, fmt.Errorf("bad escape \\%c", c)
			} else {
				lit.WriteByte('\\')
				lit.WriteByte(c)
			}
		}
	}
	flush()
	return parts, nil
}

var replEscapes = map[byte]byte{'n': '\n', 't': '\t', 'r': '\r', 'f': '\f', 'v': '\v', 'a': '\a', 'b': '\b', '\\': '\\'}

func isAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func registerPrimStrings(r *nodes.Registry) {
	r.Register(&StringJoin{}, &StringJoinThree{}, &StringSplit{}, &StringSplitNeg{}, &StringReplace{})
}
