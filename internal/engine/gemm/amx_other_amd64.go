//go:build amd64 && !linux

package gemm

import "errors"

// requestAMXPermission refuses: only Linux's way of asking for the tile
// state is implemented.
func requestAMXPermission() error {
	return errors.New("AMX is used only on Linux")
}
