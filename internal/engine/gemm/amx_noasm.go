//go:build !amd64

package gemm

// amxReorderChunks is the Go reordering (AMX exists only on amd64; the
// emulated tests run everywhere).
func amxReorderChunks(dst, pairs []uint32, chunks int) { amxReorderChunksGo(dst, pairs, chunks) }
