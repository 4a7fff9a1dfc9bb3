//go:build integration

package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// TestCoordinatedSwitchoverLosesNothing: a client writes a numbered
// sequence without pause through a go-redis FailoverClient while
// SENTINEL FAILOVER mymaster COORDINATED moves the master; every write the
// client saw acknowledged is on the new master afterwards.
func TestCoordinatedSwitchoverLosesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	g := testenv.StartGroup(t, dir, 3, nil, tp.Master.Addr(), 5*time.Second)
	addrs := g.Addrs()
	testenv.WaitReady(t, addrs, tp.Master.Addr(), 1, 2)

	fc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "mymaster", SentinelAddrs: addrs,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond, MaxRetries: -1})
	defer fc.Close()
	wctx, stop := context.WithCancel(ctx)
	var mu sync.Mutex
	var acked []int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; wctx.Err() == nil; i++ {
			if err := fc.Set(wctx, fmt.Sprintf("w:%d", i), i, 0).Err(); err == nil {
				mu.Lock()
				acked = append(acked, i)
				mu.Unlock()
			}
		}
	}()
	testenv.Eventually(t, 10*time.Second, "writer running", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 50 {
			return fmt.Errorf("%d writes so far", len(acked))
		}
		return nil
	})
	sc := redis.NewClient(&redis.Options{Addr: addrs[1]})
	defer sc.Close()
	if v, err := sc.Do(ctx, "SENTINEL", "FAILOVER", "mymaster", "COORDINATED").Result(); err != nil || v != "OK" {
		stop()
		wg.Wait()
		t.Fatalf("SENTINEL FAILOVER COORDINATED: %v %v", v, err)
	}
	testenv.Eventually(t, 15*time.Second, "every monitor answers the replica", func() error {
		return testenv.AllAnswer(ctx, addrs, tp.Replicas[0].Addr())
	})
	// Keep writing a while on the new master, then stop.
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	testenv.Eventually(t, 15*time.Second, "writes resume on the new master", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < n+50 {
			return fmt.Errorf("%d writes since the switch", len(acked)-n)
		}
		return nil
	})
	stop()
	wg.Wait()

	nm := redis.NewClient(&redis.Options{Addr: tp.Replicas[0].Addr()})
	defer nm.Close()
	lost := 0
	for _, i := range acked {
		if v, err := nm.Get(ctx, fmt.Sprintf("w:%d", i)).Int(); err != nil || v != i {
			lost++
		}
	}
	t.Logf("%d acknowledged writes, %d lost", len(acked), lost)
	if lost != 0 {
		t.Fatalf("%d of %d acknowledged writes are missing on the new master", lost, len(acked))
	}
	if r, p, err := role(ctx, tp.Master.Addr()); err != nil || r != "slave" || p != fmt.Sprint(tp.Replicas[0].Port()) {
		t.Fatalf("old master: role %s master_port %s %v", r, p, err)
	}
}
