package quorum

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsentinel/raftsentinel/acl"
)

// FSM is the replicated state machine. Apply is deterministic: it reads no
// clock (time comes from the entry's AppendedAt, stamped by the leader) and
// does no I/O. Restore replaces the state wholesale.
//
// State and Apply are safe for concurrent use; effects are handed to the
// sink passed to NewFSM synchronously, so the sink must not block.
type FSM struct {
	mu     sync.RWMutex
	state  *State
	frozen atomic.Pointer[State] // read-only copy of state, replaced after every change
	sink   func([]Effect)
	// configApplied, if set, is called (without locks, must not block)
	// after a configuration change (MONITOR, SET, REMOVE, ...) applies.
	configApplied func()
	// applied is the index of the last entry Apply handled, set once its
	// change is visible through State. (raft.AppliedIndex runs ahead: raft
	// sets it when it hands entries to the FSM goroutine.)
	applied atomic.Uint64
}

// NewFSM returns an FSM with empty state. sink (may be nil) receives the
// effects of every applied entry, in log order.
func NewFSM(sink func([]Effect)) *FSM {
	f := &FSM{state: NewState(), sink: sink}
	f.frozen.Store(f.state.Clone())
	return f
}

// State returns the current state. The value is shared and read-only:
// callers must not modify it (use Clone for a private copy). Reading it
// costs no copy, so it is fit for every client request.
func (f *FSM) State() *State {
	return f.frozen.Load()
}

// frozenAt returns the current state with the index of the last entry
// applied to it.
func (f *FSM) frozenAt() (*State, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.frozen.Load(), f.applied.Load()
}

// view runs fn with read access to the live state (no copy).
func (f *FSM) view(fn func(*State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.state)
}

// Apply implements raft.FSM. It returns nil on success or an error value
// (never panics on bad input).
func (f *FSM) Apply(l *raft.Log) any {
	defer f.applied.Store(l.Index)
	if l.Type != raft.LogCommand {
		return nil
	}
	cmd, err := DecodeCommand(l.Data)
	if err != nil {
		return err
	}
	f.mu.Lock()
	effects, err := apply(f.state, cmd, l.AppendedAt, l.Index)
	f.frozen.Store(f.state.Clone())
	f.applied.Store(l.Index) // with the state it belongs to (frozenAt)
	f.mu.Unlock()
	if err == nil && holdable(cmd.Op) && f.configApplied != nil {
		f.configApplied()
	}
	if len(effects) > 0 && f.sink != nil {
		f.sink(effects)
	}
	return err
}

// apply mutates s according to cmd at log time now. It is a pure function of
// its inputs.
func apply(s *State, cmd Command, now time.Time, index uint64) ([]Effect, error) {
	if now.After(s.LastApplied) {
		s.LastApplied = now
	}
	var eff []Effect
	emit := func(e Effect) {
		e.Index = index
		eff = append(eff, e)
	}
	switch cmd.Op {
	case OpRegisterMonitor:
		m := cmd.Monitor
		if m == nil || m.ID == "" {
			return nil, ErrInvalidMonitorID
		}
		mm := *m
		mm.SeenAt = now
		old, ok := s.Monitors[m.ID]
		if ok {
			// Overrides made with SENTINEL CONFIG SET survive re-registration.
			mm.AnnounceIP, mm.AnnouncePort = old.AnnounceIP, old.AnnouncePort
		}
		s.Monitors[m.ID] = &mm
		switch {
		case !ok:
			emit(Effect{Kind: EffMonitorAdded, Monitor: m.ID})
		case old.Announce != mm.Announce || old.RunID != mm.RunID || old.HTTPAddr != mm.HTTPAddr:
			emit(Effect{Kind: EffMonitorUpdated, Monitor: m.ID})
		}
		return eff, nil

	case OpAddMaster, OpMonitor, OpMerge:
		sp := cmd.Spec
		if sp == nil || sp.Name == "" || sp.Addr.IsZero() {
			return nil, fmt.Errorf("%w: add-master needs a name and an address", ErrBadCommand)
		}
		if cur, ok := s.Masters[sp.Name]; ok {
			same := cur.Addr == sp.Addr && cur.Quorum == sp.Quorum
			switch {
			case cmd.Op == OpMonitor && !same:
				return nil, ErrDuplicateMaster
			case cmd.Op == OpMerge && !same:
				return nil, fmt.Errorf("%w: %s is %s quorum %d", ErrMergeConflict, cur.Name, cur.Addr, cur.Quorum)
			}
			return nil, nil
		}
		if cmd.Op == OpAddMaster {
			if s.Seeded[sp.Name] {
				return nil, nil // seeded before, since removed: stays removed
			}
			if s.Seeded == nil {
				s.Seeded = map[string]bool{}
			}
			s.Seeded[sp.Name] = true
		}
		m := &Master{Name: sp.Name, Addr: sp.Addr, Quorum: sp.Quorum, DownAfter: sp.DownAfter,
			FailoverTimeout: sp.FailoverTimeout, ParallelSyncs: sp.ParallelSyncs,
			AuthUser: sp.AuthUser, AuthPass: sp.AuthPass, RebootDownAfter: sp.RebootDownAfter,
			Opinions: map[string]Opinion{}, RenameCommands: maps.Clone(sp.RenameCommands)}
		s.Masters[sp.Name] = m
		emit(Effect{Kind: EffMasterAdded, Master: m.Name, Addr: m.Addr, Quorum: m.Quorum})
		return eff, nil

	case OpSync:
		return nil, nil

	case OpRemoveMonitor:
		if _, ok := s.Monitors[cmd.MonitorID]; !ok {
			return nil, nil
		}
		delete(s.Monitors, cmd.MonitorID)
		for _, m := range s.Masters {
			delete(m.Opinions, cmd.MonitorID)
		}
		return nil, nil

	case OpConfigSet:
		pairs := make([]string, 0, 2*len(cmd.Config))
		for _, kv := range cmd.Config {
			pairs = append(pairs, kv[0], kv[1])
		}
		valid, err := ValidateConfigSet(pairs)
		if err != nil {
			return nil, err
		}
		return nil, applyConfigSet(s, cmd.MonitorID, valid)

	case OpSetUser:
		return nil, applySetUser(s, cmd)

	case OpDelUser:
		for _, name := range cmd.Names {
			if name == "default" {
				return nil, ErrDefaultUser
			}
		}
		for _, name := range cmd.Names {
			delete(s.Users, name)
			if s.DeletedUsers == nil {
				s.DeletedUsers = map[string]bool{}
			}
			s.DeletedUsers[name] = true
		}
		return nil, nil

	case OpReset:
		for _, name := range cmd.Names {
			m, ok := s.Masters[name]
			if !ok {
				continue
			}
			m.Replicas = nil
			m.Opinions = map[string]Opinion{}
			if m.ODown {
				m.ODown, m.ODownSince, m.ODownVotes = false, time.Time{}, 0
			}
			if f := m.Failover; f != nil && f.Stage == StageStarted {
				emit(Effect{Kind: EffFailoverAbort, Master: m.Name, Addr: m.Addr, Failover: abortCopy(f, now, "reset")})
			}
			m.Failover = nil
			emit(Effect{Kind: EffReset, Master: m.Name, Addr: m.Addr})
		}
		return eff, nil
	}

	m, ok := s.Masters[cmd.Master]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoSuchMaster, cmd.Master)
	}
	switch cmd.Op {
	case OpRemove:
		delete(s.Masters, m.Name)
		emit(Effect{Kind: EffMasterRemoved, Master: m.Name, Addr: m.Addr})
		return eff, nil

	case OpSet:
		// All or nothing: options are validated on a copy first.
		trial := *m
		if m.RenameCommands != nil {
			trial.RenameCommands = make(map[string]string, len(m.RenameCommands))
			for k, v := range m.RenameCommands {
				trial.RenameCommands[k] = v
			}
		}
		for _, o := range cmd.Options {
			if err := ApplySetOption(&trial, o); err != nil {
				return nil, err
			}
		}
		*m = trial
		for _, o := range cmd.Options {
			v := strings.Join(o.Values, " ")
			if o.Name == "auth-pass" {
				v = "******"
			}
			emit(Effect{Kind: EffSet, Master: m.Name, Addr: m.Addr, Option: o.Name, Value: v})
		}
		return eff, nil

	case OpOpinion:
		if cmd.MonitorID == "" {
			return nil, ErrInvalidMonitorID
		}
		if cmd.Addr != m.Addr {
			return nil, ErrStaleAddress
		}
		o := m.Opinions[cmd.MonitorID]
		if o.Down != cmd.Down {
			emit(Effect{Kind: EffOpinion, Master: m.Name, Addr: m.Addr, Monitor: cmd.MonitorID, Down: cmd.Down})
		}
		if cmd.Down && (!o.Down || o.Since.IsZero()) {
			o.Since = now
		}
		o.Monitor, o.Down, o.At = cmd.MonitorID, cmd.Down, now
		if !o.Down {
			o.Since = time.Time{}
		}
		if m.Opinions == nil {
			m.Opinions = map[string]Opinion{}
		}
		m.Opinions[cmd.MonitorID] = o
		return eff, nil

	case OpReplicas:
		for _, a := range cmd.Replicas {
			if a.IsZero() || a == m.Addr || containsAddr(m.Replicas, a) {
				continue
			}
			m.Replicas = append(m.Replicas, a)
			emit(Effect{Kind: EffReplicaAdded, Master: m.Name, Addr: a, From: m.Addr})
		}
		sortAddrs(m.Replicas)
		return eff, nil

	case OpODown:
		if cmd.Addr != m.Addr {
			return nil, ErrStaleAddress
		}
		if cmd.Down == m.ODown {
			m.ODownVotes = cmd.Votes
			return nil, nil
		}
		m.ODown, m.ODownVotes = cmd.Down, cmd.Votes
		if cmd.Down {
			m.ODownSince = now
			emit(Effect{Kind: EffODown, Master: m.Name, Addr: m.Addr, Votes: cmd.Votes, Quorum: m.Quorum})
		} else {
			m.ODownSince = time.Time{}
			emit(Effect{Kind: EffODownCleared, Master: m.Name, Addr: m.Addr})
		}
		return eff, nil

	case OpFailoverStart:
		if cmd.FailoverID == "" || cmd.To.IsZero() {
			return nil, fmt.Errorf("%w: failover-start needs an id and a target", ErrBadCommand)
		}
		if cmd.Addr != m.Addr {
			return nil, ErrStaleAddress
		}
		if f := m.Failover; f.InProgress() && !now.After(f.Deadline) {
			return nil, ErrFailoverInProg
		}
		if !cmd.Force && m.FailoverTooSoon(now) {
			return nil, ErrTooSoon
		}
		if f := m.Failover; f.InProgress() {
			// Expired and never finished: implicitly abort it.
			emit(Effect{Kind: EffFailoverAbort, Master: m.Name, Failover: abortCopy(f, now, "superseded after deadline")})
		}
		s.CurrentEpoch++
		emit(Effect{Kind: EffNewEpoch, Master: m.Name, Epoch: s.CurrentEpoch})
		reason := ""
		if cmd.Force {
			reason = "manual"
		}
		m.Failover = &Failover{ID: cmd.FailoverID, Epoch: s.CurrentEpoch, Term: cmd.Term, Leader: cmd.MonitorID,
			From: m.Addr, To: cmd.To, Stage: StageStarted, Reason: reason, StartedAt: now,
			Deadline: now.Add(m.FailoverTimeout), Coordinated: cmd.Coordinated}
		f := *m.Failover
		emit(Effect{Kind: EffFailoverStart, Master: m.Name, Addr: m.Addr, To: cmd.To, Epoch: f.Epoch, Failover: &f})
		return eff, nil

	case OpFailoverPromoted:
		f := m.Failover
		if f == nil || f.ID != cmd.FailoverID {
			return nil, ErrNoSuchFailover
		}
		if f.Stage == StagePromoted || f.Stage == StageCompleted {
			return nil, nil // idempotent
		}
		if f.Stage != StageStarted {
			return nil, ErrWrongStage
		}
		old := m.Addr
		m.Addr = f.To
		m.ConfigEpoch = f.Epoch
		m.Replicas = removeAddr(m.Replicas, f.To)
		if !containsAddr(m.Replicas, old) {
			m.Replicas = append(m.Replicas, old)
		}
		sortAddrs(m.Replicas)
		m.Opinions = map[string]Opinion{}
		wasODown := m.ODown
		m.ODown, m.ODownSince, m.ODownVotes = false, time.Time{}, 0
		f.Stage = StagePromoted
		fc := *f
		if wasODown {
			emit(Effect{Kind: EffODownCleared, Master: m.Name, Addr: old})
		}
		emit(Effect{Kind: EffSwitchMaster, Master: m.Name, From: old, To: f.To, Epoch: f.Epoch, Failover: &fc})
		return eff, nil

	case OpFailoverEnd:
		f := m.Failover
		if f == nil || f.ID != cmd.FailoverID {
			return nil, ErrNoSuchFailover
		}
		switch cmd.Stage {
		case StageCompleted:
			if f.Stage == StageCompleted {
				return nil, nil
			}
			if f.Stage != StagePromoted {
				return nil, ErrWrongStage
			}
		case StageAborted:
			if f.Stage == StageAborted {
				return nil, nil
			}
			if f.Stage != StageStarted {
				return nil, ErrWrongStage // once promoted, a failover always completes
			}
		default:
			return nil, fmt.Errorf("%w: failover-end stage %q", ErrBadCommand, cmd.Stage)
		}
		f.Stage, f.EndedAt = cmd.Stage, now
		if cmd.Reason != "" {
			f.Reason = cmd.Reason
		}
		fc := *f
		kind := EffFailoverEnd
		if cmd.Stage == StageAborted {
			kind = EffFailoverAbort
		}
		emit(Effect{Kind: kind, Master: m.Name, Addr: m.Addr, Failover: &fc})
		return eff, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownOp, cmd.Op)
}

// applySetUser applies OpSetUser (see its doc) to s.
func applySetUser(s *State, cmd Command) error {
	probe := acl.User{Name: cmd.User}
	if err := probe.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	var u *acl.User
	switch {
	case s.Users[cmd.User] != nil:
		u = s.Users[cmd.User].Clone()
	case cmd.Base != nil && !s.DeletedUsers[cmd.User]:
		if cmd.Base.Name != cmd.User {
			return fmt.Errorf("%w: the base user is %q, not %q", ErrBadCommand, cmd.Base.Name, cmd.User)
		}
		if err := cmd.Base.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrBadCommand, err)
		}
		u = cmd.Base.Clone()
	default:
		u = acl.NewUser(cmd.User)
	}
	if err := u.Apply(cmd.Rules...); err != nil {
		return err
	}
	if s.Users == nil {
		s.Users = map[string]*acl.User{}
	}
	s.Users[cmd.User] = u
	delete(s.DeletedUsers, cmd.User)
	if len(s.DeletedUsers) == 0 {
		s.DeletedUsers = nil
	}
	return nil
}

func abortCopy(f *Failover, now time.Time, reason string) *Failover {
	c := *f
	c.Stage, c.EndedAt, c.Reason = StageAborted, now, reason
	return &c
}

func containsAddr(list []Addr, a Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

func removeAddr(list []Addr, a Addr) []Addr {
	out := list[:0:0]
	for _, x := range list {
		if x != a {
			out = append(out, x)
		}
	}
	return out
}

func sortAddrs(list []Addr) {
	sort.Slice(list, func(i, j int) bool { return list[i].String() < list[j].String() })
}

// Snapshot implements raft.FSM.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, err := json.Marshal(f.state)
	if err != nil {
		return nil, fmt.Errorf("quorum: encode snapshot: %w", err)
	}
	return snapshot(b), nil
}

// ErrBadSnapshot is wrapped by Restore's error for a snapshot that decodes
// but is not a state this FSM can have written (a null or misfiled entry).
var ErrBadSnapshot = errors.New("inconsistent snapshot")

// Restore implements raft.FSM: the snapshot replaces the whole state. A
// snapshot that does not decode, or whose masters or monitors are null or
// filed under another name, is an error and leaves the state unchanged.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := decodeState(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.state = st
	f.frozen.Store(st.Clone())
	f.mu.Unlock()
	if f.sink != nil {
		f.sink([]Effect{{Kind: EffStateRestored}})
	}
	return nil
}

// decodeState reads a state as Snapshot writes it, checking that it is one
// the FSM can have written.
func decodeState(r io.Reader) (*State, error) {
	st := NewState()
	if err := json.NewDecoder(r).Decode(st); err != nil {
		return nil, fmt.Errorf("quorum: decode snapshot: %w", err)
	}
	if st.Masters == nil {
		st.Masters = map[string]*Master{}
	}
	if st.Monitors == nil {
		st.Monitors = map[string]*Monitor{}
	}
	for name, m := range st.Masters {
		if m == nil || m.Name != name {
			return nil, fmt.Errorf("quorum: decode snapshot: %w: master entry %q is null or names another master", ErrBadSnapshot, name)
		}
		if m.Opinions == nil {
			m.Opinions = map[string]Opinion{}
		}
	}
	for name, u := range st.Users {
		if u == nil || u.Name != name {
			return nil, fmt.Errorf("quorum: decode snapshot: %w: user entry %q is null or names another user", ErrBadSnapshot, name)
		}
		if err := u.Validate(); err != nil {
			return nil, fmt.Errorf("quorum: decode snapshot: %w: %w", ErrBadSnapshot, err)
		}
	}
	for id, m := range st.Monitors {
		if m == nil || m.ID != id {
			return nil, fmt.Errorf("quorum: decode snapshot: %w: monitor entry %q is null or names another monitor", ErrBadSnapshot, id)
		}
	}
	return st, nil
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("quorum: write snapshot: %w", err)
	}
	return sink.Close()
}

func (s snapshot) Release() {}
