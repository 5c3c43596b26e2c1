//go:build race

package pipeline

// raceEnabled trims the golden matrix under the race detector, which makes
// the networks about ten times slower; the full matrix runs without it.
const raceEnabled = true
