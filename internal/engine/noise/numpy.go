package noise

import "math/bits"

// NumPy's default generator, numpy.random.default_rng(seed): a SeedSequence hashes the seed into the state of
// a PCG64 bit generator (128-bit LCG with the XSL-RR output function). InvokeAI seeds it for its tile infill,
// so the same seed picks the same tiles. Checked against NumPy 1.24.

// seedSequenceState is SeedSequence(entropy).generate_state(words) with the default pool of four 32-bit
// words and no spawn key.
func seedSequenceState(entropy uint64, words int) []uint32 {
	const (
		initA, multA = 0x43b0d7e5, 0x931e8875
		initB, multB = 0x8b51f9dd, 0x58f38ded
		mixL, mixR   = 0xca01f9dd, 0x4973f715
		xshift       = 16
		poolSize     = 4
	)
	// The entropy as little-endian 32-bit words (zero is one word).
	ent := []uint32{uint32(entropy)}
	if hi := uint32(entropy >> 32); hi != 0 {
		ent = append(ent, hi)
	}
	hashConst := uint32(initA)
	hashmix := func(v uint32) uint32 {
		v ^= hashConst
		hashConst *= multA
		v *= hashConst
		return v ^ v>>xshift
	}
	mix := func(x, y uint32) uint32 {
		r := mixL*x - mixR*y
		return r ^ r>>xshift
	}
	var pool [poolSize]uint32
	for i := range pool {
		v := uint32(0)
		if i < len(ent) {
			v = ent[i]
		}
		pool[i] = hashmix(v)
	}
	for src := range pool {
		for dst := range pool {
			if src != dst {
				pool[dst] = mix(pool[dst], hashmix(pool[src]))
			}
		}
	}
	out := make([]uint32, words)
	hc := uint32(initB)
	for i := range out {
		v := pool[i%poolSize]
		v ^= hc
		hc *= multB
		v *= hc
		out[i] = v ^ v>>xshift
	}
	return out
}

// PCG64 is NumPy's PCG64 bit generator with its buffered 32-bit draws.
type PCG64 struct {
	hi, lo       uint64 // state
	incHi, incLo uint64
	has32        bool
	buf32        uint32
}

// pcgMult is PCG's default 128-bit multiplier.
const pcgMultHi, pcgMultLo = 0x2360ED051FC65DA4, 0x4385DF649FCCF645

// NewNumPyRNG is numpy.random.default_rng(seed).
func NewNumPyRNG(seed uint64) *PCG64 {
	w := seedSequenceState(seed, 8)
	word := func(i int) uint64 { return uint64(w[2*i]) | uint64(w[2*i+1])<<32 }
	// generate_state(4, uint64): the state is (word 0 high, word 1 low), the stream (word 2 high, word 3 low).
	p := &PCG64{}
	p.incHi = word(2)<<1 | word(3)>>63
	p.incLo = word(3)<<1 | 1
	p.step()
	var carry uint64
	p.lo, carry = bits.Add64(p.lo, word(1), 0)
	p.hi, _ = bits.Add64(p.hi, word(0), carry)
	p.step()
	return p
}

func (p *PCG64) step() {
	hi, lo := bits.Mul64(p.lo, pcgMultLo)
	hi += p.hi*pcgMultLo + p.lo*pcgMultHi
	var carry uint64
	p.lo, carry = bits.Add64(lo, p.incLo, 0)
	p.hi, _ = bits.Add64(hi, p.incHi, carry)
}

// Uint64 is the next 64-bit output.
func (p *PCG64) Uint64() uint64 {
	p.step()
	return bits.RotateLeft64(p.hi^p.lo, -int(p.hi>>58))
}

// Uint32 is the next 32-bit output: the low half of a 64-bit draw, then its high half.
func (p *PCG64) Uint32() uint32 {
	if p.has32 {
		p.has32 = false
		return p.buf32
	}
	v := p.Uint64()
	p.has32, p.buf32 = true, uint32(v>>32)
	return uint32(v)
}

// Intn is Generator.integers(n) for 0 < n ≤ 2³²: Lemire's multiply-and-reject on 32-bit draws.
func (p *PCG64) Intn(n int) int {
	if n <= 1 {
		return 0
	}
	rng := uint32(n - 1)
	if rng == 0xFFFFFFFF {
		return int(p.Uint32())
	}
	excl := uint64(rng) + 1
	m := uint64(p.Uint32()) * excl
	if uint32(m) < uint32(excl) {
		threshold := uint32((0xFFFFFFFF - uint64(rng)) % excl)
		for uint32(m) < threshold {
			m = uint64(p.Uint32()) * excl
		}
	}
	return int(m >> 32)
}
