//go:build integration

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// TestAdminChangesReachEveryMonitor: SET, MONITOR, REMOVE and CONFIG SET
// issued on one monitor take effect on all (they go through Raft), and
// survive a restart of the whole group.
func TestAdminChangesReachEveryMonitor(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	other := testenv.StartTopology(t, dir+"/other", 0)
	g := testenv.StartGroup(t, dir, 3, nil, tp.Master.Addr(), time.Second)
	addrs := g.Addrs()
	testenv.WaitReady(t, addrs, tp.Master.Addr(), 1, 2)

	do := func(addr string, args ...any) (any, error) {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		return c.Do(ctx, args...).Result()
	}
	mustOK := func(addr string, args ...any) {
		t.Helper()
		if v, err := do(addr, args...); err != nil || v != "OK" {
			t.Fatalf("%v on %s: %v %v", args, addr, v, err)
		}
	}
	mustOK(addrs[0], "SENTINEL", "SET", "mymaster", "quorum", "3", "down-after-milliseconds", "1500")
	mustOK(addrs[1], "SENTINEL", "MONITOR", "other", "127.0.0.1", other.Master.Port(), 2)
	mustOK(addrs[2], "SENTINEL", "CONFIG", "SET", "resolve-hostnames", "yes")
	check := func(gr *testenv.Group) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, "changes visible on every monitor", func() error {
			for _, a := range gr.Addrs() {
				sc := redis.NewSentinelClient(&redis.Options{Addr: a})
				m, err := sc.Master(ctx, "mymaster").Result()
				o, err2 := sc.GetMasterAddrByName(ctx, "other").Result()
				cfg, err3 := do(a, "SENTINEL", "CONFIG", "GET", "resolve-hostnames")
				sc.Close()
				if err != nil || err2 != nil || err3 != nil {
					return fmt.Errorf("%s: %v %v %v", a, err, err2, err3)
				}
				if m["quorum"] != "3" || m["down-after-milliseconds"] != "1500" {
					return fmt.Errorf("%s: quorum %s down-after %s", a, m["quorum"], m["down-after-milliseconds"])
				}
				if o[1] != fmt.Sprint(other.Master.Port()) || fmt.Sprint(cfg) != "map[resolve-hostnames:yes]" {
					return fmt.Errorf("%s: other %v config %v", a, o, cfg)
				}
			}
			return nil
		})
	}
	check(g)
	raftAddrs := g.RaftAddrs()
	g.Stop()
	g2 := testenv.StartGroup(t, dir, 3, raftAddrs, tp.Master.Addr(), time.Second)
	check(g2)

	// REMOVE sticks, even though every monitor's file still names mymaster.
	mustOK(g2.Addrs()[1], "SENTINEL", "REMOVE", "mymaster")
	testenv.Eventually(t, 10*time.Second, "removed everywhere", func() error {
		for _, a := range g2.Addrs() {
			if _, err := testenv.MasterAddr(ctx, a); err != redis.Nil {
				return fmt.Errorf("%s still answers for mymaster (%v)", a, err)
			}
		}
		return nil
	})
}

// TestManualFailover: SENTINEL FAILOVER on a healthy master promotes the
// replica, demotes the old master, and every monitor answers the new one.
func TestManualFailover(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	g := testenv.StartGroup(t, dir, 3, nil, tp.Master.Addr(), 5*time.Second)
	addrs := g.Addrs()
	testenv.WaitReady(t, addrs, tp.Master.Addr(), 1, 2)
	sc := redis.NewSentinelClient(&redis.Options{Addr: addrs[2]})
	defer sc.Close()
	if v, err := sc.Failover(ctx, "mymaster").Result(); err != nil || v != "OK" {
		t.Fatalf("SENTINEL FAILOVER: %v %v", v, err)
	}
	took := testenv.Eventually(t, 10*time.Second, "every monitor answers the replica", func() error {
		return testenv.AllAnswer(ctx, addrs, tp.Replicas[0].Addr())
	})
	t.Logf("manual failover visible on all monitors after %v", took)
	testenv.Eventually(t, 15*time.Second, "old master demoted", func() error {
		r, p, err := role(ctx, tp.Master.Addr())
		if err != nil || r != "slave" || p != fmt.Sprint(tp.Replicas[0].Port()) {
			return fmt.Errorf("old master role %s master_port %s %v", r, p, err)
		}
		return nil
	})
	// The failover record ends completed, and a second request right away
	// is a new failover back (manual ones skip the anti-flap window).
	testenv.Eventually(t, 10*time.Second, "failover completed", func() error {
		m, err := sc.Master(ctx, "mymaster").Result()
		if err != nil {
			return err
		}
		if m["flags"] != "master" {
			return fmt.Errorf("flags %q", m["flags"])
		}
		return nil
	})
}

func masterAddrOf(ctx context.Context, sentinel, name string) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel})
	defer sc.Close()
	got, err := sc.GetMasterAddrByName(ctx, name).Result()
	if err != nil {
		return "", err
	}
	return got[0] + ":" + got[1], nil
}
