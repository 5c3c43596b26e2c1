//go:build amd64

package gemm

import "golang.org/x/sys/cpu"

//go:noescape
func gather12AVX(dst, src *float32, offs *int32, n int)

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
