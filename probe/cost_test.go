//go:build integration

package probe

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/wait"
)

// TestHungNodeSDownBound: with the global PING period at 1s, a node
// bounded to PingBound(D) that hangs (SIGSTOP: its connections stay open)
// has its oldest unanswered PING sent within that period after the hang,
// so it is subjectively down (the PING older than D) within D + the
// period, not D + 1s.
func TestHungNodeSDownBound(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	const downAfter = time.Second
	period := PingBound(downAfter)
	if period != 100*time.Millisecond || PingBound(5*time.Second) != 500*time.Millisecond || PingBound(time.Minute) != time.Second {
		t.Fatalf("PingBound: %v, %v, %v", period, PingBound(5*time.Second), PingBound(time.Minute))
	}
	opt := testOptions()
	opt.PingPeriod, opt.InfoPeriod = time.Second, time.Second
	s := startRedis(t, ctx, redisproc.Options{})
	p := newProber(t, opt)
	p.Watch(s.Addr(), Auth{})
	p.SetNodePeriods(s.Addr(), period, 0)
	wantPeriods(t, p, s.Addr(), period, time.Second)
	waitObs(t, p, s.Addr(), 5*time.Second, "healthy", healthy)

	stopped := time.Now()
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Resume() })
	o, took := waitObs(t, p, s.Addr(), 10*time.Second, "a PING unanswered for down-after", func(o Observation) bool {
		return !o.LastPingSent.IsZero() && time.Since(o.LastPingSent) > downAfter
	})
	lag := o.LastPingSent.Sub(stopped)
	t.Logf("SIGSTOP -> PING unanswered for %v after %v; the first unanswered PING %v after the stop (period %v)", downAfter, took, lag, period)
	// Scheduling slack on a loaded machine: the bound is the period.
	if lag > period+100*time.Millisecond {
		t.Fatalf("the first unanswered PING was sent %v after the hang, want within the period %v", lag, period)
	}
	if o.Connected {
		t.Fatalf("a hung node shows connected: %+v", o)
	}
}

// TestKilledNodeFlaggedFast: with PING and INFO every 10s, a killed node
// is seen as disconnected (link broken) within milliseconds: its probe
// connection closes, and the PING sent at once on a new one is refused.
func TestKilledNodeFlaggedFast(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	opt := testOptions()
	opt.PingPeriod, opt.InfoPeriod = 10*time.Second, 10*time.Second
	s := startRedis(t, ctx, redisproc.Options{})
	p := newProber(t, opt)
	p.Watch(s.Addr(), Auth{})
	waitObs(t, p, s.Addr(), 5*time.Second, "healthy", healthy)
	waitWatched(t, s.Addr())
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	o, took := waitObs(t, p, s.Addr(), 5*time.Second, "link broken", func(o Observation) bool { return !o.Connected && o.LinkBroken })
	t.Logf("SIGKILL -> link broken after %v (periods 10s); error %q", took, o.LastError)
	if took > 500*time.Millisecond {
		t.Fatalf("a killed node took %v to be flagged", took)
	}
}

// proberGoroutines counts the goroutines running the prober's link
// (per node) and scheduler code.
func proberGoroutines() (links, schedulers int) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		switch {
		case strings.Contains(g, "probe.(*Prober).link("):
			links++
		case strings.Contains(g, "probe.(*scheduler).run("):
			schedulers++
		}
	}
	return links, schedulers
}

// waitGoroutines waits until the prober's goroutines number links and
// schedulers (a goroutine that signalled its end may still be finishing).
func waitGoroutines(t *testing.T, what string, links, schedulers int) {
	t.Helper()
	wait.Until(t, 5*time.Second, what, func() error {
		if l, s := proberGoroutines(); l != links || s != schedulers {
			return fmt.Errorf("%d link and %d scheduler goroutines, want %d and %d", l, s, links, schedulers)
		}
		return nil
	})
}

// TestOneConnectionAndGoroutinePerNode: each healthy node costs one
// connection, kept across probes, and one goroutine, plus one scheduler
// goroutine in all; Unwatch and Close end them.
func TestOneConnectionAndGoroutinePerNode(t *testing.T) {
	const nodes = 10
	opt := testOptions()
	opt.PingPeriod, opt.InfoPeriod, opt.FullInfoPeriod = 20*time.Millisecond, 20*time.Millisecond, 100*time.Millisecond
	p := newProber(t, opt) // Close below, and again (a no-op) at cleanup
	fakes := make([]*fakeRedis, nodes)
	for i := range fakes {
		fakes[i] = newFakeRedis(t, "+PONG")
		p.Watch(fakes[i].addr(), Auth{})
	}
	mark := time.Now()
	for _, f := range fakes {
		waitObs(t, p, f.addr(), 5*time.Second, "PONG", func(o Observation) bool { return o.Connected })
		waitCmds(t, f, "INFO", mark, 10, 5*time.Second) // full and replication ones
		if open, accepted := f.openConns(); open != 1 || accepted != 1 {
			t.Fatalf("%s: %d connections open, %d accepted; want one", f.addr(), open, accepted)
		}
	}
	waitGoroutines(t, "one goroutine per node", nodes, 1)

	for _, f := range fakes[:nodes/2] {
		p.Unwatch(f.addr())
	}
	waitGoroutines(t, "half the nodes unwatched", nodes/2, 1)
	for _, f := range fakes[:nodes/2] {
		wait.True(t, 5*time.Second, f.addr()+": connection closed", func() bool { open, _ := f.openConns(); return open == 0 })
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	waitGoroutines(t, "closed", 0, 0)
}

// TestUnwatchWhileDialing: Unwatch does not wait for a dial that would
// never end, and a node that cannot be dialed costs no goroutine between
// attempts.
func TestUnwatchWhileDialing(t *testing.T) {
	opt := testOptions()
	opt.Timeout = time.Hour // only Unwatch can end the dial
	dialing := make(chan struct{}, 16)
	opt.Dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
		dialing <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	p := newProber(t, opt)
	p.Watch("192.0.2.1:6379", Auth{})
	<-dialing
	start := time.Now()
	p.Unwatch("192.0.2.1:6379")
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Unwatch took %v", d)
	}
	waitGoroutines(t, "unwatched while dialing", 0, 1)

	// Refused dials: the goroutine ends with each attempt.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	q := newProber(t, testOptions())
	q.Watch(dead, Auth{})
	o, _ := waitObs(t, q, dead, 5*time.Second, "refused", func(o Observation) bool { return o.LinkBroken && o.InfoError != "" })
	if !strings.Contains(o.LastError, "refused") {
		t.Fatalf("LastError %q", o.LastError)
	}
	waitGoroutines(t, "no link goroutine between dials", 0, 2)
}
