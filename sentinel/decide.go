package sentinel

import (
	"sort"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

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
