//go:build !unix

package tensor

func cpuTime() float64 { return 0 }
