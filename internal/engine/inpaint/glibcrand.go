package inpaint

// glibcRand is the C library's srand/rand as GNU libc implements them (random_r's TYPE_3 generator: an
// additive lagged Fibonacci generator over 31 words, seeded by a Lehmer generator and warmed up by 310
// draws). pypatchmatch draws its random candidates from rand() after srand(1212), so the same sequence
// reproduces its choices.
type glibcRand struct {
	state       [31]int32
	front, rear int
}

func newGlibcRand(seed uint32) *glibcRand {
	g := &glibcRand{}
	s := int32(seed)
	if s == 0 {
		s = 1
	}
	g.state[0] = s
	for i := 1; i < len(g.state); i++ {
		// 16807·x mod (2³¹−1) without overflow (Schrage's method), as glibc computes it.
		hi, lo := g.state[i-1]/127773, g.state[i-1]%127773
		word := 16807*lo - 2836*hi
		if word < 0 {
			word += 2147483647
		}
		g.state[i] = word
	}
	g.front, g.rear = 3, 0
	for i := 0; i < 310; i++ {
		g.next()
	}
	return g
}

// next is rand(): a value in [0, 2³¹).
func (g *glibcRand) next() int {
	v := uint32(g.state[g.front]) + uint32(g.state[g.rear])
	g.state[g.front] = int32(v)
	g.front++
	if g.front >= len(g.state) {
		g.front = 0
	}
	g.rear++
	if g.rear >= len(g.state) {
		g.rear = 0
	}
	return int(v >> 1)
}
