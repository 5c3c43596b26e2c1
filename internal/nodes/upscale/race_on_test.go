//go:build race

package upscale_test

// raceEnabled: the race detector slows the pixel loops, PNG encoding and thumbnails of a 4096² result
// about tenfold, so the queue test upscales a 256² image instead of 1024² (same tiles, progress and cancel
// paths) when it is on.
const raceEnabled = true
