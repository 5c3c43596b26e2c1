//go:build amd64

package gemm

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkAMXPackA packs one 32-row panel of a row-major A, kc deep, as
// the AMX kernel does: in one pass (amxPackRows) and through fp32 staging
// plus the reordering (what a transposed or scaled A takes).
func BenchmarkAMXPackA(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	const ld = 1280
	src := randomMatrix(rng, amxMR, ld)
	dst := make([]uint32, amxKC/2*amxMR)
	op := operandA{data: src, ld: ld}
	for _, k := range []*microKernel[uint32]{
		newAMXKernel("one-pass", emulatedAMXBody, transposeAVX2, convertAVX, amxRowPairs),
		newAMXKernel("staged", emulatedAMXBody, transposeAVX2, convertAVX, nil),
	} {
		b.Run(k.name, func(b *testing.B) {
			b.SetBytes(int64(4 * amxMR * amxKC))
			for b.Loop() {
				k.packA(dst, op, 0, amxMR, 0, amxKC, 1)
			}
		})
	}
}

// BenchmarkAMXLayoutA is the reordering of a staged panel alone.
func BenchmarkAMXLayoutA(b *testing.B) {
	pairs := make([]uint32, amxKC/2*amxMR)
	dst := make([]uint32, len(pairs))
	b.SetBytes(int64(8 * len(pairs)))
	for b.Loop() {
		amxLayoutA(dst, pairs, amxKC/2)
	}
}
