package auth

import (
	"sync"
	"time"
)

// Login throttling (docs/security.md D4): after maxFailures failed logins for one email inside window, further
// attempts are refused until the oldest failure leaves the window. A correct password does not bypass it.
const (
	maxFailures    = 5
	throttleWindow = 5 * time.Minute
	// maxTracked bounds memory when someone sprays many addresses.
	maxTracked = 100_000
)

type throttle struct {
	mu       sync.Mutex
	failures map[string][]time.Time
	now      func() time.Time
}

func newThrottle(now func() time.Time) *throttle {
	return &throttle{failures: map[string][]time.Time{}, now: now}
}

// check returns how long the caller must wait, or 0 when an attempt is allowed.
func (t *throttle) check(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	recent := t.prune(key)
	if len(recent) < maxFailures {
		return 0
	}
	wait := recent[0].Add(throttleWindow).Sub(t.now())
	if wait < time.Second {
		wait = time.Second
	}
	return wait
}

func (t *throttle) fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.failures) >= maxTracked {
		for k := range t.failures {
			if len(t.prune(k)) == 0 {
				delete(t.failures, k)
			}
		}
	}
	t.failures[key] = append(t.prune(key), t.now())
}

func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, key)
}

// prune drops failures older than the window; the caller holds mu.
func (t *throttle) prune(key string) []time.Time {
	cutoff := t.now().Add(-throttleWindow)
	list := t.failures[key]
	i := 0
	for i < len(list) && !list[i].After(cutoff) {
		i++
	}
	list = list[i:]
	if len(list) == 0 {
		delete(t.failures, key)
		return nil
	}
	t.failures[key] = list
	return list
}
