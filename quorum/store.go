package quorum

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/raftsentinel/raftsentinel/state"
)

// Errors of the Store (the FSM's own are state's).
var (
	ErrNotLeader  = errors.New("quorum: not the raft leader")
	ErrNoLeader   = errors.New("quorum: no known raft leader")
	ErrClosed     = errors.New("quorum: store closed")
	ErrMembership = errors.New("quorum: membership change refused")
)

// Peer is one initial voter.
type Peer struct {
	ID       string
	RaftAddr string
}

// Options configure a Store. Zero durations take the defaults noted.
type Options struct {
	ID       string // raft server id (required)
	RaftAddr string // bind and advertise address, host:port (required; port 0 picks one)
	DataDir  string // raft log, stable store and snapshots live here (required)
	// Peers are the initial voters, self included. A store with no existing
	// state bootstraps the group from them; every member must be given the
	// same list. Empty: start without bootstrapping (to be joined later).
	Peers []Peer

	HeartbeatTimeout   time.Duration // default 500ms
	ElectionTimeout    time.Duration // default 500ms
	LeaderLeaseTimeout time.Duration // default 250ms
	CommitTimeout      time.Duration // default 50ms (hashicorp/raft's); see announceCommit
	SnapshotInterval   time.Duration // default 30s
	SnapshotThreshold  uint64        // default 2048
	ApplyTimeout       time.Duration // bound of one Apply when ctx has none; default 2s

	// Listener, when set, is used for the raft transport instead of
	// listening on RaftAddr (tests pass 127.0.0.1:0 listeners they opened
	// first so every peer's address is known before bootstrap).
	Listener net.Listener

	// Forward sends a command to the leader whose monitor record is given,
	// for Propose on a follower. Nil: Propose on a follower fails with
	// ErrNotLeader.
	Forward func(ctx context.Context, leader state.Monitor, cmd state.Command) (index uint64, err error)

	// Security protects the raft transport (TLS, cluster secret) and the
	// forwarded-proposal handler (cluster secret). Zero: plain TCP.
	Security Security
	// Dial, when set, dials raft connections to peers (tests inject one to
	// cut links); nil: a net.Dialer.
	Dial DialFunc

	Logger *slog.Logger
}

// DefaultOptions are the store's timing defaults (LAN values); config
// builds its raft.* defaults from them.
func DefaultOptions() Options {
	return Options{HeartbeatTimeout: 500 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond, CommitTimeout: 50 * time.Millisecond,
		SnapshotInterval: 30 * time.Second, SnapshotThreshold: 2048, ApplyTimeout: 2 * time.Second}
}

// Validate reports timings raft cannot run with (zero values are defaults,
// not errors); hashicorp/raft's own ValidateConfig runs in Open too.
func (o Options) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"HeartbeatTimeout", o.HeartbeatTimeout}, {"ElectionTimeout", o.ElectionTimeout},
		{"LeaderLeaseTimeout", o.LeaderLeaseTimeout}, {"CommitTimeout", o.CommitTimeout},
		{"SnapshotInterval", o.SnapshotInterval}, {"ApplyTimeout", o.ApplyTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("quorum: Options.%s must not be negative, got %v", d.name, d.v)
		}
	}
	return nil
}

// Store owns the Raft node and the FSM. All methods are safe for concurrent
// use. Effects of applied entries are delivered, in order, on the channel
// returned by Effects; the store never blocks raft on a slow reader (effects
// queue without bound in memory until read).
type Store struct {
	opt    Options
	log    *slog.Logger
	fsm    *FSM
	raft   *raft.Raft
	trans  *raft.NetworkTransport
	bolt   *raftboltdb.BoltStore
	obsCh  chan raft.Observation
	obs    *raft.Observer
	leader chan struct{} // signalled (coalesced) on leadership changes

	effMu   sync.Mutex
	effQ    []state.Effect
	effWake chan struct{}
	effOut  chan state.Effect

	refusedRaft atomic.Int64 // inbound raft connections that failed TLS or the secret
	refusedHTTP atomic.Int64 // forwarded proposals without a valid secret proof

	held        *held // changes taken before a group exists (held.go)
	heldWake    chan struct{}
	preview     atomic.Pointer[preview] // last known state, until the FSM catches up (lastknown.go)
	lastKnownMu sync.Mutex              // one writer of the last known state at a time
	saveNow     chan struct{}           // a configuration change applied: save it now

	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
}

// Open creates or reopens a store in opt.DataDir and starts its raft node.
func Open(opt Options) (*Store, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{opt: opt, log: opt.Logger, leader: make(chan struct{}, 1),
		effWake: make(chan struct{}, 1), effOut: make(chan state.Effect), done: make(chan struct{}), heldWake: make(chan struct{}, 1), saveNow: make(chan struct{}, 1)}
	s.fsm = NewFSM(s.enqueueEffects)
	s.fsm.configApplied = func() {
		select {
		case s.saveNow <- struct{}{}:
		default:
		}
	}
	if err := checkDataDir(opt.DataDir); err != nil {
		return nil, err
	}
	if s.held, err = loadHeld(opt.DataDir); err != nil {
		return nil, err
	}
	last, err := loadLastKnown(opt.DataDir)
	if err != nil {
		return nil, err
	}
	hlog := newHCLogger(opt.Logger.With("component", "raft"))
	conf, err := opt.raftConfig(hlog)
	if err != nil {
		return nil, err
	}
	snaps, err := s.openStorage(hlog)
	if err != nil {
		return nil, err
	}
	if err := s.openTransport(hlog); err != nil {
		s.bolt.Close()
		return nil, err
	}
	if err := s.startRaft(conf, snaps); err != nil {
		s.trans.Close()
		s.bolt.Close()
		return nil, err
	}
	if last != nil && !s.applied(last.index) {
		s.preview.Store(last)
	}
	s.wg.Add(4)
	go s.watchLeader()
	go s.pumpEffects()
	go s.keepLastKnown()
	go s.replayHeld()
	return s, nil
}

// withDefaults fills the zero durations and counts from DefaultOptions and
// validates the result.
func (opt Options) withDefaults() (Options, error) {
	if opt.Listener != nil && opt.RaftAddr == "" {
		opt.RaftAddr = opt.Listener.Addr().String()
	}
	if opt.ID == "" || opt.RaftAddr == "" || opt.DataDir == "" {
		return opt, fmt.Errorf("quorum: Options.ID, RaftAddr and DataDir are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	dflt := DefaultOptions()
	def(&opt.HeartbeatTimeout, dflt.HeartbeatTimeout)
	def(&opt.ElectionTimeout, dflt.ElectionTimeout)
	def(&opt.LeaderLeaseTimeout, dflt.LeaderLeaseTimeout)
	def(&opt.CommitTimeout, dflt.CommitTimeout)
	def(&opt.SnapshotInterval, dflt.SnapshotInterval)
	def(&opt.ApplyTimeout, dflt.ApplyTimeout)
	if opt.SnapshotThreshold == 0 {
		opt.SnapshotThreshold = dflt.SnapshotThreshold
	}
	if err := opt.Validate(); err != nil {
		return opt, err
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return opt, nil
}

// raftConfig is hashicorp/raft's configuration for these options.
func (opt Options) raftConfig(hlog hclog.Logger) (*raft.Config, error) {
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(opt.ID)
	conf.HeartbeatTimeout = opt.HeartbeatTimeout
	conf.ElectionTimeout = opt.ElectionTimeout
	conf.LeaderLeaseTimeout = opt.LeaderLeaseTimeout
	conf.CommitTimeout = opt.CommitTimeout
	conf.SnapshotInterval = opt.SnapshotInterval
	conf.SnapshotThreshold = opt.SnapshotThreshold
	conf.Logger = hlog
	if err := raft.ValidateConfig(conf); err != nil {
		return nil, fmt.Errorf("quorum: raft config: %w", err)
	}
	return conf, nil
}

// openStorage opens the log and stable store (raft.db, into s.bolt) and
// the snapshot store of the data dir, checking the snapshots against the
// log. On error nothing stays open.
func (s *Store) openStorage(hlog hclog.Logger) (*raft.FileSnapshotStore, error) {
	dir := s.opt.DataDir
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("quorum: open raft store %s: %w", filepath.Join(dir, "raft.db"), err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hlog)
	if err != nil {
		bolt.Close()
		return nil, fmt.Errorf("quorum: snapshot store in %s: %w", dir, err)
	}
	if err := checkSnapshots(dir, snaps, bolt, bolt); err != nil {
		bolt.Close()
		return nil, err
	}
	s.bolt = bolt
	return snaps, nil
}

// openTransport listens (unless Options.Listener is given) and builds the
// Raft transport over the secured stream layer; s.opt.RaftAddr becomes
// the advertised address.
func (s *Store) openTransport(hlog hclog.Logger) error {
	opt := s.opt
	ln := opt.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", opt.RaftAddr)
		if err != nil {
			return fmt.Errorf("quorum: raft listen %s: %w", opt.RaftAddr, err)
		}
	}
	adv := ln.Addr().(*net.TCPAddr)
	// MaxRPCsInFlight 1 turns off raft's AppendEntries pipelining, whose
	// known deadlock (hashicorp/raft#612) can wedge replication and
	// Shutdown; on a LAN-sized group it costs nothing that matters here.
	s.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: newStreamLayer(ln, adv, opt.Security, opt.Dial, func(err error) {
			s.refusedRaft.Add(1)
			opt.Logger.Warn("raft connection refused", "err", err)
		}, opt.Logger), MaxPool: 3, Timeout: 2 * time.Second,
		Logger: hlog, MaxRPCsInFlight: 1,
	})
	s.opt.RaftAddr = adv.String()
	return nil
}

// startRaft bootstraps a new data dir with Options.Peers (when given),
// starts Raft and registers the leadership observer.
func (s *Store) startRaft(conf *raft.Config, snaps *raft.FileSnapshotStore) error {
	existing, err := raft.HasExistingState(s.bolt, s.bolt, snaps)
	if err != nil {
		return fmt.Errorf("quorum: read raft state: %w", err)
	}
	if !existing && len(s.opt.Peers) > 0 {
		var cfg raft.Configuration
		for _, p := range s.opt.Peers {
			addr := p.RaftAddr
			if p.ID == s.opt.ID {
				addr = s.opt.RaftAddr
			}
			cfg.Servers = append(cfg.Servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(addr), Suffrage: raft.Voter})
		}
		if err := raft.BootstrapCluster(conf, s.bolt, s.bolt, snaps, s.trans, cfg); err != nil {
			return fmt.Errorf("quorum: bootstrap: %w", err)
		}
	}
	r, err := raft.NewRaft(conf, s.fsm, s.bolt, s.bolt, snaps, s.trans)
	if err != nil {
		return fmt.Errorf("quorum: start raft from %s: %w", s.opt.DataDir, err)
	}
	s.raft = r
	s.obsCh = make(chan raft.Observation, 16)
	s.obs = raft.NewObserver(s.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	r.RegisterObserver(s.obs)
	return nil
}

// RaftAddr returns the transport's advertised address (useful with port 0).
func (s *Store) RaftAddr() string { return s.opt.RaftAddr }

// ID returns this node's raft server id.
func (s *Store) ID() string { return s.opt.ID }

// State returns the state this monitor serves (shared, read-only; see
// FSM.State): the committed state as applied locally; before this monitor
// belongs to a group, and until the changes it took then are committed,
// the held state (held.go); after a restart, until the FSM has caught up,
// the last committed state it knew before (lastknown.go).
func (s *Store) State() *state.State {
	if st := s.held.view(); st != nil {
		return st
	}
	if p := s.preview.Load(); p != nil {
		if !s.applied(p.index) {
			return p.state
		}
		s.preview.CompareAndSwap(p, nil)
	}
	return s.fsm.State()
}

// Held reports whether State serves changes taken before this monitor
// belonged to a group (held.go).
func (s *Store) Held() bool { return s.held.active() }

// Loading reports whether this monitor belongs to a group but has none of
// its state to serve yet (a new member the log has not reached): State is
// then empty and not authoritative; clients get Redis' -LOADING.
func (s *Store) Loading() bool {
	if s.fsm.applied.Load() > 0 || s.held.active() || s.preview.Load() != nil {
		return false
	}
	return s.raft.AppliedIndex() == 0 && s.HasGroup()
}

// View runs fn with read access to the live local state. fn must not retain
// the pointer or call back into the store.
func (s *Store) View(fn func(*state.State)) { s.fsm.view(fn) }

// IsLeader reports whether this node is the raft leader now.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// Leader returns the current leader's id and raft address ("" if unknown).
func (s *Store) Leader() (id, addr string) {
	a, i := s.raft.LeaderWithID()
	return string(i), string(a)
}

// Term returns the current raft term.
func (s *Store) Term() uint64 { return s.raft.CurrentTerm() }

// LeaderChanges is signalled (coalesced, never blocking raft) whenever
// leadership or raft state changes.
func (s *Store) LeaderChanges() <-chan struct{} { return s.leader }

// Effects returns the channel on which every applied entry's effects arrive,
// in log order. Read it continuously; it is closed by Close.
func (s *Store) Effects() <-chan state.Effect { return s.effOut }

// Barrier blocks until every entry committed before the call is applied
// locally. Only the leader may call it.
func (s *Store) Barrier(ctx context.Context) error {
	return s.wait(ctx, s.raft.Barrier(s.timeout(ctx)))
}

// Apply commits cmd through this node, which must be the leader, and returns
// the FSM's verdict. A commit proves this node was leader when it was
// appended.
func (s *Store) Apply(ctx context.Context, cmd state.Command) error {
	_, err := s.apply(ctx, cmd)
	return err
}

func (s *Store) apply(ctx context.Context, cmd state.Command) (uint64, error) {
	switch cmd.Op {
	case state.OpJoin:
		return s.join(ctx, cmd.Monitor)
	case state.OpLeave:
		return s.leave(ctx, cmd.MonitorID)
	case state.OpRegisterMonitor:
		// Only Raft members may register: a monitor removed with leave
		// (and still running) must not come back into the state.
		if cmd.Monitor != nil {
			if servers, err := s.Servers(); err == nil {
				if _, ok := servers[cmd.Monitor.ID]; !ok {
					return 0, fmt.Errorf("%w: %q is not a member of the Raft group", ErrMembership, cmd.Monitor.ID)
				}
			}
		}
	}
	b, err := cmd.Encode()
	if err != nil {
		return 0, fmt.Errorf("quorum: encode: %w", err)
	}
	select {
	case <-s.done:
		return 0, ErrClosed
	default:
	}
	f := s.raft.Apply(b, s.timeout(ctx))
	if err := s.wait(ctx, f); err != nil {
		return 0, err
	}
	s.announceCommit()
	if r, ok := f.Response().(error); ok && r != nil {
		return 0, r
	}
	return f.Index(), nil
}

// announceCommit tells the followers now that the log is committed up to
// the entry just applied. hashicorp/raft sends the commit index only with
// an AppendEntries: the one that carries new entries (sent before they
// commit) or the empty one each follower gets every CommitTimeout or so.
// Without a nudge, a follower would apply a committed entry — answer
// clients from it, publish its events, return from a forwarded Propose —
// one to two CommitTimeouts after the leader. Appending a barrier (an
// entry the FSM never sees) sends the current commit index to every
// follower at once, so the periodic one can stay at raft's default 50ms:
// at 10ms it was half of an idle leader's CPU. The barrier's own result is
// not awaited; if it cannot be queued within CommitTimeout, the periodic
// AppendEntries still comes.
func (s *Store) announceCommit() {
	_ = s.raft.Barrier(s.opt.CommitTimeout)
}

// join adds m (ID, RaftAddr) as a voter. Idempotent.
func (s *Store) join(ctx context.Context, m *state.Monitor) (uint64, error) {
	if m == nil || m.ID == "" || m.RaftAddr == "" {
		return 0, fmt.Errorf("%w: join needs an id and a raft address", state.ErrBadCommand)
	}
	f := s.raft.AddVoter(raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr), 0, s.timeout(ctx))
	if err := s.wait(ctx, f); err != nil {
		return 0, err
	}
	s.log.Info("monitor joined", "id", m.ID, "raft_addr", m.RaftAddr)
	return f.Index(), nil
}

// leave removes voter id from the Raft configuration and from the state.
// It refuses to leave fewer members than the largest master quorum, or to
// remove the last member.
func (s *Store) leave(ctx context.Context, id string) (uint64, error) {
	servers, err := s.Servers()
	if err != nil {
		return 0, err
	}
	if _, ok := servers[id]; !ok {
		return 0, fmt.Errorf("%w: %q is not a member", ErrMembership, id)
	}
	left := len(servers) - 1
	if left < 1 {
		return 0, fmt.Errorf("%w: %q is the last member", ErrMembership, id)
	}
	for _, m := range s.State().Masters {
		if m.Quorum > left {
			return 0, fmt.Errorf("%w: %d monitors would remain, fewer than the quorum %d of master %s (lower it first with SENTINEL SET %s quorum N)",
				ErrMembership, left, m.Quorum, m.Name, m.Name)
		}
	}
	f := s.raft.RemoveServer(raft.ServerID(id), 0, s.timeout(ctx))
	if err := s.wait(ctx, f); err != nil && !s.removedSelf(id, err) {
		return 0, err
	}
	s.log.Info("monitor left", "id", id)
	if id == s.opt.ID || !s.IsLeader() {
		// This leader removed itself (raft shuts it down now) or lost
		// leadership: the next leader drops the member from the state
		// (sentinel's prune of monitors no longer in the configuration).
		return f.Index(), nil
	}
	return s.apply(ctx, state.Command{Op: state.OpRemoveMonitor, MonitorID: id})
}

// removedSelf reports whether err, returned while this node removed id, only
// means that the removal committed: a leader that removes itself shuts its
// raft down as soon as the new configuration commits (raft's
// ShutdownOnRemove), and the shutdown can win the race against the answer
// to the removal's future. Nothing else shuts raft down while the store is
// open, so ErrClosed with the store open and id gone from the configuration
// is that commit.
func (s *Store) removedSelf(id string, err error) bool {
	if id != s.opt.ID || !errors.Is(err, ErrClosed) {
		return false
	}
	select {
	case <-s.done:
		return false // closed by Close: the removal may not have committed
	default:
	}
	for _, srv := range s.raft.GetConfiguration().Configuration().Servers {
		if string(srv.ID) == id {
			return false
		}
	}
	return true
}

// Propose commits cmd: locally when this node leads, otherwise forwarded to
// the leader through Options.Forward; on a follower it then waits until the
// entry is applied locally, so a read that follows sees the change. While
// no leader is known (an election), it retries until ctx is done and then
// returns ErrNoLeader or ErrNotLeader.
func (s *Store) Propose(ctx context.Context, cmd state.Command) error {
	if cmd.Op.IsConfig() && !s.HasGroup() {
		if handled, err := s.held.take(cmd); handled {
			if err == nil {
				s.wakeHeld()
			}
			return err
		}
	}
	_, err := s.propose(ctx, cmd)
	return err
}

func (s *Store) propose(ctx context.Context, cmd state.Command) (uint64, error) {
	for {
		index, err := s.proposeOnce(ctx, cmd)
		if err == nil || !(errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotLeader)) {
			return index, err
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, err
		case <-s.done:
			t.Stop()
			return 0, ErrClosed
		case <-t.C:
		}
	}
}

func (s *Store) proposeOnce(ctx context.Context, cmd state.Command) (uint64, error) {
	if s.IsLeader() {
		return s.apply(ctx, cmd)
	}
	id, _ := s.Leader()
	if id == "" {
		return 0, ErrNoLeader
	}
	if s.opt.Forward == nil {
		return 0, ErrNotLeader
	}
	var leader *state.Monitor
	s.View(func(st *state.State) {
		if m, ok := st.Monitors[id]; ok {
			c := *m
			leader = &c
		}
	})
	if leader == nil || leader.HTTPAddr == "" {
		return 0, fmt.Errorf("%w: leader %s has not registered its address yet", ErrNoLeader, id)
	}
	index, err := s.opt.Forward(ctx, *leader, cmd)
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		// Nothing was sent, so a retry cannot apply it twice. The leader
		// may be gone, or restarted on a new address it has not yet
		// registered: treat it as no leader for now (Propose retries).
		return 0, fmt.Errorf("%w: leader %s unreachable at %s: %w", ErrNoLeader, id, leader.HTTPAddr, err)
	}
	if err != nil {
		return 0, err
	}
	return index, s.waitApplied(ctx, index)
}

// waitApplied waits until the local FSM has applied index: Apply has
// handled it, or a snapshot that covers it has been restored or taken.
// (raft.AppliedIndex alone is not enough: raft advances it when it hands
// entries to the FSM goroutine, before they are applied.)
func (s *Store) waitApplied(ctx context.Context, index uint64) error {
	for !s.applied(index) {
		t := time.NewTimer(2 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("quorum: committed at index %d but not yet applied here: %w", index, ctx.Err())
		case <-s.done:
			t.Stop()
			return ErrClosed
		case <-t.C:
		}
	}
	return nil
}

func (s *Store) applied(index uint64) bool {
	if s.fsm.applied.Load() >= index {
		return true
	}
	if s.raft.AppliedIndex() < index {
		return false
	}
	// Covered by a snapshot (installed from the leader, or taken here):
	// raft records a snapshot's index only once the FSM holds its state.
	n, err := strconv.ParseUint(s.raft.Stats()["last_snapshot_index"], 10, 64)
	return err == nil && n >= index
}

// Servers returns the raft configuration's members (id → raft address).
func (s *Store) Servers() (map[string]string, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, sv := range f.Configuration().Servers {
		out[string(sv.ID)] = string(sv.Address)
	}
	return out, nil
}

// LastContact returns the time of last contact with the leader (zero on the
// leader itself).
func (s *Store) LastContact() time.Time { return s.raft.LastContact() }

// MajorityContact returns the last time this node knew it was part of a
// working majority: now on the leader (raft makes a leader step down when
// it loses contact with a majority for longer than its lease), the last
// contact with the leader on a follower; zero if never.
func (s *Store) MajorityContact() time.Time {
	if s.IsLeader() {
		return time.Now()
	}
	return s.raft.LastContact()
}

// TransferLeadership asks raft to hand leadership to another voter. Only
// meaningful on the leader.
func (s *Store) TransferLeadership(ctx context.Context) error {
	return s.wait(ctx, s.raft.LeadershipTransfer())
}

// Close shuts raft down, closes the transport and the log store. Idempotent.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		err = s.raft.Shutdown().Error()
		s.raft.DeregisterObserver(s.obs)
		close(s.done)
		s.wg.Wait()
		s.trans.CloseStreams()
		if e := s.trans.Close(); e != nil && err == nil {
			err = e
		}
		if e := s.bolt.Close(); e != nil && err == nil {
			err = e
		}
		close(s.effOut)
	})
	return err
}

// timeout is the bound of a raft call made for ctx: ctx's remaining time,
// or ApplyTimeout when ctx has no deadline. It is never 0 or negative:
// hashicorp/raft reads a timeout of 0 as "wait for ever", so an expired
// context must become the shortest bound, not none.
func (s *Store) timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Nanosecond)
	}
	return s.opt.ApplyTimeout
}

// wait waits for a raft future or ctx, translating raft's errors.
func (s *Store) wait(ctx context.Context, f raft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		switch {
		case err == nil:
			return nil
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
			errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return fmt.Errorf("%w: %v", ErrNotLeader, err)
		case errors.Is(err, raft.ErrRaftShutdown):
			return ErrClosed
		}
		return fmt.Errorf("quorum: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) watchLeader() {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case o := <-s.obsCh:
			if lo, ok := o.Data.(raft.LeaderObservation); ok {
				s.log.Info("raft leader changed", "leader", string(lo.LeaderID), "term", s.raft.CurrentTerm())
			}
			select {
			case s.leader <- struct{}{}:
			default:
			}
		}
	}
}

func (s *Store) enqueueEffects(e []state.Effect) {
	s.effMu.Lock()
	s.effQ = append(s.effQ, e...)
	s.effMu.Unlock()
	select {
	case s.effWake <- struct{}{}:
	default:
	}
}

func (s *Store) pumpEffects() {
	defer s.wg.Done()
	for {
		s.effMu.Lock()
		q := s.effQ
		s.effQ = nil
		s.effMu.Unlock()
		for _, e := range q {
			select {
			case s.effOut <- e:
			case <-s.done:
				return
			}
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-s.effWake:
		case <-s.done:
			return
		}
	}
}

// newHCLogger adapts raft's hclog output to slog: every line raft writes is
// re-logged through l at the level hclog printed.
func newHCLogger(l *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:   "raft",
		Level:  hclog.Info,
		Output: &slogWriter{l: l},
	})
}

type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		msg := string(line)
		lvl := slog.LevelDebug
		switch {
		case strings.Contains(msg, "[ERROR]"):
			lvl = slog.LevelError
		case strings.Contains(msg, "[WARN]"):
			lvl = slog.LevelWarn
		case strings.Contains(msg, "[INFO]"):
			lvl = slog.LevelInfo
		}
		// Strip hclog's own timestamp and level prefix.
		if i := strings.Index(msg, "] "); i >= 0 && i < 60 {
			msg = strings.TrimSpace(msg[i+2:])
		}
		w.l.Log(context.Background(), lvl, msg)
	}
	return len(p), nil
}
