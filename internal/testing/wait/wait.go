// Package wait is how tests wait for a condition: they poll it, with a
// deadline, and never sleep a fixed time. One implementation replaces the
// polling loops each package used to write for itself.
package wait

import (
	"fmt"
	"testing"
	"time"
)

// Interval is the pause between two polls.
const Interval = 10 * time.Millisecond

// Until calls fn every Interval until it returns nil, and returns how long
// that took. If fn has not returned nil within d, the test fails with what
// and fn's last error.
func Until(t testing.TB, d time.Duration, what string, fn func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	for {
		err := fn()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(Interval)
	}
}

// True is Until for a condition with nothing to report but false.
func True(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return Until(t, d, what, func() error {
		if !cond() {
			return fmt.Errorf("still false")
		}
		return nil
	})
}
