package failover

import (
	"maps"
	"sort"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// The rules of this file are Sentinel's judgements, each a pure function
// of what a monitor sees: Decide and the driver's stage machine apply them.

// SDownAt decides, from one monitor's observation of a node, whether the node
// is subjectively down at now (Sentinel's rule, §3.1 of the protocol notes):
// an unanswered PING older than downAfter, or no valid reply for longer than
// downAfter while disconnected. watchedSince stands in for the last valid
// reply when there has never been one.
func SDownAt(o probe.Observation, now, watchedSince time.Time, downAfter time.Duration) bool {
	if !o.LastPingSent.IsZero() && now.Sub(o.LastPingSent) > downAfter {
		return true
	}
	last := o.LastOKPing
	if last.IsZero() {
		last = watchedSince
	}
	return !o.Connected && now.Sub(last) > downAfter
}

// MasterRoleDown is Sentinel's second SDOWN rule (sentinel.c
// sentinelCheckSubjectivelyDown): the node currently considered the master
// of a group is subjectively down when it has reported role slave (INFO
// replication) for longer than downAfter + 2×infoPeriod, although it
// answers PINGs. The time counts from the later of the role change seen in
// INFO (o.RoleChangedAt) and masterSince, when this monitor began to
// consider the address the master (after a failover the promoted replica's
// earlier reports as a slave do not count, as Sentinel starts a new
// instance for it). Apply it only to the current master, never to replicas.
func MasterRoleDown(o probe.Observation, now, masterSince time.Time, downAfter, infoPeriod time.Duration) bool {
	if o.Role != "slave" {
		return false
	}
	since := o.RoleChangedAt
	if since.Before(masterSince) {
		since = masterSince
	}
	return !since.IsZero() && now.Sub(since) > downAfter+2*infoPeriod
}

// ODownVotes counts the fresh "down" opinions about master m at now: an
// opinion counts when it says down and was asserted within ttl. Only
// opinions of current members count.
func ODownVotes(m *state.Master, members map[string]*state.Monitor, now time.Time, ttl time.Duration) int {
	n := 0
	for id, o := range m.Opinions {
		if _, ok := members[id]; !ok {
			continue
		}
		if o.Down && now.Sub(o.At) <= ttl {
			n++
		}
	}
	return n
}

// Candidate is a replica considered for promotion, with this monitor's view
// of it.
type Candidate struct {
	Addr  state.Addr
	Obs   probe.Observation
	Known bool // an observation exists
	SDown bool
}

// SelectionLimits are the freshness rules of replica selection.
type SelectionLimits struct {
	MaxReplyAge time.Duration // last valid PING reply at most this old
	MaxInfoAge  time.Duration // last INFO at most this old
	DownAfter   time.Duration // the master's down-after
}

// Rejection says why a replica was not eligible.
type Rejection struct {
	Addr   state.Addr
	Reason string
}

// SelectReplica applies Redis Sentinel's replica-selection rules: skip
// replicas that are down, disconnected, unknown, not reporting role slave,
// with priority 0, with a stale PING reply or INFO, or whose replication link
// has been down for too long (more than the master's down time plus ten
// times down-after); among the rest prefer lower replica-priority, then the
// larger replication offset, then the lexicographically smaller run id
// (empty last). It returns the winner, or ok=false and every rejection.
func SelectReplica(cands []Candidate, now, masterDownSince time.Time, lim SelectionLimits) (best Candidate, rejected []Rejection, ok bool) {
	var eligible []Candidate
	maxLinkDown := 10 * lim.DownAfter
	if !masterDownSince.IsZero() && now.After(masterDownSince) {
		maxLinkDown += now.Sub(masterDownSince)
	}
	for _, c := range cands {
		reason := ""
		switch {
		case !c.Known:
			reason = "never probed"
		case c.SDown:
			reason = "subjectively down"
		case !c.Obs.Connected:
			reason = "disconnected"
		case c.Obs.LastOKPing.IsZero() || now.Sub(c.Obs.LastOKPing) > lim.MaxReplyAge:
			reason = "no recent PING reply"
		case c.Obs.InfoAt.IsZero() || now.Sub(c.Obs.InfoAt) > lim.MaxInfoAge:
			reason = "INFO too old"
		case c.Obs.Role != "slave":
			reason = "reports role " + c.Obs.Role
		case c.Obs.Priority == 0:
			reason = "replica-priority 0"
		case time.Duration(c.Obs.MasterLinkDownMs)*time.Millisecond > maxLinkDown:
			reason = "replication link down too long"
		}
		if reason != "" {
			rejected = append(rejected, Rejection{Addr: c.Addr, Reason: reason})
			continue
		}
		eligible = append(eligible, c)
	}
	if len(eligible) == 0 {
		return Candidate{}, rejected, false
	}
	sort.SliceStable(eligible, func(i, j int) bool {
		a, b := eligible[i].Obs, eligible[j].Obs
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		if a.ReplOffset != b.ReplOffset {
			return a.ReplOffset > b.ReplOffset
		}
		if (a.RunID == "") != (b.RunID == "") {
			return b.RunID == ""
		}
		return a.RunID < b.RunID
	})
	return eligible[0], rejected, true
}

// selectFor applies SelectReplica to the replicas of ms as this monitor
// sees them (obs, and its own SDOWN marks), the link-down limit counting
// from the earliest evidence that the master went down: downSince (the
// committed judgement, zero if none), this monitor's own SDOWN of the
// master, the monitors' committed opinions, and the replica that lost its
// master last. The group may have agreed long after the master really
// went down (monitors were down, or the judgement lapsed).
func selectFor(ms *state.Master, obs map[string]probe.Observation, sdown map[string]time.Time,
	downSince, now time.Time, tm Timing) (Candidate, []Rejection, bool) {
	cands := make([]Candidate, 0, len(ms.Replicas))
	for _, a := range ms.Replicas {
		o, known := obs[a.String()]
		_, down := sdown[a.String()]
		cands = append(cands, Candidate{Addr: a, Obs: o, Known: known, SDown: down})
	}
	earliest := func(at time.Time) {
		if downSince.IsZero() || at.Before(downSince) {
			downSince = at
		}
	}
	if at, ok := sdown[ms.Addr.String()]; ok {
		earliest(at)
	}
	for _, o := range ms.Opinions {
		if o.Down && !o.Since.IsZero() {
			earliest(o.Since)
		}
	}
	minLinkDown := time.Duration(-1)
	for _, c := range cands {
		if c.Known && c.Obs.Role == "slave" && c.Obs.MasterLinkDownMs > 0 {
			if d := time.Duration(c.Obs.MasterLinkDownMs) * time.Millisecond; minLinkDown < 0 || d < minLinkDown {
				minLinkDown = d
			}
		}
	}
	if minLinkDown >= 0 {
		earliest(now.Add(-minLinkDown))
	}
	lim := SelectionLimits{
		MaxReplyAge: max(5*tm.PingPeriod, time.Second),
		MaxInfoAge:  5 * tm.InfoPeriod,
		DownAfter:   ms.DownAfter,
	}
	return SelectReplica(cands, now, downSince, lim)
}

// GiveUpAt is when the driver stops retrying the promotion of a failover
// of a master with that down-after and aborts it: StartedAt plus
// max(2×down-after, 5 s), and never after the failover's Deadline. The
// candidate has then stayed unreachable long enough that another
// candidate may do better.
func GiveUpAt(f *state.Failover, downAfter time.Duration) time.Time {
	giveUp := f.StartedAt.Add(max(2*downAfter, 5*time.Second))
	if giveUp.After(f.Deadline) {
		giveUp = f.Deadline
	}
	return giveUp
}

// SwitchoverWait is how long the old master is given to hand over in a
// coordinated failover (FAILOVER TO ... TIMEOUT): max(5 s, down-after),
// but no later than the failover's Deadline, and at least 1 s.
func SwitchoverWait(downAfter time.Duration, deadline, now time.Time) time.Duration {
	return max(min(max(5*time.Second, downAfter), deadline.Sub(now)), time.Second)
}

// RepointTargets are the replicas of ms that a failover to "to" points at
// the new master: every known replica but the new master that this
// monitor reaches (observed, connected, not subjectively down).
// Unreachable ones, and the old master while it is down, are left to
// reconciliation when they return.
func RepointTargets(ms *state.Master, to state.Addr, obs map[string]probe.Observation, sdown map[string]time.Time) []state.Addr {
	var todo []state.Addr
	for _, a := range ms.Replicas {
		if a == to {
			continue
		}
		_, down := sdown[a.String()]
		if o, ok := obs[a.String()]; !ok || !o.Connected || down {
			continue
		}
		todo = append(todo, a)
	}
	return todo
}

// Follows reports whether a replica's ROLE reply names master as its
// master (localhost and ::1 count as 127.0.0.1).
func Follows(role probe.Role, master state.Addr) bool {
	return role.Role == "slave" && role.MasterPort == master.Port && sameHost(role.MasterHost, master.Host)
}

func sameHost(a, b string) bool {
	norm := func(h string) string {
		if h == "localhost" || h == "::1" {
			return "127.0.0.1"
		}
		return h
	}
	return norm(a) == norm(b)
}

// LinkAuth returns the link settings toward ms and its replicas: the
// committed auth-user, auth-pass and rename-command table (a copy, owned
// by the caller).
func LinkAuth(ms *state.Master) probe.Auth {
	return probe.Auth{User: ms.AuthUser, Pass: ms.AuthPass, Renames: maps.Clone(ms.RenameCommands)}
}

// Tuning is how one node is to be probed: the bound of its PING period,
// and whether it is urgent (probed at the fastest periods).
type Tuning struct {
	PingBound time.Duration
	Urgent    bool
}

// Tunings returns the probe tuning of every node of st. Each node's PING
// period is bounded by probe.PingBound of its master's down-after period
// (a hung node is SDOWN within down-after plus at most a tenth of it, 1 s
// at most); the first master naming a node, in name order, gives it. The
// nodes of a master this monitor sees SDOWN (sdown: node → since), that is
// ODOWN or that is failing over are urgent, as Redis Sentinel polls them
// faster: the offsets and roles the leader chooses a replica by, and the
// promotion it waits for, are then fresh.
func Tunings(st *state.State, sdown map[string]time.Time) map[string]Tuning {
	out := map[string]Tuning{}
	for _, name := range st.MasterNames() {
		ms := st.Masters[name]
		_, suspect := sdown[ms.Addr.String()]
		urgent := suspect || ms.ODown || ms.Failover.InProgress()
		for _, a := range nodes(ms) {
			if _, ok := out[a.String()]; !ok {
				out[a.String()] = Tuning{PingBound: probe.PingBound(ms.DownAfter), Urgent: urgent}
			}
		}
	}
	return out
}
