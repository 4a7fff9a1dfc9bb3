//go:build integration

package probe

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/testing/wait"
)

// since returns the commands of cmds received after mark.
func since(cmds []fakeCmd, mark time.Time) []fakeCmd {
	for i, c := range cmds {
		if c.at.After(mark) {
			return cmds[i:]
		}
	}
	return nil
}

// waitCmds waits until f has received at least count commands name after
// mark and returns them.
func waitCmds(t *testing.T, f *fakeRedis, name string, mark time.Time, count int, d time.Duration) []fakeCmd {
	t.Helper()
	var got []fakeCmd
	wait.Until(t, d, fmt.Sprintf("%d %s after %v", count, name, mark.Format(time.StampMilli)), func() error {
		got = since(f.commands(name), mark)
		if len(got) >= count {
			return nil
		}
		return fmt.Errorf("%d so far", len(got))
	})
	return got
}

// minGap is the smallest gap between two consecutive commands.
func minGap(cmds []fakeCmd) time.Duration {
	gap := time.Duration(1<<63 - 1)
	for i := 1; i < len(cmds); i++ {
		gap = min(gap, cmds[i].at.Sub(cmds[i-1].at))
	}
	return gap
}

func wantPeriods(t *testing.T, p *Prober, addr string, ping, info time.Duration) {
	t.Helper()
	gp, gi, ok := p.NodePeriods(addr)
	if !ok || gp != ping || gi != info {
		t.Fatalf("NodePeriods(%s) = %v, %v, %v; want %v, %v", addr, gp, gi, ok, ping, info)
	}
}

// TestNodePeriods: a node's PING period is the minimum of the global one
// and its own bound; removing the bound goes back to the global one.
func TestNodePeriods(t *testing.T) {
	opt := testOptions()
	opt.PingPeriod, opt.InfoPeriod = time.Second, time.Hour
	f := newFakeRedis(t, "+PONG")
	p := newProber(t, opt)
	p.Watch(f.addr(), Auth{})
	waitObs(t, p, f.addr(), 5*time.Second, "PONG", func(o Observation) bool { return o.Connected })
	wantPeriods(t, p, f.addr(), time.Second, time.Hour)
	if p.SetNodePeriods("127.0.0.1:1", time.Millisecond, 0) {
		t.Fatal("SetNodePeriods of an unwatched node reported true")
	}
	if _, _, ok := p.NodePeriods("127.0.0.1:1"); ok {
		t.Fatal("NodePeriods of an unwatched node reported ok")
	}

	const bound = 20 * time.Millisecond
	if !p.SetNodePeriods(f.addr(), bound, 0) {
		t.Fatal("SetNodePeriods of a watched node reported false")
	}
	wantPeriods(t, p, f.addr(), bound, time.Hour)
	mark := time.Now()
	pings := waitCmds(t, f, "PING", mark, 20, 5*time.Second) // at 1s: 5 s would allow 6
	if gap := minGap(pings); gap < bound/2 {
		t.Fatalf("PINGs %v apart with a %v period", gap, bound)
	}

	// The global period, when lower, wins; when higher, the bound does.
	p.SetPeriods(10*time.Millisecond, 0)
	wantPeriods(t, p, f.addr(), 10*time.Millisecond, time.Hour)
	p.SetPeriods(time.Second, 0)
	wantPeriods(t, p, f.addr(), bound, time.Hour)

	// Without the bound: back to one PING a second.
	p.SetNodePeriods(f.addr(), 0, 0)
	wantPeriods(t, p, f.addr(), time.Second, time.Hour)
	pings = waitCmds(t, f, "PING", time.Now(), 2, 5*time.Second)
	if gap := pings[1].at.Sub(pings[0].at); gap < time.Second/2 {
		t.Fatalf("PINGs %v apart after the bound was removed (global period 1s)", gap)
	}
}

// TestUrgentMode: SetUrgent bounds a node's periods by the urgent ones
// (INFO replication every UrgentInfoPeriod) and turning it off restores
// them; other nodes are not affected.
func TestUrgentMode(t *testing.T) {
	opt := testOptions()
	opt.PingPeriod, opt.InfoPeriod, opt.FullInfoPeriod = time.Second, 10*time.Second, time.Hour
	opt.UrgentPingPeriod, opt.UrgentInfoPeriod = 20*time.Millisecond, 50*time.Millisecond
	f, other := newFakeRedis(t, "+PONG"), newFakeRedis(t, "+PONG")
	p := newProber(t, opt)
	p.Watch(f.addr(), Auth{})
	p.Watch(other.addr(), Auth{})
	waitObs(t, p, f.addr(), 5*time.Second, "PONG and INFO", func(o Observation) bool { return o.Connected && !o.InfoAt.IsZero() })
	wantPeriods(t, p, f.addr(), time.Second, 10*time.Second)

	if p.SetUrgent("127.0.0.1:1", true) {
		t.Fatal("SetUrgent of an unwatched node reported true")
	}
	p.SetUrgent(f.addr(), true)
	wantPeriods(t, p, f.addr(), 20*time.Millisecond, 50*time.Millisecond)
	wantPeriods(t, p, other.addr(), time.Second, 10*time.Second)
	p.SetNodePeriods(f.addr(), 200*time.Millisecond, 0) // urgent is lower still
	wantPeriods(t, p, f.addr(), 20*time.Millisecond, 50*time.Millisecond)

	mark := time.Now()
	infos := waitCmds(t, f, "INFO", mark, 10, 5*time.Second) // at 10 s: none
	for _, c := range infos {
		if !slices.Equal(c.args, []string{"replication"}) {
			t.Fatalf("urgent INFO %q, want INFO replication", c.args)
		}
	}
	waitCmds(t, f, "PING", mark, 20, 5*time.Second)
	if n := len(since(other.commands("INFO"), mark)); n > 1 {
		t.Fatalf("the node not in urgent mode got %d INFOs", n)
	}

	p.SetUrgent(f.addr(), false)
	wantPeriods(t, p, f.addr(), 200*time.Millisecond, 10*time.Second)
	pings := waitCmds(t, f, "PING", time.Now(), 3, 5*time.Second)
	if gap := minGap(pings); gap < 100*time.Millisecond {
		t.Fatalf("PINGs %v apart after urgent mode ended (period 200ms)", gap)
	}
}
