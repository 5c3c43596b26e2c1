//go:build unix

package gguf

import (
	"os"
	"syscall"
)

// mapFile maps the whole file read-only (shared, so the pages belong to the
// page cache and cost no heap); it falls back to reading the file when the
// mapping fails, for example on file systems without mmap support.
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	if size == 0 {
		return readFile(f, size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return readFile(f, size)
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
