package dynamic

import (
	"fmt"
	"hash/maphash"
	"regexp"
	"strings"
)

// run is one expansion: its random source, its work so far and the first error, which stops everything.
type run struct {
	rng  *pyRandom
	work int
	err  error
	seed maphash.Seed
	// live counts the enumerations in progress: each value is handed on by a call, so the stack grows with
	// every token a prompt is made of (and doubles with every level of variables used twice).
	live int
}

func newRun(rng *pyRandom) *run { return &run{rng: rng, seed: maphash.MakeSeed()} }

// charge counts work and reports whether the expansion may go on.
func (r *run) charge(units int) bool {
	if r.err != nil {
		return false
	}
	r.work += units
	if r.work > maxWork {
		r.err = &Error{Msg: "the prompt has too many combinations to work through; simplify it or use fewer {…} ranges"}
		return false
	}
	return true
}

// produced charges for a value of n bytes; it is called before the value is built, so that no single string
// (variables used twice in each other's values double at every level) can outgrow the output bound.
func (r *run) produced(n int) bool {
	if n > MaxOutputBytes && r.err == nil {
		r.err = &Error{Msg: fmt.Sprintf("a prompt would be longer than %d MiB; shorten the prompt or use its variables fewer times", MaxOutputBytes>>20)}
	}
	return r.charge(1 + n/32)
}

// joinedLen is the length joined(parts, sep) will have, at most.
func joinedLen(parts []string, sep string) int {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if len(parts) > 1 {
		n += len(sep) * (len(parts) - 1)
	}
	return n
}

// fail records an error and stops the expansion.
func (r *run) fail(err error) bool {
	if r.err == nil {
		r.err = err
	}
	return false
}

// scope is what sampling a node depends on: the method in force, the variables, and the variables being
// sampled right now (so a variable defined through itself fails instead of recursing forever).
type scope struct {
	method method
	vars   map[string]*node
	active *activeVar
}

// activeVar is a link in the list of variables being sampled (a list, not a map: it is extended at every
// variable use and never copied).
type activeVar struct {
	name string
	next *activeVar
}

func (a *activeVar) has(name string) bool {
	for ; a != nil; a = a.next {
		if a.name == name {
			return true
		}
	}
	return false
}

func (s scope) withMethod(m method) scope { s.method = m; return s }

func (s scope) withVars(v map[string]*node) scope {
	if len(v) == 0 {
		return s
	}
	merged := make(map[string]*node, len(s.vars)+len(v))
	for k, n := range s.vars {
		merged[k] = n
	}
	for k, n := range v {
		merged[k] = n
	}
	s.vars = merged
	return s
}

func (s scope) withActive(name string) scope {
	s.active = &activeVar{name: name, next: s.active}
	return s
}

// pick is the method a node is sampled with in a scope: its own (~ ! @) or the scope's, except that a finite
// (combinatorial) node inside a random or cyclical scope is sampled as the scope samples.
func pick(n *node, s scope) (method, scope) {
	m := n.method
	if m == methodNone {
		m = s.method
	}
	if m != s.method && s.method.nonFinite() && !m.nonFinite() {
		m = s.method
	}
	return m, s.withMethod(m)
}

// effective is the method a node asks for, without the adjustment of pick (the library tests this one to tell
// the tokens it enumerates from those it draws from).
func effective(n *node, s scope) method {
	if n.method != methodNone {
		return n.method
	}
	return s.method
}

// joined is the library's way of joining results: one result stays as it is; several are joined with sep, and
// one leading and one trailing sep are removed.
func joined(parts []string, sep string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	out := strings.Join(parts, sep)
	if sep != "" {
		out = strings.TrimPrefix(out, sep)
		out = strings.TrimSuffix(out, sep)
	}
	return out
}

// wrapMarker is where a %{…} wrapper takes the inner prompt: a run of ellipsis characters or three or more dots.
var wrapMarker = regexp.MustCompile("[\u1801\u2026\u22ee\u22ef\u22f0\u22f1\ufe19]+|\\.{3,}")

func splitWrapper(s string) (string, string) {
	loc := wrapMarker.FindStringIndex(s)
	if loc == nil {
		return s, ""
	}
	return s[:loc[0]], s[loc[1]:]
}

// lookup resolves a variable access, or fails the run.
func (r *run) lookup(n *node, s scope) (*node, scope, bool) {
	v, ok := s.vars[n.text]
	if !ok && len(n.items) > 0 {
		v, ok = n.items[0], true
	}
	if !ok {
		return nil, s, r.fail(&Error{Msg: fmt.Sprintf("variable %q is not defined; assign it first with ${%s=…}", n.text, n.text)})
	}
	if !r.charge(1) {
		return nil, s, false
	}
	if s.active.has(n.text) {
		return nil, s, r.fail(&Error{Msg: fmt.Sprintf("variable %q is defined through itself", n.text)})
	}
	return v, s.withActive(n.text), true
}

// assign takes a sequence's variable assignments into the scope (all of them, before any token is sampled) and
// returns the other tokens.
func (r *run) assign(items []*node, s scope) ([]*node, scope, bool) {
	hasAssign := false
	for _, it := range items {
		if it.kind == kAssign {
			hasAssign = true
			break
		}
	}
	if !hasAssign {
		return items, s, true
	}
	var tokens []*node
	vars := map[string]*node{}
	for _, it := range items {
		if it.kind != kAssign {
			tokens = append(tokens, it)
			continue
		}
		if !it.overwrite {
			if old, ok := s.vars[it.text]; ok {
				vars[it.text] = old
				continue
			}
		}
		v := it.items[0]
		if it.immediate && v.kind != kLiteral {
			text, ok := r.first(v, s)
			if !ok {
				return nil, s, false
			}
			v = &node{kind: kLiteral, text: text}
		}
		vars[it.text] = v
	}
	return tokens, s.withVars(vars), true
}

// first is the first value a node gives in a scope (an immediate assignment's value).
func (r *run) first(n *node, s scope) (string, bool) {
	var out string
	found := false
	if m, _ := pick(n, s); m.nonFinite() {
		out, found = r.gen(n, s).next()
	} else {
		r.each(n, s, func(v string) bool { out, found = v, true; return false })
	}
	if r.err != nil {
		return "", false
	}
	if !found {
		return "", r.fail(&Error{Msg: "the value of an immediate ${name=!…} assignment gives no prompt"})
	}
	return out, true
}

var errAssignAlone = &Error{Msg: "a prompt that only assigns a variable gives no prompt; use it, e.g. ${name=…} a ${name}"}

// each enumerates the values of a node in order (the combinatorial generator), calling yield for each until
// it returns false. It returns false when stopped or failed.
func (r *run) each(n *node, s scope, yield func(string) bool) bool {
	r.live++
	defer func() { r.live-- }()
	if r.live > maxLive {
		return r.fail(&Error{Msg: fmt.Sprintf("the prompt is made of more than %d parts at once; shorten it", maxLive)})
	}
	m, s := pick(n, s)
	if m.nonFinite() {
		// An endless generator where a finite one is enumerated: the library loops over it forever; the work
		// bound or the caller's count ends it here.
		g := r.gen(n, s)
		for {
			v, ok := g.next()
			if !ok || !yield(v) {
				return false
			}
		}
	}
	switch n.kind {
	case kLiteral:
		return r.produced(len(n.text)) && yield(n.text)
	case kSequence:
		return r.eachSequence(n, s, yield)
	case kVariant:
		return r.eachVariant(n, s, yield)
	case kAccess:
		v, s2, ok := r.lookup(n, s)
		return ok && r.each(v, s2, yield)
	case kWrap:
		if isEmpty(n.items[0]) || isEmpty(n.items[1]) {
			return true // the library samples nothing from an empty wrapper or inner prompt
		}
		return r.each(n.items[0], s, func(w string) bool {
			prefix, suffix := splitWrapper(w)
			return r.each(n.items[1], s, func(in string) bool {
				return r.produced(len(prefix)+len(in)+len(suffix)) && yield(prefix+in+suffix)
			})
		})
	default:
		return r.fail(errAssignAlone)
	}
}

func isEmpty(n *node) bool { return n.kind == kSequence && len(n.items) == 0 }

// eachSequence enumerates a sequence: the first token varies slowest. Tokens sampled at random or cyclically
// are not enumerated; each combination of the others draws their next value.
func (r *run) eachSequence(n *node, s scope, yield func(string) bool) bool {
	if !r.charge(genCost) {
		return false
	}
	tokens, s, ok := r.assign(n.items, s)
	if !ok {
		return false
	}
	gens := make([]gen, len(tokens))
	for i, t := range tokens {
		if effective(t, s).nonFinite() {
			gens[i] = r.gen(t, s)
		}
	}
	vals := make([]string, len(tokens))
	var rec func(i int, k func() bool) bool
	rec = func(i int, k func() bool) bool {
		if i == len(tokens) {
			return k()
		}
		if g := gens[i]; g != nil {
			return rec(i+1, func() bool {
				v, ok := g.next()
				if !ok && r.err != nil {
					return false
				}
				vals[i] = v
				return k()
			})
		}
		return r.each(tokens[i], s, func(v string) bool {
			vals[i] = v
			return rec(i+1, k)
		})
	}
	return rec(0, func() bool {
		return r.produced(joinedLen(vals, "")) && yield(strings.Join(vals, ""))
	})
}

// eachVariant enumerates a variant: for each count from its lower to its upper bound, every ordered choice of
// that many options (an option equal to a chosen one is not chosen again), and for each choice every
// combination of the options' values; combinations that repeat a value or that were given before are skipped.
func (r *run) eachVariant(n *node, s scope, yield func(string) bool) bool {
	values := n.items
	if len(values) == 0 {
		return true
	}
	if !r.charge(genCost) {
		return false
	}
	lo, hi := min(n.min, len(values)), min(n.max, len(values))
	seen := map[[2]uint64]struct{}{}
	combo := make([]*node, 0, hi)
	arr := make([]string, hi)
	for k := lo; k <= hi; k++ {
		var perm func(pool []*node) bool
		perm = func(pool []*node) bool {
			if len(combo) == k {
				return r.comboValues(combo, s, arr[:k], func() bool {
					parts := dedupe(arr[:k])
					if len(parts) != k {
						return true
					}
					key := r.key(parts)
					if _, dup := seen[key]; dup {
						return true
					}
					seen[key] = struct{}{}
					return r.produced(joinedLen(parts, n.sep)) && yield(joined(parts, n.sep))
				})
			}
			for _, v := range pool {
				if !r.charge(1) {
					return false
				}
				other := make([]*node, 0, len(pool))
				for _, o := range pool {
					if o.eq != v.eq {
						other = append(other, o)
					}
				}
				combo = append(combo, v)
				ok := perm(other)
				combo = combo[:len(combo)-1]
				if !ok {
					return false
				}
			}
			return true
		}
		if !perm(values) {
			return false
		}
	}
	return true
}

// comboValues fills arr with every combination of the values of the chosen options (the first varying
// slowest) and calls k for each; options sampled at random or cyclically give their next value instead.
func (r *run) comboValues(combo []*node, s scope, arr []string, k func() bool) bool {
	var rec func(i int, k func() bool) bool
	rec = func(i int, k func() bool) bool {
		if i == len(combo) {
			return k()
		}
		c := combo[i]
		if effective(c, s).nonFinite() {
			g := r.gen(c, s)
			return rec(i+1, func() bool {
				v, ok := g.next()
				if !ok && r.err != nil {
					return false
				}
				arr[i] = v
				return k()
			})
		}
		return r.each(c, s, func(v string) bool {
			arr[i] = v
			return rec(i+1, k)
		})
	}
	return rec(0, k)
}

// dedupe keeps the first of equal strings, in order.
func dedupe(parts []string) []string {
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		dup := false
		for _, q := range out {
			if q == p {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, p)
		}
	}
	return out
}

// key identifies a tuple of strings in a variant's set of given combinations; two independent 64-bit hashes
// keep the set small whatever the strings' length.
func (r *run) key(parts []string) [2]uint64 {
	var h1, h2 maphash.Hash
	h1.SetSeed(r.seed)
	h2.SetSeed(r.seed)
	h2.WriteByte(0xa5)
	for _, p := range parts {
		for _, h := range []*maphash.Hash{&h1, &h2} {
			var l [8]byte
			for i := range l {
				l[i] = byte(len(p) >> (8 * i))
			}
			h.Write(l[:])
			h.WriteString(p)
		}
	}
	return [2]uint64{h1.Sum64(), h2.Sum64()}
}

// gen is an endless (or exhausted) source of values, as the random and cyclical generators are.
type gen interface {
	// next returns the next value; false when there is none or the run failed.
	next() (string, bool)
}

// genCost is the work charged for making a generator.
const genCost = 4

// gen makes the generator of a node in a scope.
func (r *run) gen(n *node, s scope) gen {
	m, s := pick(n, s)
	if !r.charge(genCost) {
		return emptyGen{}
	}
	if !m.nonFinite() {
		// A finite node drawn from one value at a time: the combinatorial values in order.
		var vals []string
		r.each(n, s, func(v string) bool { vals = append(vals, v); return true })
		return &listGen{vals: vals}
	}
	switch n.kind {
	case kLiteral:
		return &constGen{r: r, v: n.text}
	case kSequence:
		return &seqGen{r: r, n: n, s: s}
	case kVariant:
		if m == methodCyclical {
			return &cycleGen{r: r, n: n, s: s}
		}
		return &randomGen{r: r, n: n, s: s}
	case kAccess:
		v, s2, ok := r.lookup(n, s)
		if !ok {
			return emptyGen{}
		}
		return r.gen(v, s2)
	case kWrap:
		if m == methodCyclical {
			r.fail(&Error{Msg: "a %{…} wrap cannot be sampled cyclically (@)"})
			return emptyGen{}
		}
		return &wrapGen{r: r, n: n, s: s}
	default:
		r.fail(errAssignAlone)
		return emptyGen{}
	}
}

type emptyGen struct{}

func (emptyGen) next() (string, bool) { return "", false }

type listGen struct {
	vals []string
	i    int
}

func (g *listGen) next() (string, bool) {
	if g.i >= len(g.vals) {
		return "", false
	}
	g.i++
	return g.vals[g.i-1], true
}

type constGen struct {
	r *run
	v string
}

func (g *constGen) next() (string, bool) {
	if !g.r.produced(len(g.v)) {
		return "", false
	}
	return g.v, true
}

// seqGen joins the next value of each token; variables are assigned on the first draw.
type seqGen struct {
	r       *run
	n       *node
	s       scope
	started bool
	subs    []gen
}

func (g *seqGen) next() (string, bool) {
	if !g.started {
		g.started = true
		tokens, s, ok := g.r.assign(g.n.items, g.s)
		if !ok {
			return "", false
		}
		for _, t := range tokens {
			g.subs = append(g.subs, g.r.gen(t, s))
		}
	}
	if g.r.err != nil {
		return "", false
	}
	vals := make([]string, len(g.subs))
	for i, sub := range g.subs {
		v, ok := sub.next()
		if !ok {
			return "", false
		}
		vals[i] = v
	}
	if !g.r.produced(joinedLen(vals, "")) {
		return "", false
	}
	return strings.Join(vals, ""), true
}

// randomGen draws a variant at random: how many options (between its bounds), which ones (by weight, without
// putting one back), then the next value of each, joined.
type randomGen struct {
	r      *run
	n      *node
	s      scope
	single gen
}

func (g *randomGen) next() (string, bool) {
	r, n := g.r, g.n
	switch {
	case r.err != nil || len(n.items) == 0:
		return "", false
	case len(n.items) == 1:
		// One option is sampled as it is, whatever the bounds.
		if g.single == nil {
			g.single = r.gen(n.items[0], g.s)
		}
		return g.single.next()
	}
	lo, hi := min(n.min, len(n.items)), min(n.max, len(n.items))
	count := min(hi, r.rng.randint(lo, hi))
	if count == 1 {
		// The usual {a|b|c}: one draw, nothing to take out.
		i, ok := r.rng.choice(n.weights)
		if !ok {
			r.fail(&Error{Msg: "the weights of a {…} must add up to more than zero"})
			return "", false
		}
		return r.drawOnce(n.items[i], g.s)
	}
	values := append([]*node(nil), n.items...)
	weights := append([]float64(nil), n.weights...)
	chosen := make([]*node, 0, count)
	for range count {
		i, ok := r.rng.choice(weights)
		if !ok {
			r.fail(&Error{Msg: "the weights of a {…} must add up to more than zero"})
			return "", false
		}
		c := values[i]
		chosen = append(chosen, c)
		// As the library does: drop the first weight equal to that of the first option equal to the one
		// chosen, and that option.
		first := 0
		for values[first].eq != c.eq {
			first++
		}
		w := weights[first]
		for j := range weights {
			if weights[j] == w {
				weights = append(weights[:j], weights[j+1:]...)
				break
			}
		}
		values = append(values[:first], values[first+1:]...)
	}
	if len(chosen) == 0 {
		return "", r.produced(0)
	}
	parts := make([]string, len(chosen))
	for i, c := range chosen {
		v, ok := r.drawOnce(c, g.s)
		if !ok {
			return "", false
		}
		parts[i] = v
	}
	if !r.produced(joinedLen(parts, n.sep)) {
		return "", false
	}
	return joined(parts, n.sep), true
}

// drawOnce is the first value of a fresh generator of n, as a random variant takes from each option it picks;
// a literal needs no generator.
func (r *run) drawOnce(n *node, s scope) (string, bool) {
	if n.kind == kLiteral {
		return n.text, r.produced(len(n.text))
	}
	return r.gen(n, s).next()
}

// cycleGen samples a variant cyclically: each ordered choice of options (for each count in its bounds) has
// its own generator of joined values, and the variant takes the next value of each in turn, round and round.
// The choices are reached one by one in the first round, as the library reaches them.
type cycleGen struct {
	r       *run
	n       *node
	s       scope
	started bool
	k, hi   int
	perms   *permIter
	// roundDone is set once every choice has a generator.
	roundDone bool
	samp      []*comboGen
	i         int
}

func (g *cycleGen) next() (string, bool) {
	r, n := g.r, g.n
	if r.err != nil || len(n.items) == 0 {
		return "", false
	}
	if !g.started {
		g.started = true
		g.k, g.hi = min(n.min, len(n.items)), min(n.max, len(n.items))
		g.perms = newPermIter(n.items, g.k)
	}
	if !g.roundDone && g.i >= len(g.samp) {
		for {
			if !r.charge(1) {
				return "", false
			}
			if combo, ok := g.perms.next(); ok {
				g.samp = append(g.samp, &comboGen{r: r, combo: combo, s: g.s, sep: n.sep})
				break
			}
			if g.k++; g.k > g.hi {
				g.roundDone = true
				break
			}
			g.perms = newPermIter(n.items, g.k)
		}
	}
	if len(g.samp) == 0 {
		return "", false // no choice fits the bounds
	}
	if g.i >= len(g.samp) {
		g.i = 0
	}
	v, ok := g.samp[g.i].next()
	g.i++
	return v, ok
}

// permIter lists the ordered choices of k options one at a time, in the order eachVariant enumerates them.
type permIter struct {
	k     int
	stack []permFrame
	combo []*node
	done  bool
}

type permFrame struct {
	pool []*node
	i    int
}

func newPermIter(values []*node, k int) *permIter {
	return &permIter{k: k, stack: []permFrame{{pool: values}}}
}

func (it *permIter) next() ([]*node, bool) {
	if it.k == 0 {
		if it.done {
			return nil, false
		}
		it.done = true
		return []*node{}, true
	}
	for len(it.stack) > 0 {
		d := len(it.stack) - 1
		top := &it.stack[d]
		if top.i >= len(top.pool) {
			it.stack = it.stack[:d]
			continue
		}
		v := top.pool[top.i]
		top.i++
		it.combo = append(it.combo[:d], v)
		if d+1 == it.k {
			return append([]*node(nil), it.combo...), true
		}
		other := make([]*node, 0, len(top.pool))
		for _, o := range top.pool {
			if o.eq != v.eq {
				other = append(other, o)
			}
		}
		it.stack = append(it.stack, permFrame{pool: other})
	}
	return nil, false
}

// comboGen gives the joined next values of one choice of options; the library draws the last option first.
type comboGen struct {
	r     *run
	combo []*node
	s     scope
	sep   string
	subs  []gen
}

func (g *comboGen) next() (string, bool) {
	if g.subs == nil {
		g.subs = make([]gen, len(g.combo))
		for i, c := range g.combo {
			g.subs[i] = g.r.gen(c, g.s)
		}
	}
	parts := make([]string, len(g.subs))
	for i := len(g.subs) - 1; i >= 0; i-- {
		v, ok := g.subs[i].next()
		if !ok {
			return "", false
		}
		parts[i] = v
	}
	if !g.r.produced(joinedLen(parts, g.sep)) {
		return "", false
	}
	return joined(parts, g.sep), true
}

// wrapGen puts the next inner value into the next wrapper value.
type wrapGen struct {
	r              *run
	n              *node
	s              scope
	wrapper, inner gen
}

func (g *wrapGen) next() (string, bool) {
	if g.wrapper == nil {
		g.wrapper, g.inner = g.r.gen(g.n.items[0], g.s), g.r.gen(g.n.items[1], g.s)
	}
	w, ok := g.wrapper.next()
	if !ok {
		return "", false
	}
	in, ok := g.inner.next()
	if !ok {
		return "", false
	}
	prefix, suffix := splitWrapper(w)
	if !g.r.produced(len(prefix) + len(in) + len(suffix)) {
		return "", false
	}
	return prefix + in + suffix, true
}
