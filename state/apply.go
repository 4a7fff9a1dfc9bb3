package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/acl"
)

// Apply mutates s according to cmd, as of log time now, for the log entry
// at index (stamped on every effect). It is a pure function of its inputs:
// no clock, no I/O, so every monitor that applies the same entries reaches
// the same state and emits the same effects. On error s is unchanged and
// no effect is returned.
//
// Each operation is one small function, found in the ops table; ops that
// concern one master find it first (ErrNoSuchMaster if it is not
// monitored).
func Apply(s *State, cmd Command, now time.Time, index uint64) ([]Effect, error) {
	if now.After(s.LastApplied) {
		s.LastApplied = now
	}
	if cmd.Op == OpBatch { // composite: applies the table's ops
		return applyBatch(s, cmd, now, index)
	}
	def, ok := ops[cmd.Op]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownOp, cmd.Op)
	}
	c := &change{s: s, cmd: cmd, now: now, index: index}
	if def.master {
		m, ok := s.Masters[cmd.Master]
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrNoSuchMaster, cmd.Master)
		}
		c.m = m
	}
	if err := def.apply(c); err != nil {
		return nil, err
	}
	return c.eff, nil
}

// opDef is one row of the ops table.
type opDef struct {
	master bool // the op concerns Command.Master, which must exist
	apply  func(*change) error
}

// ops dispatches Apply. OpJoin and OpLeave are absent: the quorum store
// turns them into Raft membership changes and never applies them.
var ops = map[Op]opDef{
	OpRegisterMonitor:  {apply: registerMonitor},
	OpAddMaster:        {apply: addMaster},
	OpMonitor:          {apply: addMaster},
	OpMerge:            {apply: addMaster},
	OpSync:             {apply: func(*change) error { return nil }},
	OpRemoveMonitor:    {apply: removeMonitor},
	OpConfigSet:        {apply: configSet},
	OpSetUser:          {apply: setUser},
	OpDelUser:          {apply: delUser},
	OpReset:            {apply: reset},
	OpRemove:           {master: true, apply: removeMaster},
	OpSet:              {master: true, apply: set},
	OpOpinion:          {master: true, apply: opinion},
	OpReplicas:         {master: true, apply: replicas},
	OpODown:            {master: true, apply: odown},
	OpFailoverStart:    {master: true, apply: failoverStart},
	OpFailoverPromoted: {master: true, apply: failoverPromoted},
	OpFailoverEnd:      {master: true, apply: failoverEnd},
}

// change is one command being applied: its inputs, the master it concerns
// (ops with master set) and the effects emitted so far.
type change struct {
	s     *State
	cmd   Command
	now   time.Time
	index uint64
	m     *Master
	eff   []Effect
}

func (c *change) emit(e Effect) {
	e.Index = c.index
	c.eff = append(c.eff, e)
}

// applyBatch applies OpBatch (see its doc): every sub-command as its own
// step on the same state, failures skipped; their effects, in order, carry
// the batch's index.
func applyBatch(s *State, cmd Command, now time.Time, index uint64) ([]Effect, error) {
	for _, sub := range cmd.Batch {
		if !Batchable(sub.Op) {
			return nil, fmt.Errorf("%w: %q cannot be batched", ErrBadCommand, sub.Op)
		}
	}
	var eff []Effect
	for _, sub := range cmd.Batch {
		if e, err := Apply(s, sub, now, index); err == nil {
			eff = append(eff, e...)
		}
	}
	return eff, nil
}

func registerMonitor(c *change) error {
	m := c.cmd.Monitor
	if m == nil || m.ID == "" {
		return ErrInvalidMonitorID
	}
	mm := *m
	mm.SeenAt = c.now
	old, ok := c.s.Monitors[m.ID]
	if ok {
		// Overrides made with SENTINEL CONFIG SET survive re-registration.
		mm.AnnounceIP, mm.AnnouncePort = old.AnnounceIP, old.AnnouncePort
	}
	c.s.Monitors[m.ID] = &mm
	switch {
	case !ok:
		c.emit(Effect{Kind: EffMonitorAdded, Monitor: m.ID})
	case old.Announce != mm.Announce || old.RunID != mm.RunID || old.HTTPAddr != mm.HTTPAddr:
		c.emit(Effect{Kind: EffMonitorUpdated, Monitor: m.ID})
	}
	return nil
}

// addMaster applies OpAddMaster, OpMonitor and OpMerge (see their docs).
func addMaster(c *change) error {
	sp, op := c.cmd.Spec, c.cmd.Op
	if sp == nil || sp.Name == "" || sp.Addr.IsZero() {
		return fmt.Errorf("%w: add-master needs a name and an address", ErrBadCommand)
	}
	if cur, ok := c.s.Masters[sp.Name]; ok {
		same := cur.Addr == sp.Addr && cur.Quorum == sp.Quorum
		switch {
		case op == OpMonitor && !same:
			return ErrDuplicateMaster
		case op == OpMerge && !same:
			return fmt.Errorf("%w: %s is %s quorum %d", ErrMergeConflict, cur.Name, cur.Addr, cur.Quorum)
		}
		return nil
	}
	if op == OpAddMaster {
		if c.s.Seeded[sp.Name] {
			return nil // seeded before, since removed: stays removed
		}
		if c.s.Seeded == nil {
			c.s.Seeded = map[string]bool{}
		}
		c.s.Seeded[sp.Name] = true
	}
	m := &Master{Name: sp.Name, Addr: sp.Addr, Quorum: sp.Quorum, DownAfter: sp.DownAfter,
		FailoverTimeout: sp.FailoverTimeout, ParallelSyncs: sp.ParallelSyncs,
		AuthUser: sp.AuthUser, AuthPass: sp.AuthPass, RebootDownAfter: sp.RebootDownAfter,
		Opinions: map[string]Opinion{}, RenameCommands: maps.Clone(sp.RenameCommands)}
	c.s.Masters[sp.Name] = m
	c.emit(Effect{Kind: EffMasterAdded, Master: m.Name, Addr: m.Addr, Quorum: m.Quorum})
	return nil
}

func removeMonitor(c *change) error {
	id := c.cmd.MonitorID
	if _, ok := c.s.Monitors[id]; !ok {
		return nil
	}
	delete(c.s.Monitors, id)
	for _, m := range c.s.Masters {
		delete(m.Opinions, id)
	}
	return nil
}

func configSet(c *change) error {
	pairs := make([]string, 0, 2*len(c.cmd.Config))
	for _, kv := range c.cmd.Config {
		pairs = append(pairs, kv[0], kv[1])
	}
	valid, err := ValidateConfigSet(pairs)
	if err != nil {
		return err
	}
	return applyConfigSet(c.s, c.cmd.MonitorID, valid)
}

// setUser applies OpSetUser (see its doc).
func setUser(c *change) error {
	s, cmd := c.s, c.cmd
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

func delUser(c *change) error {
	for _, name := range c.cmd.Names {
		if name == "default" {
			return ErrDefaultUser
		}
	}
	for _, name := range c.cmd.Names {
		delete(c.s.Users, name)
		if c.s.DeletedUsers == nil {
			c.s.DeletedUsers = map[string]bool{}
		}
		c.s.DeletedUsers[name] = true
	}
	return nil
}

func reset(c *change) error {
	for _, name := range c.cmd.Names {
		m, ok := c.s.Masters[name]
		if !ok {
			continue
		}
		m.Replicas = nil
		m.Opinions = map[string]Opinion{}
		if m.ODown {
			m.ODown, m.ODownSince, m.ODownVotes = false, time.Time{}, 0
		}
		if f := m.Failover; f != nil && f.Stage == StageStarted {
			c.emit(Effect{Kind: EffFailoverAbort, Master: m.Name, Addr: m.Addr, Failover: abortCopy(f, c.now, "reset")})
		}
		m.Failover = nil
		c.emit(Effect{Kind: EffReset, Master: m.Name, Addr: m.Addr})
	}
	return nil
}

func removeMaster(c *change) error {
	delete(c.s.Masters, c.m.Name)
	c.emit(Effect{Kind: EffMasterRemoved, Master: c.m.Name, Addr: c.m.Addr})
	return nil
}

// set applies SENTINEL SET's options all or nothing: they are validated on
// a copy first.
func set(c *change) error {
	m := c.m
	trial := *m
	trial.RenameCommands = maps.Clone(m.RenameCommands)
	for _, o := range c.cmd.Options {
		if err := ApplySetOption(&trial, o); err != nil {
			return err
		}
	}
	*m = trial
	for _, o := range c.cmd.Options {
		v := strings.Join(o.Values, " ")
		if o.Name == "auth-pass" {
			v = "******"
		}
		c.emit(Effect{Kind: EffSet, Master: m.Name, Addr: m.Addr, Option: o.Name, Value: v})
	}
	return nil
}

func opinion(c *change) error {
	m, cmd := c.m, c.cmd
	if cmd.MonitorID == "" {
		return ErrInvalidMonitorID
	}
	if cmd.Addr != m.Addr {
		return ErrStaleAddress
	}
	o := m.Opinions[cmd.MonitorID]
	if o.Down != cmd.Down {
		c.emit(Effect{Kind: EffOpinion, Master: m.Name, Addr: m.Addr, Monitor: cmd.MonitorID, Down: cmd.Down})
	}
	if cmd.Down && (!o.Down || o.Since.IsZero()) {
		o.Since = c.now
	}
	o.Monitor, o.Down, o.At = cmd.MonitorID, cmd.Down, c.now
	if !o.Down {
		o.Since = time.Time{}
	}
	if m.Opinions == nil {
		m.Opinions = map[string]Opinion{}
	}
	m.Opinions[cmd.MonitorID] = o
	return nil
}

func replicas(c *change) error {
	m := c.m
	for _, a := range c.cmd.Replicas {
		if a.IsZero() || a == m.Addr || containsAddr(m.Replicas, a) {
			continue
		}
		m.Replicas = append(m.Replicas, a)
		c.emit(Effect{Kind: EffReplicaAdded, Master: m.Name, Addr: a, From: m.Addr})
	}
	sortAddrs(m.Replicas)
	return nil
}

func odown(c *change) error {
	m, cmd := c.m, c.cmd
	if cmd.Addr != m.Addr {
		return ErrStaleAddress
	}
	if cmd.Down == m.ODown {
		m.ODownVotes = cmd.Votes
		return nil
	}
	m.ODown, m.ODownVotes = cmd.Down, cmd.Votes
	if cmd.Down {
		m.ODownSince = c.now
		c.emit(Effect{Kind: EffODown, Master: m.Name, Addr: m.Addr, Votes: cmd.Votes, Quorum: m.Quorum})
	} else {
		m.ODownSince = time.Time{}
		c.emit(Effect{Kind: EffODownCleared, Master: m.Name, Addr: m.Addr})
	}
	return nil
}

func failoverStart(c *change) error {
	m, cmd, now := c.m, c.cmd, c.now
	if cmd.FailoverID == "" || cmd.To.IsZero() {
		return fmt.Errorf("%w: failover-start needs an id and a target", ErrBadCommand)
	}
	if cmd.Addr != m.Addr {
		return ErrStaleAddress
	}
	if f := m.Failover; f.InProgress() && !now.After(f.Deadline) {
		return ErrFailoverInProg
	}
	if !cmd.Force && m.FailoverTooSoon(now) {
		return ErrTooSoon
	}
	if f := m.Failover; f.InProgress() {
		// Expired and never finished: implicitly abort it.
		c.emit(Effect{Kind: EffFailoverAbort, Master: m.Name, Failover: abortCopy(f, now, "superseded after deadline")})
	}
	c.s.CurrentEpoch++
	c.emit(Effect{Kind: EffNewEpoch, Master: m.Name, Epoch: c.s.CurrentEpoch})
	reason := ""
	if cmd.Force {
		reason = "manual"
	}
	m.Failover = &Failover{ID: cmd.FailoverID, Epoch: c.s.CurrentEpoch, Term: cmd.Term, Leader: cmd.MonitorID,
		From: m.Addr, To: cmd.To, Stage: StageStarted, Reason: reason, StartedAt: now,
		Deadline: now.Add(m.FailoverTimeout), Coordinated: cmd.Coordinated}
	f := *m.Failover
	c.emit(Effect{Kind: EffFailoverStart, Master: m.Name, Addr: m.Addr, To: cmd.To, Epoch: f.Epoch, Failover: &f})
	return nil
}

func failoverPromoted(c *change) error {
	m := c.m
	f := m.Failover
	if f == nil || f.ID != c.cmd.FailoverID {
		return ErrNoSuchFailover
	}
	if f.Stage == StagePromoted || f.Stage == StageCompleted {
		return nil // idempotent
	}
	if f.Stage != StageStarted {
		return ErrWrongStage
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
		c.emit(Effect{Kind: EffODownCleared, Master: m.Name, Addr: old})
	}
	c.emit(Effect{Kind: EffSwitchMaster, Master: m.Name, From: old, To: f.To, Epoch: f.Epoch, Failover: &fc})
	return nil
}

func failoverEnd(c *change) error {
	m, cmd := c.m, c.cmd
	f := m.Failover
	if f == nil || f.ID != cmd.FailoverID {
		return ErrNoSuchFailover
	}
	switch cmd.Stage {
	case StageCompleted:
		if f.Stage == StageCompleted {
			return nil
		}
		if f.Stage != StagePromoted {
			return ErrWrongStage
		}
	case StageAborted:
		if f.Stage == StageAborted {
			return nil
		}
		if f.Stage != StageStarted {
			return ErrWrongStage // once promoted, a failover always completes
		}
	default:
		return fmt.Errorf("%w: failover-end stage %q", ErrBadCommand, cmd.Stage)
	}
	f.Stage, f.EndedAt = cmd.Stage, c.now
	if cmd.Reason != "" {
		f.Reason = cmd.Reason
	}
	fc := *f
	kind := EffFailoverEnd
	if cmd.Stage == StageAborted {
		kind = EffFailoverAbort
	}
	c.emit(Effect{Kind: kind, Master: m.Name, Addr: m.Addr, Failover: &fc})
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

// ErrBadSnapshot is wrapped by Decode's error for input that decodes but
// is not a state Apply can have produced (a null or misfiled entry).
var ErrBadSnapshot = errors.New("inconsistent snapshot")

// Decode reads a state as its JSON encoding (a snapshot) holds it,
// checking that it is one Apply can have produced: no null entries, every
// master, monitor and user filed under its own name, every user valid.
func Decode(r io.Reader) (*State, error) {
	st := NewState()
	if err := json.NewDecoder(r).Decode(st); err != nil {
		return nil, fmt.Errorf("state: decode: %w", err)
	}
	if st.Masters == nil {
		st.Masters = map[string]*Master{}
	}
	if st.Monitors == nil {
		st.Monitors = map[string]*Monitor{}
	}
	for name, m := range st.Masters {
		if m == nil || m.Name != name {
			return nil, fmt.Errorf("state: decode: %w: master entry %q is null or names another master", ErrBadSnapshot, name)
		}
		if m.Opinions == nil {
			m.Opinions = map[string]Opinion{}
		}
	}
	for name, u := range st.Users {
		if u == nil || u.Name != name {
			return nil, fmt.Errorf("state: decode: %w: user entry %q is null or names another user", ErrBadSnapshot, name)
		}
		if err := u.Validate(); err != nil {
			return nil, fmt.Errorf("state: decode: %w: %w", ErrBadSnapshot, err)
		}
	}
	for id, m := range st.Monitors {
		if m == nil || m.ID != id {
			return nil, fmt.Errorf("state: decode: %w: monitor entry %q is null or names another monitor", ErrBadSnapshot, id)
		}
	}
	return st, nil
}
