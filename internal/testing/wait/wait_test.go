package wait

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestUntilReturnsOnceTrue(t *testing.T) {
	n := 0
	took := Until(t, 5*time.Second, "third call", func() error {
		n++
		if n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if n != 3 || took < 2*Interval {
		t.Fatalf("%d calls in %v", n, took)
	}
}

// recorder is a testing.TB whose Fatalf records instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

func TestUntilFailsAfterDeadline(t *testing.T) {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		True(r, 50*time.Millisecond, "never", func() bool { return false })
	}()
	if r.failed != "never: not within 50ms: still false" {
		t.Fatalf("failure %q", r.failed)
	}
}
