//go:build amd64

package quant

import (
	"golang.org/x/sys/cpu"
)

// Assembly decoders (decode_amd64.s). Callers pass whole blocks; pointers
// must reach as far as the blocks need (the wrappers check with slicing).

//go:noescape
func decodeQ8_0AVX512(dst *float32, src *byte, blocks int)

//go:noescape
func decodeQ4_0AVX512(dst *float32, src *byte, blocks int)

//go:noescape
func decodeF16AVX512(dst *float32, src *byte, n16 int)

//go:noescape
func decodeBF16AVX512(dst *float32, src *byte, n16 int)

//go:noescape
func decodeQ4KBlockAVX512(dst *float32, qs *byte, sc *float32)

//go:noescape
func decodeQ5KBlockAVX512(dst *float32, qh *byte, sc *float32)

//go:noescape
func decodeQ6KBlockAVX512(dst *float32, ql *byte, sc *float32)

// archDecoders returns the AVX-512 decoders where the CPU and OS support
// them (every instruction used is AVX512F, plus AVX2's VPBROADCASTW).
func archDecoders() map[Type]decodeFunc {
	if !cpu.X86.HasAVX512F || !cpu.X86.HasAVX2 {
		return nil
	}
	return map[Type]decodeFunc{
		Q8_0: func(dst []float32, src []byte) {
			if n := len(dst) / 32; n > 0 {
				_, _ = dst[32*n-1], src[34*n-1]
				decodeQ8_0AVX512(&dst[0], &src[0], n)
			}
		},
		Q4_0: func(dst []float32, src []byte) {
			if n := len(dst) / 32; n > 0 {
				_, _ = dst[32*n-1], src[18*n-1]
				decodeQ4_0AVX512(&dst[0], &src[0], n)
			}
		},
		F16: func(dst []float32, src []byte) {
			n := len(dst) / 16
			if n > 0 {
				_, _ = dst[16*n-1], src[32*n-1]
				decodeF16AVX512(&dst[0], &src[0], n)
			}
			decodeF16(dst[16*n:], src[32*n:])
		},
		BF16: func(dst []float32, src []byte) {
			n := len(dst) / 16
			if n > 0 {
				_, _ = dst[16*n-1], src[32*n-1]
				decodeBF16AVX512(&dst[0], &src[0], n)
			}
			decodeBF16(dst[16*n:], src[32*n:])
		},
		Q4_K: func(dst []float32, src []byte) {
			var sc [16]float32
			for b := 0; b < len(dst)/superBlock; b++ {
				blk := src[b*144 : b*144+144]
				out := dst[b*superBlock : (b+1)*superBlock]
				groupScalesK4(&sc, blk)
				decodeQ4KBlockAVX512(&out[0], &blk[16], &sc[0])
			}
		},
		Q5_K: func(dst []float32, src []byte) {
			var sc [16]float32
			for b := 0; b < len(dst)/superBlock; b++ {
				blk := src[b*176 : b*176+176]
				out := dst[b*superBlock : (b+1)*superBlock]
				groupScalesK4(&sc, blk)
				decodeQ5KBlockAVX512(&out[0], &blk[16], &sc[0])
			}
		},
		Q6_K: func(dst []float32, src []byte) {
			var sc [16]float32
			for b := 0; b < len(dst)/superBlock; b++ {
				blk := src[b*210 : b*210+210]
				out := dst[b*superBlock : (b+1)*superBlock]
				d := half(blk[208:])
				for i, s := range blk[192:208] {
					sc[i] = d * float32(int8(s))
				}
				decodeQ6KBlockAVX512(&out[0], &blk[0], &sc[0])
			}
		},
	}
}

// groupScalesK4 sets sc[g] = d·scale[g] and sc[8+g] = dmin·min[g] for the
// eight groups of a Q4_K or Q5_K block.
func groupScalesK4(sc *[16]float32, blk []byte) {
	d, dmin := half(blk), half(blk[2:])
	s, m := scaleMinK4(blk[4:16])
	for g := range 8 {
		sc[g] = d * float32(s[g])
		sc[8+g] = dmin * float32(m[g])
	}
}
