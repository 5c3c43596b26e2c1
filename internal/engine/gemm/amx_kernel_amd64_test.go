//go:build amd64

package gemm

// emulatedAMXKernel is the AMX kernel with its assembly body replaced by
// the emulation: the same packing (AVX-512 staging included) and run
// function as amxKernel.
func emulatedAMXKernel() *microKernel[uint32] {
	return newAMXKernel("amx-emulated", emulatedAMXBody, transposeAVX2, convertAVX, amxRowPairs)
}
