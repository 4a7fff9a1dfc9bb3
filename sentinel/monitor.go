package sentinel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/raftsentinel/raftsentinel/state"
)

// Store is the replicated state the brain needs (implemented by
// *quorum.Store). Propose works on any member; Apply only on the leader.
type Store interface {
	State() *state.State
	View(fn func(*state.State))
	Propose(ctx context.Context, cmd state.Command) error
	Apply(ctx context.Context, cmd state.Command) error
	Barrier(ctx context.Context) error
	IsLeader() bool
	Term() uint64
	LeaderChanges() <-chan struct{}
	Effects() <-chan state.Effect
	MajorityContact() time.Time
	// Servers returns the Raft configuration's members (id → address).
	Servers() (map[string]string, error)
}

// Prober is this monitor's access to the Redis nodes (implemented by
// *probe.Prober).
type Prober interface {
	Watch(addr string, auth probe.Auth)
	Unwatch(addr string)
	Watched() []string
	Observe(addr string) (probe.Observation, bool)
	Promote(ctx context.Context, addr string, auth probe.Auth) error
	ReplicaOf(ctx context.Context, addr string, auth probe.Auth, masterHost string, masterPort int) error
	Role(ctx context.Context, addr string, auth probe.Auth) (probe.Role, error)
	CoordinatedFailover(ctx context.Context, addr string, auth probe.Auth, host string, port int, timeout time.Duration) error
	AbortFailover(ctx context.Context, addr string, auth probe.Auth) error
	PauseWrites(ctx context.Context, addr string, auth probe.Auth, d time.Duration) error
	UnpauseWrites(ctx context.Context, addr string, auth probe.Auth) error
}

// Options configure a Monitor. Zero values take the defaults noted.
type Options struct {
	// Self is this monitor's membership record (ID, RunID, addresses).
	Self state.Monitor
	// Masters are the masters from the configuration; each is added to the
	// replicated state if no master of that name is there yet.
	Masters []state.Master
	// Tick is the period of local evaluation and of the leader's decision
	// loop; default 50ms.
	Tick time.Duration
	// OpinionRefresh is how often a "down" opinion is re-asserted; default 1s.
	OpinionRefresh time.Duration
	// OpinionTTL is how long an opinion counts; default 3s.
	OpinionTTL time.Duration
	// Heartbeat is how often this monitor re-registers (evidence that it is
	// alive, read by SENTINEL CKQUORUM and SENTINELS); default 2s.
	Heartbeat time.Duration
	// PingPeriod and InfoPeriod are the prober's initial periods, used for
	// freshness limits; SENTINEL DEBUG may change them at run time (see
	// SetTimer), which also changes the prober's when it has SetPeriods.
	PingPeriod time.Duration // default 100ms
	InfoPeriod time.Duration // default 1s
	// ReconfTimeout bounds the wait for one repointed replica; default 10s.
	ReconfTimeout time.Duration
	// Defaults are the settings of masters added with SENTINEL MONITOR
	// (reported by SENTINEL DEBUG).
	Defaults state.Master
	// ElectionTimeout is Raft's (reported by SENTINEL DEBUG).
	ElectionTimeout time.Duration
	// LocalRedis is the Redis node this monitor runs beside (a sidecar),
	// "" if none. With FenceAfter > 0, when that node reports role master
	// and this monitor has been cut off from the Raft majority for longer
	// than FenceAfter, the monitor pauses the node's writes (CLIENT PAUSE
	// WRITE, renewed) until it is back in the majority: an isolated old
	// master stops diverging. See fence.go.
	LocalRedis string
	FenceAfter time.Duration
	// StaleAfter: a monitor cut off from the Raft majority for longer than
	// this stops answering master discovery (GET-MASTER-ADDR-BY-NAME,
	// MASTER, MASTERS) with its possibly outdated view and returns an
	// error instead, so clients ask another monitor. Default 3s.
	StaleAfter time.Duration
	// Metrics, if set, records failovers and blocking reasons.
	Metrics *Metrics
	// OnCrash is called when a SENTINEL SIMULATE-FAILURE point is reached:
	// the monitor must stop at once, as if its process died (the daemon
	// stops without handing leadership over). Nil: such points do nothing.
	OnCrash func()
	// TiltTrigger and TiltPeriod: when two ticks are further apart than
	// TiltTrigger (the process stalled or the clock jumped), the monitor
	// enters TILT for TiltPeriod: it keeps probing but proposes no "down"
	// opinion (its timers are suspect). Unlike Sentinel, a leader in TILT
	// still acts on the others' fresh opinions. Defaults 2s and 30s.
	TiltTrigger, TiltPeriod time.Duration
	// ScriptMaxRuntime and ScriptRetryDelay are the script runner's limits,
	// reported by SENTINEL DEBUG; defaults DefaultScriptMaxRuntime and
	// DefaultScriptRetryDelay.
	ScriptMaxRuntime, ScriptRetryDelay time.Duration
	// OnTimer, if set, is called after SENTINEL DEBUG changed a timer (its
	// canonical name, e.g. SCRIPT-MAX-RUNTIME, and new value), to apply it
	// outside the monitor. It must not block.
	OnTimer func(name string, d time.Duration)
	// Refuse, if set, returns why this monitor must not fail master over
	// ("" if it may), e.g. Redis Sentinels share the master (drop-in
	// mode's coexistence check). It must not block.
	Refuse    func(master string) string
	Publisher Publisher
	// Resolver resolves the hostnames of Redis nodes for replies and events
	// when announce-hostnames is no; nil means net.DefaultResolver.
	Resolver Resolver
	Logger   *slog.Logger
	Now      func() time.Time
}

// Monitor is the brain of one monitor: it evaluates SDOWN locally, proposes
// its opinions, and, while it is the Raft leader, judges ODOWN and drives
// failovers as chains of committed steps. It implements Backend.
type Monitor struct {
	store  Store
	prober Prober
	opt    Options
	log    *slog.Logger
	now    func() time.Time

	mu           sync.Mutex
	watchedSince map[string]time.Time
	watchAuth    map[string]probe.Auth // addr -> link settings last given to the prober
	sdownSince   map[string]time.Time
	runIDs       map[string]string
	roles        map[string]string     // addr -> last reported role (+role-change)
	rebootSince  map[string]time.Time  // master addr -> run id change seen, still loading
	masterSince  map[string]masterSeen // master name -> its address, and since when this monitor sees it there
	opinionSent  map[string]time.Time  // master name -> last successful down assertion
	lastBeat     time.Time
	pending      map[string]state.Command // coalesced proposals by key
	blocked      map[string]string        // master -> last logged blocking reason
	backoff      map[string]time.Time     // addr -> earliest next reconfiguration
	started      time.Time
	simulate     map[string]bool // SIMULATE-FAILURE points armed
	crashed      bool
	lastStep     time.Time
	lastPrune    time.Time
	tiltSince    time.Time // zero: not in TILT
	tiltUntil    time.Time

	leaderTerm   uint64
	leaderCancel context.CancelFunc
	leaderCtx    context.Context
	driving      map[string]bool

	timers *timerSet // SENTINEL DEBUG's; the brain reads its periods here

	ann       *announcer
	wake      chan struct{}
	proposeCh chan struct{}
	wg        sync.WaitGroup
}

// DefaultOptions are the brain's timing defaults; config builds its
// opinion.* and stale-after defaults from them.
func DefaultOptions() Options {
	return Options{Tick: 50 * time.Millisecond, OpinionRefresh: time.Second, OpinionTTL: 3 * time.Second,
		Heartbeat: 2 * time.Second, PingPeriod: probe.DefaultPingPeriod, InfoPeriod: probe.DefaultInfoPeriod,
		ReconfTimeout: 10 * time.Second, TiltTrigger: 2 * time.Second, TiltPeriod: 30 * time.Second,
		StaleAfter: 3 * time.Second}
}

// Validate reports options the brain cannot judge with (zero values are
// defaults, not errors).
func (o Options) Validate() error {
	d := DefaultOptions()
	ttl, refresh := o.OpinionTTL, o.OpinionRefresh
	if ttl <= 0 {
		ttl = d.OpinionTTL
	}
	if refresh <= 0 {
		refresh = d.OpinionRefresh
	}
	if ttl <= refresh {
		return fmt.Errorf("sentinel: OpinionTTL (%v) must be longer than OpinionRefresh (%v)", ttl, refresh)
	}
	return nil
}

// New returns a Monitor. Call Run to start it.
func New(store Store, prober Prober, opt Options) *Monitor {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	dflt := DefaultOptions()
	def(&opt.Tick, dflt.Tick)
	def(&opt.OpinionRefresh, dflt.OpinionRefresh)
	def(&opt.OpinionTTL, dflt.OpinionTTL)
	def(&opt.Heartbeat, dflt.Heartbeat)
	def(&opt.PingPeriod, dflt.PingPeriod)
	def(&opt.InfoPeriod, dflt.InfoPeriod)
	def(&opt.ReconfTimeout, dflt.ReconfTimeout)
	def(&opt.TiltTrigger, dflt.TiltTrigger)
	def(&opt.StaleAfter, dflt.StaleAfter)
	def(&opt.TiltPeriod, dflt.TiltPeriod)
	def(&opt.ScriptMaxRuntime, DefaultScriptMaxRuntime)
	def(&opt.ScriptRetryDelay, DefaultScriptRetryDelay)
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Publisher == nil {
		opt.Publisher = nopPublisher{}
	}
	if opt.Resolver == nil {
		opt.Resolver = net.DefaultResolver
	}
	mon := &Monitor{store: store, prober: prober, opt: opt, log: opt.Logger, now: opt.Now, started: opt.Now(),
		watchedSince: map[string]time.Time{}, watchAuth: map[string]probe.Auth{}, sdownSince: map[string]time.Time{}, runIDs: map[string]string{}, roles: map[string]string{}, rebootSince: map[string]time.Time{},
		masterSince: map[string]masterSeen{},
		opinionSent: map[string]time.Time{}, pending: map[string]state.Command{}, blocked: map[string]string{},
		backoff: map[string]time.Time{}, driving: map[string]bool{},
		wake: make(chan struct{}, 1), proposeCh: make(chan struct{}, 1)}
	mon.timers = newTimerSet(map[string]time.Duration{
		TimerInfoPeriod: opt.InfoPeriod, TimerPingPeriod: opt.PingPeriod,
		TimerAskPeriod: opt.OpinionRefresh, TimerPublishPeriod: opt.Heartbeat,
		TimerDefaultDownAfter: opt.Defaults.DownAfter, TimerDefaultFailoverTimeout: opt.Defaults.FailoverTimeout,
		TimerTiltTrigger: opt.TiltTrigger, TimerTiltPeriod: opt.TiltPeriod,
		TimerSlaveReconfTimeout: opt.ReconfTimeout, TimerElectionTimeout: opt.ElectionTimeout,
		TimerScriptMaxRuntime: opt.ScriptMaxRuntime, TimerScriptRetryDelay: opt.ScriptRetryDelay,
	})
	mon.ann = newAnnouncer(store.State, opt.Resolver, opt.Logger)
	return mon
}

// masterSeen is the address a monitor considers a group's master, and
// since when (MasterRoleDown counts from then at the earliest).
type masterSeen struct {
	addr  state.Addr
	since time.Time
}

type nopPublisher struct{}

func (nopPublisher) Publish(string, string) int { return 0 }

// Run drives the monitor until ctx is done, then waits for everything it
// started (including failover steps in flight) to stop.
func (m *Monitor) Run(ctx context.Context) error {
	m.wg.Add(3)
	go m.effectLoop(ctx)
	go m.proposeLoop(ctx)
	go func() {
		defer m.wg.Done()
		m.ann.run(ctx)
	}()
	if m.opt.LocalRedis != "" && m.opt.FenceAfter > 0 {
		m.wg.Add(1)
		go m.fenceLoop(ctx)
	}
	t := time.NewTicker(m.opt.Tick)
	defer t.Stop()
	for {
		m.step(ctx)
		select {
		case <-ctx.Done():
			m.mu.Lock()
			if m.leaderCancel != nil {
				m.leaderCancel()
			}
			m.mu.Unlock()
			m.wg.Wait()
			return nil
		case <-t.C:
		case <-m.wake:
		case <-m.store.LeaderChanges():
		}
	}
}

func (m *Monitor) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// ---- Backend ----

// State implements Backend.
func (m *Monitor) State() *state.State { return m.store.State() }

// Announce implements Backend.
func (m *Monitor) Announce(a state.Addr) state.Addr { return m.ann.addr(a) }

// AnnounceMayWait implements Backend.
func (m *Monitor) AnnounceMayWait() bool { return m.ann.mayWait() }

// Self implements Backend.
func (m *Monitor) Self() state.Monitor { return m.opt.Self }

// Observe implements Backend.
func (m *Monitor) Observe(addr string) (probe.Observation, bool) { return m.prober.Observe(addr) }

// SDown implements Backend.
func (m *Monitor) SDown(addr string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.sdownSince[addr]
	return t, ok
}

// PeerSeen implements Backend: the commit time of the peer's last
// heartbeat registration.
func (m *Monitor) PeerSeen(id string) time.Time {
	var t time.Time
	m.store.View(func(st *state.State) {
		if mon, ok := st.Monitors[id]; ok {
			t = mon.SeenAt
		}
	})
	if id == m.opt.Self.ID {
		return m.now()
	}
	return t
}

// Propose implements Backend.
func (m *Monitor) Propose(ctx context.Context, cmd state.Command) error {
	err := m.store.Propose(ctx, cmd)
	if err == nil {
		m.poke()
	}
	return err
}

// Candidate implements Backend: the replica a failover of master name
// started now would promote, judged from this monitor's probes.
func (m *Monitor) Candidate(name string) (state.Addr, bool) {
	st := m.store.State()
	ms, ok := st.Masters[name]
	if !ok {
		return state.Addr{}, false
	}
	best, _, ok := m.selectReplica(ms, ms.ODownSince, m.now())
	return best.Addr, ok
}

// ---- the local loop ----

func (m *Monitor) step(ctx context.Context) {
	st := m.store.State()
	now := m.now()
	tilt := m.checkTilt(now)
	m.register(st, now)
	m.syncWatches(st, now)
	m.evaluateLocal(st, now, tilt)
	// A leader in TILT still acts on the other monitors' fresh opinions:
	// only its own judgement is suspect, and the group must not wait 30 s.
	m.leaderStep(ctx, st, now)
}

// checkTilt enters or leaves TILT mode and reports whether it is on.
func (m *Monitor) checkTilt(now time.Time) bool {
	m.mu.Lock()
	last := m.lastStep
	m.lastStep = now
	if !last.IsZero() {
		if d := now.Sub(last); d < 0 || d > m.timer(TimerTiltTrigger) {
			if m.tiltSince.IsZero() {
				m.tiltSince = now
				m.mu.Unlock()
				m.log.Warn("+tilt: the monitor stalled; its judgements are suspended", "gap", d, "for", m.timer(TimerTiltPeriod))
				m.opt.Publisher.Publish(EvTilt, "#tilt mode entered")
				m.mu.Lock()
			}
			m.tiltUntil = now.Add(m.timer(TimerTiltPeriod))
		}
	}
	on := !m.tiltSince.IsZero()
	if on && now.After(m.tiltUntil) {
		m.tiltSince, on = time.Time{}, false
		m.mu.Unlock()
		m.log.Info("-tilt")
		m.opt.Publisher.Publish(EvTiltCleared, "#tilt mode exited")
		return false
	}
	m.mu.Unlock()
	return on
}

// rebootedTooLong applies master-reboot-down-after-period: a master whose
// run id changed (it restarted) and that is still loading its dataset
// after period counts as down, as in Sentinel 7. The mark clears as soon
// as the master answers normally. The caller holds m.mu.
func (m *Monitor) rebootedTooLong(key string, o probe.Observation, now time.Time, period time.Duration) bool {
	since, ok := m.rebootSince[key]
	if !ok {
		return false
	}
	if o.Connected && !o.Loading {
		delete(m.rebootSince, key)
		return false
	}
	return period > 0 && now.Sub(since) > period
}

// masterReportsSlave applies MasterRoleDown to master ms (called with
// m.mu held), counting from when this monitor first saw ms at its current
// address. It is not applied while a failover of ms is in progress: then
// the committed master changing role is the failover's own doing (a
// switchover's FAILOVER TO makes it a replica just before the switch).
func (m *Monitor) masterReportsSlave(ms *state.Master, o probe.Observation, now time.Time) bool {
	seen, ok := m.masterSince[ms.Name]
	if !ok || seen.addr != ms.Addr {
		seen = masterSeen{addr: ms.Addr, since: now}
		m.masterSince[ms.Name] = seen
	}
	if ms.Failover.InProgress() {
		return false
	}
	return MasterRoleDown(o, now, seen.since, ms.DownAfter, m.timer(TimerInfoPeriod))
}

// Simulation points (SENTINEL SIMULATE-FAILURE): the first two are
// Sentinel's; crash-after-switch (after the new address is committed,
// before the replicas are repointed) is raftsentinel's own.
const (
	CrashAfterElection  = "crash-after-election"
	CrashAfterPromotion = "crash-after-promotion"
	CrashAfterSwitch    = "crash-after-switch"
)

// SimulateFailure implements Backend: it replaces the armed points.
func (m *Monitor) SimulateFailure(points []string) error {
	if m.opt.OnCrash == nil && len(points) > 0 {
		return errors.New("this monitor cannot simulate crashes")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.simulate = map[string]bool{}
	for _, p := range points {
		m.simulate[p] = true
	}
	return nil
}

// crashPoint stops the monitor if point is armed, and reports whether it
// did (or had already): the caller must then stop acting.
func (m *Monitor) crashPoint(point string) bool {
	m.mu.Lock()
	if !m.crashed && m.simulate[point] {
		m.crashed = true
		m.mu.Unlock()
		m.log.Warn("simulated crash", "point", point)
		m.opt.OnCrash()
		return true
	}
	crashed := m.crashed
	m.mu.Unlock()
	return crashed
}

// groupless is what the store may tell of a monitor that has no group
// yet (implemented by *quorum.Store).
type groupless interface {
	// Loading: a member with none of the group's state yet.
	Loading() bool
	// Held: serving changes taken before any group existed.
	Held() bool
}

// Held implements Backend.
func (m *Monitor) Held() bool {
	g, ok := m.store.(groupless)
	return ok && g.Held()
}

// Loading implements Backend.
func (m *Monitor) Loading() bool {
	g, ok := m.store.(groupless)
	return ok && g.Loading()
}

// Cutoff implements Backend. A monitor that serves the changes it took
// before any group existed is not cut off: there is no group whose
// decisions it could have missed.
func (m *Monitor) Cutoff() (time.Duration, bool) {
	if g, ok := m.store.(groupless); ok && g.Held() {
		return 0, false
	}
	last := m.store.MajorityContact()
	if last.IsZero() {
		last = m.started
	}
	d := max(m.now().Sub(last), 0)
	return d, d > m.opt.StaleAfter
}

// Tilt implements Backend.
func (m *Monitor) Tilt() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tiltSince, !m.tiltSince.IsZero()
}

// register keeps this monitor's record and the configured masters in the
// replicated state.
func (m *Monitor) register(st *state.State, now time.Time) {
	self := m.opt.Self
	cur, ok := st.Monitors[self.ID]
	m.mu.Lock()
	due := now.Sub(m.lastBeat) >= m.timer(TimerPublishPeriod)
	m.mu.Unlock()
	if !ok || cur.RunID != self.RunID || cur.Announce != self.Announce || cur.HTTPAddr != self.HTTPAddr || due {
		s := self
		m.queue("register", state.Command{Op: state.OpRegisterMonitor, Monitor: &s})
	}
	for i := range m.opt.Masters {
		spec := m.opt.Masters[i]
		if _, ok := st.Masters[spec.Name]; !ok && !st.Seeded[spec.Name] {
			m.queue("master/"+spec.Name, state.Command{Op: state.OpAddMaster, Spec: &spec})
		}
	}
}

// linkAuth returns the link settings toward ms and its replicas: the
// committed auth-user, auth-pass and rename-command table (a copy, owned
// by the caller).
func linkAuth(ms *state.Master) probe.Auth {
	return probe.Auth{User: ms.AuthUser, Pass: ms.AuthPass, Renames: maps.Clone(ms.RenameCommands)}
}

// syncWatches probes exactly the committed masters and their replicas,
// with the committed link settings of their master (auth-user, auth-pass,
// rename-command): when those change (SENTINEL SET), the prober is given
// the new ones and reconnects with them at once, and every later command
// uses the new renames.
func (m *Monitor) syncWatches(st *state.State, now time.Time) {
	// In name order, the first master naming a node gives its credentials:
	// a node listed under two masters (a misconfiguration) must not flip
	// between their credentials from one step to the next.
	want := map[string]probe.Auth{}
	for _, name := range st.MasterNames() {
		ms := st.Masters[name]
		auth := linkAuth(ms)
		for _, a := range append([]state.Addr{ms.Addr}, ms.Replicas...) {
			if _, ok := want[a.String()]; !ok {
				want[a.String()] = auth
			}
		}
	}
	// The prober is called after m.mu is released: Unwatch waits for the
	// node's goroutines (network I/O), and m.mu is also taken by the RESP
	// event loop (Backend.SDown), which must never wait on the network.
	// Only this loop changes the watches, so the order is kept.
	var watch []string
	var unwatch []string
	m.mu.Lock()
	for a, auth := range want {
		if _, ok := m.watchedSince[a]; !ok {
			m.watchedSince[a] = now
		} else if m.watchAuth[a].Equal(auth) {
			continue
		}
		m.watchAuth[a] = auth
		watch = append(watch, a)
	}
	for a := range m.watchedSince {
		if _, ok := want[a]; !ok {
			unwatch = append(unwatch, a)
			delete(m.watchedSince, a)
			delete(m.watchAuth, a)
			delete(m.sdownSince, a)
			delete(m.runIDs, a)
			delete(m.roles, a)
			delete(m.rebootSince, a)
		}
	}
	m.mu.Unlock()
	for _, a := range watch {
		m.prober.Watch(a, want[a])
	}
	for _, a := range unwatch {
		m.prober.Unwatch(a)
	}
}

// evaluateLocal computes SDOWN for every probed node, publishes +sdown,
// -sdown and +reboot, and keeps this monitor's committed opinion on each
// master in step with what it sees.
func (m *Monitor) evaluateLocal(st *state.State, now time.Time, tilt bool) {
	for _, name := range st.MasterNames() {
		ms := st.Masters[name]
		nodes := append([]state.Addr{ms.Addr}, ms.Replicas...)
		for i, a := range nodes {
			key := a.String()
			o, ok := m.prober.Observe(key)
			if !ok {
				continue
			}
			m.mu.Lock()
			since := m.watchedSince[key]
			_, wasDown := m.sdownSince[key]
			down := SDownAt(o, now, since, ms.DownAfter)
			if i == 0 && m.rebootedTooLong(key, o, now, ms.RebootDownAfter) {
				down = true
			}
			if i == 0 && m.masterReportsSlave(ms, o, now) {
				down = true
			}
			if down && !wasDown {
				m.sdownSince[key] = now
			} else if !down && wasDown {
				delete(m.sdownSince, key)
			}
			prevRun := m.runIDs[key]
			if o.RunID != "" {
				m.runIDs[key] = o.RunID
			}
			prevRole := m.roles[key]
			if o.Role != "" {
				m.roles[key] = o.Role
			}
			m.mu.Unlock()
			inst := m.ann.masterInst(name, a)
			if i > 0 {
				inst = m.ann.replicaInst(a, name, ms.Addr)
			}
			switch {
			case down && !wasDown:
				m.log.Warn("+sdown", "instance", inst)
				m.opt.Publisher.Publish(EvSDown, inst)
			case !down && wasDown:
				m.log.Info("-sdown", "instance", inst)
				m.opt.Publisher.Publish(EvSDownCleared, inst)
			}
			if prevRole != "" && o.Role != "" && prevRole != o.Role {
				// "+" when the new role agrees with the committed topology.
				ev := EvRoleChange
				if (i == 0) != (o.Role == "master") {
					ev = EvRoleChangeWrong
				}
				m.opt.Publisher.Publish(ev, inst+" new reported role is "+o.Role)
			}
			if prevRun != "" && o.RunID != "" && prevRun != o.RunID && i == 0 {
				m.mu.Lock()
				m.rebootSince[key] = now
				m.mu.Unlock()
			}
			if prevRun != "" && o.RunID != "" && prevRun != o.RunID {
				m.log.Warn("+reboot", "instance", inst)
				m.opt.Publisher.Publish(EvReboot, inst)
			}
			if i == 0 && !(tilt && down) {
				m.syncOpinion(ms, down, now)
			}
		}
	}
}

func (m *Monitor) syncOpinion(ms *state.Master, down bool, now time.Time) {
	id := m.opt.Self.ID
	committed, has := ms.Opinions[id]
	m.mu.Lock()
	last := m.opinionSent[ms.Name]
	m.mu.Unlock()
	need := false
	switch {
	case down && (!has || !committed.Down):
		need = true
	case down && now.Sub(last) >= m.timer(TimerAskPeriod):
		need = true
	case !down && has && committed.Down:
		need = true
	}
	if need {
		m.queue("opinion/"+ms.Name, state.Command{Op: state.OpOpinion, Master: ms.Name, MonitorID: id, Addr: ms.Addr, Down: down})
	}
}

// queue records a proposal, replacing any pending one with the same key.
func (m *Monitor) queue(key string, cmd state.Command) {
	m.mu.Lock()
	m.pending[key] = cmd
	m.mu.Unlock()
	select {
	case m.proposeCh <- struct{}{}:
	default:
	}
}

// proposeLoop sends queued proposals (to the leader, through the store).
// Failures are dropped: the local loop re-queues what is still needed.
func (m *Monitor) proposeLoop(ctx context.Context) {
	defer m.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.proposeCh:
		}
		m.mu.Lock()
		batch := m.pending
		m.pending = map[string]state.Command{}
		m.mu.Unlock()
		for key, cmd := range batch {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err := m.store.Propose(pctx, cmd)
			cancel()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, quorum.ErrNoLeader) {
					m.log.Debug("proposal failed", "op", cmd.Op, "master", cmd.Master, "err", err)
				}
				continue
			}
			m.mu.Lock()
			switch {
			case key == "register":
				m.lastBeat = m.now()
			case cmd.Op == state.OpOpinion && cmd.Down:
				m.opinionSent[cmd.Master] = m.now()
			}
			m.mu.Unlock()
		}
	}
}

// effectLoop publishes the events of committed changes and wakes the
// decision loop.
func (m *Monitor) effectLoop(ctx context.Context) {
	defer m.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-m.store.Effects():
			if !ok {
				return
			}
			st := m.store.State()
			m.opt.Metrics.effect(e, st)
			for _, ev := range effectEvents(e, st, m.opt.Self.ID, m.ann) {
				m.opt.Publisher.Publish(ev[0], ev[1])
			}
			switch e.Kind {
			case state.EffSwitchMaster:
				// The old master is now watched as a replica: its down
				// state is judged (and announced) afresh in that role.
				// Its expected role is now slave: when it comes back
				// reporting master, that is a -role-change, as Sentinel
				// reports it for its re-created instance.
				m.mu.Lock()
				delete(m.sdownSince, e.From.String())
				m.roles[e.From.String()] = "slave"
				// The promoted replica now reports master: announce it
				// once, whether or not this monitor's INFO saw it first.
				announce := m.roles[e.To.String()] != "master"
				m.roles[e.To.String()] = "master"
				m.mu.Unlock()
				if announce {
					m.opt.Publisher.Publish(EvRoleChangeWrong, m.ann.replicaInst(e.To, e.Master, e.From)+" new reported role is master")
				}
				m.log.Warn("+switch-master", "master", e.Master, "from", e.From.String(), "to", e.To.String(), "epoch", e.Epoch)
			case state.EffODown:
				m.log.Warn("+odown", "master", e.Master, "addr", e.Addr.String(), "votes", e.Votes, "quorum", e.Quorum)
			}
			m.poke()
		}
	}
}
