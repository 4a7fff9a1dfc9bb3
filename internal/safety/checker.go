// Package safety is the lost-writes checker: a client writes a numbered
// sequence without pause through go-redis's FailoverClient (optionally
// following every SET with WAIT on the same connection) while a driver
// SIGKILLs the master N times; afterwards every acknowledged write is looked
// up on the final master. The test of this package runs it against a
// raftsentinel group; `make bench-safety` (internal/bench/safety) runs it
// against raftsentinel and Redis Sentinel in the same run.
package safety

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// DefaultKeyPrefix is the prefix of the keys the writer sets: seq:<i> = i.
const DefaultKeyPrefix = "seq:"

// verifyBatch is the number of keys per MGET in Verify.
const verifyBatch = 1000

// maxLostListed bounds the lost indices a VerifyResult lists.
const maxLostListed = 1000

// WriterOptions configure a Checker's writer.
type WriterOptions struct {
	MasterName    string   // the name the monitors know the master by; required
	SentinelAddrs []string // Sentinel-protocol addresses; required

	// WaitReplicas is 0 for plain SETs. When n > 0, every SET is followed,
	// on the same connection, by WAIT n WaitTimeout, and a write counts as
	// acknowledged only if SET replied OK and WAIT replied at least n.
	WaitReplicas int
	// WaitTimeout is WAIT's timeout; 0 = 500 ms.
	WaitTimeout time.Duration

	KeyPrefix string // 0 = DefaultKeyPrefix

	// ErrorPause is the pause after a failed write, so that a writer facing
	// a dead master does not spin; 0 = 5 ms.
	ErrorPause time.Duration
	// DialTimeout of the client, toward monitors and Redis; 0 = 200 ms.
	DialTimeout time.Duration
}

// WriterStats count what the writer did.
type WriterStats struct {
	Attempts  int64  // writes tried (every attempt takes a new index)
	Acked     int    // writes acknowledged
	SetFailed int64  // SET did not reply OK (no master, connection lost, READONLY, ...)
	WaitShort int64  // SET replied OK but WAIT failed or counted too few replicas
	LastErr   string // the last error, for reports
}

// Checker writes seq:<i> = i through a FailoverClient and remembers which
// indices were acknowledged. Start it once, Stop it once, then Verify.
// All methods are safe for concurrent use.
type Checker struct {
	opt WriterOptions
	fc  *redis.Client

	mu       sync.Mutex
	acked    []int64 // acknowledged indices, increasing
	inFlight int64   // index of the write being attempted; -1 before the first
	stats    WriterStats

	startOnce, stopOnce sync.Once
	cancel              context.CancelFunc
	done                chan struct{}
}

// NewChecker validates opt and creates the client; nothing is written
// until Start.
func NewChecker(opt WriterOptions) (*Checker, error) {
	switch {
	case opt.MasterName == "":
		return nil, errors.New("safety: WriterOptions.MasterName is required")
	case len(opt.SentinelAddrs) == 0:
		return nil, errors.New("safety: WriterOptions.SentinelAddrs is required")
	case opt.WaitReplicas < 0:
		return nil, fmt.Errorf("safety: WriterOptions.WaitReplicas %d: must not be negative", opt.WaitReplicas)
	}
	if opt.WaitTimeout <= 0 {
		opt.WaitTimeout = 500 * time.Millisecond
	}
	if opt.KeyPrefix == "" {
		opt.KeyPrefix = DefaultKeyPrefix
	}
	if opt.ErrorPause <= 0 {
		opt.ErrorPause = 5 * time.Millisecond
	}
	if opt.DialTimeout <= 0 {
		opt.DialTimeout = 200 * time.Millisecond
	}
	fc := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    opt.MasterName,
		SentinelAddrs: opt.SentinelAddrs,
		DialTimeout:   opt.DialTimeout,
		// A pipeline is read under ReadTimeout as a whole, WAIT included.
		ReadTimeout:  opt.WaitTimeout + 500*time.Millisecond,
		WriteTimeout: 500 * time.Millisecond,
		// No retries: one attempt per index, so an acknowledgement is the
		// reply to exactly the commands this index sent.
		MaxRetries: -1,
	})
	return &Checker{opt: opt, fc: fc, inFlight: -1, done: make(chan struct{})}, nil
}

// Mode describes the acknowledgement rule: "no WAIT" or "WAIT n".
func (c *Checker) Mode() string { return ModeName(c.opt.WaitReplicas) }

// ModeName is the name of a WaitReplicas setting.
func ModeName(waitReplicas int) string {
	if waitReplicas == 0 {
		return "no WAIT"
	}
	return fmt.Sprintf("WAIT %d", waitReplicas)
}

// Start runs the writer in a goroutine until ctx ends or Stop.
func (c *Checker) Start(ctx context.Context) {
	c.startOnce.Do(func() {
		wctx, cancel := context.WithCancel(ctx)
		c.cancel = cancel
		go c.run(wctx)
	})
}

// Stop stops the writer, waits for it and closes the client. It returns the
// final statistics. Idempotent; Stop without Start only closes the client.
func (c *Checker) Stop() WriterStats {
	c.stopOnce.Do(func() {
		// Forbid a later Start; wait for a concurrent one to finish.
		c.startOnce.Do(func() {})
		if c.cancel != nil {
			c.cancel()
			<-c.done
		}
		_ = c.fc.Close()
	})
	return c.Stats()
}

func (c *Checker) run(ctx context.Context) {
	defer close(c.done)
	for i := int64(0); ctx.Err() == nil; i++ {
		c.mu.Lock()
		c.inFlight = i
		c.stats.Attempts++
		c.mu.Unlock()
		err := c.write(ctx, i)
		if ctx.Err() != nil {
			// Interrupted by Stop: the outcome of this index is unknown
			// and it does not count either way.
			return
		}
		c.mu.Lock()
		if err == nil {
			c.acked = append(c.acked, i)
			c.stats.Acked++
		} else {
			var ws errWaitShort
			if errors.As(err, &ws) {
				c.stats.WaitShort++
			} else {
				c.stats.SetFailed++
			}
			c.stats.LastErr = err.Error()
		}
		c.mu.Unlock()
		if err != nil {
			t := time.NewTimer(c.opt.ErrorPause)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// errWaitShort marks a write whose SET was accepted but not confirmed by
// enough replicas.
type errWaitShort struct{ error }

func (e errWaitShort) Unwrap() error { return e.error }

// write sets key i and returns nil when the write is acknowledged.
func (c *Checker) write(ctx context.Context, i int64) error {
	key, val := c.opt.KeyPrefix+strconv.FormatInt(i, 10), strconv.FormatInt(i, 10)
	if c.opt.WaitReplicas == 0 {
		if err := c.fc.Set(ctx, key, val, 0).Err(); err != nil {
			return fmt.Errorf("SET %s: %w", key, err)
		}
		return nil
	}
	// A pipeline takes one connection from the pool for all its commands,
	// so WAIT counts the replicas that have this very SET.
	var set *redis.StatusCmd
	var wait *redis.Cmd
	_, _ = c.fc.Pipelined(ctx, func(p redis.Pipeliner) error {
		set = p.Set(ctx, key, val, 0)
		wait = p.Do(ctx, "WAIT", c.opt.WaitReplicas, c.opt.WaitTimeout.Milliseconds())
		return nil
	})
	if st, err := set.Result(); err != nil || st != "OK" {
		return fmt.Errorf("SET %s: %q %w", key, st, err)
	}
	n, err := wait.Int64()
	if err != nil {
		return errWaitShort{fmt.Errorf("WAIT after SET %s: %w", key, err)}
	}
	if n < int64(c.opt.WaitReplicas) {
		return errWaitShort{fmt.Errorf("WAIT after SET %s: %d replica(s), want %d", key, n, c.opt.WaitReplicas)}
	}
	return nil
}

// Stats returns the statistics so far.
func (c *Checker) Stats() WriterStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Acked returns how many writes have been acknowledged so far.
func (c *Checker) Acked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.acked)
}

// Position returns the index being attempted (-1 before the first), the
// number of acknowledged writes and the last acknowledged index (-1 when
// none).
func (c *Checker) Position() (inFlight int64, acked int, lastAcked int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lastAcked = -1
	if n := len(c.acked); n > 0 {
		lastAcked = c.acked[n-1]
	}
	return c.inFlight, len(c.acked), lastAcked
}

// AckedIndices returns a copy of the acknowledged indices, increasing.
func (c *Checker) AckedIndices() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.acked...)
}

// Key returns the key of index i.
func (c *Checker) Key(i int64) string { return c.opt.KeyPrefix + strconv.FormatInt(i, 10) }

// VerifyResult is what Verify found on the final master.
type VerifyResult struct {
	Master  string  // the address checked
	Checked int     // acknowledged writes looked up
	Lost    int     // acknowledged writes missing (or with another value)
	LostIdx []int64 // the first maxLostListed lost indices, increasing
}

// Verify looks up every acknowledged write on masterAddr (which must report
// role master) and counts those missing. Call it after Stop.
func (c *Checker) Verify(ctx context.Context, masterAddr string) (VerifyResult, error) {
	return Verify(ctx, masterAddr, c.opt.KeyPrefix, c.AckedIndices())
}

// Verify looks up prefix<i> = i for every i of acked on masterAddr, in
// batches of MGET, and counts the missing ones.
func Verify(ctx context.Context, masterAddr, prefix string, acked []int64) (VerifyResult, error) {
	res := VerifyResult{Master: masterAddr}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	info, err := redisproc.Command(rctx, masterAddr, "INFO", "replication")
	cancel()
	if err != nil {
		return res, fmt.Errorf("verify: INFO replication on %s: %w", masterAddr, err)
	}
	if role := redisproc.InfoField(info, "role"); role != "master" {
		return res, fmt.Errorf("verify: %s reports role %q, not master", masterAddr, role)
	}
	cl := redis.NewClient(&redis.Options{Addr: masterAddr, DialTimeout: time.Second,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, MaxRetries: 2, PoolSize: 1})
	defer cl.Close()
	keys := make([]string, 0, verifyBatch)
	for start := 0; start < len(acked); start += verifyBatch {
		batch := acked[start:min(start+verifyBatch, len(acked))]
		keys = keys[:0]
		for _, i := range batch {
			keys = append(keys, prefix+strconv.FormatInt(i, 10))
		}
		vals, err := cl.MGet(ctx, keys...).Result()
		if err != nil {
			return res, fmt.Errorf("verify: MGET of %d keys from %s on %s: %w", len(keys), keys[0], masterAddr, err)
		}
		if len(vals) != len(batch) {
			return res, fmt.Errorf("verify: MGET on %s: %d values for %d keys", masterAddr, len(vals), len(batch))
		}
		for j, v := range vals {
			res.Checked++
			if s, ok := v.(string); ok && s == strconv.FormatInt(batch[j], 10) {
				continue
			}
			res.Lost++
			if len(res.LostIdx) < maxLostListed {
				res.LostIdx = append(res.LostIdx, batch[j])
			}
		}
	}
	return res, nil
}
