package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// Store is the replicated state the brain needs (implemented by
// *quorum.Store). Propose works on any member; Apply only on the leader.
// Both block until the command is committed or ctx is done; a failure the
// next tick may cure (no leader known yet) is reported by
// Options.Transient.
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

// Publisher delivers a Sentinel event to Pub/Sub subscribers of this
// monitor's RESP server. Publish must not block on slow subscribers.
type Publisher interface {
	Publish(channel, message string) int
}

// Options configure a Brain. Zero values take the defaults noted.
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
	// master stops diverging. See Fence.
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
	Refuse func(master string) string
	// Transient, if set, reports the errors of Store.Propose that are
	// expected while the group has no leader: they are not logged (the
	// next tick proposes again).
	Transient func(err error) bool
	Publisher Publisher
	// Resolver resolves the hostnames of Redis nodes for replies and events
	// when announce-hostnames is no; nil means net.DefaultResolver.
	Resolver Resolver
	Logger   *slog.Logger
	Now      func() time.Time
}

// Brain is the brain of one monitor, the executor of Decide: each tick it
// gathers the Input (committed state, observations, its soft state,
// timers, leadership, now), calls Decide, and carries the Actions out with
// the Store, the Prober and the injected clock. It evaluates SDOWN
// locally, proposes its opinions, and, while it is the Raft leader,
// judges ODOWN and drives failovers as chains of committed steps.
//
// Its methods State … SetTimer, Refused and ManualFailover are what the
// Sentinel handler reads (sentinel.Backend): they are safe for concurrent
// use and never wait on the network.
type Brain struct {
	store   Store
	prober  Prober
	opt     Options
	log     *slog.Logger
	now     func() time.Time
	started time.Time

	mu       sync.Mutex
	local    Local                    // the soft state decisions read
	pending  map[string]state.Command // coalesced proposals by key
	simulate map[string]bool          // SIMULATE-FAILURE points armed
	crashed  bool

	leaderTerm   uint64
	leaderCancel context.CancelFunc
	leaderCtx    context.Context

	timers *timerSet         // SENTINEL DEBUG's; the brain reads its periods here
	tuned  map[string]Tuning // node → tuning last given to the prober (tick loop only)

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
		return fmt.Errorf("failover: OpinionTTL (%v) must be longer than OpinionRefresh (%v)", ttl, refresh)
	}
	return nil
}

// New returns a Brain. Call Run to start it.
func New(store Store, prober Prober, opt Options) *Brain {
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
	b := &Brain{store: store, prober: prober, opt: opt, log: opt.Logger, now: opt.Now, started: opt.Now(),
		local: NewLocal(), pending: map[string]state.Command{}, tuned: map[string]Tuning{},
		wake: make(chan struct{}, 1), proposeCh: make(chan struct{}, 1)}
	b.timers = newTimerSet(map[string]time.Duration{
		TimerInfoPeriod: opt.InfoPeriod, TimerPingPeriod: opt.PingPeriod,
		TimerAskPeriod: opt.OpinionRefresh, TimerPublishPeriod: opt.Heartbeat,
		TimerDefaultDownAfter: opt.Defaults.DownAfter, TimerDefaultFailoverTimeout: opt.Defaults.FailoverTimeout,
		TimerTiltTrigger: opt.TiltTrigger, TimerTiltPeriod: opt.TiltPeriod,
		TimerSlaveReconfTimeout: opt.ReconfTimeout, TimerElectionTimeout: opt.ElectionTimeout,
		TimerScriptMaxRuntime: opt.ScriptMaxRuntime, TimerScriptRetryDelay: opt.ScriptRetryDelay,
	})
	b.ann = newAnnouncer(store.State, opt.Resolver, opt.Logger)
	return b
}

type nopPublisher struct{}

func (nopPublisher) Publish(string, string) int { return 0 }

// Run drives the brain until ctx is done, then waits for everything it
// started (including failover steps in flight) to stop.
func (b *Brain) Run(ctx context.Context) error {
	b.wg.Add(3)
	go b.effectLoop(ctx)
	go b.proposeLoop(ctx)
	go func() {
		defer b.wg.Done()
		b.ann.run(ctx)
	}()
	if b.opt.LocalRedis != "" && b.opt.FenceAfter > 0 {
		b.wg.Add(1)
		go b.fenceLoop(ctx)
	}
	t := time.NewTicker(b.opt.Tick)
	defer t.Stop()
	for {
		b.step(ctx)
		select {
		case <-ctx.Done():
			b.mu.Lock()
			if b.leaderCancel != nil {
				b.leaderCancel()
			}
			b.mu.Unlock()
			b.wg.Wait()
			return nil
		case <-t.C:
		case <-b.wake:
		case <-b.store.LeaderChanges():
		}
	}
}

func (b *Brain) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// ---- what the Sentinel handler reads (sentinel.Backend) ----

// State returns the committed replicated state (shared, read-only).
func (b *Brain) State() *state.State { return b.store.State() }

// Announce returns the address of a Redis node as replies and events give
// it: with announce-hostnames no, a hostname becomes the IP address it
// last resolved to; otherwise a as it is. Only the first time a hostname
// is met may this wait for a lookup (at most 2 s).
func (b *Brain) Announce(a state.Addr) state.Addr { return b.ann.addr(a) }

// AnnounceMayWait reports whether Announce may wait for a lookup for some
// Redis node of the current state (a hostname not resolved yet).
func (b *Brain) AnnounceMayWait() bool { return b.ann.mayWait() }

// Self describes this monitor.
func (b *Brain) Self() state.Monitor { return b.opt.Self }

// Observe returns this monitor's latest probe observation of a node.
func (b *Brain) Observe(addr string) (probe.Observation, bool) { return b.prober.Observe(addr) }

// SDown reports whether this monitor sees addr as subjectively down, and
// since when.
func (b *Brain) SDown(addr string) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.local.SDownSince[addr]
	return t, ok
}

// PeerSeen returns when this monitor last had evidence that monitor id was
// alive: the commit time of its last heartbeat registration (now for this
// monitor itself; zero if never).
func (b *Brain) PeerSeen(id string) time.Time {
	var t time.Time
	b.store.View(func(st *state.State) {
		if mon, ok := st.Monitors[id]; ok {
			t = mon.SeenAt
		}
	})
	if id == b.opt.Self.ID {
		return b.now()
	}
	return t
}

// Propose commits cmd through Raft from any monitor (forwarded to the
// leader), and wakes the decision loop once it is committed.
func (b *Brain) Propose(ctx context.Context, cmd state.Command) error {
	err := b.store.Propose(ctx, cmd)
	if err == nil {
		b.poke()
	}
	return err
}

// Refused returns why this monitor refuses to fail master over ("" if it
// does not): Options.Refuse's answer.
func (b *Brain) Refused(master string) string {
	if b.opt.Refuse == nil {
		return ""
	}
	return b.opt.Refuse(master)
}

// SimulateFailure arms SENTINEL SIMULATE-FAILURE points (CrashAfter*),
// replacing earlier ones; an error if this monitor cannot crash itself
// (no Options.OnCrash).
func (b *Brain) SimulateFailure(points []string) error {
	if b.opt.OnCrash == nil && len(points) > 0 {
		return errors.New("this monitor cannot simulate crashes")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.simulate = map[string]bool{}
	for _, p := range points {
		b.simulate[p] = true
	}
	return nil
}

// crashPoint stops the monitor if point is armed, and reports whether it
// did (or had already): the caller must then stop acting.
func (b *Brain) crashPoint(point string) bool {
	b.mu.Lock()
	if !b.crashed && b.simulate[point] {
		b.crashed = true
		b.mu.Unlock()
		b.log.Warn("simulated crash", "point", point)
		b.opt.OnCrash()
		return true
	}
	crashed := b.crashed
	b.mu.Unlock()
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

// Held reports whether this monitor belongs to no group yet and serves
// the configuration it took itself (no failover can be authorized).
func (b *Brain) Held() bool {
	g, ok := b.store.(groupless)
	return ok && g.Held()
}

// Loading reports whether this monitor belongs to a group whose state has
// not reached it yet.
func (b *Brain) Loading() bool {
	g, ok := b.store.(groupless)
	return ok && g.Loading()
}

// Cutoff reports how long this monitor has been without contact with the
// Raft majority, and whether that is longer than StaleAfter. A monitor
// that serves the changes it took before any group existed is not cut
// off: there is no group whose decisions it could have missed.
func (b *Brain) Cutoff() (time.Duration, bool) {
	if g, ok := b.store.(groupless); ok && g.Held() {
		return 0, false
	}
	last := b.store.MajorityContact()
	if last.IsZero() {
		last = b.started
	}
	d := max(b.now().Sub(last), 0)
	return d, d > b.opt.StaleAfter
}

// Tilt reports whether this monitor is in TILT mode, and since when.
func (b *Brain) Tilt() (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.local.TiltSince, !b.local.TiltSince.IsZero()
}
