//go:build integration

package faults

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// TestLaggingReplicaNotPromoted (issue 4, data safety): when the master dies
// with one replica behind the other, the replica that has every
// acknowledged write is promoted — selection by replication offset with
// real offsets, not a tie broken by luck.
//
// Two replicas of equal priority; the one with the lower run id (which
// Sentinel's last tie-break would pick) is made to lag: it is stopped
// (SIGSTOP) while 48 MiB of writes are acknowledged by the other one (WAIT
// 1), far more than the kernel's socket buffers hold, then the master is
// killed and the laggard resumed, so it can never catch up. The test checks
// that precondition on the nodes themselves (its offset is behind), that
// the laggard was a valid candidate (not passed over: it answers again
// before the master is judged down), that the up-to-date replica is
// promoted, and that no acknowledged write is missing from the new master.
func TestLaggingReplicaNotPromoted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const downAfter = time.Second
	master := startNode(t, dir, "master", "", 0)
	r1 := startNode(t, dir, "r1", master.Addr(), 0)
	r2 := startNode(t, dir, "r2", master.Addr(), 0)
	linksUp(t, r1, r2)
	id1, id2 := runID(t, r1), runID(t, r2)
	lag, fresh := r1, r2
	if id2 < id1 {
		lag, fresh = r2, r1
	}
	g := startGroup(t, dir, master.Addr(), groupOpts{downAfter: downAfter})
	testenv.WaitReady(t, g.addrs(), master.Addr(), 2, 2)

	mc := redis.NewClient(&redis.Options{Addr: master.Addr(), ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	defer mc.Close()
	if err := lag.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = lag.Resume()
		}
	}()
	const keys = 48
	value := strings.Repeat("x", 1<<20)
	for i := range keys {
		key := "acked:" + strconv.Itoa(i)
		if err := mc.Set(ctx, key, value, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		n, err := mc.Do(ctx, "WAIT", 1, 10000).Int()
		if err != nil || n < 1 {
			t.Fatalf("WAIT 1 after %s: %d %v (the up-to-date replica must acknowledge)", key, n, err)
		}
	}
	freshOff := infoInt(t, fresh, "slave_repl_offset")

	killed := time.Now()
	if err := master.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := lag.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	// Precondition: once the laggard has read what its socket held and
	// seen the dead link, it is behind.
	testenv.Eventually(t, 10*time.Second, "the laggard reports its link down", func() error {
		info, err := cmd(lag.Addr(), "INFO", "replication")
		if err != nil {
			return err
		}
		if s := redisproc.InfoField(info, "master_link_status"); s != "down" {
			return fmt.Errorf("master_link_status %q", s)
		}
		return nil
	})
	lagOff := infoInt(t, lag, "slave_repl_offset")
	if lagOff >= freshOff {
		t.Fatalf("precondition: laggard offset %d not behind the up-to-date replica's %d", lagOff, freshOff)
	}
	t.Logf("at the kill: up-to-date replica offset %d, laggard %d (%d bytes behind)", freshOff, lagOff, freshOff-lagOff)

	testenv.Eventually(t, promise, "every monitor answers the up-to-date replica", func() error {
		return testenv.AllAnswer(ctx, g.addrs(), fresh.Addr())
	})
	t.Logf("kill → every monitor answers the up-to-date replica: %v", time.Since(killed).Round(time.Millisecond))
	started := g.logLines(t, "failover started", "to="+fresh.Addr())
	if len(started) == 0 {
		t.Fatal("no \"failover started\" line naming the up-to-date replica")
	}
	for _, l := range started {
		if strings.Contains(l, lag.Addr()) && strings.Contains(l, "passed_over=") &&
			strings.Contains(l[strings.Index(l, "passed_over="):], lag.Addr()) {
			t.Fatalf("the laggard was passed over as ineligible, so the offset rule was not what decided: %s", l)
		}
	}

	for i := range keys {
		key := "acked:" + strconv.Itoa(i)
		if n, err := cmd(fresh.Addr(), "EXISTS", key); err != nil || n != "1" {
			t.Fatalf("acknowledged write %s missing on the new master: %q %v", key, n, err)
		}
	}
	testenv.Eventually(t, 30*time.Second, "the laggard follows the new master and has every write", func() error {
		if err := followsConnected(lag.Addr(), fresh.Port()); err != nil {
			return err
		}
		if n, err := dbsize(lag.Addr()); err != nil || n != keys {
			return fmt.Errorf("laggard DBSIZE %d %v, want %d", n, err, keys)
		}
		return nil
	})
}

// runID is INFO server's run_id of s.
func runID(t *testing.T, s *redisproc.Server) string {
	t.Helper()
	info, err := cmd(s.Addr(), "INFO", "server")
	if err != nil {
		t.Fatal(err)
	}
	id := redisproc.InfoField(info, "run_id")
	if len(id) != 40 {
		t.Fatalf("%s: run_id %q", s.Addr(), id)
	}
	return id
}

// infoInt is an integer field of INFO replication of s.
func infoInt(t *testing.T, s *redisproc.Server, field string) int64 {
	t.Helper()
	info, err := cmd(s.Addr(), "INFO", "replication")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(redisproc.InfoField(info, field), 10, 64)
	if err != nil {
		t.Fatalf("%s: INFO %s: %v", s.Addr(), field, err)
	}
	return n
}
