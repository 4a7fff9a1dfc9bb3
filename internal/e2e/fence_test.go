//go:build integration

package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// runner runs one daemon until stopped.
type runner struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func run(t *testing.T, d *daemon.Daemon) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := d.Run(ctx); err != nil && !errors.Is(err, daemon.ErrSimulatedCrash) {
			t.Errorf("monitor: %v", err)
		}
	}()
	return r
}

func (r *runner) stop() {
	r.cancel()
	<-r.done
}

// TestFencingIsolatedMaster: monitor m1 is the sidecar of the master. When
// m1 is cut off from the monitor majority (the two others stop), it pauses
// the master's writes once fence-after has passed: no write is acknowledged
// by the master after that deadline. When the majority is back and still
// names this node the master, the fence is lifted.
func TestFencingIsolatedMaster(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	const fenceAfter = time.Second
	lns, err := demo.OpenListeners(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cfgs []config.Config
	var runners []*runner
	var addrs []string
	for i := range lns {
		cfg := demo.MonitorConfig(dir, i, lns, tp.Master.Addr(), 10*time.Second)
		if i == 0 {
			cfg.LocalRedis, cfg.FenceAfter = tp.Master.Addr(), fenceAfter
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		d, err := daemon.New(cfg, daemon.Options{Listeners: lns[i]})
		if err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, cfg)
		addrs = append(addrs, d.RESPAddr())
		runners = append(runners, run(t, d))
	}
	// restart starts monitor i again from its data dir on its raft
	// address, with new client-facing listeners.
	restart := func(i int) *runner {
		l, err := demo.OpenListeners(1, []string{cfgs[i].RaftAddr})
		if err != nil {
			t.Fatal(err)
		}
		cfg := cfgs[i]
		cfg.Listen, cfg.Announce, cfg.HTTPAddr = l[0].RESP.Addr().String(), l[0].RESP.Addr().String(), l[0].HTTP.Addr().String()
		d, err := daemon.New(cfg, daemon.Options{Listeners: l[0]})
		if err != nil {
			t.Fatal(err)
		}
		return run(t, d)
	}
	var once sync.Once
	stopAll := func() {
		once.Do(func() {
			for _, r := range runners {
				if r != nil {
					r.stop()
				}
			}
		})
	}
	t.Cleanup(stopAll)
	testenv.WaitReady(t, addrs, tp.Master.Addr(), 1, 2)

	mc := redis.NewClient(&redis.Options{Addr: tp.Master.Addr(), ReadTimeout: 200 * time.Millisecond,
		WriteTimeout: 200 * time.Millisecond, MaxRetries: -1, PoolSize: 4})
	defer mc.Close()
	if err := mc.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// Cut m1 off: the two other monitors go away.
	runners[1].stop()
	runners[2].stop()
	runners[1], runners[2] = nil, nil
	cut := time.Now()
	// Give the fence its deadline plus a renewal period and some slack to
	// act, then no write may be acknowledged for the next two seconds.
	deadline := cut.Add(fenceAfter + time.Second)
	testenv.Eventually(t, 10*time.Second, "fence deadline", func() error {
		if time.Now().Before(deadline) {
			return fmt.Errorf("%v to go", time.Until(deadline))
		}
		return nil
	})
	acked := 0
	attempts := 0
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		attempts++
		if err := mc.Set(ctx, "k", "after-fence", 0).Err(); err == nil {
			acked++
		}
	}
	t.Logf("after the fence deadline: %d of %d writes acknowledged by the isolated master", acked, attempts)
	if acked != 0 {
		t.Fatalf("the isolated master acknowledged %d writes after the fence deadline", acked)
	}
	if v, err := mc.Get(ctx, "k").Result(); err != nil || v != "before" {
		t.Fatalf("reads must go on while fenced: %q %v", v, err)
	}
	// The isolated monitor no longer hands out its (possibly outdated)
	// view: Sentinel clients move on to another monitor on an error.
	if _, err := testenv.MasterAddr(ctx, addrs[0]); err == nil || !strings.HasPrefix(err.Error(), "NOQUORUM") {
		t.Fatalf("isolated monitor answered master discovery: %v", err)
	}

	// The majority comes back (same data and raft addresses) and still
	// names this node the master: the fence is lifted.
	runners[1], runners[2] = restart(1), restart(2)
	testenv.Eventually(t, 20*time.Second, "writes accepted again", func() error {
		return mc.Set(ctx, "k", "healed", 0).Err()
	})
}
