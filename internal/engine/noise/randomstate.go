package noise

import "math"

// RandomState is NumPy's legacy generator numpy.random.RandomState(MT19937(SeedSequence(seed))), as InvokeAI's
// img_noise node seeds it: the Mersenne Twister's key filled from SeedSequence(seed).generate_state(624) with
// its first word replaced by 0x80000000 and the position left at 623 (so the first draw tempers the last
// word before the state is regenerated), the legacy polar Box-Muller normal with its cached second value.
// Checked against NumPy 1.24 (testdata/nodes/imageops).
type RandomState struct {
	mt       mt19937
	hasGauss bool
	gauss    float64
}

// NewRandomState seeds a generator as RandomState(MT19937(SeedSequence(seed))) does.
func NewRandomState(seed uint64) *RandomState {
	r := &RandomState{}
	words := seedSequenceState(seed, mtN)
	copy(r.mt.state[:], words)
	r.mt.state[0] = 0x80000000
	r.mt.next = mtN - 1
	return r
}

// Double is random_sample(): 53 random bits from two draws, in [0, 1).
func (r *RandomState) Double() float64 {
	a, b := r.mt.uint32()>>5, r.mt.uint32()>>6
	return (float64(a)*67108864.0 + float64(b)) / 9007199254740992.0
}

// Gauss is the legacy standard normal (normal(0, 1) returns it unchanged): the polar method, each accepted
// pair giving two values, the second kept for the next call.
func (r *RandomState) Gauss() float64 {
	if r.hasGauss {
		r.hasGauss = false
		g := r.gauss
		r.gauss = 0
		return g
	}
	var x1, x2, r2 float64
	for {
		// The conversions keep each product rounded on its own, as NumPy's C computes it.
		x1 = float64(2*r.Double()) - 1
		x2 = float64(2*r.Double()) - 1
		r2 = float64(x1*x1) + float64(x2*x2)
		if r2 < 1 && r2 != 0 {
			break
		}
	}
	f := math.Sqrt(-2 * math.Log(r2) / r2)
	r.gauss = f * x1
	r.hasGauss = true
	return f * x2
}
