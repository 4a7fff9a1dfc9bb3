package sentinel

import (
	"strconv"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// This file builds the instance maps of SENTINEL MASTER(S), REPLICAS/SLAVES
// and SENTINELS: pure functions from committed state plus this monitor's
// local view to an ordered list of fields. Field names, their order, the
// conditional fields and the flag vocabulary follow Redis' sentinel.c
// (addReplySentinelRedisInstance); every value is a string, sent as a bulk
// string even when numeric, as Redis does.
//
// Times are "milliseconds ago". Where Redis would report the age of
// something that never happened (last-ok-ping-reply, last-ping-reply and
// role-reported-time start at the instance's creation in Redis), we report
// the time since this process started serving (instClock.start); for
// last-ping-sent and info-refresh Redis' "0 = none/never" is kept.

// instField is one key/value pair of an instance map.
type instField struct{ key, val string }

// instClock gives "ms ago" values: now is the reply time, start the
// fallback origin for events that never happened.
type instClock struct{ now, start time.Time }

// ago returns the milliseconds from t (or, if t is zero, from start) to now,
// never negative.
func (k instClock) ago(t time.Time) string {
	if t.IsZero() {
		t = k.start
	}
	return strconv.FormatInt(max(k.now.Sub(t).Milliseconds(), 0), 10)
}

// agoOrZero is ago, but "0" for the zero time.
func (k instClock) agoOrZero(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return k.ago(t)
}

func strInt(n int) string          { return strconv.Itoa(n) }
func strUint(n uint64) string      { return strconv.FormatUint(n, 10) }
func strMs(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func str01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// instFlag is one candidate flag of an instance.
type instFlag struct {
	name string
	on   bool
}

// flagList joins the names of the flags that are on, comma-separated, in
// the given order (callers pass Redis' fixed order: s_down, o_down, master,
// slave, sentinel, disconnected, master_down, failover_in_progress,
// promoted, ..., force_failover).
func flagList(flags ...instFlag) string {
	var b strings.Builder
	for _, f := range flags {
		if f.on {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(f.name)
		}
	}
	return b.String()
}

// failoverStateName maps a committed failover stage to Redis' failover-state
// vocabulary: a started failover is promoting its candidate
// (send_slaveof_noone); a promoted one is repointing replicas
// (reconf_slaves).
func failoverStateName(s state.Stage) string {
	if s == state.StagePromoted {
		return "reconf_slaves"
	}
	return "send_slaveof_noone"
}

// masterView is the input of masterMap.
type masterView struct {
	M          *state.Master
	Obs        probe.Observation // this monitor's probe of M.Addr
	Observed   bool              // Obs is valid
	SDown      bool              // this monitor sees M.Addr subjectively down
	SDownSince time.Time
	Replicas   int // known replicas (num-slaves)
	Others     int // other monitors (num-other-sentinels)
	// Shown is M.Addr as replies announce it (see Backend.Announce); zero
	// means M.Addr.
	Shown state.Addr
	// StaleView: this monitor is cut off from the Raft majority for longer
	// than stale-after, so the committed view it answers from may be
	// outdated (flag stale_view, which Sentinel clients ignore).
	StaleView bool
}

// masterMap returns the SENTINEL MASTER fields of a master: 20 at rest,
// plus failover-state during a failover and s-down-time/o-down-time while
// the flags are set.
//
// Flags: s_down from this monitor's view, o_down from the committed ODown,
// disconnected when this monitor probes the master but its link is down
// (or the master refuses the credentials), failover_in_progress (and force_failover for a manual one) from the
// committed failover record.
func masterMap(v masterView, k instClock) []instField {
	m, o := v.M, v.Obs
	inProgress := m.Failover.InProgress()
	flags := flagList(
		instFlag{"s_down", v.SDown},
		instFlag{"o_down", m.ODown},
		instFlag{"master", true},
		instFlag{"disconnected", v.Observed && linkDown(o, k.now)},
		instFlag{"failover_in_progress", inProgress},
		instFlag{"force_failover", inProgress && m.Failover.Reason == "manual"},
		instFlag{FlagStaleView, v.StaleView},
	)
	runID, role := "", "master"
	if v.Observed {
		runID = o.RunID
		if o.Role != "" {
			role = o.Role
		}
	}
	f := make([]instField, 0, 24)
	f = append(f,
		instField{"name", m.Name},
		instField{"ip", shown(v.Shown, m.Addr).Host},
		instField{"port", strInt(m.Addr.Port)},
		instField{"runid", runID},
		instField{"flags", flags},
		instField{"link-pending-commands", "0"},
		instField{"link-refcount", "1"},
	)
	if inProgress {
		f = append(f, instField{"failover-state", failoverStateName(m.Failover.Stage)})
	}
	f = append(f,
		instField{"last-ping-sent", k.agoOrZero(o.LastPingSent)},
		instField{"last-ok-ping-reply", k.ago(o.LastOKPing)},
		instField{"last-ping-reply", k.ago(o.LastPingReply)},
	)
	if v.SDown {
		f = append(f, instField{"s-down-time", k.ago(v.SDownSince)})
	}
	if m.ODown {
		f = append(f, instField{"o-down-time", k.ago(m.ODownSince)})
	}
	return append(f,
		instField{"down-after-milliseconds", strMs(m.DownAfter)},
		instField{"info-refresh", k.agoOrZero(o.InfoAt)},
		instField{"role-reported", role},
		instField{"role-reported-time", k.ago(o.RoleChangedAt)},
		instField{"config-epoch", strUint(m.ConfigEpoch)},
		instField{"num-slaves", strInt(v.Replicas)},
		instField{"num-other-sentinels", strInt(v.Others)},
		instField{"quorum", strInt(m.Quorum)},
		instField{"failover-timeout", strMs(m.FailoverTimeout)},
		instField{"parallel-syncs", strInt(m.ParallelSyncs)},
	)
}

// replicaView is the input of replicaMap.
type replicaView struct {
	Master     *state.Master
	Addr       state.Addr
	Obs        probe.Observation
	Observed   bool
	SDown      bool
	SDownSince time.Time
	// Shown is Addr as replies announce it; zero means Addr.
	Shown     state.Addr
	StaleView bool // as masterView's
}

// FlagStaleView marks, last in the flags of SENTINEL MASTER(S) and
// REPLICAS, the replies of a monitor cut off from the Raft majority for
// longer than stale-after: its last committed view, which may predate a
// failover. Sentinel clients look only for the flags they know.
const FlagStaleView = "stale_view"

// shown returns a unless it is zero, then def.
func shown(a, def state.Addr) state.Addr {
	if a.IsZero() {
		return def
	}
	return a
}

// replicaMap returns the 21 (22 with s-down-time) SENTINEL REPLICAS fields
// of one replica of v.Master.
//
// Flags: s_down from this monitor's view; slave; disconnected when this
// monitor has no live link to it (including when it does not probe it at
// all: clients then avoid a replica nobody here can vouch for); promoted
// when it is the candidate of the failover in progress. Without an
// observation the INFO-derived fields take Redis' initial values (empty
// runid, master-link-status err, master-host "?", priority 100, announced).
func replicaMap(v replicaView, k instClock) []instField {
	o := v.Obs
	f := v.Master.Failover
	flags := flagList(
		instFlag{"s_down", v.SDown},
		instFlag{"slave", true},
		instFlag{"disconnected", !v.Observed || linkDown(o, k.now)},
		instFlag{"promoted", f.InProgress() && f.To == v.Addr},
		instFlag{FlagStaleView, v.StaleView},
	)
	runID, role, masterHost, linkStatus := "", "slave", "?", "err"
	priority, announced := 100, true
	if v.Observed {
		runID = o.RunID
		if o.Role != "" {
			role = o.Role
		}
		if o.MasterHost != "" {
			masterHost = o.MasterHost
		}
		if o.MasterLinkUp {
			linkStatus = "ok"
		}
		priority, announced = o.Priority, o.ReplicaAnnounced
	}
	out := make([]instField, 0, 22)
	out = append(out,
		instField{"name", shown(v.Shown, v.Addr).String()},
		instField{"ip", shown(v.Shown, v.Addr).Host},
		instField{"port", strInt(v.Addr.Port)},
		instField{"runid", runID},
		instField{"flags", flags},
		instField{"link-pending-commands", "0"},
		instField{"link-refcount", "1"},
		instField{"last-ping-sent", k.agoOrZero(o.LastPingSent)},
		instField{"last-ok-ping-reply", k.ago(o.LastOKPing)},
		instField{"last-ping-reply", k.ago(o.LastPingReply)},
	)
	if v.SDown {
		out = append(out, instField{"s-down-time", k.ago(v.SDownSince)})
	}
	return append(out,
		instField{"down-after-milliseconds", strMs(v.Master.DownAfter)},
		instField{"info-refresh", k.agoOrZero(o.InfoAt)},
		instField{"role-reported", role},
		instField{"role-reported-time", k.ago(o.RoleChangedAt)},
		instField{"master-link-down-time", strconv.FormatInt(o.MasterLinkDownMs, 10)},
		instField{"master-link-status", linkStatus},
		instField{"master-host", masterHost},
		instField{"master-port", strInt(o.MasterPort)},
		instField{"slave-priority", strInt(priority)},
		instField{"slave-repl-offset", strconv.FormatInt(o.ReplOffset, 10)},
		instField{"replica-announced", str01(announced)},
	)
}

// sentinelView is the input of sentinelMap.
type sentinelView struct {
	Mon       *state.Monitor
	Seen      time.Time     // Backend.PeerSeen; zero if never
	DownAfter time.Duration // the master's down-after
}

// sentinelMap returns the 14 (15 with s-down-time) SENTINEL SENTINELS
// fields of another monitor.
//
// There are no per-peer links or votes here: liveness is "this monitor had
// evidence of the peer within the master's down-after, and at least
// peerFreshness (peers re-register every 2 s)" (Backend.PeerSeen).
// A peer never seen, or not seen for longer, is flagged
// s_down,sentinel,disconnected (s-down-time counting from Seen+DownAfter);
// every ping age is the age of that evidence. voted-leader is always "?"
// and voted-leader-epoch "0": failover leadership comes from Raft, not
// from Sentinel votes.
func sentinelMap(v sentinelView, k instClock) []instField {
	stale := v.Seen.IsZero() || k.now.Sub(v.Seen) > max(v.DownAfter, peerFreshness)
	seen := k.ago(v.Seen)
	out := make([]instField, 0, 15)
	out = append(out,
		instField{"name", v.Mon.RunID},
		instField{"ip", v.Mon.Announced().Host},
		instField{"port", strInt(v.Mon.Announced().Port)},
		instField{"runid", v.Mon.RunID},
		instField{"flags", flagList(instFlag{"s_down", stale}, instFlag{"sentinel", true}, instFlag{"disconnected", stale})},
		instField{"link-pending-commands", "0"},
		instField{"link-refcount", "1"},
		instField{"last-ping-sent", "0"},
		instField{"last-ok-ping-reply", seen},
		instField{"last-ping-reply", seen},
	)
	if stale {
		since := time.Time{}
		if !v.Seen.IsZero() {
			since = v.Seen.Add(max(v.DownAfter, peerFreshness))
		}
		out = append(out, instField{"s-down-time", k.ago(since)})
	}
	return append(out,
		instField{"down-after-milliseconds", strMs(v.DownAfter)},
		instField{"last-hello-message", seen},
		instField{"voted-leader", "?"},
		instField{"voted-leader-epoch", "0"},
	)
}

// linkDown reports Sentinel's "disconnected": no usable link. A refused,
// reset or closed connection is that at once (clients such as node-redis
// read the flag right after their own connection broke), and so is a node
// that refuses the credentials (Sentinel shows it disconnected from its
// first refused AUTH); a PING timeout under load is not, until no valid
// reply came for a second.
func linkDown(o probe.Observation, now time.Time) bool {
	if o.Connected {
		return false
	}
	return o.LinkBroken || o.AuthRefused || o.LastOKPing.IsZero() || now.Sub(o.LastOKPing) > time.Second
}
