//go:build unix

package safetensors

import (
	"os"
	"syscall"
)

// mapFile maps the whole file read-only (mapped true); it falls back to
// reading when the mapping fails (for example on file systems without mmap
// support).
func mapFile(f *os.File, size int64) (data []byte, unmap func() error, mapped bool, err error) {
	if size == 0 || int64(int(size)) != size {
		data, unmap, err = readFile(f, size)
		return data, unmap, false, err
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		data, unmap, err = readFile(f, size)
		return data, unmap, false, err
	}
	return data, func() error { return syscall.Munmap(data) }, true, nil
}

// evictRange drops the whole pages inside data[begin:end] from this
// process's resident set (MADV_DONTNEED on a shared read-only file mapping
// discards nothing but the mapping's pages).
func evictRange(data []byte, begin, end int64) {
	page := int64(os.Getpagesize())
	lo := (begin + page - 1) / page * page
	hi := end / page * page
	if hi > lo && hi <= int64(len(data)) {
		_ = syscall.Madvise(data[lo:hi], syscall.MADV_DONTNEED)
	}
}
