//go:build integration

package clients

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// goWriter runs an in-process client's write loop in a goroutine.
type goWriter struct {
	p        progress
	isKilled atomic.Bool
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
	// replica, when set, reads key through the client's replica routing.
	replica func(ctx context.Context, phase, key string) replicaRead
}

// writePace is the gap between two write attempts of a Go client.
const writePace = 10 * time.Millisecond

// startGoWriter starts writing seq:n = n with set, one write at a time,
// each attempt bounded by a second; a failed write is retried with the same
// n. The loop stops on stop() or at the end of t.
func startGoWriter(t *testing.T, set func(ctx context.Context, key, val string) error) *goWriter {
	ctx, cancel := context.WithCancel(context.Background())
	w := &goWriter{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(writePace)
		defer tick.Stop()
		for n := 1; ; {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			after := w.isKilled.Load()
			opCtx, opCancel := context.WithTimeout(ctx, time.Second)
			err := set(opCtx, seqKey(n), strconv.Itoa(n))
			opCancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				w.p.fail(err.Error())
				continue
			}
			w.p.ack(n, after)
			n++
		}
	}()
	t.Cleanup(func() { _ = w.stop() })
	return w
}

func (w *goWriter) progress() *progress { return &w.p }

func (w *goWriter) killed() error {
	w.isKilled.Store(true)
	return nil
}

func (w *goWriter) stop() error {
	w.stopOnce.Do(func() {
		w.cancel()
		<-w.done
	})
	return nil
}

func (w *goWriter) readReplica(phase, key string) {
	if w.replica != nil {
		w.p.read(w.replica(context.Background(), phase, key))
	}
}

func (w *goWriter) alive(*testing.T) {}
