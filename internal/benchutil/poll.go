package benchutil

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Forever, as the timeout of [Poll], leaves the bound to the context alone.
const Forever time.Duration = 1<<63 - 1

// permanentError marks an error Poll must not retry.
type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }

// Permanent marks err as final: [Poll] returns it at once instead of trying
// again. The message is err's, and errors.Is and errors.As see through the
// mark. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// Poll calls fn at once and then every `every` until fn returns nil (Poll
// returns nil), fn returns an error marked by [Permanent] (returned as is),
// more than timeout has passed since Poll was called (fn's last error is
// returned, unwrapped), or ctx ends (ctx's error is returned, wrapping fn's
// last error too: "context canceled (last: …)"). A timeout of zero or less
// tries fn once; [Forever] polls until ctx ends.
func Poll(ctx context.Context, timeout, every time.Duration, fn func() error) error {
	start := time.Now()
	for {
		err := fn()
		if err == nil {
			return nil
		}
		var p permanentError
		if errors.As(err, &p) || time.Since(start) > timeout {
			return err
		}
		if serr := Sleep(ctx, every); serr != nil {
			return fmt.Errorf("%w (last: %w)", serr, err)
		}
	}
}

// Sleep pauses for d or until ctx ends, and then returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
