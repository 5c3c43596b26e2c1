//go:build !amd64

package gemm

// emulatedAMXKernel is the AMX kernel's Go side around the emulated body,
// with the portable packing (AMX exists only on amd64).
func emulatedAMXKernel() *microKernel[uint32] {
	return newAMXKernel("amx-emulated", emulatedAMXBody, nil, nil, nil)
}
