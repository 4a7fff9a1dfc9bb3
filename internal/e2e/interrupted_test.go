//go:build integration

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
	"github.com/raftsentinel/raftsentinel/sentinel"
)

// TestFailoverInterruptedAtEachStep: the leader dies (SENTINEL
// SIMULATE-FAILURE) right after committing the start, right after
// REPLICAOF NO ONE, and right after committing the switch. Each time the
// next leader finishes the failover: one master among the Redis nodes, the
// other replica following it, and both remaining monitors answering it.
func TestFailoverInterruptedAtEachStep(t *testing.T) {
	for _, point := range []string{sentinel.CrashAfterElection, sentinel.CrashAfterPromotion, sentinel.CrashAfterSwitch} {
		t.Run(point, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			tp := testenv.StartTopology(t, dir, 2)
			lns, err := demo.OpenListeners(3, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Production-like Raft timeouts instead of the demo's 200 ms:
			// the armed leader must still lead when the master dies, and a
			// loaded test machine must not move leadership in between
			// (the next leader then drove the failover, unarmed).
			ds, err := demo.NewMonitorsTuned(dir, lns, tp.Master.Addr(), time.Second, nil, func(_ int, cfg *config.Config) {
				cfg.Raft.HeartbeatTimeout, cfg.Raft.ElectionTimeout, cfg.Raft.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
			})
			if err != nil {
				t.Fatal(err)
			}
			var runners []*runner
			var addrs []string
			for _, d := range ds {
				runners = append(runners, run(t, d))
				addrs = append(addrs, d.RESPAddr())
			}
			defer func() {
				for _, r := range runners {
					r.stop()
				}
			}()
			testenv.WaitReady(t, addrs, tp.Master.Addr(), 2, 2)
			leader := -1
			testenv.Eventually(t, 10*time.Second, "a leader", func() error {
				for i, d := range ds {
					if d.Store().IsLeader() {
						leader = i
						return nil
					}
				}
				return fmt.Errorf("no leader")
			})
			c := redis.NewClient(&redis.Options{Addr: addrs[leader]})
			if err := c.Do(ctx, "SENTINEL", "SIMULATE-FAILURE", point).Err(); err != nil {
				t.Fatal(err)
			}
			c.Close()
			killed := time.Now()
			if err := tp.Master.Kill(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-runners[leader].done:
			case <-time.After(30 * time.Second):
				now := -1
				for i, d := range ds {
					if d.Store().IsLeader() {
						now = i
					}
				}
				t.Fatalf("the leader m%d did not crash at %s (leader now: m%d)", leader+1, point, now+1)
			}
			var rest []string
			for i, a := range addrs {
				if i != leader {
					rest = append(rest, a)
				}
			}
			var newMaster string
			testenv.Eventually(t, 30*time.Second-time.Since(killed), "the next leader finishes the failover", func() error {
				got, err := testenv.MasterAddr(ctx, rest[0])
				if err != nil {
					return err
				}
				if got == tp.Master.Addr() {
					return fmt.Errorf("still the old master")
				}
				if err := testenv.AllAnswer(ctx, rest, got); err != nil {
					return err
				}
				newMaster = got
				return nil
			})
			t.Logf("%s: all remaining monitors answer %s %v after the kill", point, newMaster, time.Since(killed).Round(time.Millisecond))
			testenv.Eventually(t, 20*time.Second, "one master, the other replica following it", func() error {
				masters := 0
				for _, r := range tp.Replicas {
					role, port, err := role(ctx, r.Addr())
					if err != nil {
						return err
					}
					switch {
					case role == "master" && r.Addr() == newMaster:
						masters++
					case role == "master":
						return fmt.Errorf("%s is a master too", r.Addr())
					case fmt.Sprint("127.0.0.1:", port) != newMaster:
						return fmt.Errorf("%s follows port %s", r.Addr(), port)
					}
				}
				if masters != 1 {
					return fmt.Errorf("%d masters", masters)
				}
				return nil
			})
		})
	}
}

// TestAllMonitorsRestartedMidFailover: every monitor is armed to crash
// right after REPLICAOF NO ONE, so leader after leader dies mid-failover
// until no majority is left. All three then restart from their data dirs:
// the committed failover is resumed and finished (no second one), and the
// monitors agree on the promoted replica.
func TestAllMonitorsRestartedMidFailover(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	g := testenv.StartGroup(t, dir, 3, nil, tp.Master.Addr(), time.Second)
	addrs := g.Addrs()
	testenv.WaitReady(t, addrs, tp.Master.Addr(), 1, 2)
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		err := c.Do(ctx, "SENTINEL", "SIMULATE-FAILURE", sentinel.CrashAfterPromotion).Err()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	raftAddrs := g.RaftAddrs()
	if err := tp.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	// Two leaders crash in turn; the last monitor alone cannot act.
	testenv.Eventually(t, 30*time.Second, "two monitors crashed", func() error {
		alive := 0
		for i := range g.Daemons {
			if !g.Exited(i) {
				alive++
			}
		}
		if alive > 1 {
			return fmt.Errorf("%d monitors still running", alive)
		}
		return nil
	})
	g.Stop()
	if r, _, err := role(ctx, tp.Replicas[0].Addr()); err != nil || r != "master" {
		t.Fatalf("the replica was not promoted before the crashes: %s %v", r, err)
	}
	g2 := testenv.StartGroup(t, dir, 3, raftAddrs, tp.Master.Addr(), time.Second)
	testenv.Eventually(t, 30*time.Second, "the resumed failover completes", func() error {
		if err := testenv.AllAnswer(ctx, g2.Addrs(), tp.Replicas[0].Addr()); err != nil {
			return err
		}
		for _, a := range g2.Addrs() {
			if e, err := testenv.MasterField(ctx, a, "config-epoch"); err != nil || e != "1" {
				return fmt.Errorf("%s: config-epoch %q %v", a, e, err)
			}
			if f, err := testenv.MasterField(ctx, a, "flags"); err != nil || f != "master" {
				return fmt.Errorf("%s: flags %q %v", a, f, err)
			}
		}
		return nil
	})
}
