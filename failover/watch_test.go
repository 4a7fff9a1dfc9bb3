package failover

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// sortedWatches orders recorded Watch calls by address.
func sortedWatches(w []watchCall) []watchCall {
	slices.SortFunc(w, func(a, b watchCall) int { return strings.Compare(a.addr, b.addr) })
	return w
}

// watchesEqual compares recorded Watch calls (probe.Auth by Equal).
func watchesEqual(a, b []watchCall) bool {
	return slices.EqualFunc(a, b, func(x, y watchCall) bool { return x.addr == y.addr && x.auth.Equal(y.auth) })
}

func watchesOf(auth probe.Auth, addrs ...state.Addr) []watchCall {
	var out []watchCall
	for _, a := range addrs {
		out = append(out, watchCall{a.String(), auth})
	}
	return sortedWatches(out)
}

// TestSetAuthReachesProber: SENTINEL SET auth-pass / auth-user, once
// committed, are given to the prober for the master and every replica at
// the next step; an unchanged state gives the prober nothing again.
func TestSetAuthReachesProber(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	m := newTestMonitor(st, pr, clk)

	m.step(ctx)
	if got, want := sortedWatches(pr.takeWatches()), watchesOf(probe.Auth{}, addrA, addrB, addrC); !watchesEqual(got, want) {
		t.Fatalf("first step watched %v, want %v", got, want)
	}
	m.step(ctx)
	if got := pr.takeWatches(); len(got) != 0 {
		t.Fatalf("unchanged state re-watched %v", got)
	}

	must(t, st.Apply(ctx, state.Command{Op: state.OpSet, Master: "mymaster",
		Options: []state.SetOption{{Name: "auth-pass", Values: []string{"new"}}}}))
	m.step(ctx)
	if got, want := sortedWatches(pr.takeWatches()), watchesOf(probe.Auth{Pass: "new"}, addrA, addrB, addrC); !watchesEqual(got, want) {
		t.Fatalf("after SET auth-pass: %v, want %v", got, want)
	}

	must(t, st.Apply(ctx, state.Command{Op: state.OpSet, Master: "mymaster",
		Options: []state.SetOption{{Name: "auth-user", Values: []string{"sentinel"}}}}))
	m.step(ctx)
	if got, want := sortedWatches(pr.takeWatches()), watchesOf(probe.Auth{User: "sentinel", Pass: "new"}, addrA, addrB, addrC); !watchesEqual(got, want) {
		t.Fatalf("after SET auth-user: %v, want %v", got, want)
	}
	m.step(ctx)
	if got := pr.takeWatches(); len(got) != 0 {
		t.Fatalf("unchanged credentials re-watched %v", got)
	}
}

// TestSetRenameCommandReachesProber: SENTINEL SET rename-command, once
// committed, re-watches the master and every replica with the new renames
// (as a credentials change does); renaming a command back to its own name
// removes the rename and re-watches again; an unchanged state gives the
// prober nothing.
func TestSetRenameCommandReachesProber(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	m := newTestMonitor(st, pr, clk)
	m.step(ctx)
	pr.takeWatches()

	set := func(from, to string) {
		t.Helper()
		must(t, st.Apply(ctx, state.Command{Op: state.OpSet, Master: "mymaster",
			Options: []state.SetOption{{Name: "rename-command", Values: []string{from, to}}}}))
		m.step(ctx)
	}
	set("PING", "xping")
	want := watchesOf(probe.Auth{Renames: map[string]string{"ping": "xping"}}, addrA, addrB, addrC)
	if got := sortedWatches(pr.takeWatches()); !watchesEqual(got, want) {
		t.Fatalf("after SET rename-command ping: %v, want %v", got, want)
	}
	m.step(ctx)
	if got := pr.takeWatches(); len(got) != 0 {
		t.Fatalf("unchanged renames re-watched %v", got)
	}
	set("replicaof", "xrepl")
	want = watchesOf(probe.Auth{Renames: map[string]string{"ping": "xping", "replicaof": "xrepl"}}, addrA, addrB, addrC)
	if got := sortedWatches(pr.takeWatches()); !watchesEqual(got, want) {
		t.Fatalf("after SET rename-command replicaof: %v, want %v", got, want)
	}
	set("ping", "PING")
	want = watchesOf(probe.Auth{Renames: map[string]string{"replicaof": "xrepl"}}, addrA, addrB, addrC)
	got := sortedWatches(pr.takeWatches())
	if !watchesEqual(got, want) {
		t.Fatalf("after renaming ping back: %v, want %v", got, want)
	}
	// The prober's copy is its own: a later change of the state does not
	// reach a value it was given.
	given := got[0].auth
	set("info", "xinfo")
	if _, ok := given.Renames["info"]; ok {
		t.Fatalf("the prober's Auth shares the committed map: %v", given.Renames)
	}
}

// TestRestartedMonitorUsesCommittedAuth: a monitor started on a state that
// already holds credentials set by SENTINEL SET probes with those, not
// with the ones of its configuration file.
func TestRestartedMonitorUsesCommittedAuth(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	must(t, st.Apply(ctx, state.Command{Op: state.OpSet, Master: "mymaster",
		Options: []state.SetOption{{Name: "auth-pass", Values: []string{"committed"}}}}))
	configured := state.Master{Name: "mymaster", Addr: addrA, Quorum: 2, DownAfter: time.Second, AuthPass: "configured"}
	m := New(st, pr, Options{Self: state.Monitor{ID: "m1", RunID: "m1"}, Now: clk.now, Masters: []state.Master{configured}})
	m.step(ctx)
	if got, want := sortedWatches(pr.takeWatches()), watchesOf(probe.Auth{Pass: "committed"}, addrA, addrB, addrC); !watchesEqual(got, want) {
		t.Fatalf("restarted monitor watched %v, want %v", got, want)
	}
}

// blockingUnwatch is a prober whose Unwatch waits for release, as the real
// one waits for a node's goroutines.
type blockingUnwatch struct {
	*fakeProber
	entered chan string
	release chan struct{}
}

func (p *blockingUnwatch) Unwatch(a string) {
	p.entered <- a
	<-p.release
}

// TestUnwatchDoesNotBlockReplies: while the brain unwatches a node (the
// prober waits on its goroutines), SDown — which the RESP event loop calls
// for every SENTINEL MASTER/REPLICAS reply — still answers at once.
func TestUnwatchDoesNotBlockReplies(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	bp := &blockingUnwatch{fakeProber: pr, entered: make(chan string, 1), release: make(chan struct{})}
	m := newTestMonitor(st, bp, clk)
	m.step(ctx)
	must(t, st.Apply(ctx, state.Command{Op: state.OpRemove, Master: "mymaster"}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.tick(ctx, st.State(), clk.now())
	}()
	<-bp.entered // the brain is inside Unwatch
	answered := make(chan struct{})
	go func() {
		m.SDown(addrA.String())
		close(answered)
	}()
	select {
	case <-answered:
	case <-time.After(5 * time.Second):
		close(bp.release)
		t.Fatal("SDown waited for Unwatch: the RESP event loop would block on network I/O")
	}
	close(bp.release)
	for range 2 { // the other two nodes of the removed master
		<-bp.entered
	}
	<-done
}
