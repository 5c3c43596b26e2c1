package sentencepiece

import "sort"

// trie maps byte strings (pieces) to ids. Nodes keep their children as a
// sorted range of edges, so a lookup walks one node per input byte.
type trie struct {
	nodes []trieNode
	edges []trieEdge
}

type trieNode struct {
	first, count int32 // children: edges[first : first+count], sorted by byte
	id           int32 // piece id ending here, or -1
}

type trieEdge struct {
	b     byte
	child int32
}

type trieKey struct {
	s  string
	id int32
}

// newTrie builds a trie over keys (distinct, non-empty strings).
func newTrie(keys []trieKey) *trie {
	sort.Slice(keys, func(i, j int) bool { return keys[i].s < keys[j].s })
	t := &trie{nodes: []trieNode{{id: -1}}}
	t.build(0, keys, 0)
	return t
}

// build fills node n from keys, which all share their first depth bytes
// and are sorted.
func (t *trie) build(n int32, keys []trieKey, depth int) {
	if len(keys) > 0 && len(keys[0].s) == depth {
		t.nodes[n].id = keys[0].id
		keys = keys[1:]
	}
	// Group the rest by their byte at depth.
	type group struct {
		b          byte
		start, end int
	}
	var groups []group
	for i := 0; i < len(keys); {
		b := keys[i].s[depth]
		j := i + 1
		for j < len(keys) && keys[j].s[depth] == b {
			j++
		}
		groups = append(groups, group{b, i, j})
		i = j
	}
	first := int32(len(t.edges))
	t.nodes[n].first, t.nodes[n].count = first, int32(len(groups))
	for _, g := range groups {
		t.nodes = append(t.nodes, trieNode{id: -1})
		t.edges = append(t.edges, trieEdge{b: g.b, child: int32(len(t.nodes) - 1)})
	}
	for i, g := range groups {
		t.build(t.edges[first+int32(i)].child, keys[g.start:g.end], depth+1)
	}
}

// child returns the child of node n along byte b, or -1.
func (t *trie) child(n int32, b byte) int32 {
	nd := t.nodes[n]
	edges := t.edges[nd.first : nd.first+nd.count]
	i := sort.Search(len(edges), func(i int) bool { return edges[i].b >= b })
	if i < len(edges) && edges[i].b == b {
		return edges[i].child
	}
	return -1
}

// prefixes calls fn(length, id) for every key that prefixes s, shortest first.
func (t *trie) prefixes(s string, fn func(n int, id int32)) {
	n := int32(0)
	for i := 0; i < len(s); i++ {
		if n = t.child(n, s[i]); n < 0 {
			return
		}
		if id := t.nodes[n].id; id >= 0 {
			fn(i+1, id)
		}
	}
}

// longestMatch returns the length of the longest key prefixing s (0 if none).
func (t *trie) longestMatch(s string) int {
	best := 0
	t.prefixes(s, func(n int, _ int32) { best = n })
	return best
}
