//go:build amd64

package gemm

import "golang.org/x/sys/cpu"

//go:noescape
func gather12AVX(dst, src *float32, offs *int32, n int)

//go:noescape
func gatherSegsAVX512(dst, src *float32, offs *int32, n int, segs *convCopy, nsegs int)

// gather12 copies src[offs[p]:offs[p]+12] to dst[12p:12p+12] for every p
// and reports whether it could (it needs AVX); callers check bounds.
func gather12(dst, src []float32, offs []int32) bool {
	if !cpu.X86.HasAVX || len(offs) == 0 {
		return false
	}
	_ = dst[12*len(offs)-1]
	gather12AVX(&dst[0], &src[0], &offs[0], len(offs))
	return true
}

// gatherSegs copies, for every p and segment s, the bits.OnesCount(s.mask)
// floats at src[s.src+offs[p]] to dst[12p+s.dst] and reports whether it
// could (it needs AVX-512); callers check bounds.
func gatherSegs(dst, src []float32, offs []int32, segs []convCopy) bool {
	if !cpu.X86.HasAVX512F || len(offs) == 0 || len(segs) == 0 {
		return false
	}
	_ = dst[12*len(offs)-1]
	gatherSegsAVX512(&dst[0], &src[0], &offs[0], len(offs), &segs[0], len(segs))
	return true
}
