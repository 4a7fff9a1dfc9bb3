//go:build integration

package faults

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// TestReplicasAddedAndRemoved (issue 4, scenario 12, replicas): a replica
// started while the group runs is discovered by every monitor (+slave from
// each); a replica that dies stays listed, flagged s_down, as in Sentinel,
// and is never promoted; SENTINEL RESET on one monitor (committed, so on
// all) forgets it while the live replicas are found again.
func TestReplicasAddedAndRemoved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	master := startNode(t, dir, "master", "", 0)
	r1 := startNode(t, dir, "r1", master.Addr(), 0)
	linksUp(t, r1)
	g := startGroup(t, dir, master.Addr(), groupOpts{downAfter: time.Second})
	testenv.WaitReady(t, g.addrs(), master.Addr(), 1, 2)
	ev := subscribe(t, g.addrs())

	// Added at run time.
	r2 := startNode(t, dir, "r2", master.Addr(), 0)
	linksUp(t, r2)
	took := testenv.Eventually(t, 15*time.Second, "every monitor lists the new replica", func() error {
		return replicaSets(g.addrs(), r1.Addr(), r2.Addr())
	})
	t.Logf("replica started → listed by every monitor: %v", took.Round(time.Millisecond))
	testenv.Eventually(t, 5*time.Second, "+slave for the new replica from every monitor", func() error {
		if got := monitors(ev.find("+slave", "slave "+r2.Addr())); len(got) != 3 {
			return fmt.Errorf("+slave %s from monitors %v", r2.Addr(), got)
		}
		return nil
	})

	// Dead: still listed, s_down, not a candidate.
	if err := r2.Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the dead replica is flagged s_down everywhere", func() error {
		for _, s := range g.addrs() {
			rs, err := replicaFlags(s)
			if err != nil {
				return err
			}
			if !strings.Contains(rs[r2.Addr()], "s_down") {
				return fmt.Errorf("%s: %s flags %q", s, r2.Addr(), rs[r2.Addr()])
			}
		}
		return nil
	})
	if err := replicaSets(g.addrs(), r1.Addr(), r2.Addr()); err != nil {
		t.Fatalf("a dead replica must stay listed until SENTINEL RESET (as Sentinel): %v", err)
	}

	// RESET on one monitor forgets it on all; the live replica comes back.
	if v, err := sentinelDo(g.addrs()[1], "SENTINEL", "RESET", testenv.MasterName); err != nil || fmt.Sprint(v) != "1" {
		t.Fatalf("SENTINEL RESET: %v %v", v, err)
	}
	testenv.Eventually(t, 15*time.Second, "every monitor lists only the live replica", func() error {
		return replicaSets(g.addrs(), r1.Addr())
	})
	holds(t, 3*time.Second, "the dead replica stays forgotten", func() error {
		if err := replicaSets(g.addrs(), r1.Addr()); err != nil {
			return violationf("%v", err)
		}
		return nil
	})

	// The one left is the one promoted.
	if err := master.Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, promise, "every monitor answers the live replica", func() error {
		return testenv.AllAnswer(ctx, g.addrs(), r1.Addr())
	})
}

// replicaFlags returns SENTINEL REPLICAS of MasterName on one monitor as
// address → flags.
func replicaFlags(sentinel string) (map[string]string, error) {
	v, err := sentinelDo(sentinel, "SENTINEL", "REPLICAS", testenv.MasterName)
	if err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: SENTINEL REPLICAS reply %T", sentinel, v)
	}
	out := map[string]string{}
	for _, r := range list {
		f := fields(r)
		out[f["name"]] = f["flags"]
	}
	return out, nil
}

// replicaSets checks that every monitor lists exactly the replicas want.
func replicaSets(sentinels []string, want ...string) error {
	sort.Strings(want)
	for _, s := range sentinels {
		rs, err := replicaFlags(s)
		if err != nil {
			return err
		}
		var got []string
		for a := range rs {
			got = append(got, a)
		}
		sort.Strings(got)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			return fmt.Errorf("%s lists replicas %v, want %v", s, got, want)
		}
	}
	return nil
}
