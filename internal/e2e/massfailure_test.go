//go:build integration

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// TestMassFailure: a group of three monitors watching 50 real masters, each
// with one replica, fails over 10 masters SIGKILLed at once: every one is
// answered by every monitor with its promoted replica within the 30 s
// promise, and the 40 others keep their master.
func TestMassFailure(t *testing.T) {
	const (
		masters   = 50
		killed    = 10
		downAfter = 2 * time.Second
		promise   = 30 * time.Second
	)
	dir := t.TempDir()
	type pair struct {
		name            string
		master, replica *redisproc.Server
		allWay          time.Duration // from the kill until every monitor answered the replica
	}
	// Start the fleet in parallel: masters, then their replicas.
	pairs := make([]*pair, masters)
	for i := range pairs {
		pairs[i] = &pair{name: fmt.Sprintf("m%02d", i)}
	}
	start := func(opt func(p *pair) (redisproc.Options, **redisproc.Server)) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, masters)
		started := make(chan *redisproc.Server, masters)
		for _, p := range pairs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o, into := opt(p)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				s, err := redisproc.Start(ctx, o)
				if err != nil {
					errs <- err
					return
				}
				*into = s
				started <- s
			}()
		}
		wg.Wait()
		close(started)
		for s := range started {
			t.Cleanup(func() { s.Close() })
		}
		close(errs)
		for err := range errs {
			t.Fatalf("redis-server (install: apt-get install -y redis-server): %v", err)
		}
	}
	start(func(p *pair) (redisproc.Options, **redisproc.Server) {
		return redisproc.Options{Dir: filepath.Join(dir, p.name+"-master")}, &p.master
	})
	start(func(p *pair) (redisproc.Options, **redisproc.Server) {
		return redisproc.Options{Dir: filepath.Join(dir, p.name+"-replica"), ReplicaOf: p.master.Addr()}, &p.replica
	})
	lns, err := demo.OpenListeners(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := demo.NewMonitorsTuned(filepath.Join(dir, "monitors"), lns, pairs[0].master.Addr(), downAfter, nil,
		func(_ int, cfg *config.Config) {
			tmpl := cfg.Masters[0]
			cfg.Masters = nil
			for _, p := range pairs {
				m := tmpl
				m.Name, m.Addr = p.name, p.master.Addr()
				cfg.Masters = append(cfg.Masters, m)
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	g := testenv.RunGroup(t, ds)
	addrs := g.Addrs()
	ctx := context.Background()
	testenv.Eventually(t, 60*time.Second, "every monitor knows every master's replica", func() error {
		for _, a := range addrs {
			sc := redis.NewSentinelClient(&redis.Options{Addr: a})
			ms, err := sc.Masters(ctx).Result()
			sc.Close()
			if err != nil {
				return err
			}
			if len(ms) != masters {
				return fmt.Errorf("%s: %d masters", a, len(ms))
			}
			for _, m := range ms {
				f := m.(map[any]any)
				if f["num-slaves"] != "1" {
					return fmt.Errorf("%s: %s has %v replicas", a, f["name"], f["num-slaves"])
				}
			}
		}
		return nil
	})

	killedAt := time.Now()
	for _, p := range pairs[:killed] {
		if err := p.master.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	pending := map[*pair]map[string]bool{}
	for _, p := range pairs[:killed] {
		pending[p] = map[string]bool{}
	}
	testenv.Eventually(t, promise, "every killed master failed over on every monitor", func() error {
		for p, answered := range pending {
			for _, a := range addrs {
				if answered[a] {
					continue
				}
				got, err := testenv.MasterAddrOf(ctx, a, p.name)
				if err == nil && got == p.replica.Addr() {
					answered[a] = true
				}
			}
			if len(answered) == len(addrs) {
				p.allWay = time.Since(killedAt)
				delete(pending, p)
			}
		}
		if len(pending) > 0 {
			return fmt.Errorf("%d of %d killed masters not yet answered by every monitor", len(pending), killed)
		}
		return nil
	})
	var took []time.Duration
	for _, p := range pairs[:killed] {
		took = append(took, p.allWay)
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("%d of %d masters killed at once: every monitor answered the promoted replica after %v (median) to %v (worst); down-after %v",
		killed, masters, took[len(took)/2], took[len(took)-1], downAfter)
	for _, p := range pairs[killed:] {
		for _, a := range addrs {
			if got, err := testenv.MasterAddrOf(ctx, a, p.name); err != nil || got != p.master.Addr() {
				t.Errorf("%s on %s: %s, %v; want its master %s untouched", p.name, a, got, err, p.master.Addr())
			}
		}
	}
}
