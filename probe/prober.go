// Package probe owns every connection from a monitor to the Redis data
// nodes: periodic PING and INFO, replica discovery from INFO, ROLE, and the
// commands that change a node (REPLICAOF with CONFIG REWRITE and CLIENT
// KILL, as Sentinel sends them).
//
// Probe results are monitor-local soft state (Observation); nothing here
// knows about Raft or failover decisions.
package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Default option values.
const (
	DefaultPingPeriod       = 100 * time.Millisecond
	DefaultInfoPeriod       = time.Second
	DefaultFullInfoPeriod   = 10 * time.Second
	DefaultUrgentPingPeriod = 100 * time.Millisecond
	DefaultUrgentInfoPeriod = time.Second
	DefaultTimeout          = 80 * time.Millisecond
	DefaultCommandTimeout   = 2 * time.Second
	DefaultMaxDials         = 64
)

// Options configure a Prober. Zero values take the defaults.
type Options struct {
	// PingPeriod and InfoPeriod are the global PING and INFO periods
	// (default 100ms and 1s), changed at run time by SetPeriods. A node's
	// effective period is the global one lowered to the node's own bound
	// (SetNodePeriods) and, in urgent mode, to UrgentPingPeriod and
	// UrgentInfoPeriod. The INFO sent every InfoPeriod is INFO
	// replication; see FullInfoPeriod.
	PingPeriod time.Duration
	InfoPeriod time.Duration
	// FullInfoPeriod is how often an INFO tick sends a full INFO (run id,
	// version, the text of SENTINEL INFO-CACHE) instead of INFO
	// replication; default 10s (Redis Sentinel's INFO period). Every new
	// connection starts with a full INFO too.
	FullInfoPeriod time.Duration
	// UrgentPingPeriod and UrgentInfoPeriod bound the periods of a node in
	// urgent mode (SetUrgent): default 100ms and 1s.
	UrgentPingPeriod time.Duration
	UrgentInfoPeriod time.Duration
	// Timeout bounds one probe (dial, connection setup and the command)
	// for PING and INFO; default 80ms. Keep it below PingPeriod: a hung
	// node is seen as disconnected after at most its PING period+Timeout.
	Timeout time.Duration
	// CommandTimeout bounds Promote, ReplicaOf and Role when their ctx has
	// no deadline; default 2s.
	CommandTimeout time.Duration
	// MaxDials bounds the probe connections being dialed at once (nodes
	// that are down are redialed every PING period); default 64.
	MaxDials   int
	ClientName string           // CLIENT SETNAME on every connection (e.g. "raftsentinel-ab12cd34-cmd"); "" = none
	Logger     *slog.Logger     // nil = discard
	Now        func() time.Time // clock for Observation timestamps; nil = time.Now
	// OnPing, if set, is called after every PING with its round trip and
	// error (metrics). It must not block.
	OnPing func(addr string, rtt time.Duration, err error)
	// TLSConfig, when set, makes every connection to a node TLS (Sentinel's
	// tls-replication yes): RootCAs verify the node, Certificates are the
	// client certificate. An empty ServerName is taken from the node's host.
	// The TLS handshake counts against the probe's deadline.
	TLSConfig *tls.Config
	// Dial, when set, opens the TCP connections to nodes (tests inject one
	// to cut links); nil: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultOptions are the prober's defaults; config builds its probe.*
// defaults from them.
func DefaultOptions() Options {
	return Options{PingPeriod: DefaultPingPeriod, InfoPeriod: DefaultInfoPeriod, FullInfoPeriod: DefaultFullInfoPeriod,
		UrgentPingPeriod: DefaultUrgentPingPeriod, UrgentInfoPeriod: DefaultUrgentInfoPeriod,
		Timeout: DefaultTimeout, CommandTimeout: DefaultCommandTimeout, MaxDials: DefaultMaxDials}
}

// Validate reports options no prober can run with (zero values are
// defaults, not errors).
func (o Options) Validate() error {
	o = o.withDefaults()
	if o.Timeout >= o.PingPeriod {
		return fmt.Errorf("probe: Timeout (%v) must be shorter than PingPeriod (%v)", o.Timeout, o.PingPeriod)
	}
	return nil
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	def := func(v *time.Duration, dv time.Duration) {
		if *v <= 0 {
			*v = dv
		}
	}
	def(&o.PingPeriod, d.PingPeriod)
	def(&o.InfoPeriod, d.InfoPeriod)
	def(&o.FullInfoPeriod, d.FullInfoPeriod)
	def(&o.UrgentPingPeriod, d.UrgentPingPeriod)
	def(&o.UrgentInfoPeriod, d.UrgentInfoPeriod)
	def(&o.Timeout, d.Timeout)
	def(&o.CommandTimeout, d.CommandTimeout)
	if o.MaxDials <= 0 {
		o.MaxDials = d.MaxDials
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// PingBound is the bound on the PING period of every node of a master
// whose down-after period is downAfter: a tenth of it, at most 1s (and at
// least 1ms). Passed to SetNodePeriods, it keeps the time a hung node
// takes to be subjectively down within downAfter + downAfter/10: its
// first unanswered PING is sent at most one period after it hangs.
func PingBound(downAfter time.Duration) time.Duration {
	return max(min(time.Second, downAfter/10), time.Millisecond)
}

// Prober probes a set of Redis nodes, at the cost per node of one
// connection and one goroutine:
//
//   - One probe connection per node carries its PINGs and INFOs over a
//     small RESP2 client (no go-redis pool), never more than one PING in
//     flight; an INFO tick sends INFO and PING in one write (so the PING's
//     round trip then includes the INFO's reply), and an INFO is never
//     sent behind an unanswered PING. Its goroutine reads the
//     replies and so also sees the connection close: when a node dies (or
//     restarts, or drops its clients) a PING is sent at once on a new
//     connection, so a dead node is seen as disconnected within a round
//     trip, as Sentinel sees its links close, not at the next PING. A
//     probe unanswered within Timeout (a hung node) fails as a timeout
//     and the connection is replaced; so is one after any error reply but
//     -LOADING and -MASTERDOWN.
//   - One scheduler goroutine and timer drive every node: a heap of nodes
//     by the time their next probe is due. Connections are dialed by the
//     node's goroutine, at most MaxDials at a time.
//   - Every INFO period the node gets INFO replication (all the fields
//     the brain reads every period: role, master link, offsets, priority,
//     the master's replicas), and every FullInfoPeriod, and first on every
//     new connection, a full INFO (run id, version, loading, the INFO-CACHE
//     text); while the node is or may be loading (the last full INFO said
//     so, or PING answers -LOADING), INFO replication persistence (Redis
//     >= 7; the full INFO before).
//
// Periods. A node's effective PING (INFO) period is the minimum of the
// global one (Options.PingPeriod, SetPeriods: the operator's setting,
// SENTINEL DEBUG PING-PERIOD), the node's bound (SetNodePeriods, which the
// brain derives from down-after with PingBound) and, in urgent mode
// (SetUrgent), Options.UrgentPingPeriod (UrgentInfoPeriod).
//
// All methods are safe for concurrent use. Observe never blocks on the
// network. Unwatch and Close wait for the node's goroutine to stop, which
// takes at most about Timeout (a dial in progress is abandoned at its
// deadline).
type Prober struct {
	opt   Options
	log   *slog.Logger
	dials chan struct{} // dial slots (MaxDials)

	// The global periods (SetPeriods), in nanoseconds.
	pingPeriod atomic.Int64
	infoPeriod atomic.Int64

	mu     sync.Mutex
	nodes  map[string]*node
	closed bool
	sched  *scheduler // started by the first Watch
}

// New returns a Prober that watches nothing yet (and runs no goroutine).
func New(opt Options) *Prober {
	opt = opt.withDefaults()
	p := &Prober{
		opt:   opt,
		log:   opt.Logger.With("component", "probe"),
		dials: make(chan struct{}, opt.MaxDials),
		nodes: make(map[string]*node),
	}
	p.pingPeriod.Store(int64(opt.PingPeriod))
	p.infoPeriod.Store(int64(opt.InfoPeriod))
	return p
}

// SetPeriods changes the global PING and INFO periods (SENTINEL DEBUG
// PING-PERIOD and INFO-PERIOD) at run time, for every watched node and
// for nodes watched later; a period <= 0 keeps that one. Each node's
// next probe is recounted from its last one with its new effective period
// (see Prober), so a shorter period takes effect at once.
func (p *Prober) SetPeriods(ping, info time.Duration) {
	if ping > 0 {
		p.pingPeriod.Store(int64(ping))
	}
	if info > 0 {
		p.infoPeriod.Store(int64(info))
	}
	p.eachNode(func(n *node) { p.replan(n, time.Now()) })
}

// Periods returns the current global PING and INFO periods.
func (p *Prober) Periods() (ping, info time.Duration) {
	return time.Duration(p.pingPeriod.Load()), time.Duration(p.infoPeriod.Load())
}

// SetNodePeriods bounds the PING and INFO periods of the watched node
// addr: its effective periods become min(global, bound) (and lower in
// urgent mode); a bound <= 0 removes that bound. The next probe is
// recounted from the last one, so a shorter period takes effect at once.
// The bounds last until Unwatch. It reports false, doing nothing, when
// addr is not watched: call it after Watch.
//
// The brain calls SetNodePeriods(addr, PingBound(downAfter), 0) for the
// master and every replica of a master with that down-after period (and
// again when down-after changes), so a hung node is SDOWN within
// downAfter plus at most downAfter/10 (1s at most).
func (p *Prober) SetNodePeriods(addr string, ping, info time.Duration) bool {
	return p.withNode(addr, func(n *node) {
		n.pingBound, n.infoBound = max(ping, 0), max(info, 0)
		p.replan(n, time.Now())
	})
}

// SetUrgent turns the urgent mode of the watched node addr on or off: on,
// its periods are bounded by Options.UrgentPingPeriod and UrgentInfoPeriod
// (Sentinel probes the replicas of a master in ODOWN or failover with INFO
// every second; the brain sets it for the nodes of a master it suspects,
// sees ODOWN or fails over, and clears it after). It reports false when
// addr is not watched.
func (p *Prober) SetUrgent(addr string, on bool) bool {
	return p.withNode(addr, func(n *node) {
		if n.urgent != on {
			n.urgent = on
			p.replan(n, time.Now())
		}
	})
}

// NodePeriods returns the effective PING and INFO periods of addr, and
// false if addr is not watched.
func (p *Prober) NodePeriods(addr string) (ping, info time.Duration, ok bool) {
	ok = p.withNode(addr, func(n *node) { ping, info = p.nodePeriods(n) })
	return ping, info, ok
}

// Watch starts probing addr (host:port) with the given link settings
// (credentials and command renames) and the global periods. It is
// idempotent; calling it again with different settings (Auth.Equal) drops
// the node's connection and reconnects (and AUTHs) with the new ones at
// once, without waiting for the next period (the Observation is kept);
// every later command uses the new renames. After Close it is a no-op.
func (p *Prober) Watch(addr string, auth Auth) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if n, ok := p.nodes[addr]; ok {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.auth.Equal(auth) {
			return
		}
		n.auth = auth
		p.log.Info("credentials or renamed commands changed: reconnecting", "addr", addr, "user", auth.User)
		if n.cn != nil {
			p.drop(n, n.cn)
		}
		if !n.wantPing {
			p.wantPing(n)
		}
		n.wantInfo = true
		p.step(n, time.Now())
		return
	}
	if p.sched == nil {
		p.sched = newScheduler(p.fire)
	}
	ctx, cancel := context.WithCancel(context.Background())
	now := time.Now()
	n := &node{
		addr: addr, ctx: ctx, cancel: cancel, hidx: -1,
		auth:     auth,
		obs:      Observation{Addr: addr, Priority: 100, ReplicaAnnounced: true},
		nextPing: now, nextInfo: now,
	}
	p.nodes[addr] = n
	n.mu.Lock()
	p.step(n, now)
	n.mu.Unlock()
	p.log.Debug("watching node", "addr", addr)
}

// fire is the scheduler's callback for a node that fell due.
func (p *Prober) fire(n *node) {
	n.mu.Lock()
	p.step(n, time.Now())
	n.mu.Unlock()
}

// Unwatch stops probing addr, forgets its Observation and waits for its
// goroutine to end. Unknown addresses are ignored.
func (p *Prober) Unwatch(addr string) {
	p.mu.Lock()
	n, ok := p.nodes[addr]
	if ok {
		delete(p.nodes, addr)
	}
	p.mu.Unlock()
	if !ok {
		return
	}
	p.stopNode(n)
	p.log.Debug("stopped watching node", "addr", addr)
}

// stopNode ends n's events, its connection and its goroutine.
func (p *Prober) stopNode(n *node) {
	n.mu.Lock()
	n.gone = true
	if n.cn != nil {
		p.drop(n, n.cn)
	}
	p.sched.schedule(n, time.Time{})
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
}

// Watched returns the watched addresses, sorted.
func (p *Prober) Watched() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.nodes))
	for a := range p.nodes {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Observe returns a copy of the latest Observation of addr, and false if
// addr is not watched.
func (p *Prober) Observe(addr string) (Observation, bool) {
	var o Observation
	ok := p.withNode(addr, func(n *node) {
		o = n.obs
		o.Replicas = slices.Clone(n.obs.Replicas)
	})
	return o, ok
}

// RefreshInfo asks for an INFO of addr now instead of at the next period
// (e.g. while waiting for a promotion to show): INFO replication, or the
// full INFO when one is due; after the INFO awaiting its reply, if any.
// It does not wait and is a no-op for unknown addresses.
func (p *Prober) RefreshInfo(addr string) {
	p.withNode(addr, func(n *node) {
		n.wantInfo = true
		p.step(n, time.Now())
	})
}

// Close stops every probe goroutine and closes every connection, waiting
// for them. Later Watch calls are no-ops. Close is idempotent and always
// returns nil.
func (p *Prober) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	nodes := p.nodes
	p.nodes = map[string]*node{}
	sched := p.sched
	p.mu.Unlock()
	for _, n := range nodes {
		p.stopNode(n)
	}
	if sched != nil {
		sched.stop()
	}
	return nil
}

// withNode calls fn with addr's node locked and reports whether addr is
// watched.
func (p *Prober) withNode(addr string, fn func(*node)) bool {
	p.mu.Lock()
	n, ok := p.nodes[addr]
	p.mu.Unlock()
	if !ok {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.gone {
		return false
	}
	fn(n)
	return true
}

// eachNode calls fn with every watched node locked in turn.
func (p *Prober) eachNode(fn func(*node)) {
	p.mu.Lock()
	nodes := make([]*node, 0, len(p.nodes))
	for _, n := range p.nodes {
		nodes = append(nodes, n)
	}
	p.mu.Unlock()
	for _, n := range nodes {
		n.mu.Lock()
		if !n.gone {
			fn(n)
		}
		n.mu.Unlock()
	}
}

// dialer is the connection factory of every connection: Options.Dial (or
// a net.Dialer), then TLS when Options.TLSConfig is set.
func (p *Prober) dialer() *dialer {
	return &dialer{dial: p.opt.Dial, tls: p.opt.TLSConfig}
}
