package discovery

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/raftsentinel/raftsentinel/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHelloRoundTripAndSentinelShape(t *testing.T) {
	h := Hello{IP: "10.0.0.1", Port: 26379, RunID: "abc", CurrentEpoch: 3, MasterName: "mymaster", MasterIP: "10.0.0.2",
		MasterPort: 6379, ConfigEpoch: 2, Raftsentinel: true, NodeID: "abc", RaftAddr: "10.0.0.1:36379", HTTPAddr: "10.0.0.1:36380", Group: "g1"}
	got, err := ParseHello(h.Format())
	if err != nil || got != h {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	// Redis Sentinel parses only hellos of exactly 8 fields: ours must not be.
	if n := len(strings.Split(h.Format(), ",")); n == 8 {
		t.Fatalf("a raftsentinel hello has 8 fields: Redis Sentinel would parse it")
	}
	s, err := ParseHello("127.0.0.1,26379,0123456789abcdef0123456789abcdef01234567,0,mymaster,127.0.0.1,6379,0")
	if err != nil || s.Raftsentinel || s.Port != 26379 || s.MasterPort != 6379 {
		t.Fatalf("Sentinel hello: %+v %v", s, err)
	}
	for _, bad := range []string{"", "a,b,c", "1,x,id,0,m,h,1,0", "1,2,id,0,m,h,1,0,other,a,b,c,d", "h,1,id,0,m,h,1,0,raftsentinel1,,r,h,g"} {
		if _, err := ParseHello(bad); err == nil {
			t.Errorf("ParseHello(%q) accepted", bad)
		}
	}
}

type fakeStore struct {
	mu         sync.Mutex
	servers    map[string]string
	leader     bool
	bootstraps int
	proposed   []state.Command
	state      *state.State
}

func (s *fakeStore) HasGroup() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.servers) > 0 }
func (s *fakeStore) Bootstrap(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.servers) > 0 {
		return quorum.ErrHasState
	}
	s.bootstraps++
	s.servers = map[string]string{"a": "ra"}
	return nil
}
func (s *fakeStore) IsLeader() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.leader }
func (s *fakeStore) Servers() (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.servers {
		out[k] = v
	}
	return out, nil
}
func (s *fakeStore) Propose(_ context.Context, c state.Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proposed = append(s.proposed, c)
	delete(s.servers, c.MonitorID)
	return nil
}
func (s *fakeStore) State() *state.State {
	if s.state != nil {
		return s.state
	}
	return &state.State{Masters: map[string]*state.Master{}, Monitors: map[string]*state.Monitor{}}
}

type fakeBus struct {
	mu        sync.Mutex
	watched   map[string]bool
	published []string
	ch        chan probe.HelloMessage
}

func (b *fakeBus) Watch(a string, _ probe.Auth) { b.mu.Lock(); b.watched[a] = true; b.mu.Unlock() }
func (b *fakeBus) Unwatch(a string)             { b.mu.Lock(); delete(b.watched, a); b.mu.Unlock() }
func (b *fakeBus) Watched() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for a := range b.watched {
		out = append(out, a)
	}
	return out
}
func (b *fakeBus) Publish(_ context.Context, _, p string) error {
	b.mu.Lock()
	b.published = append(b.published, p)
	b.mu.Unlock()
	return nil
}
func (b *fakeBus) Messages() <-chan probe.HelloMessage { return b.ch }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

const masterNode = "10.0.0.2:6379"

func newTest(id string, expected int) (*Discoverer, *fakeStore, *fakeBus, *clock, *[]string) {
	st := &fakeStore{}
	bus := &fakeBus{watched: map[string]bool{}, ch: make(chan probe.HelloMessage)}
	clk := &clock{t: time.Unix(1000, 0)}
	var joined []string
	d := New(st, bus, Options{
		Self:     state.Monitor{ID: id, RunID: id, RaftAddr: "r-" + id, HTTPAddr: "h-" + id, Announce: state.Addr{Host: "10.0.0.1", Port: 26379}},
		Masters:  []Master{{Name: "mymaster", Addr: state.Addr{Host: "10.0.0.2", Port: 6379}}},
		Expected: expected, Period: time.Second, Now: clk.now,
		Join: func(_ context.Context, httpAddr string, _ state.Monitor) error {
			joined = append(joined, httpAddr)
			return nil
		},
	})
	d.started = clk.now()
	return d, st, bus, clk, &joined
}

func hello(id, group string) probe.HelloMessage {
	h := Hello{IP: "10.0.0.9", Port: 26379, RunID: id, MasterName: "mymaster", MasterIP: "10.0.0.2", MasterPort: 6379,
		Raftsentinel: true, NodeID: id, RaftAddr: "r-" + id, HTTPAddr: "h-" + id, Group: group}
	return probe.HelloMessage{Node: masterNode, Payload: h.Format()}
}

// TestBootstrapOnlyLowestAfterHearingOthers: the lowest id bootstraps once
// it has heard the expected others, its own echo, and listened for Settle;
// a higher id never does; a monitor with state never does.
func TestBootstrapOnlyLowestAfterHearingOthers(t *testing.T) {
	ctx := context.Background()
	d, st, _, clk, _ := newTest("a", 3)
	d.step(ctx) // watches the master
	d.receive(hello("a", ""))
	d.receive(hello("b", ""))
	d.step(ctx)
	if st.bootstraps != 0 {
		t.Fatal("bootstrapped before settling and hearing enough monitors")
	}
	clk.add(3 * time.Second)
	d.receive(hello("a", ""))
	d.receive(hello("b", ""))
	d.step(ctx)
	if st.bootstraps != 0 {
		t.Fatal("bootstrapped having heard 1 of the 2 expected others")
	}
	d.receive(hello("c", ""))
	d.step(ctx)
	if st.bootstraps != 1 || d.Group() != "a" {
		t.Fatalf("lowest id did not bootstrap: %d, group %q", st.bootstraps, d.Group())
	}
	d.step(ctx)
	if st.bootstraps != 1 {
		t.Fatal("bootstrapped twice")
	}

	// Not the lowest: never bootstraps, whatever it hears.
	d2, st2, _, clk2, _ := newTest("b", 3)
	d2.step(ctx)
	clk2.add(5 * time.Second)
	for _, id := range []string{"a", "b", "c"} {
		d2.receive(hello(id, ""))
	}
	d2.step(ctx)
	if st2.bootstraps != 0 {
		t.Fatal("a monitor that is not the lowest bootstrapped")
	}

	// Without its own hello coming back (the channel does not work for
	// it), the lowest waits.
	d3, st3, _, clk3, _ := newTest("a", 3)
	d3.step(ctx)
	clk3.add(5 * time.Second)
	d3.receive(hello("b", ""))
	d3.receive(hello("c", ""))
	d3.step(ctx)
	if st3.bootstraps != 0 {
		t.Fatal("bootstrapped without hearing its own hello")
	}
}

// TestJoinsAnnouncedGroup: a fresh monitor that hears a grouped hello joins
// through that monitor and never bootstraps, even if it is the lowest.
func TestJoinsAnnouncedGroup(t *testing.T) {
	ctx := context.Background()
	d, st, _, clk, joined := newTest("a", 3)
	d.step(ctx)
	clk.add(5 * time.Second)
	d.receive(hello("a", ""))
	d.receive(hello("b", ""))
	d.receive(hello("c", "c"))
	d.step(ctx)
	if st.bootstraps != 0 || len(*joined) != 1 || (*joined)[0] != "h-c" || d.Group() != "c" {
		t.Fatalf("bootstraps %d, joined %v, group %q", st.bootstraps, *joined, d.Group())
	}
}

// TestRefusesWhileRedisSentinelHeard: an 8-field hello on the master's
// channel refuses the master until none was heard for ForeignWindow.
func TestRefusesWhileRedisSentinelHeard(t *testing.T) {
	ctx := context.Background()
	d, _, _, clk, _ := newTest("a", 3)
	var events []string
	d.opt.Publish = func(ch, msg string) { events = append(events, ch+" "+msg) }
	d.step(ctx)
	if r := d.Refused("mymaster"); r != "" {
		t.Fatalf("refused with no Sentinel: %s", r)
	}
	for range 2 {
		d.receive(probe.HelloMessage{Node: masterNode, Payload: "10.0.0.7,26379,0123456789abcdef0123456789abcdef01234567,0,mymaster,10.0.0.2,6379,0"})
	}
	if r := d.Refused("mymaster"); !strings.Contains(r, "10.0.0.7:26379") {
		t.Fatalf("not refused: %q", r)
	}
	want := "+redis-sentinel-present sentinel 0123456789abcdef0123456789abcdef01234567 10.0.0.7 26379 @ mymaster 10.0.0.2 6379"
	if len(events) != 1 || events[0] != want {
		t.Fatalf("events %q, want once %q", events, want)
	}
	clk.add(11 * time.Second)
	if r := d.Refused("mymaster"); r != "" {
		t.Fatalf("still refused after the window: %s", r)
	}
}

// TestForgetsSilentMembers: the leader removes a member unheard (no hello,
// no registration) for ForgetAfter, but never below a majority of Expected.
func TestForgetsSilentMembers(t *testing.T) {
	ctx := context.Background()
	d, st, _, clk, _ := newTest("a", 3)
	st.servers = map[string]string{"a": "ra", "b": "rb", "c": "rc", "d": "rd"}
	st.leader = true
	d.step(ctx)
	d.receive(hello("b", "a"))
	clk.add(4 * time.Minute)
	d.receive(hello("b", "a"))
	d.step(ctx)
	if len(st.proposed) != 0 {
		t.Fatalf("removed before forget-after: %v", st.proposed)
	}
	clk.add(2 * time.Minute)
	d.step(ctx)
	// c and d silent for 6m; b heard 2m ago. Removing both leaves 2 of
	// expected 3: still a majority.
	if len(st.proposed) != 2 {
		t.Fatalf("proposed %v, want c and d removed", st.proposed)
	}
	for _, c := range st.proposed {
		if c.Op != state.OpLeave || (c.MonitorID != "c" && c.MonitorID != "d") {
			t.Fatalf("unexpected proposal %+v", c)
		}
	}
	clk.add(10 * time.Minute)
	d.step(ctx)
	if len(st.proposed) != 2 {
		t.Fatalf("shrunk below a majority of the expected size: %v", st.proposed)
	}

	// c comes back (its hellos announce our group): the leader adds it.
	d.receive(hello("c", "a"))
	d.step(ctx)
	if len(st.proposed) != 3 || st.proposed[2].Op != state.OpJoin || st.proposed[2].Monitor.ID != "c" || st.proposed[2].Monitor.RaftAddr != "r-c" {
		t.Fatalf("a removed monitor heard again was not added back: %+v", st.proposed)
	}
}

// TestSeedsKnownReplicas: once in a group, the file's known replicas that
// the state lacks are committed once.
func TestSeedsKnownReplicas(t *testing.T) {
	ctx := context.Background()
	d, st, _, _, _ := newTest("a", 3)
	r1, r2 := state.Addr{Host: "10.0.0.3", Port: 6379}, state.Addr{Host: "10.0.0.4", Port: 6379}
	d.opt.Masters[0].Replicas = []state.Addr{r1, r2}
	d.step(ctx) // no group: nothing
	if len(st.proposed) != 0 {
		t.Fatalf("proposed without a group: %v", st.proposed)
	}
	st.servers = map[string]string{"a": "ra"}
	st.state = &state.State{Masters: map[string]*state.Master{"mymaster": {Name: "mymaster",
		Addr: state.Addr{Host: "10.0.0.2", Port: 6379}, Replicas: []state.Addr{r1}}}, Monitors: map[string]*state.Monitor{}}
	d.step(ctx)
	d.step(ctx)
	if len(st.proposed) != 1 || st.proposed[0].Op != state.OpReplicas || len(st.proposed[0].Replicas) != 1 || st.proposed[0].Replicas[0] != r2 {
		t.Fatalf("proposed %+v, want one OpReplicas with %v", st.proposed, r2)
	}
}

// TestMemberLearnsGroup: a member that does not know its group's id (its
// join's reply was lost) announces UnknownGroup, never an id of its own,
// and learns the id from the other members' hellos.
func TestMemberLearnsGroup(t *testing.T) {
	ctx := context.Background()
	d, st, bus, _, _ := newTest("z", 3)
	st.servers = map[string]string{"a": "ra", "z": "rz"}
	d.step(ctx)
	last := func() Hello {
		bus.mu.Lock()
		defer bus.mu.Unlock()
		h, err := ParseHello(bus.published[len(bus.published)-1])
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := last(); h.Group != UnknownGroup || d.Group() != "" {
		t.Fatalf("announced group %q, recorded %q; want %q and none", h.Group, d.Group(), UnknownGroup)
	}
	d.receive(hello("x", "other")) // not a member of our configuration: ignored
	d.receive(hello("a", "a"))
	d.step(ctx)
	if h := last(); h.Group != "a" || d.Group() != "a" {
		t.Fatalf("announced %q, recorded %q, want a", h.Group, d.Group())
	}
}

// TestSeedsFileConfig: once in a group, the file's resolve-hostnames and
// announce-hostnames are committed, except a key the state already has a
// value for (set at run time: that value wins).
func TestSeedsFileConfig(t *testing.T) {
	ctx := context.Background()
	d, st, _, _, _ := newTest("a", 3)
	d.opt.Config = [][2]string{{"resolve-hostnames", "yes"}, {"announce-hostnames", "yes"}}
	st.servers = map[string]string{"a": "ra"}
	st.state = &state.State{Masters: map[string]*state.Master{"mymaster": {Name: "mymaster",
		Addr: state.Addr{Host: "10.0.0.2", Port: 6379}}}, Monitors: map[string]*state.Monitor{},
		Config: map[string]string{"announce-hostnames": "no"}}
	d.step(ctx)
	var sets []state.Command
	for _, c := range st.proposed {
		if c.Op == state.OpConfigSet {
			sets = append(sets, c)
		}
	}
	if len(sets) != 1 || len(sets[0].Config) != 1 || sets[0].Config[0] != [2]string{"resolve-hostnames", "yes"} {
		t.Fatalf("proposed %+v, want one OpConfigSet of resolve-hostnames yes only", st.proposed)
	}
}
