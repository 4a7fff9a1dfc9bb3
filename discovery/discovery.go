// Package discovery lets raftsentinel monitors started from Redis
// sentinel.conf files, with no peer list, find each other and form one Raft
// group by themselves, as Redis Sentinels find each other: every monitor
// PUBLISHes a hello message about every two seconds to the
// __sentinel__:hello channel of each monitored master and its replicas,
// and subscribes to that channel.
//
// # How the group forms, and why only one forms
//
// A monitor with Raft state (it bootstrapped, joined, or was configured
// with peers before) never bootstraps: quorum.Store.Bootstrap refuses and
// so does raft. A fresh monitor (no state) announces Group "" and:
//
//  1. joins, through the quorum join mechanism (OpJoin sent to the
//     monitor's http-addr, forwarded to the Raft leader), any monitor whose
//     recent hello announces a group;
//  2. otherwise bootstraps a one-voter group of its own only when all of
//     these hold: it has listened for Settle (three hello periods) with its
//     own hello coming back to it over the channel within the last two
//     periods (its subscription and publications work); it has heard from
//     at least Expected-1 other fresh monitors within Settle; its node id is
//     lower than every one of theirs; and no hello it heard announces a
//     group.
//
// All hellos about a master go through that one master's channel, which
// every monitor of the master both writes and reads. Suppose fresh monitors
// A and B both bootstrapped, A < B. B bootstrapped after a Settle window in
// which its channel worked and it heard no A: so A was not publishing
// during B's window, i.e. A started publishing after B's window ended, when
// B already had a group. B announces that group in every later hello, so
// during A's own Settle window A hears a grouped hello and joins instead
// (rule 2 requires no grouped hello). Symmetrically B cannot ignore a
// fresh A that publishes during B's window: A < B would make B lose rule 2.
// Two groups can therefore form only if the channel drops messages that
// were published while both subscriptions were up, and for a whole Settle
// window (Pub/Sub loses messages only across a broken connection, and the
// self-echo check makes a monitor whose link is broken wait). A member
// that does not know its group's id yet (its join's reply was lost)
// announces UnknownGroup, which counts as grouped, and learns the id from
// the other members' hellos; it never makes one up. As a last
// line of defence, a monitor in a group that hears a hello announcing a
// different group logs an error and counts it in
// raftsentinel_discovery_foreign_groups (the operator then has one of the
// groups' monitors leave and join the other).
//
// # Redis Sentinels on the same master
//
// A Redis Sentinel's hello has exactly eight fields. If one appears on a
// monitored master's channel, that master is shared with a real Sentinel
// deployment, which could fail it over too: two independent failover
// authorities split the brain. The discoverer reports the master through
// Refused (the brain then refuses to fail it over, CKQUORUM explains why)
// until no Sentinel hello has been heard for ForeignWindow.
//
// # Monitors that went away
//
// The Raft leader removes (OpLeave, which keeps at least every master's
// quorum) a member heard from neither by hello nor by Raft registration for
// ForgetAfter, as long as at least a majority of Expected remains. A removed
// monitor keeps its Raft state and so never joins by itself: when the leader
// hears it again (a hello announcing this group from a non-member), it adds
// it back.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftsentinel/raftsentinel/internal/options"
	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/raftsentinel/raftsentinel/state"
)

// Store is the part of *quorum.Store the discoverer uses.
type Store interface {
	HasGroup() bool
	Bootstrap(ctx context.Context) error
	IsLeader() bool
	Servers() (map[string]string, error)
	Propose(ctx context.Context, cmd state.Command) error
	State() *state.State
}

// Bus carries hellos (implemented by *probe.HelloBus).
type Bus interface {
	Watch(addr string, auth probe.Auth)
	Unwatch(addr string)
	Watched() []string
	Publish(ctx context.Context, addr, payload string) error
	Messages() <-chan probe.HelloMessage
}

// Joiner asks the monitor whose http-addr is given to add self to its
// group (state.OpJoin through quorum.HTTPForwarder in production).
type Joiner func(ctx context.Context, httpAddr string, self state.Monitor) error

// Master is a monitored master as configured (before any group exists).
type Master struct {
	Name     string
	Addr     state.Addr
	Auth     probe.Auth
	Replicas []state.Addr
}

// Default option values: Sentinel's hello period and raftsentinel's
// group size and forget-after.
const (
	DefaultExpected    = 3
	DefaultPeriod      = 2 * time.Second
	DefaultForgetAfter = 5 * time.Minute
)

// Options configure a Discoverer. Zero values take the defaults noted
// (see DefaultOptions).
type Options struct {
	Self     state.Monitor // ID, RaftAddr, HTTPAddr, Announce, RunID
	Masters  []Master
	Expected int           // group size to wait for before forming; default 3
	Period   time.Duration // hello period; default 2s
	// Settle is how long a fresh monitor listens before it may bootstrap;
	// default 3 periods.
	Settle time.Duration
	// ForgetAfter: a member unheard for longer is removed; default 5m.
	ForgetAfter time.Duration
	// ForeignWindow: a master is refused while a Redis Sentinel hello was
	// heard within it; default 5 periods (at least 10s).
	ForeignWindow time.Duration
	// Config are group-wide SENTINEL CONFIG settings of the sentinel.conf
	// (resolve-hostnames, announce-hostnames): committed once in a group,
	// each only if the state has no value for it yet (a value set at run
	// time with SENTINEL CONFIG SET wins).
	Config [][2]string
	// GroupFile persists the id of the group this monitor belongs to.
	GroupFile string
	Join      Joiner
	// Publish, if set, receives the events of discovery: when a Redis
	// Sentinel is first heard on a master's channel,
	// "+redis-sentinel-present" with Sentinel's instance format
	// "sentinel <runid> <ip> <port> @ <master> <master-ip> <master-port>".
	// It is called without locks held and must not block for long.
	Publish  func(channel, msg string)
	Logger   *slog.Logger
	Registry prometheus.Registerer // nil: no metrics
	Now      func() time.Time
}

// Discoverer runs hello discovery for one monitor. Create it with New and
// run it with Run; Refused and Peers are safe for concurrent use.
type Discoverer struct {
	store Store
	bus   Bus
	opt   Options
	log   *slog.Logger
	now   func() time.Time

	mu       sync.Mutex
	started  time.Time
	selfEcho time.Time
	peers    map[string]peer                 // raftsentinel monitors by node id
	foreign  map[string]map[string]time.Time // master -> "ip:port runid" -> last heard
	refused  map[string]string               // master -> reason logged
	group    string
	groups   map[string]bool // foreign groups already reported
	nodeOf   map[string][]string
	leaderAt time.Time
	seeded   bool   // the file's known replicas were committed
	waiting  string // last "no group yet" state logged

	foreignGauge  *prometheus.GaugeVec
	foreignGroups prometheus.Counter
	removed       prometheus.Counter
}

type peer struct {
	hello Hello
	seen  time.Time
}

// DefaultOptions are the discoverer's defaults; config builds its drop-in
// defaults (expected monitors, hello period, forget-after) from them.
// Settle and ForeignWindow stay 0: they follow Period.
func DefaultOptions() Options {
	return Options{Expected: DefaultExpected, Period: DefaultPeriod, ForgetAfter: DefaultForgetAfter}
}

// Validate reports options no discoverer can run with (zero values are
// defaults, not errors).
func (o Options) Validate() error {
	if err := options.NonNegative("discovery", options.F("Expected", o.Expected)); err != nil {
		return err
	}
	if err := options.NonNegative("discovery", options.F("Period", o.Period), options.F("Settle", o.Settle),
		options.F("ForgetAfter", o.ForgetAfter), options.F("ForeignWindow", o.ForeignWindow)); err != nil {
		return err
	}
	if o = o.withDefaults(); o.ForgetAfter <= o.Period {
		return fmt.Errorf("discovery: Options.ForgetAfter (%v) must be longer than Period (%v)", o.ForgetAfter, o.Period)
	}
	return nil
}

// withDefaults fills in the zero (or negative) options.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	options.Default(&o.Expected, d.Expected)
	options.Default(&o.Period, d.Period)
	options.Default(&o.Settle, 3*o.Period)
	options.Default(&o.ForgetAfter, d.ForgetAfter)
	options.Default(&o.ForeignWindow, max(5*o.Period, 10*time.Second))
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// New returns a Discoverer; zero options take their defaults.
func New(store Store, bus Bus, opt Options) *Discoverer {
	opt = opt.withDefaults()
	d := &Discoverer{store: store, bus: bus, opt: opt, log: opt.Logger.With("component", "discovery"), now: opt.Now,
		peers: map[string]peer{}, foreign: map[string]map[string]time.Time{}, refused: map[string]string{},
		groups: map[string]bool{}, nodeOf: map[string][]string{},
		foreignGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "raftsentinel_discovery_redis_sentinels",
			Help: "Redis Sentinels heard on the master's hello channel recently (> 0: raftsentinel refuses to fail it over)."}, []string{"master"}),
		foreignGroups: prometheus.NewCounter(prometheus.CounterOpts{Name: "raftsentinel_discovery_foreign_groups_total",
			Help: "Hellos heard from monitors of another raftsentinel group on a monitored master."}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{Name: "raftsentinel_discovery_removed_monitors_total",
			Help: "Members removed by this monitor (as leader) after going unheard for forget-after."}),
	}
	if b, err := os.ReadFile(opt.GroupFile); err == nil {
		d.group = strings.TrimSpace(string(b))
	}
	if opt.Registry != nil {
		opt.Registry.MustRegister(d.foreignGauge, d.foreignGroups, d.removed)
	}
	return d
}

// Run publishes hellos and acts on what it hears until ctx is done; it
// unwatches every node it watched before returning.
func (d *Discoverer) Run(ctx context.Context) error {
	d.mu.Lock()
	d.started = d.now()
	d.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-d.bus.Messages():
				if !ok {
					return
				}
				d.receive(m)
			}
		}
	}()
	t := time.NewTicker(d.opt.Period)
	defer t.Stop()
	for {
		d.step(ctx)
		select {
		case <-ctx.Done():
			wg.Wait()
			for _, a := range d.bus.Watched() {
				d.bus.Unwatch(a)
			}
			return nil
		case <-t.C:
		}
	}
}

// Group returns the id of this monitor's group, "" while it has none.
func (d *Discoverer) Group() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.group
}

// Refused returns why this monitor must not fail master over ("" if it
// may): Redis Sentinels were heard on its hello channel.
func (d *Discoverer) Refused(master string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refusedLocked(master, d.now())
}

func (d *Discoverer) refusedLocked(master string, now time.Time) string {
	var who []string
	for k, t := range d.foreign[master] {
		if now.Sub(t) <= d.opt.ForeignWindow {
			who = append(who, k)
		}
	}
	if len(who) == 0 {
		return ""
	}
	slices.Sort(who)
	return fmt.Sprintf("Redis Sentinel %s also monitors this master (hello on %s); raftsentinel will not fail it over while both do",
		strings.Join(who, ", "), probe.HelloChannel)
}

// EvRedisSentinel is published when a Redis Sentinel is first heard on a
// monitored master's hello channel.
const EvRedisSentinel = "+redis-sentinel-present"

// masterAddr returns master's configured address (the event's instance
// details); d.mu is held.
func (d *Discoverer) masterAddr(name string) state.Addr {
	for _, m := range d.opt.Masters {
		if m.Name == name {
			return m.Addr
		}
	}
	return state.Addr{}
}

// receive handles one message from the bus.
func (d *Discoverer) receive(m probe.HelloMessage) {
	h, err := ParseHello(m.Payload)
	if err != nil {
		d.log.Debug("ignored hello", "node", m.Node, "err", err)
		return
	}
	now := d.now()
	var events []string
	defer func() {
		for _, e := range events {
			if d.opt.Publish != nil {
				d.opt.Publish(EvRedisSentinel, e)
			}
		}
	}()
	d.mu.Lock()
	defer d.mu.Unlock()
	if !h.Raftsentinel {
		for _, master := range d.nodeOf[m.Node] {
			if d.foreign[master] == nil {
				d.foreign[master] = map[string]time.Time{}
			}
			key := h.IP + ":" + strconv.Itoa(h.Port) + " " + h.RunID
			if last, known := d.foreign[master][key]; !known || now.Sub(last) > d.opt.ForeignWindow {
				ma := d.masterAddr(master)
				events = append(events, fmt.Sprintf("sentinel %s %s %d @ %s %s %d", h.RunID, h.IP, h.Port, master, ma.Host, ma.Port))
				d.log.Error("a Redis Sentinel monitors this master too: refusing to fail it over while it does",
					"master", master, "sentinel", h.IP+":"+strconv.Itoa(h.Port), "sentinel_runid", h.RunID, "node", m.Node)
			}
			d.foreign[master][key] = now
		}
		return
	}
	if h.NodeID == d.opt.Self.ID {
		d.selfEcho = now
		return
	}
	d.peers[h.NodeID] = peer{hello: h, seen: now}
	if h.Group != "" && h.Group != UnknownGroup && d.group != "" && d.group != UnknownGroup && h.Group != d.group && !d.groups[h.Group] {
		d.groups[h.Group] = true
		d.foreignGroups.Inc()
		d.log.Error("a monitor of another raftsentinel group monitors the same master; have one group's monitors leave and join the other",
			"monitor", h.NodeID, "its_group", h.Group, "our_group", d.group)
	}
}

// targets returns, by master name, the nodes to exchange hellos with: the
// configured ones, and those of the state the store serves — the committed
// master and replicas once in a group, before that the masters taken at
// run time with SENTINEL MONITOR (held by the store).
func (d *Discoverer) targets() (map[string][]state.Addr, map[string]Master) {
	out := map[string][]state.Addr{}
	info := map[string]Master{}
	for _, m := range d.opt.Masters {
		out[m.Name] = append([]state.Addr{m.Addr}, m.Replicas...)
		info[m.Name] = m
	}
	for name, ms := range d.store.State().Masters {
		list := append([]state.Addr{ms.Addr}, ms.Replicas...)
		if old, ok := out[name]; ok && !slices.Contains(list, old[0]) {
			list = append(list, old[0]) // the configured one too (a new monitor may only know it)
		}
		out[name] = list
		info[name] = Master{Name: name, Addr: ms.Addr, Auth: probe.Auth{User: ms.AuthUser, Pass: ms.AuthPass, Renames: maps.Clone(ms.RenameCommands)}, Replicas: ms.Replicas}
	}
	return out, info
}

func (d *Discoverer) step(ctx context.Context) {
	now := d.now()
	targets, info := d.targets()
	nodeOf := map[string][]string{}
	for name, list := range targets {
		for _, a := range list {
			nodeOf[a.String()] = append(nodeOf[a.String()], name)
		}
	}
	for _, a := range d.bus.Watched() {
		if _, ok := nodeOf[a]; !ok {
			d.bus.Unwatch(a)
		}
	}
	for name, list := range targets {
		for _, a := range list {
			d.bus.Watch(a.String(), info[name].Auth)
		}
	}
	d.mu.Lock()
	d.nodeOf = nodeOf
	group := d.group
	d.mu.Unlock()

	grouped := d.store.HasGroup()
	if grouped && (group == "" || group == UnknownGroup) {
		// A member that does not know its group's id (its join's reply was
		// lost, or it was added back): learn it from the other members'
		// hellos, and announce UnknownGroup (still "grouped") meanwhile.
		if g := d.learnGroup(); g != "" {
			group = g
			d.setGroup(g)
		} else {
			group = UnknownGroup
		}
	}
	var epoch uint64
	var epochs map[string]uint64
	if grouped {
		st := d.store.State()
		epoch = st.CurrentEpoch
		epochs = map[string]uint64{}
		for n, ms := range st.Masters {
			epochs[n] = ms.ConfigEpoch
		}
	}
	for name, list := range targets {
		m := info[name]
		h := Hello{IP: d.opt.Self.Announce.Host, Port: d.opt.Self.Announce.Port, RunID: d.opt.Self.RunID,
			CurrentEpoch: epoch, MasterName: name, MasterIP: m.Addr.Host, MasterPort: m.Addr.Port, ConfigEpoch: epochs[name],
			Raftsentinel: true, NodeID: d.opt.Self.ID, RaftAddr: d.opt.Self.RaftAddr, HTTPAddr: d.opt.Self.HTTPAddr}
		if grouped {
			h.Group = group
		}
		for _, a := range list {
			if err := d.bus.Publish(ctx, a.String(), h.Format()); err != nil {
				d.log.Debug("hello not sent", "node", a.String(), "err", err)
			}
		}
	}
	d.updateRefusals(now)
	if !grouped {
		d.form(ctx, now)
		return
	}
	d.seedReplicas(ctx)
	if d.store.IsLeader() {
		d.forget(ctx, now)
		d.readmit(ctx, now, group)
	} else {
		d.mu.Lock()
		d.leaderAt = time.Time{}
		d.mu.Unlock()
	}
}

// UnknownGroup is announced by a member that does not know its group's id
// yet: it counts as grouped (fresh monitors join through it, none
// bootstraps because of it).
const UnknownGroup = "?"

// learnGroup returns the group id announced by the other members of this
// monitor's Raft configuration (the most common one), "" if none is known.
func (d *Discoverer) learnGroup() string {
	servers, err := d.store.Servers()
	if err != nil {
		return ""
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	count := map[string]int{}
	for id, p := range d.peers {
		if _, member := servers[id]; member && p.hello.Group != "" && p.hello.Group != UnknownGroup {
			count[p.hello.Group]++
		}
	}
	best := ""
	for g, n := range count {
		if best == "" || n > count[best] || (n == count[best] && g < best) {
			best = g
		}
	}
	return best
}

func (d *Discoverer) setGroup(g string) {
	d.mu.Lock()
	d.group = g
	d.mu.Unlock()
	if d.opt.GroupFile != "" {
		if err := os.WriteFile(d.opt.GroupFile, []byte(g+"\n"), 0o600); err != nil {
			d.log.Warn("could not record the group id", "file", d.opt.GroupFile, "err", err)
		}
	}
}

// updateRefusals logs refusals that start or end and sets the gauge.
func (d *Discoverer) updateRefusals(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.opt.Masters {
		n := 0
		for _, t := range d.foreign[m.Name] {
			if now.Sub(t) <= d.opt.ForeignWindow {
				n++
			}
		}
		d.foreignGauge.WithLabelValues(m.Name).Set(float64(n))
		r := d.refusedLocked(m.Name, now)
		if r == "" && d.refused[m.Name] != "" {
			d.log.Warn("no Redis Sentinel heard on the master's hello channel any more: failover allowed again", "master", m.Name)
		}
		d.refused[m.Name] = r
	}
}

// form joins an announced group or, when the rules of the package comment
// allow it, bootstraps one.
func (d *Discoverer) form(ctx context.Context, now time.Time) {
	d.mu.Lock()
	fresh := 0
	lowest := true
	var groupedPeers []Hello
	for _, p := range d.peers {
		if now.Sub(p.seen) > d.opt.Settle {
			continue
		}
		if p.hello.Group != "" {
			groupedPeers = append(groupedPeers, p.hello)
			continue
		}
		fresh++
		if p.hello.NodeID < d.opt.Self.ID {
			lowest = false
		}
	}
	echo := !d.selfEcho.IsZero() && now.Sub(d.selfEcho) <= 2*d.opt.Period
	settled := now.Sub(d.started) >= d.opt.Settle
	d.mu.Unlock()

	if len(groupedPeers) > 0 {
		slices.SortFunc(groupedPeers, func(a, b Hello) int { return strings.Compare(a.NodeID, b.NodeID) })
		for _, h := range groupedPeers {
			if d.opt.Join == nil {
				return
			}
			jctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := d.opt.Join(jctx, h.HTTPAddr, d.opt.Self)
			cancel()
			if err == nil {
				if h.Group != UnknownGroup {
					d.setGroup(h.Group)
				}
				d.log.Info("joined the monitor group announced by hello", "group", h.Group, "via", h.NodeID)
				return
			}
			d.log.Warn("join failed; retrying", "group", h.Group, "via", h.NodeID, "err", err)
		}
		return
	}
	if !settled || !echo || !lowest || fresh < d.opt.Expected-1 {
		why := fmt.Sprintf("heard %d of the %d other monitors expected", fresh, d.opt.Expected-1)
		switch {
		case !echo && settled:
			why = "own hello not heard back on the masters' " + probe.HelloChannel + " (master unreachable?)"
		case fresh >= d.opt.Expected-1 && !lowest:
			why = "waiting for the monitor with the lowest id to form the group"
		}
		d.mu.Lock()
		changed := why != d.waiting
		d.waiting = why
		d.mu.Unlock()
		if changed {
			d.log.Info("no monitor group yet", "state", why)
		}
		return
	}
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := d.store.Bootstrap(bctx)
	cancel()
	if err != nil && !errors.Is(err, quorum.ErrHasState) {
		d.log.Warn("bootstrap failed", "err", err)
		return
	}
	d.setGroup(d.opt.Self.ID)
	d.log.Info("formed the monitor group (lowest id among the monitors heard)", "group", d.opt.Self.ID, "others_heard", fresh)
}

// forget removes members unheard for ForgetAfter (leader only).
func (d *Discoverer) forget(ctx context.Context, now time.Time) {
	d.mu.Lock()
	if d.leaderAt.IsZero() {
		d.leaderAt = now // count silence only from when we lead
	}
	leaderAt := d.leaderAt
	heard := map[string]time.Time{}
	for id, p := range d.peers {
		heard[id] = p.seen
	}
	d.mu.Unlock()
	servers, err := d.store.Servers()
	if err != nil {
		return
	}
	st := d.store.State()
	majority := d.opt.Expected/2 + 1
	for id := range servers {
		if id == d.opt.Self.ID || len(servers)-1 < majority {
			continue
		}
		last := leaderAt
		if heard[id].After(last) {
			last = heard[id]
		}
		if m, ok := st.Monitors[id]; ok && m.SeenAt.After(last) {
			last = m.SeenAt
		}
		if now.Sub(last) <= d.opt.ForgetAfter {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := d.store.Propose(pctx, state.Command{Op: state.OpLeave, MonitorID: id})
		cancel()
		if err != nil {
			d.log.Warn("could not remove a monitor gone silent", "monitor", id, "silent_for", now.Sub(last).Round(time.Second), "err", err)
			continue
		}
		d.removed.Inc()
		d.log.Warn("removed a monitor gone silent", "monitor", id, "silent_for", now.Sub(last).Round(time.Second))
		delete(servers, id)
	}
}

// GroupFile is the conventional place of the group id in a data dir.
func GroupFile(dataDir string) string { return filepath.Join(dataDir, "group") }

// readmit adds back (leader only) a monitor of this group that is heard
// again after it was removed: it keeps its Raft state, so it would never
// join by itself.
func (d *Discoverer) readmit(ctx context.Context, now time.Time, group string) {
	servers, err := d.store.Servers()
	if err != nil {
		return
	}
	d.mu.Lock()
	var back []Hello
	for id, p := range d.peers {
		if _, member := servers[id]; !member && (p.hello.Group == group || p.hello.Group == UnknownGroup) && now.Sub(p.seen) <= 2*d.opt.Period {
			back = append(back, p.hello)
		}
	}
	d.mu.Unlock()
	for _, h := range back {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := d.store.Propose(pctx, state.Command{Op: state.OpJoin, Monitor: &state.Monitor{ID: h.NodeID, RaftAddr: h.RaftAddr}})
		cancel()
		if err != nil {
			d.log.Warn("could not add back a monitor heard again", "monitor", h.NodeID, "err", err)
			continue
		}
		d.log.Info("added back a monitor heard again after its removal", "monitor", h.NodeID)
	}
}

// seedReplicas commits, once in a group, the known-replica addresses of
// the sentinel.conf that the state lacks (as Sentinel starts with its
// known replicas, so that a master down at start can still be failed
// over), and the file's group-wide SENTINEL CONFIG settings the state has
// no value for. Replica selection still checks each one's role and health.
func (d *Discoverer) seedReplicas(ctx context.Context) {
	d.mu.Lock()
	done := d.seeded
	d.mu.Unlock()
	if done {
		return
	}
	st := d.store.State()
	for _, m := range d.opt.Masters {
		ms, ok := st.Masters[m.Name]
		if !ok {
			return // the master is not committed yet: try again next period
		}
		var add []state.Addr
		for _, r := range m.Replicas {
			if r != ms.Addr && !slices.Contains(ms.Replicas, r) {
				add = append(add, r)
			}
		}
		if len(add) == 0 {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := d.store.Propose(pctx, state.Command{Op: state.OpReplicas, Master: m.Name, Replicas: add})
		cancel()
		if err != nil {
			d.log.Debug("known replicas not committed yet", "master", m.Name, "err", err)
			return
		}
	}
	var unset []string
	for _, kv := range d.opt.Config {
		if _, set := st.Config[kv[0]]; !set {
			unset = append(unset, kv[0], kv[1])
		}
	}
	if len(unset) > 0 {
		pairs, err := state.ValidateConfigSet(unset)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = d.store.Propose(pctx, state.Command{Op: state.OpConfigSet, MonitorID: d.opt.Self.ID, Config: pairs})
			cancel()
		}
		if err != nil {
			d.log.Debug("the file's SENTINEL CONFIG settings not committed yet", "err", err)
			return
		}
	}
	d.mu.Lock()
	d.seeded = true
	d.mu.Unlock()
}
