package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/testenv"
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
			ds, err := demo.NewMonitors(dir, lns, tp.Master.Addr(), time.Second, nil)
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
				t.Fatal("the leader did not crash at " + point)
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
