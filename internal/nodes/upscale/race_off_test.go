//go:build !race

package upscale_test

const raceEnabled = false
