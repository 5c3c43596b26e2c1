//go:build linux && amd64

package gemm

import (
	"fmt"
	"syscall"
)

// Linux's arch_prctl codes for dynamically enabled XSAVE features
// (Documentation/arch/x86/xstate.rst) and the tile data component.
const (
	archReqXcompPerm  = 0x1023
	xfeatureXtiledata = 18
)

// requestAMXPermission asks for the tile data state once per process:
// Linux allocates the 8 KiB of tile registers in each thread's XSAVE area
// only for processes that asked, and kills one that uses AMX without. The
// request fails if some thread's signal stack is too small for the larger
// signal frame; Go gives every thread a 32 KiB signal stack, enough for the
// ~11 KiB a frame with tiles needs (docs/kernels.md).
func requestAMXPermission() error {
	if _, _, errno := syscall.Syscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXtiledata, 0); errno != 0 {
		return fmt.Errorf("arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA): %w", errno)
	}
	return nil
}
