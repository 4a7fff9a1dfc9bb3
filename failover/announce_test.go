package failover

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/testing/wait"
	"github.com/raftsentinel/raftsentinel/state"
)

// tableResolver answers from a table; a missing name is an error.
type tableResolver struct {
	mu    sync.Mutex
	names map[string][]netip.Addr
	calls int
}

func (r *tableResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	ips, ok := r.names[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	return ips, nil
}

func (r *tableResolver) set(host string, ips ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var as []netip.Addr
	for _, s := range ips {
		as = append(as, netip.MustParseAddr(s))
	}
	if as == nil {
		delete(r.names, host)
		return
	}
	r.names[host] = as
}

func TestAnnouncerResolvesHostnames(t *testing.T) {
	var st atomic.Pointer[state.State]
	st.Store(&state.State{Masters: map[string]*state.Master{
		"m": {Name: "m", Addr: state.Addr{Host: "redis-0.redis", Port: 6379},
			Replicas: []state.Addr{{Host: "10.0.0.7", Port: 6379}, {Host: "redis-1.redis", Port: 6380}}},
	}})
	res := &tableResolver{names: map[string][]netip.Addr{}}
	// IPv6 first in the answer: the IPv4 address is still the one announced.
	res.set("redis-0.redis", "fd00::5", "10.0.0.5")
	res.set("redis-1.redis", "fd00::6")
	a := newAnnouncer(st.Load, res, slog.New(slog.DiscardHandler))

	if !a.mayWait() {
		t.Fatal("mayWait: hostnames of the state are not resolved yet, so a reply may wait")
	}
	master := state.Addr{Host: "redis-0.redis", Port: 6379}
	unknown := state.Addr{Host: "nosuch.redis", Port: 6379}
	if got := a.addr(unknown); got != unknown {
		t.Fatalf("a name that does not resolve: got %v, want it as configured", got)
	}
	failedCalls := res.calls
	a.addr(unknown)
	if res.calls != failedCalls {
		t.Fatal("a failed name must not be looked up on every reply")
	}
	// The first meeting resolves at once.
	if got, want := a.addr(master), (state.Addr{Host: "10.0.0.5", Port: 6379}); got != want {
		t.Fatalf("first meeting: announced %v, want %v", got, want)
	}
	calls := res.calls
	a.addr(master)
	if res.calls != calls {
		t.Fatal("a resolved name must be served from the cache, not looked up again")
	}
	if got := stateHostnames(st.Load()); !reflect.DeepEqual(got, []string{"redis-0.redis", "redis-1.redis"}) {
		t.Fatalf("stateHostnames = %v", got)
	}

	a.resolveAll(context.Background())
	if a.mayWait() {
		t.Fatal("mayWait after every hostname of the state resolved")
	}
	if got, want := a.addr(master), (state.Addr{Host: "10.0.0.5", Port: 6379}); got != want {
		t.Fatalf("announced %v, want %v", got, want)
	}
	if got, want := a.addr(state.Addr{Host: "redis-1.redis", Port: 6380}), (state.Addr{Host: "fd00::6", Port: 6380}); got != want {
		t.Fatalf("IPv6-only name: announced %v, want %v", got, want)
	}
	ip := state.Addr{Host: "10.0.0.7", Port: 6379}
	if got := a.addr(ip); got != ip {
		t.Fatalf("an IP address must be announced as it is, got %v", got)
	}
	if got, want := replicaInst(state.Addr{Host: "redis-1.redis", Port: 6380}, "m", master).format(a),
		"slave [fd00::6]:6380 fd00::6 6380 @ m 10.0.0.5 6379"; got != want {
		t.Fatalf("replicaInst = %q, want %q", got, want)
	}
	if got, want := switchInst("m", master, ip).format(a), "m 10.0.0.5 6379 10.0.0.7 6379"; got != want {
		t.Fatalf("switchMasterPayload = %q, want %q", got, want)
	}

	// A failed lookup keeps the last address; a new one replaces it.
	res.set("redis-0.redis")
	a.resolveAll(context.Background())
	if got := a.addr(master).Host; got != "10.0.0.5" {
		t.Fatalf("after a failed lookup: %q, want the last resolved 10.0.0.5", got)
	}
	res.set("redis-0.redis", "10.0.0.9")
	a.resolveAll(context.Background())
	if got := a.addr(master).Host; got != "10.0.0.9" {
		t.Fatalf("after the name moved: %q, want 10.0.0.9", got)
	}

	// announce-hostnames yes: names as configured.
	next := *st.Load()
	next.Config = map[string]string{"announce-hostnames": "yes"}
	st.Store(&next)
	if got := a.addr(master); got != master {
		t.Fatalf("announce-hostnames yes: got %v, want %v", got, master)
	}
	if got, want := masterInst("m", master).format(a), "master m redis-0.redis 6379"; got != want {
		t.Fatalf("masterInst = %q, want %q", got, want)
	}
}

func TestAnnouncerNilIsIdentity(t *testing.T) {
	var a *announcer
	n := state.Addr{Host: "redis-0", Port: 1}
	if a.addr(n) != n || masterInst("m", n).format(a) != "master m redis-0 1" {
		t.Fatal("a nil announcer must announce addresses as they are")
	}
}

func TestAnnouncerRunStopsWithContext(t *testing.T) {
	st := &state.State{Masters: map[string]*state.Master{"m": {Name: "m", Addr: state.Addr{Host: "h", Port: 1}}}}
	res := &tableResolver{names: map[string][]netip.Addr{}}
	res.set("h", "192.0.2.1")
	a := newAnnouncer(func() *state.State { return st }, res, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.run(ctx); close(done) }()
	waitFor(t, func() bool { return a.addr(state.Addr{Host: "h", Port: 1}).Host == "192.0.2.1" })
	cancel()
	<-done
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	wait.True(t, 10*time.Second, "condition", cond)
}
