package failover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// fakeStore is a single-node "raft" over the real state model: Apply
// stamps the entry with the fake clock, as a leader would, and publishes
// a frozen copy of the state after each entry, as the FSM does. Pure unit
// tests only.
type fakeStore struct {
	mu     sync.Mutex
	live   *state.State
	frozen atomic.Pointer[state.State]
	index  uint64
	now    func() time.Time
	leader bool
	eff    chan state.Effect
	ops    []state.Op
}

var errNotLeader = errors.New("fake store: not the leader")

func newFakeStore(now func() time.Time) *fakeStore {
	s := &fakeStore{live: state.NewState(), now: now, leader: true, eff: make(chan state.Effect, 1024)}
	s.frozen.Store(s.live.Clone())
	return s
}

func (s *fakeStore) State() *state.State { return s.frozen.Load() }
func (s *fakeStore) View(fn func(*state.State)) {
	fn(s.frozen.Load())
}
func (s *fakeStore) Propose(ctx context.Context, c state.Command) error { return s.Apply(ctx, c) }

// Apply commits c through its wire form, as Raft carries it.
func (s *fakeStore) Apply(_ context.Context, c state.Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.leader {
		return errNotLeader
	}
	b, err := c.Encode()
	if err != nil {
		return err
	}
	if c, err = state.DecodeCommand(b); err != nil {
		return err
	}
	s.index++
	s.ops = append(s.ops, c.Op)
	effects, err := state.Apply(s.live, c, s.now(), s.index)
	s.frozen.Store(s.live.Clone())
	for _, e := range effects {
		s.eff <- e
	}
	return err
}
func (s *fakeStore) Barrier(context.Context) error { return nil }
func (s *fakeStore) MajorityContact() time.Time    { return s.now() }
func (s *fakeStore) Servers() (map[string]string, error) {
	return map[string]string{"m1": "", "m2": "", "m3": ""}, nil
}
func (s *fakeStore) IsLeader() bool                 { s.mu.Lock(); defer s.mu.Unlock(); return s.leader }
func (s *fakeStore) Term() uint64                   { return 1 }
func (s *fakeStore) LeaderChanges() <-chan struct{} { return nil }
func (s *fakeStore) Effects() <-chan state.Effect   { return s.eff }

func (s *fakeStore) count(op state.Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, o := range s.ops {
		if o == op {
			n++
		}
	}
	return n
}

// fakeNode is one scripted Redis node.
type fakeNode struct {
	obs      probe.Observation
	role     probe.Role
	roleErr  error
	cmdErr   error
	promoted int
	pointed  []string
}

type fakeProber struct {
	mu        sync.Mutex
	nodes     map[string]*fakeNode
	paused    map[string]time.Duration
	failovers int
	watches   []watchCall // every Watch, in order
}

// watchCall is one recorded Prober.Watch.
type watchCall struct {
	addr string
	auth probe.Auth
}

func (p *fakeProber) node(a string) *fakeNode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nodes[a]
}
func (p *fakeProber) Watch(a string, auth probe.Auth) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watches = append(p.watches, watchCall{a, auth})
}

// takeWatches returns the Watch calls recorded since the last take.
func (p *fakeProber) takeWatches() []watchCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.watches
	p.watches = nil
	return w
}
func (p *fakeProber) Unwatch(string)    {}
func (p *fakeProber) Watched() []string { return nil }
func (p *fakeProber) Observe(a string) (probe.Observation, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, ok := p.nodes[a]
	if !ok {
		return probe.Observation{}, false
	}
	return n.obs, true
}
func (p *fakeProber) Promote(_ context.Context, a string, _ probe.Auth) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nodes[a]
	if n.cmdErr != nil {
		return n.cmdErr
	}
	n.promoted++
	n.role = probe.Role{Role: "master"}
	n.obs.Role = "master"
	return nil
}
func (p *fakeProber) ReplicaOf(_ context.Context, a string, _ probe.Auth, h string, port int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nodes[a]
	if n.cmdErr != nil {
		return n.cmdErr
	}
	n.pointed = append(n.pointed, fmt.Sprintf("%s:%d", h, port))
	n.role = probe.Role{Role: "slave", MasterHost: h, MasterPort: port, LinkState: "connected"}
	n.obs.Role, n.obs.MasterHost, n.obs.MasterPort = "slave", h, port
	return nil
}
func (p *fakeProber) CoordinatedFailover(_ context.Context, a string, _ probe.Auth, h string, port int, _ time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old, target := p.nodes[a], p.nodes[fmt.Sprintf("%s:%d", h, port)]
	if old.cmdErr != nil || target == nil {
		return errors.New("ERR FAILOVER target is not a replica")
	}
	p.failovers++
	target.role, target.obs.Role = probe.Role{Role: "master"}, "master"
	old.role = probe.Role{Role: "slave", MasterHost: h, MasterPort: port, LinkState: "connected"}
	old.obs.Role, old.obs.MasterHost, old.obs.MasterPort = "slave", h, port
	return nil
}
func (p *fakeProber) AbortFailover(context.Context, string, probe.Auth) error { return nil }
func (p *fakeProber) PauseWrites(_ context.Context, a string, _ probe.Auth, d time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused[a] = d
	return nil
}
func (p *fakeProber) UnpauseWrites(_ context.Context, a string, _ probe.Auth) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.paused, a)
	return nil
}
func (p *fakeProber) Role(_ context.Context, a string, _ probe.Auth) (probe.Role, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nodes[a]
	return n.role, n.roleErr
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	addrA = state.Addr{Host: "10.0.0.1", Port: 6379}
	addrB = state.Addr{Host: "10.0.0.2", Port: 6379}
	addrC = state.Addr{Host: "10.0.0.3", Port: 6379}
)

func healthyReplica(now time.Time, master state.Addr, offset int64) *fakeNode {
	return &fakeNode{
		obs: probe.Observation{Connected: true, LastOKPing: now, InfoAt: now, Role: "slave", Priority: 100,
			ReplOffset: offset, RunID: fmt.Sprint(offset), MasterHost: master.Host, MasterPort: master.Port, MasterLinkUp: true},
		role: probe.Role{Role: "slave", MasterHost: master.Host, MasterPort: master.Port, LinkState: "connected"},
	}
}

// setup commits three members, a master A with replicas B and C.
func setup(t *testing.T, clk *clock) (*fakeStore, *fakeProber) {
	t.Helper()
	st := newFakeStore(clk.now)
	ctx := context.Background()
	for _, id := range []string{"m1", "m2", "m3"} {
		if err := st.Apply(ctx, state.Command{Op: state.OpRegisterMonitor, Monitor: &state.Monitor{ID: id, RunID: id}}); err != nil {
			t.Fatal(err)
		}
	}
	spec := &state.Master{Name: "mymaster", Addr: addrA, Quorum: 2, DownAfter: time.Second, FailoverTimeout: time.Minute, ParallelSyncs: 1}
	must(t, st.Apply(ctx, state.Command{Op: state.OpAddMaster, Spec: spec}))
	must(t, st.Apply(ctx, state.Command{Op: state.OpReplicas, Master: "mymaster", Replicas: []state.Addr{addrB, addrC}}))
	now := clk.now()
	pr := &fakeProber{paused: map[string]time.Duration{}, nodes: map[string]*fakeNode{
		addrA.String(): {obs: probe.Observation{Connected: false, LastPingSent: now.Add(-2 * time.Second), Role: "master"}, roleErr: errors.New("refused"), cmdErr: errors.New("refused")},
		addrB.String(): healthyReplica(now, addrA, 100),
		addrC.String(): healthyReplica(now, addrA, 200), // the best: larger offset
	}}
	return st, pr
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newTestMonitor(st Store, pr Prober, clk *clock) *Brain {
	return New(st, pr, Options{Self: state.Monitor{ID: "m1", RunID: "m1"}, Now: clk.now, ReconfTimeout: time.Second})
}

func TestLeaderFailsOverOnQuorum(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	m := newTestMonitor(st, pr, clk)
	// One fresh opinion: below quorum, nothing happens.
	must(t, st.Apply(ctx, state.Command{Op: state.OpOpinion, Master: "mymaster", MonitorID: "m2", Addr: addrA, Down: true}))
	// A stale opinion (older than the TTL) must not count either.
	clk.add(-10 * time.Second)
	must(t, st.Apply(ctx, state.Command{Op: state.OpOpinion, Master: "mymaster", MonitorID: "m3", Addr: addrA, Down: true}))
	clk.add(10 * time.Second)
	m.leaderStep(ctx, st.State(), clk.now())
	if s := st.State().Masters["mymaster"]; s.ODown || s.Failover != nil {
		t.Fatalf("acted below quorum: odown=%v failover=%+v", s.ODown, s.Failover)
	}
	// This monitor's own SDOWN makes two fresh opinions: ODOWN, failover.
	m.step(ctx)
	m.step(ctx) // the proposal loop is not running: apply the queued opinion by hand
	for _, c := range m.pending {
		must(t, st.Apply(ctx, c))
	}
	m.pending = map[string]state.Command{}
	m.leaderStep(ctx, st.State(), clk.now())
	m.wg.Wait()
	s := st.State().Masters["mymaster"]
	if s.Addr != addrC || s.ConfigEpoch != 1 || s.Failover.Stage != state.StageCompleted {
		t.Fatalf("after failover: addr %v epoch %d failover %+v", s.Addr, s.ConfigEpoch, s.Failover)
	}
	if got := pr.node(addrC.String()).promoted; got != 1 {
		t.Fatalf("best replica promoted %d times", got)
	}
	if got := pr.node(addrB.String()).pointed; len(got) != 1 || got[0] != addrC.String() {
		t.Fatalf("other replica pointed at %v", got)
	}
	// Committed order: odown, start, promoted, completed.
	for _, op := range []state.Op{state.OpODown, state.OpFailoverStart, state.OpFailoverPromoted, state.OpFailoverEnd} {
		if st.count(op) != 1 {
			t.Fatalf("%s committed %d times", op, st.count(op))
		}
	}
}

func TestNoGoodReplicaBlocksAndReports(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	for _, n := range []string{addrB.String(), addrC.String()} {
		pr.nodes[n].obs.Priority = 0
	}
	must(t, st.Apply(ctx, state.Command{Op: state.OpOpinion, Master: "mymaster", MonitorID: "m2", Addr: addrA, Down: true}))
	must(t, st.Apply(ctx, state.Command{Op: state.OpOpinion, Master: "mymaster", MonitorID: "m3", Addr: addrA, Down: true}))
	var pub recordingPublisher
	m := New(st, pr, Options{Self: state.Monitor{ID: "m1"}, Now: clk.now, Publisher: &pub})
	m.leaderStep(ctx, st.State(), clk.now())
	m.leaderStep(ctx, st.State(), clk.now())
	s := st.State().Masters["mymaster"]
	if !s.ODown || s.Failover != nil {
		t.Fatalf("odown %v failover %+v", s.ODown, s.Failover)
	}
	if n := pub.count(EvAbortNoGood); n != 1 {
		t.Fatalf("%s published %d times, want once per episode", EvAbortNoGood, n)
	}
	if !strings.Contains(m.local.Blocked["mymaster"], "replica-priority 0") {
		t.Fatalf("blocking reason %q", m.local.Blocked["mymaster"])
	}
	// A good replica returns: promotion goes ahead.
	pr.mu.Lock()
	pr.nodes[addrB.String()].obs.Priority = 100
	pr.mu.Unlock()
	m.leaderStep(ctx, st.State(), clk.now())
	m.wg.Wait()
	if s := st.State().Masters["mymaster"]; s.Addr != addrB {
		t.Fatalf("addr %v after a good replica returned", s.Addr)
	}
}

func TestNewLeaderResumesStartedFailover(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	// A previous leader committed the start and sent REPLICAOF NO ONE, then died.
	must(t, st.Apply(ctx, state.Command{Op: state.OpFailoverStart, Master: "mymaster", Addr: addrA, To: addrC, FailoverID: "f1"}))
	pr.nodes[addrC.String()].role = probe.Role{Role: "master"}
	m := newTestMonitor(st, pr, clk)
	if err := m.drive(ctx, "mymaster"); err != nil {
		t.Fatal(err)
	}
	s := st.State().Masters["mymaster"]
	if s.Addr != addrC || s.Failover.Stage != state.StageCompleted {
		t.Fatalf("resumed failover: addr %v %+v", s.Addr, s.Failover)
	}
	if n := pr.node(addrC.String()).promoted; n != 0 {
		t.Fatalf("already-promoted replica promoted again (%d)", n)
	}
}

func TestNewLeaderAbortsUnreachableCandidate(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	must(t, st.Apply(ctx, state.Command{Op: state.OpFailoverStart, Master: "mymaster", Addr: addrA, To: addrC, FailoverID: "f1"}))
	pr.nodes[addrC.String()].roleErr = errors.New("i/o timeout")
	pr.nodes[addrC.String()].cmdErr = errors.New("i/o timeout")
	clk.add(6 * time.Second) // past max(2×down-after, 5s) since the start
	m := newTestMonitor(st, pr, clk)
	if err := m.drive(ctx, "mymaster"); err != nil {
		t.Fatal(err)
	}
	s := st.State().Masters["mymaster"]
	if s.Addr != addrA || s.Failover.Stage != state.StageAborted {
		t.Fatalf("addr %v failover %+v", s.Addr, s.Failover)
	}
	// An aborted attempt does not hold back the next one.
	must(t, st.Apply(ctx, state.Command{Op: state.OpFailoverStart, Master: "mymaster", Addr: addrA, To: addrB, FailoverID: "f2"}))
}

func TestReconcileDemotesReturningOldMaster(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	// C is now the master; A came back as an empty master.
	must(t, st.Apply(ctx, state.Command{Op: state.OpFailoverStart, Master: "mymaster", Addr: addrA, To: addrC, FailoverID: "f1"}))
	must(t, st.Apply(ctx, state.Command{Op: state.OpFailoverPromoted, Master: "mymaster", FailoverID: "f1"}))
	must(t, st.Apply(ctx, state.Command{Op: state.OpFailoverEnd, Master: "mymaster", FailoverID: "f1", Stage: state.StageCompleted}))
	now := clk.now()
	pr.nodes[addrC.String()].obs = probe.Observation{Connected: true, LastOKPing: now, InfoAt: now, Role: "master"}
	pr.nodes[addrA.String()] = &fakeNode{obs: probe.Observation{Connected: true, LastOKPing: now, InfoAt: now, Role: "master"}}
	m := newTestMonitor(st, pr, clk)
	m.leaderStep(ctx, st.State(), now) // reconciles: no opinions, no failover in progress
	m.leaderStep(ctx, st.State(), now) // backoff: not twice
	m.wg.Wait()
	if got := pr.node(addrA.String()).pointed; len(got) != 1 || got[0] != addrC.String() {
		t.Fatalf("old master pointed at %v", got)
	}
	// B still followed A: it is repointed too (+fix-slave-config).
	if got := pr.node(addrB.String()).pointed; len(got) != 1 || got[0] != addrC.String() {
		t.Fatalf("stray replica pointed at %v", got)
	}
	// While the current master is unhealthy nothing is reconfigured.
	pr.nodes[addrC.String()].obs.Connected = false
	pr.nodes[addrB.String()].obs.MasterPort = 1
	pr.nodes[addrB.String()].pointed = nil
	clk.add(time.Minute)
	m.leaderStep(ctx, st.State(), clk.now())
	m.wg.Wait()
	if got := pr.node(addrB.String()).pointed; len(got) != 0 {
		t.Fatalf("replica repointed while the master is unhealthy: %v", got)
	}
}

type recordingPublisher struct {
	mu  sync.Mutex
	evs [][2]string
}

func (p *recordingPublisher) Publish(ch, msg string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.evs = append(p.evs, [2]string{ch, msg})
	return 1
}

func (p *recordingPublisher) count(ch string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.evs {
		if e[0] == ch {
			n++
		}
	}
	return n
}

func TestTiltSuspendsOwnOpinions(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	var pub recordingPublisher
	m := New(st, pr, Options{Self: state.Monitor{ID: "m1", RunID: "m1"}, Now: clk.now, Publisher: &pub})
	m.step(ctx)
	m.mu.Lock()
	m.pending = map[string]state.Command{} // drop what the first tick queued
	m.mu.Unlock()
	clk.add(3 * time.Second) // the process stalled
	m.step(ctx)
	if _, on := m.Tilt(); !on || pub.count(EvTilt) != 1 {
		t.Fatalf("tilt on=%v, +tilt published %d times", on, pub.count(EvTilt))
	}
	m.mu.Lock()
	_, queued := m.pending["opinion/mymaster"]
	m.mu.Unlock()
	if queued {
		t.Fatal("a down opinion was proposed in TILT")
	}
	for range 3 {
		clk.add(time.Second)
		m.step(ctx)
	}
	// Ticks 50 ms apart again: TILT ends after the period.
	for range 640 {
		clk.add(50 * time.Millisecond)
		m.step(ctx)
	}
	if _, on := m.Tilt(); on || pub.count(EvTiltCleared) != 1 {
		t.Fatalf("tilt still on=%v, -tilt %d", on, pub.count(EvTiltCleared))
	}
	m.mu.Lock()
	_, queued = m.pending["opinion/mymaster"]
	m.mu.Unlock()
	if !queued {
		t.Fatal("no down opinion after TILT ended although the master is unreachable")
	}
}

func TestMaintenanceBlocksAutomaticFailover(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	must(t, st.Apply(ctx, state.Command{Op: state.OpSet, Master: "mymaster",
		Options: []state.SetOption{{Name: "maintenance", Values: []string{"yes"}}}}))
	for _, id := range []string{"m2", "m3"} {
		must(t, st.Apply(ctx, state.Command{Op: state.OpOpinion, Master: "mymaster", MonitorID: id, Addr: addrA, Down: true}))
	}
	m := newTestMonitor(st, pr, clk)
	m.leaderStep(ctx, st.State(), clk.now())
	m.leaderStep(ctx, st.State(), clk.now())
	if s := st.State().Masters["mymaster"]; !s.ODown || s.Failover != nil {
		t.Fatalf("odown %v failover %+v in maintenance", s.ODown, s.Failover)
	}
	if !strings.HasPrefix(m.local.Blocked["mymaster"], BlockMaintenance) {
		t.Fatalf("blocking reason %q", m.local.Blocked["mymaster"])
	}
	must(t, st.Apply(ctx, state.Command{Op: state.OpSet, Master: "mymaster",
		Options: []state.SetOption{{Name: "maintenance", Values: []string{"no"}}}}))
	m.leaderStep(ctx, st.State(), clk.now())
	m.wg.Wait()
	if s := st.State().Masters["mymaster"]; s.Addr != addrC {
		t.Fatalf("no failover after maintenance ended: %v", s.Addr)
	}
}

func TestCoordinatedSwitchoverUsesFailoverCommand(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	now := clk.now()
	pr.nodes[addrA.String()] = &fakeNode{obs: probe.Observation{Connected: true, LastOKPing: now, InfoAt: now, Role: "master"},
		role: probe.Role{Role: "master"}}
	must(t, st.Apply(ctx, state.Command{Op: state.OpFailoverStart, Master: "mymaster", Addr: addrA, To: addrC,
		FailoverID: "f1", Force: true, Coordinated: true}))
	m := newTestMonitor(st, pr, clk)
	if err := m.drive(ctx, "mymaster"); err != nil {
		t.Fatal(err)
	}
	s := st.State().Masters["mymaster"]
	if s.Addr != addrC || s.Failover.Stage != state.StageCompleted {
		t.Fatalf("switchover: %v %+v", s.Addr, s.Failover)
	}
	if pr.failovers != 1 || pr.node(addrC.String()).promoted != 0 {
		t.Fatalf("FAILOVER sent %d times, REPLICAOF NO ONE %d times", pr.failovers, pr.node(addrC.String()).promoted)
	}
}

func TestMasterRebootDownAfterPeriod(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	must(t, st.Apply(ctx, state.Command{Op: state.OpSet, Master: "mymaster",
		Options: []state.SetOption{{Name: "master-reboot-down-after-period", Values: []string{"1000"}}}}))
	var pub recordingPublisher
	m := New(st, pr, Options{Self: state.Monitor{ID: "m1"}, Now: clk.now, Publisher: &pub})
	a := pr.nodes[addrA.String()]
	set := func(run string, loading bool) {
		pr.mu.Lock()
		now := clk.now()
		a.obs = probe.Observation{Connected: true, LastOKPing: now, InfoAt: now, Role: "master", RunID: run, Loading: loading}
		pr.mu.Unlock()
	}
	set("run-1", false)
	m.step(ctx)
	set("run-2", true) // restarted, loading its dataset
	clk.add(50 * time.Millisecond)
	m.step(ctx)
	if pub.count(EvReboot) != 1 {
		t.Fatalf("+reboot published %d times", pub.count(EvReboot))
	}
	for range 10 { // 500 ms: within the period
		clk.add(50 * time.Millisecond)
		set("run-2", true)
		m.step(ctx)
	}
	if _, down := m.SDown(addrA.String()); down {
		t.Fatal("down before master-reboot-down-after-period")
	}
	for range 12 {
		clk.add(50 * time.Millisecond)
		set("run-2", true)
		m.step(ctx)
	}
	if _, down := m.SDown(addrA.String()); !down {
		t.Fatal("a master still loading after the period is not down")
	}
	clk.add(50 * time.Millisecond)
	set("run-2", false)
	m.step(ctx)
	if _, down := m.SDown(addrA.String()); down {
		t.Fatal("still down after the master answered normally")
	}
}

// TestLateQuorumStillPromotes: the group agreed long after the master died
// (its monitors were down): the replicas' links have been down longer than
// 10 × down-after since the committed judgement, but not since the master
// really went down — the freshest replica is still promoted, while one
// that lost its master long before is not.
func TestLateQuorumStillPromotes(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	pr.nodes[addrB.String()].obs.MasterLinkDownMs = 13_000  // since the kill, 13 s ago
	pr.nodes[addrC.String()].obs.MasterLinkDownMs = 120_000 // lost its master long before
	for _, id := range []string{"m2", "m3"} {
		must(t, st.Apply(ctx, state.Command{Op: state.OpOpinion, Master: "mymaster", MonitorID: id, Addr: addrA, Down: true}))
	}
	m := newTestMonitor(st, pr, clk)
	m.leaderStep(ctx, st.State(), clk.now())
	m.leaderStep(ctx, st.State(), clk.now())
	m.wg.Wait()
	if s := st.State().Masters["mymaster"]; s.Addr != addrB {
		t.Fatalf("addr %v (blocked: %q)", s.Addr, m.local.Blocked["mymaster"])
	}
}

// TestManualFailover: the command toward the replica this monitor would
// promote now, forced past anti-flap; refused for an unknown master,
// without a good replica, and while a failover is in progress.
func TestManualFailover(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	m := newTestMonitor(st, pr, clk)
	if _, err := m.ManualFailover("nosuch", false); !errors.Is(err, state.ErrNoSuchMaster) {
		t.Fatalf("unknown master: %v", err)
	}
	pr.mu.Lock()
	pr.nodes[addrB.String()].obs.Priority, pr.nodes[addrC.String()].obs.Priority = 0, 0
	pr.mu.Unlock()
	if _, err := m.ManualFailover("mymaster", false); !errors.Is(err, state.ErrNoGoodReplica) {
		t.Fatalf("no good replica: %v", err)
	}
	pr.mu.Lock()
	pr.nodes[addrB.String()].obs.Priority, pr.nodes[addrC.String()].obs.Priority = 100, 100
	pr.mu.Unlock()
	cmd, err := m.ManualFailover("mymaster", true)
	if err != nil || cmd.Op != state.OpFailoverStart || cmd.Addr != addrA || cmd.To != addrC || !cmd.Force ||
		!cmd.Coordinated || cmd.MonitorID != "m1" || len(cmd.FailoverID) != 16 {
		t.Fatalf("manual failover: %+v %v", cmd, err)
	}
	must(t, st.Apply(ctx, cmd))
	if _, err := m.ManualFailover("mymaster", false); !errors.Is(err, state.ErrFailoverInProg) {
		t.Fatalf("in progress: %v", err)
	}
}

// TestProposalsBatched: with every member on this build's protocol, one
// moment's proposals of a monitor (here its "down" opinions on three
// masters) are one OpBatch entry; with a member of an older build, they
// are one entry each, as that member can apply.
func TestProposalsBatched(t *testing.T) {
	for _, c := range []struct {
		name     string
		protocol int
		batches  int
		opinions int
	}{
		{"current members", state.Protocol, 1, 0},
		{"an older member", 0, 0, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock{t: now0}
			st := newFakeStore(clk.now)
			ctx := context.Background()
			for _, id := range []string{"m1", "m2", "m3"} {
				p := state.Protocol
				if id == "m3" {
					p = c.protocol
				}
				must(t, st.Apply(ctx, state.Command{Op: state.OpRegisterMonitor, Monitor: &state.Monitor{ID: id, RunID: id, Protocol: p}}))
			}
			pr := &fakeProber{paused: map[string]time.Duration{}, nodes: map[string]*fakeNode{}}
			for i, name := range []string{"a", "b", "c"} {
				a := state.Addr{Host: "10.0.1.1", Port: 7000 + i}
				spec := &state.Master{Name: name, Addr: a, Quorum: 2, DownAfter: time.Second, FailoverTimeout: time.Minute}
				must(t, st.Apply(ctx, state.Command{Op: state.OpAddMaster, Spec: spec}))
				pr.nodes[a.String()] = &fakeNode{obs: probe.Observation{LastPingSent: clk.now().Add(-2 * time.Second), Role: "master"}}
			}
			m := New(st, pr, Options{Self: state.Monitor{ID: "m1", RunID: "m1"}, Now: clk.now})
			m.step(ctx) // watches the nodes
			m.step(ctx) // sees them down: queues three opinions
			m.mu.Lock()
			pending := m.pending
			m.pending = map[string]state.Command{}
			m.mu.Unlock()
			m.proposeAll(ctx, pending)
			if got := st.count(state.OpBatch); got != c.batches {
				t.Errorf("%d batch entries, want %d", got, c.batches)
			}
			if got := st.count(state.OpOpinion); got != c.opinions {
				t.Errorf("%d single opinion entries, want %d", got, c.opinions)
			}
			for _, name := range []string{"a", "b", "c"} {
				if o := st.State().Masters[name].Opinions["m1"]; !o.Down {
					t.Errorf("master %s: opinion of m1 not committed: %+v", name, o)
				}
			}
		})
	}
}

// gatedStore holds every ODOWN commit until want of them are in flight
// together (or a deadline passes), and records the most seen at once.
type gatedStore struct {
	*fakeStore
	want     int
	mu       sync.Mutex
	inFlight int
	most     int
	all      chan struct{}
}

func (g *gatedStore) Apply(ctx context.Context, c state.Command) error {
	if c.Op == state.OpODown {
		g.mu.Lock()
		g.inFlight++
		g.most = max(g.most, g.inFlight)
		if g.inFlight == g.want {
			close(g.all)
		}
		g.mu.Unlock()
		select {
		case <-g.all:
		case <-time.After(2 * time.Second):
		}
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	}
	return g.fakeStore.Apply(ctx, c)
}

// TestMassFailureCommitsTogether: when many masters are judged down in one
// tick, the leader commits their ODOWNs side by side, not one after
// another, and starts every failover in that tick.
func TestMassFailureCommitsTogether(t *testing.T) {
	const n = 5
	clk := &clock{t: now0}
	base := newFakeStore(clk.now)
	g := &gatedStore{fakeStore: base, want: n, all: make(chan struct{})}
	ctx := context.Background()
	for _, id := range []string{"m1", "m2", "m3"} {
		must(t, base.Apply(ctx, state.Command{Op: state.OpRegisterMonitor, Monitor: &state.Monitor{ID: id, RunID: id}}))
	}
	pr := &fakeProber{paused: map[string]time.Duration{}, nodes: map[string]*fakeNode{}}
	for i := range n {
		name := fmt.Sprintf("m%02d", i)
		master := state.Addr{Host: "10.0.2.1", Port: 7000 + i}
		replica := state.Addr{Host: "10.0.2.2", Port: 7000 + i}
		spec := &state.Master{Name: name, Addr: master, Quorum: 2, DownAfter: time.Second, FailoverTimeout: time.Minute}
		must(t, base.Apply(ctx, state.Command{Op: state.OpAddMaster, Spec: spec}))
		must(t, base.Apply(ctx, state.Command{Op: state.OpReplicas, Master: name, Replicas: []state.Addr{replica}}))
		for _, id := range []string{"m2", "m3"} {
			must(t, base.Apply(ctx, state.Command{Op: state.OpOpinion, Master: name, MonitorID: id, Addr: master, Down: true}))
		}
		pr.nodes[master.String()] = &fakeNode{obs: probe.Observation{LastPingSent: clk.now().Add(-2 * time.Second), Role: "master"},
			roleErr: errors.New("refused"), cmdErr: errors.New("refused")}
		pr.nodes[replica.String()] = healthyReplica(clk.now(), master, 100)
	}
	m := New(g, pr, Options{Self: state.Monitor{ID: "m1", RunID: "m1"}, Now: clk.now, ReconfTimeout: time.Second})
	m.leaderStep(ctx, base.State(), clk.now())
	m.wg.Wait()
	if g.most != n {
		t.Errorf("at most %d ODOWN commits in flight together, want %d", g.most, n)
	}
	for i := range n {
		name := fmt.Sprintf("m%02d", i)
		if f := base.State().Masters[name].Failover; f == nil {
			t.Errorf("%s: no failover started in the tick", name)
		}
	}
}

// tuningProber records what the brain asks of a prober that probes nodes at
// their own periods.
type tuningProber struct {
	*fakeProber
	bounds map[string]time.Duration
	urgent map[string]bool
}

func (p *tuningProber) SetNodePeriods(addr string, ping, _ time.Duration) bool {
	p.bounds[addr] = ping
	return true
}

func (p *tuningProber) SetUrgent(addr string, on bool) bool {
	p.urgent[addr] = on
	return true
}

// TestBrainTunesProbes: each tick gives the prober the nodes' PING bounds
// (a tenth of down-after) and urgent mode for the nodes of a master this
// monitor sees down, and takes urgent mode back once it is up again.
func TestBrainTunesProbes(t *testing.T) {
	clk := &clock{t: now0}
	st, fp := setup(t, clk)
	pr := &tuningProber{fakeProber: fp, bounds: map[string]time.Duration{}, urgent: map[string]bool{}}
	m := New(st, pr, Options{Self: state.Monitor{ID: "m1", RunID: "m1"}, Now: clk.now})
	ctx := context.Background()
	m.step(ctx)
	m.step(ctx) // A is seen down (SDOWN) in the first step's local phase
	for _, a := range []state.Addr{addrA, addrB, addrC} {
		if pr.bounds[a.String()] != 100*time.Millisecond || !pr.urgent[a.String()] {
			t.Fatalf("%s: bound %v urgent %v, want 100ms (down-after 1s) and urgent", a, pr.bounds[a.String()], pr.urgent[a.String()])
		}
	}
	fp.mu.Lock()
	fp.nodes[addrA.String()].obs = probe.Observation{Connected: true, LastOKPing: clk.now(), Role: "master"}
	fp.mu.Unlock()
	m.step(ctx)
	m.step(ctx)
	if pr.urgent[addrA.String()] || pr.urgent[addrB.String()] {
		t.Fatalf("urgent mode kept after the master answers again: %v", pr.urgent)
	}
}
