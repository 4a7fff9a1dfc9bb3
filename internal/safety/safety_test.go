//go:build integration

package safety_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/safety"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the failover drills' random pauses (0 = from the clock)")

func TestMain(m *testing.M) {
	benchutil.QuietRedisLogs()
	goleak.VerifyTestMain(m)
}

const (
	failovers = 3
	downAfter = time.Second
	// failoverTimeout is also raftsentinel's minimum gap between two
	// failovers of a master (30 s in testenv's group): shortened so that
	// three failovers fit in the test.
	failoverTimeout = 5 * time.Second
)

func seed(t *testing.T) uint64 {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with: go test ./internal/safety -run '^%s$' -args -seed=%d)", s, t.Name(), s)
	return s
}

// startRaftsentinel starts a master, two replicas and a group of three
// raftsentinel monitors (down-after 1 s, failover-timeout 5 s) and waits
// until every monitor knows all of them.
func startRaftsentinel(t *testing.T) safety.Target {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 2)
	g := testenv.StartGroup(t, dir, 3, nil, tp.Master.Addr(), downAfter)
	addrs := g.Addrs()
	testenv.WaitReady(t, addrs, tp.Master.Addr(), 2, 2)
	ms := fmt.Sprint(failoverTimeout.Milliseconds())
	if v, err := redisproc.Command(ctx, addrs[0], "SENTINEL", "SET", testenv.MasterName, "failover-timeout", ms); err != nil || v != "OK" {
		t.Fatalf("SENTINEL SET failover-timeout: %q %v", v, err)
	}
	testenv.Eventually(t, 10*time.Second, "every monitor has the new failover-timeout", func() error {
		for _, a := range addrs {
			if got, err := testenv.MasterField(ctx, a, "failover-timeout"); err != nil || got != ms {
				return fmt.Errorf("%s: failover-timeout %q %v", a, got, err)
			}
		}
		return nil
	})
	nodes := map[string]*redisproc.Server{tp.Master.Addr(): tp.Master}
	for _, r := range tp.Replicas {
		nodes[r.Addr()] = r
	}
	return safety.Target{MasterName: testenv.MasterName, Monitors: addrs, Nodes: nodes}
}

func drill(t *testing.T, waitReplicas int) safety.Report {
	t.Helper()
	target := startRaftsentinel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := safety.Drill(ctx, safety.DrillOptions{
		Target:       target,
		WaitReplicas: waitReplicas,
		Driver:       safety.DriverOptions{Failovers: failovers, Seed: seed(t), Logf: t.Logf},
	})
	t.Logf("%s: %d writes attempted, %d acknowledged (SET failed %d, WAIT short %d), %d lost (%.4f %%) on final master %s; lost per failover %v; %d/%d failovers in %s",
		rep.Mode, rep.Writer.Attempts, rep.Writer.Acked, rep.Writer.SetFailed, rep.Writer.WaitShort,
		rep.Verify.Lost, rep.LostPercent(), rep.FinalMaster, rep.LostPerFailover, rep.Completed, rep.Planned,
		rep.Duration.Round(time.Millisecond))
	if err != nil {
		t.Fatalf("drill: %v", err)
	}
	if rep.Completed != failovers {
		t.Fatalf("%d of %d failovers completed", rep.Completed, failovers)
	}
	if !rep.Verified || rep.Writer.Acked == 0 {
		t.Fatalf("verified %d of %d acknowledged writes", rep.Verify.Checked, rep.Writer.Acked)
	}
	for _, f := range rep.Failovers {
		if f.AckedAfter <= 0 {
			t.Errorf("failover %d: no write acknowledged on the new master %s", f.N, f.New)
		}
		if best, known := f.PromotedBest(); known && !best {
			t.Logf("failover %d promoted %s, not the survivor with the highest offset: %s", f.N, f.New, f)
		}
	}
	return rep
}

// TestNoAcknowledgedWriteLostWithWait: a writer SETs seq:<i> followed by
// WAIT 1 through a go-redis FailoverClient across three SIGKILLs of the
// master; every write acknowledged by SET and WAIT ≥ 1 is on the final
// master.
func TestNoAcknowledgedWriteLostWithWait(t *testing.T) {
	rep := drill(t, 1)
	if rep.Verify.Lost != 0 {
		for _, f := range rep.Failovers {
			t.Log(f)
		}
		t.Fatalf("%d of %d writes acknowledged with WAIT 1 are missing on the final master %s (first lost indices %v)",
			rep.Verify.Lost, rep.Writer.Acked, rep.FinalMaster, head(rep.Verify.LostIdx, 20))
	}
}

// TestLostWritesWithoutWaitIsMeasured: the same drill with plain SETs.
// Losses are expected (asynchronous replication) and only reported; the
// test checks that the checker ran over every acknowledged write.
func TestLostWritesWithoutWaitIsMeasured(t *testing.T) {
	rep := drill(t, 0)
	t.Logf("without WAIT: %d of %d acknowledged writes lost (%.4f %%), first lost indices %v",
		rep.Verify.Lost, rep.Writer.Acked, rep.LostPercent(), head(rep.Verify.LostIdx, 20))

	// The checker sees a loss: delete three acknowledged keys (the first,
	// one in the middle, the last) on the final master; Verify must count
	// exactly those on top of what it found.
	ctx := context.Background()
	acked := rep.Acked
	gone := []int64{acked[0], acked[len(acked)/2], acked[len(acked)-1]}
	for _, i := range gone {
		if _, err := redisproc.Command(ctx, rep.FinalMaster, "DEL", rep.KeyPrefix+fmt.Sprint(i)); err != nil {
			t.Fatalf("DEL on %s: %v", rep.FinalMaster, err)
		}
	}
	again, err := safety.Verify(ctx, rep.FinalMaster, rep.KeyPrefix, acked)
	if err != nil {
		t.Fatal(err)
	}
	if again.Checked != len(acked) || again.Lost != rep.Verify.Lost+len(gone) {
		t.Fatalf("after deleting %v: checked %d of %d, lost %d, want %d", gone, again.Checked, len(acked), again.Lost, rep.Verify.Lost+len(gone))
	}
	for _, i := range gone {
		if !slices.Contains(again.LostIdx, i) {
			t.Fatalf("deleted index %d not among the lost %v", i, head(again.LostIdx, 20))
		}
	}
}

func head(xs []int64, n int) []int64 { return xs[:min(n, len(xs))] }
