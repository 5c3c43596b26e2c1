package dynamic

import (
	"math"
	"math/bits"
	"sort"
)

// pyRandom reproduces the draws of Python's random.Random (MT19937 seeded with init_by_array from the seed's
// 32-bit words), so that a seeded random expansion picks what InvokeAI's picks for the same seed.
type pyRandom struct {
	mt  [624]uint32
	idx int
}

const (
	mtN = 624
	mtM = 397
)

// newPyRandom seeds like random.Random(seed) does for an integer seed: the absolute value's little-endian
// 32-bit words form the key (a single zero word for 0).
func newPyRandom(seed int64) *pyRandom {
	var n uint64
	if seed < 0 {
		n = uint64(-(seed + 1)) + 1 // |MinInt64| does not fit an int64
	} else {
		n = uint64(seed)
	}
	key := []uint32{uint32(n)}
	if hi := uint32(n >> 32); hi != 0 {
		key = append(key, hi)
	}
	r := &pyRandom{}
	r.initByArray(key)
	return r
}

func (r *pyRandom) initGenrand(s uint32) {
	r.mt[0] = s
	for i := 1; i < mtN; i++ {
		r.mt[i] = 1812433253*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	r.idx = mtN
}

func (r *pyRandom) initByArray(key []uint32) {
	r.initGenrand(19650218)
	i, j := 1, 0
	k := max(mtN, len(key))
	for ; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1664525)) + key[j] + uint32(j)
		i++
		j++
		if i >= mtN {
			r.mt[0] = r.mt[mtN-1]
			i = 1
		}
		if j >= len(key) {
			j = 0
		}
	}
	for k = mtN - 1; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1566083941)) - uint32(i)
		i++
		if i >= mtN {
			r.mt[0] = r.mt[mtN-1]
			i = 1
		}
	}
	r.mt[0] = 0x80000000
}

func (r *pyRandom) uint32() uint32 {
	const upper, lower, matrixA = 0x80000000, 0x7fffffff, 0x9908b0df
	if r.idx >= mtN {
		for kk := 0; kk < mtN; kk++ {
			y := (r.mt[kk] & upper) | (r.mt[(kk+1)%mtN] & lower)
			v := r.mt[(kk+mtM)%mtN] ^ (y >> 1)
			if y&1 != 0 {
				v ^= matrixA
			}
			r.mt[kk] = v
		}
		r.idx = 0
	}
	y := r.mt[r.idx]
	r.idx++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// float64 is random.random(): 53 bits from two draws.
func (r *pyRandom) float64() float64 {
	a, b := r.uint32()>>5, r.uint32()>>6
	return (float64(a)*67108864.0 + float64(b)) * (1.0 / 9007199254740992.0)
}

// below is Random._randbelow(n) for 0 < n < 2**32: rejection sampling on getrandbits(n.bit_length()).
func (r *pyRandom) below(n int) int {
	k := bits.Len(uint(n))
	for {
		v := int(r.uint32() >> (32 - k))
		if v < n {
			return v
		}
	}
}

// randint is Random.randint(a, b), both ends included.
func (r *pyRandom) randint(a, b int) int { return a + r.below(b-a+1) }

// choice is Random.choices(range(len(weights)), weights, k=1)[0]: the index whose cumulative weight first
// exceeds random()*total. ok is false when the weights cannot be drawn from (Python raises ValueError).
func (r *pyRandom) choice(weights []float64) (int, bool) {
	cum := make([]float64, len(weights))
	total := 0.0
	for i, w := range weights {
		total += w
		cum[i] = total
	}
	if !(total > 0) || math.IsInf(total, 0) {
		return 0, false
	}
	x := r.float64() * total
	hi := len(cum) - 1
	// bisect_right(cum, x, 0, hi)
	return sort.Search(hi, func(i int) bool { return cum[i] > x }), true
}
