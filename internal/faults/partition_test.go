//go:build integration

package faults

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/netfault"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
	"github.com/raftsentinel/raftsentinel/sentinel"
)

// staleAfter of the partition scenarios: shorter than the default so the
// minority's refusal is seen soon; it must exceed the demo's 200 ms
// election timeout.
const partitionStale = 1500 * time.Millisecond

// leaderAmong waits until exactly one of the monitors idx is the Raft
// leader and returns its index.
func (g *group) leaderAmong(t *testing.T, within time.Duration, idx ...int) int {
	t.Helper()
	found := -1
	testenv.Eventually(t, within, fmt.Sprintf("one raft leader among %v", idx), func() error {
		found = -1
		for _, i := range idx {
			if !g.daemons[i].Store().IsLeader() {
				continue
			}
			if found >= 0 {
				return fmt.Errorf("m%d and m%d both lead", found+1, i+1)
			}
			found = i
		}
		if found < 0 {
			return fmt.Errorf("no leader")
		}
		return nil
	})
	return found
}

// others are the monitor indexes other than i.
func others(i int) []int {
	var out []int
	for j := range 3 {
		if j != i {
			out = append(out, j)
		}
	}
	return out
}

// isNoQuorum reports whether err is Sentinel-protocol -NOQUORUM.
func isNoQuorum(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOQUORUM") }

// minorityWatch polls a cut-off monitor's answer to get-master-addr-by-name
// every 50 ms until stopped: it may answer old (the master committed before
// the cut) until its first -NOQUORUM, and -NOQUORUM only from then on. Any
// other answer is a violation.
type minorityWatch struct {
	stop     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	firstNoQ time.Time
	polls    int
	bad      []string
}

func watchMinority(addr, old string) *minorityWatch {
	w := &minorityWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			got, err := masterAddr(addr)
			w.mu.Lock()
			w.polls++
			switch {
			case isNoQuorum(err):
				if w.firstNoQ.IsZero() {
					w.firstNoQ = time.Now()
				}
			case err != nil: // a failed query proves nothing
			case !w.firstNoQ.IsZero():
				w.bad = append(w.bad, fmt.Sprintf("answered %s after refusing with NOQUORUM", got))
			case got != old:
				w.bad = append(w.bad, fmt.Sprintf("answered %s, not the committed %s", got, old))
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *minorityWatch) close() (firstNoQ time.Time, polls int, bad []string) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstNoQ, w.polls, w.bad
}

// seenAndOpinion is what monitor id last committed, as the state of monitor
// at holds it: its heartbeat registration time and its opinion on the
// master (zero when none).
func (g *group) seenAndOpinion(at int, id string) (seen, opinion time.Time) {
	st := g.daemons[at].Store().State()
	if m, ok := st.Monitors[id]; ok {
		seen = m.SeenAt
	}
	if ms, ok := st.Masters[testenv.MasterName]; ok {
		opinion = ms.Opinions[id].At
	}
	return seen, opinion
}

// TestMinorityPartitioned (issue 4, scenario 5): a true network partition
// between live monitors. One follower is cut off from the other two (both
// ways, Raft and forwarding), while all three keep running and keep
// reaching Redis. The minority commits and promotes nothing; after
// stale-after it answers master discovery with -NOQUORUM (never a
// possibly outdated address); the majority keeps its leader and, when the
// master is then killed, fails over — the minority never advertises the
// new master (or any other) while cut off. After the heal the minority
// converges on the committed master.
func TestMinorityPartitioned(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	links := netfault.NewLinks()
	master, best, other, g := threeNodes(t, dir, groupOpts{downAfter: time.Second, staleAfter: partitionStale, links: links})

	leader := g.leader(t, 10*time.Second)
	minority := (leader + 1) % 3
	majority := others(minority)
	minID := fmt.Sprintf("m%d", minority+1)
	replicaOfBefore := links.ReplicaOfSent(minority)
	t.Logf("leader m%d; cutting m%d off from %v", leader+1, minority+1, majority)

	watch := watchMinority(g.daemons[minority].RESPAddr(), master.Addr())
	cut := time.Now()
	links.Cut(minority, majority...)

	testenv.Eventually(t, partitionStale+10*time.Second, "the minority refuses master discovery with NOQUORUM", func() error {
		_, err := masterAddr(g.daemons[minority].RESPAddr())
		if !isNoQuorum(err) {
			return fmt.Errorf("m%d: %v", minority+1, err)
		}
		return nil
	})
	t.Logf("cut → minority answers -NOQUORUM: %v (stale-after %v)", time.Since(cut).Round(time.Millisecond), partitionStale)

	// Introspection keeps answering the last committed view, flagged
	// stale_view (Sentinel clients ignore unknown flags); a change sent to
	// the minority cannot be committed and says so.
	minAddr := g.daemons[minority].RESPAddr()
	sc := redis.NewSentinelClient(&redis.Options{Addr: minAddr})
	defer sc.Close()
	mm, err := sc.Master(ctx, testenv.MasterName).Result()
	if err != nil || mm["flags"] != "master,"+sentinel.FlagStaleView || net.JoinHostPort(mm["ip"], mm["port"]) != master.Addr() {
		t.Fatalf("minority SENTINEL MASTER: %v %v", mm, err)
	}
	if reps, err := sc.Replicas(ctx, testenv.MasterName).Result(); err != nil || len(reps) != 2 {
		t.Fatalf("minority SENTINEL REPLICAS: %v %v", reps, err)
	}
	if info, err := redisproc.Command(ctx, minAddr, "INFO", "sentinel"); err != nil || !strings.Contains(info, "name="+testenv.MasterName+",status=ok,address="+master.Addr()) {
		t.Fatalf("minority INFO sentinel: %q %v", info, err)
	}
	if _, err := redisproc.Command(ctx, minAddr, "SENTINEL", "SET", testenv.MasterName, "quorum", "2"); !isNoQuorum(err) {
		t.Fatalf("SENTINEL SET on the minority: %v, want -NOQUORUM", err)
	}

	// The majority kept its leader (no election needed) and serves the
	// committed master; what the minority last committed is now frozen.
	if nl := g.leaderAmong(t, 5*time.Second, majority...); nl != leader {
		t.Logf("the majority's leader is now m%d (was m%d)", nl+1, leader+1)
	}
	if err := testenv.AllAnswer(ctx, g.addrs(majority...), master.Addr()); err != nil {
		t.Fatal(err)
	}
	seen0, op0 := g.seenAndOpinion(majority[0], minID)

	// Kill the master: the majority fails over to the best replica.
	if err := master.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	testenv.Eventually(t, promise, "the majority answers the best replica", func() error {
		return testenv.AllAnswer(ctx, g.addrs(majority...), best.Addr())
	})
	t.Logf("master killed → the majority answers the new master: %v", time.Since(killed).Round(time.Millisecond))
	testenv.Eventually(t, 15*time.Second, "failover completed at epoch 1 on the majority", func() error {
		return steady(g.addrs(majority...), best.Addr(), 1)
	})
	testenv.Eventually(t, 15*time.Second, "the other replica follows the new master", func() error {
		return followsConnected(other.Addr(), best.Port())
	})

	// The minority stays cut off a while longer: it keeps refusing, its
	// own state still has the old master (it learnt nothing), and nothing
	// it proposed was committed.
	holds(t, 2*time.Second, "the minority stays out", func() error {
		if _, err := masterAddr(g.daemons[minority].RESPAddr()); err != nil && !isNoQuorum(err) {
			return err
		} else if err == nil {
			return violationf("the cut-off minority answered an address")
		}
		if a := g.daemons[minority].Store().State().Masters[testenv.MasterName].Addr.String(); a != master.Addr() {
			return violationf("the minority's state has master %s while cut off", a)
		}
		return nil
	})
	seen1, op1 := g.seenAndOpinion(majority[0], minID)
	if seen1.After(seen0) || op1.After(op0) {
		t.Fatalf("a proposal of the cut-off minority was committed: seen %v → %v, opinion %v → %v", seen0, seen1, op0, op1)
	}
	if n := links.ReplicaOfSent(minority) - replicaOfBefore; n != 0 {
		t.Fatalf("the cut-off minority sent %d REPLICAOF commands", n)
	}
	if n := links.ReplicaOfSent(0) + links.ReplicaOfSent(1) + links.ReplicaOfSent(2); n == 0 {
		t.Fatal("the REPLICAOF counter saw no command at all (the failover sends some): the check is blind")
	}
	firstNoQ, polls, bad := watch.close()
	if len(bad) > 0 {
		t.Fatalf("the minority, cut off, advertised a master it must not: %v", bad)
	}
	t.Logf("minority polled %d times while cut off; first NOQUORUM %v after the cut", polls, firstNoQ.Sub(cut).Round(time.Millisecond))

	links.Heal()
	healed := time.Now()
	testenv.Eventually(t, promise, "after the heal the minority answers the committed master", func() error {
		return testenv.AllAnswer(ctx, g.addrs(), best.Addr())
	})
	t.Logf("heal → the minority answers the new master: %v", time.Since(healed).Round(time.Millisecond))
	testenv.Eventually(t, 15*time.Second, "all three steady at epoch 1", func() error {
		return steady(g.addrs(), best.Addr(), 1)
	})
	g.leader(t, 10*time.Second)
}

// TestLeaderPartitioned (issue 4, scenario 5, the leader's side): the Raft
// leader is cut off from the other two monitors, all alive. The other two
// elect a new leader; the old one steps down and stops acting: when the
// master is then killed, the new leader fails over, the old one sends no
// REPLICAOF (counted on its connections to Redis) and the Redis roles show
// one master with the other replica following it. The old leader refuses
// master discovery after stale-after and converges after the heal.
func TestLeaderPartitioned(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	links := netfault.NewLinks()
	master, best, other, g := threeNodes(t, dir, groupOpts{downAfter: time.Second, staleAfter: partitionStale, links: links})

	old := g.leader(t, 10*time.Second)
	majority := others(old)
	replicaOfBefore := links.ReplicaOfSent(old)
	t.Logf("cutting the leader m%d off from %v", old+1, majority)
	cut := time.Now()
	links.Cut(old, majority...)

	// Both watched in one loop, each timed when first seen.
	var elected, steppedDown time.Duration
	testenv.Eventually(t, 10*time.Second, "a new leader in the majority, the old one stepped down", func() error {
		if elected == 0 {
			for _, i := range majority {
				if g.daemons[i].Store().IsLeader() {
					elected = time.Since(cut)
				}
			}
		}
		if steppedDown == 0 && !g.daemons[old].Store().IsLeader() {
			steppedDown = time.Since(cut)
		}
		if elected == 0 || steppedDown == 0 {
			return fmt.Errorf("new leader after %v, old stepped down after %v (0: not yet)", elected, steppedDown)
		}
		return nil
	})
	nl := g.leaderAmong(t, 5*time.Second, majority...)
	t.Logf("leader cut off → new leader m%d elected by the majority after %v; old leader stepped down after %v",
		nl+1, elected.Round(time.Millisecond), steppedDown.Round(time.Millisecond))

	if err := master.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	testenv.Eventually(t, promise, "the majority answers the best replica", func() error {
		return testenv.AllAnswer(ctx, g.addrs(majority...), best.Addr())
	})
	t.Logf("master killed → the majority answers the new master: %v", time.Since(killed).Round(time.Millisecond))
	testenv.Eventually(t, 15*time.Second, "one master, the other replica following it", func() error {
		return oneMaster(best, other)
	})
	testenv.Eventually(t, partitionStale+10*time.Second, "the old leader refuses master discovery", func() error {
		_, err := masterAddr(g.daemons[old].RESPAddr())
		if !isNoQuorum(err) {
			return fmt.Errorf("m%d: %v", old+1, err)
		}
		return nil
	})
	holds(t, 2*time.Second, "the old leader does not act", func() error {
		if g.daemons[old].Store().IsLeader() {
			return violationf("m%d leads again while cut off", old+1)
		}
		if n := links.ReplicaOfSent(old) - replicaOfBefore; n != 0 {
			return violationf("the cut-off old leader sent %d REPLICAOF commands", n)
		}
		return oneMaster(best, other)
	})
	if n := links.ReplicaOfSent(nl); n == 0 {
		t.Fatalf("the new leader m%d sent no REPLICAOF: the counter is blind", nl+1)
	}

	links.Heal()
	healed := time.Now()
	testenv.Eventually(t, promise, "after the heal every monitor answers the new master", func() error {
		return testenv.AllAnswer(ctx, g.addrs(), best.Addr())
	})
	t.Logf("heal → the old leader answers the new master: %v", time.Since(healed).Round(time.Millisecond))
	testenv.Eventually(t, 15*time.Second, "all three steady at epoch 1", func() error {
		return steady(g.addrs(), best.Addr(), 1)
	})
}
