package failover

import (
	"maps"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// Phase is one of the decisions of the brain. A tick makes PhaseTick,
// PhaseLocal and PhaseLeader in that order, with the executor's I/O in
// between (the prober watches the nodes PhaseTick chose before PhaseLocal
// reads their observations; the leader's barrier comes before
// PhaseLeader); PhaseEffect answers one committed effect.
type Phase int

// The phases.
const (
	// PhaseTick: TILT, this monitor's registration (its heartbeat), the
	// configured masters, and which nodes the prober watches.
	PhaseTick Phase = iota
	// PhaseLocal: SDOWN of every probed node, +reboot, role changes, and
	// this monitor's opinion on each master.
	PhaseLocal
	// PhaseLeader: the leader's decisions: pruning the members, discovered
	// replicas, ODOWN, starting (or refusing) a failover, driving those in
	// progress, and reconciling the topology. Nothing unless Leading.
	PhaseLeader
	// PhaseEffect: the events and soft-state changes of Input.Effect.
	PhaseEffect
)

// Input is everything a decision reads. Decide does not modify any of it.
type Input struct {
	Phase Phase
	// State is the committed replicated state (shared, read-only).
	State *state.State
	// Obs are this monitor's latest probe observations, by node address
	// (host:port); a node missing is not probed (yet).
	Obs map[string]probe.Observation
	// Local is this monitor's soft state.
	Local *Local
	// Timing holds the periods the rules use (SENTINEL DEBUG may change
	// them at run time).
	Timing Timing
	// Self is this monitor's membership record; Masters the masters of its
	// configuration (added to the state unless there or seeded).
	Self    state.Monitor
	Masters []state.Master
	// Leading: this monitor is the Raft leader of Term and has applied
	// everything committed before its term (a barrier).
	Leading bool
	Term    uint64
	// Refused maps a master name to why this monitor must not fail it
	// over (Redis Sentinels share it); absent or "": it may.
	Refused map[string]string
	// Effect is the committed effect PhaseEffect answers.
	Effect state.Effect
	// Now is the time of the decision (the executor's injected clock).
	Now time.Time
	// NewID returns a fresh failover id; it is called once per failover
	// Decide starts (random in the Brain, a counter in the tests).
	NewID func() string
}

// Timing is the periods and limits the decisions read.
type Timing struct {
	// InfoPeriod and PingPeriod are the prober's: freshness limits of
	// replica selection and the master-reports-slave rule.
	InfoPeriod, PingPeriod time.Duration
	// AskPeriod: how often a "down" opinion is re-asserted.
	AskPeriod time.Duration
	// PublishPeriod: how often this monitor re-registers (its heartbeat).
	PublishPeriod time.Duration
	// TiltTrigger and TiltPeriod: a gap between ticks longer than the
	// trigger starts (or extends) TILT for the period.
	TiltTrigger, TiltPeriod time.Duration
	// OpinionTTL: how long a committed opinion counts toward ODOWN.
	OpinionTTL time.Duration
}

// MasterSeen is the address a monitor considers a group's master, and
// since when (MasterRoleDown counts from then at the earliest).
type MasterSeen struct {
	Addr  state.Addr
	Since time.Time
}

// Local is this monitor's soft state: what it remembers between decisions
// and never replicates. Decisions read it; it changes only through the
// soft-state actions they return (applied by the executor), and through
// the executor's own bookkeeping of proposals (Proposed) and drivers.
type Local struct {
	WatchedSince map[string]time.Time  // node → probed since
	WatchAuth    map[string]probe.Auth // node → link settings last given to the prober
	SDownSince   map[string]time.Time  // node → subjectively down since
	RunIDs       map[string]string     // node → last reported run id (+reboot)
	Roles        map[string]string     // node → last reported role (+role-change)
	RebootSince  map[string]time.Time  // master node → run id change seen, maybe still loading
	MasterSince  map[string]MasterSeen // master name → its address, and since when seen there
	OpinionSent  map[string]time.Time  // master name → last committed "down" assertion
	Blocked      map[string]string     // master name → last logged blocking reason ("kind: detail")
	Backoff      map[string]time.Time  // node → earliest next reconfiguration
	Driving      map[string]bool       // master name → a driver goroutine runs its failover
	LastBeat     time.Time             // last committed registration
	LastStep     time.Time             // the previous tick (TILT)
	TiltSince    time.Time             // zero: not in TILT
	TiltUntil    time.Time
	LastPrune    time.Time
}

// NewLocal returns an empty soft state.
func NewLocal() Local {
	return Local{WatchedSince: map[string]time.Time{}, WatchAuth: map[string]probe.Auth{},
		SDownSince: map[string]time.Time{}, RunIDs: map[string]string{}, Roles: map[string]string{},
		RebootSince: map[string]time.Time{}, MasterSince: map[string]MasterSeen{},
		OpinionSent: map[string]time.Time{}, Blocked: map[string]string{}, Backoff: map[string]time.Time{},
		Driving: map[string]bool{}}
}

// clone returns a copy of l that shares nothing with it.
func (l *Local) clone() *Local {
	c := *l
	c.WatchedSince, c.WatchAuth, c.SDownSince = maps.Clone(l.WatchedSince), maps.Clone(l.WatchAuth), maps.Clone(l.SDownSince)
	c.RunIDs, c.Roles, c.RebootSince = maps.Clone(l.RunIDs), maps.Clone(l.Roles), maps.Clone(l.RebootSince)
	c.MasterSince, c.OpinionSent, c.Blocked = maps.Clone(l.MasterSince), maps.Clone(l.OpinionSent), maps.Clone(l.Blocked)
	c.Backoff, c.Driving = maps.Clone(l.Backoff), maps.Clone(l.Driving)
	return &c
}

// Proposed records that cmd, queued under key, was committed at: the
// heartbeat's time, or the last assertion of a "down" opinion.
func (l *Local) Proposed(key string, cmd state.Command, at time.Time) {
	switch {
	case key == "register":
		l.LastBeat = at
	case cmd.Op == state.OpOpinion && cmd.Down:
		l.OpinionSent[cmd.Master] = at
	}
}
