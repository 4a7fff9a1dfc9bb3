package failover

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/state"
)

// Blocking reasons reported when a down master is not failed over.
const (
	BlockNoGoodReplica = "no-good-replica"
	BlockTooSoon       = "anti-flap"
	BlockMaintenance   = "maintenance"
	BlockNoQuorum      = "no-quorum"
	// BlockForeignSentinel: Redis Sentinels monitor the master too.
	BlockForeignSentinel = "redis-sentinel-present"
)

// Simulation points (SENTINEL SIMULATE-FAILURE) at which a leader stops
// as if its process died: the first two are Sentinel's; crash-after-switch
// (after the new address is committed, before the replicas are
// repointed) is raftsentinel's own.
const (
	CrashAfterElection  = "crash-after-election"
	CrashAfterPromotion = "crash-after-promotion"
	CrashAfterSwitch    = "crash-after-switch"
)

// pruneEvery is how often the leader compares the members of the state
// with the Raft configuration.
const pruneEvery = time.Second

// reconfBackoff is the least time between two reconfigurations of one
// node outside failovers.
const reconfBackoff = 2 * time.Second

// lead is the leader's decisions for one tick, master by master in name
// order.
func (d *decider) lead() {
	if !d.in.Leading {
		return
	}
	st := d.in.State
	if d.in.Now.Sub(d.l.LastPrune) >= pruneEvery {
		// A leader that removed itself could not record it.
		d.emit(Prune{At: d.in.Now, Members: st.MonitorIDs()})
	}
	for _, name := range st.MasterNames() {
		ms := st.Masters[name]
		d.discover(ms)
		d.judge(ms)
	}
}

// discover proposes the replicas that the master's INFO lists and the
// state does not know yet.
func (d *decider) discover(ms *state.Master) {
	o, ok := d.in.Obs[ms.Addr.String()]
	if !ok || o.Role != "master" || !o.Connected {
		return
	}
	var add []state.Addr
	for _, r := range o.Replicas {
		a := state.Addr{Host: r.Host, Port: r.Port}
		if a != ms.Addr && !containsAddr(ms.Replicas, a) {
			add = append(add, a)
		}
	}
	if len(add) > 0 {
		d.emit(Propose{Key: "replicas/" + ms.Name, Cmd: state.Command{Op: state.OpReplicas, Master: ms.Name, Replicas: add}})
	}
}

func containsAddr(list []state.Addr, a state.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// judge counts the fresh "down" opinions on ms (ODOWN: at least its
// quorum), commits a change of the judgement, and acts on the judgement
// in force: the committed one, or the new one once committed.
func (d *decider) judge(ms *state.Master) {
	votes := ODownVotes(ms, d.in.State.Monitors, d.in.Now, d.in.Timing.OpinionTTL)
	odown := votes >= ms.Quorum
	switch {
	case votes > 0 && !odown:
		d.block(ms, BlockNoQuorum, fmt.Sprintf("%d of the quorum of %d monitors see it down", votes, ms.Quorum))
	case votes == 0:
		d.unblock(ms) // the episode is over
	}
	if odown == ms.ODown {
		d.act(ms, ms.ODown, ms.ODownSince)
		return
	}
	d.emit(Commit{
		Cmd:  state.Command{Op: state.OpODown, Master: ms.Name, Addr: ms.Addr, Down: odown, Votes: votes},
		OK:   d.branch(func() { d.act(ms, odown, d.in.Now) }),
		Fail: d.logf(slog.LevelDebug, "commit odown", "master", ms.Name),
		Else: d.branch(func() { d.act(ms, ms.ODown, ms.ODownSince) }),
	})
}

// act is what the leader does for ms given the judgement in force (odown,
// since when): drive a failover in progress; try one on a master judged
// down; otherwise reconcile the topology — unless Redis Sentinels share
// the master (they would fight over it).
func (d *decider) act(ms *state.Master, odown bool, since time.Time) {
	switch {
	case ms.Failover.InProgress():
		d.drive(ms.Name)
	case odown:
		d.tryFailover(ms, since)
	case d.in.Refused[ms.Name] == "":
		d.reconcile(ms)
	}
}

func (d *decider) drive(name string) {
	if !d.l.Driving[name] {
		d.emit(Drive{Master: name})
	}
}

// tryFailover starts a failover of ms, judged down since downSince, or
// records why it cannot: refused (Redis Sentinels), maintenance, the
// anti-flap rule (failover-timeout), or no replica qualifies (then
// -failover-abort-no-good-slave is published once per blocked episode).
func (d *decider) tryFailover(ms *state.Master, downSince time.Time) {
	now := d.in.Now
	if why := d.in.Refused[ms.Name]; why != "" {
		d.block(ms, BlockForeignSentinel, why)
		return
	}
	if ms.Maintenance {
		d.block(ms, BlockMaintenance, "automatic failover is paused (SENTINEL SET "+ms.Name+" maintenance no resumes it)")
		return
	}
	if f := ms.Failover; ms.FailoverTooSoon(now) {
		// Stable text (no elapsed time): logged once per blocked episode.
		d.block(ms, BlockTooSoon, fmt.Sprintf("last failover started at %s, failover-timeout is %s: next one possible at %s",
			f.StartedAt.UTC().Format(time.RFC3339Nano), ms.FailoverTimeout, f.StartedAt.Add(ms.FailoverTimeout).UTC().Format(time.RFC3339Nano)))
		return
	}
	best, rejected, ok := selectFor(ms, d.in.Obs, d.l.SDownSince, downSince, now, d.in.Timing)
	passedOver := make([]string, 0, len(rejected))
	for _, r := range rejected {
		passedOver = append(passedOver, r.Addr.String()+": "+r.Reason)
	}
	if !ok {
		if len(passedOver) == 0 {
			passedOver = append(passedOver, "no known replicas")
		}
		if d.block(ms, BlockNoGoodReplica, strings.Join(passedOver, "; ")) {
			d.emit(Publish{Channel: EvAbortNoGood, Inst: masterInst(ms.Name, ms.Addr)})
		}
		return
	}
	id := d.in.NewID()
	cmd := state.Command{Op: state.OpFailoverStart, Master: ms.Name, Addr: ms.Addr, To: best.Addr,
		FailoverID: id, Term: d.in.Term, MonitorID: d.in.Self.ID}
	inst := masterInst(ms.Name, ms.Addr)
	d.emit(Commit{Cmd: cmd, Fail: d.logf(slog.LevelWarn, "failover not started", "master", ms.Name), OK: d.branch(func() {
		d.unblock(ms)
		d.emit(d.logf(slog.LevelWarn, "failover started", "master", ms.Name, "from", ms.Addr.String(), "to", best.Addr.String(),
			"failover_id", id, "term", cmd.Term, "offset", best.Obs.ReplOffset, "priority", best.Obs.Priority,
			"passed_over", strings.Join(passedOver, "; ")),
			Publish{Channel: EvTryFailover, Inst: inst}, Publish{Channel: EvElectedLeader, Inst: inst},
			Publish{Channel: EvSelectSlave, Inst: inst}, Publish{Channel: EvSelectedSlave, Inst: replicaInst(best.Addr, ms.Name, ms.Addr)},
			CrashPoint{Point: CrashAfterElection})
		d.drive(ms.Name)
	})})
}

// block records a blocking reason, once per change, and reports whether
// it is new.
func (d *decider) block(ms *state.Master, kind, detail string) bool {
	if d.l.Blocked[ms.Name] == kind+": "+detail {
		return false
	}
	d.emit(Block{Master: ms.Name, Kind: kind, Detail: detail})
	return true
}

func (d *decider) unblock(ms *state.Master) {
	if _, ok := d.l.Blocked[ms.Name]; ok {
		d.emit(Unblock{Master: ms.Name})
	}
}

// reconcile imposes the committed topology outside failovers, while the
// current master is healthy (reachable, reporting master, not SDOWN): a
// known replica that reports role master (the returning old master) is
// made a replica of the current master (+convert-to-slave), and a replica
// following another master is repointed (+fix-slave-config); at most once
// per reconfBackoff for each node.
func (d *decider) reconcile(ms *state.Master) {
	mo, ok := d.in.Obs[ms.Addr.String()]
	if !ok || !mo.Connected || mo.Role != "master" {
		return
	}
	if _, down := d.l.SDownSince[ms.Addr.String()]; down {
		return
	}
	auth := LinkAuth(ms)
	for _, a := range ms.Replicas {
		key := a.String()
		o, ok := d.in.Obs[key]
		if !ok || !o.Connected || o.InfoAt.IsZero() {
			continue
		}
		var event string
		switch {
		case o.Role == "master":
			event = EvConvertToSlave
		case o.Role == "slave" && (o.MasterPort != ms.Addr.Port || !sameHost(o.MasterHost, ms.Addr.Host)):
			event = EvFixSlaveConfig
		default:
			continue
		}
		if d.in.Now.Before(d.l.Backoff[key]) {
			continue
		}
		inst := replicaInst(a, ms.Name, ms.Addr)
		d.emit(SetBackoff{Node: key, Until: d.in.Now.Add(reconfBackoff)},
			d.logf(slog.LevelWarn, event, "instance", inst, "reported_role", o.Role),
			Publish{Channel: event, Inst: inst},
			Repoint{Node: a, Master: ms.Name, To: ms.Addr, Auth: auth})
	}
}

// StaleMembers returns the members (ids, in order) that the Raft
// configuration servers no longer holds: a Prune removes them.
func StaleMembers(members []string, servers map[string]string) []string {
	var out []string
	for _, id := range members {
		if _, ok := servers[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}
