// Package failover is the brain of a monitor: it judges SDOWN from this
// monitor's probes and proposes its opinions, and, while it leads the Raft
// group, judges ODOWN, starts failovers (or says why not), drives each as a
// chain of committed steps, and reconciles the topology.
//
// Every judgement is pure: Decide maps an Input (the committed state, the
// observations, the soft state, the timers, now) to a list of Actions, and
// NextStep is the driver's stage machine. The Brain is the executor: it
// gathers the input, calls them, and carries the actions out with the
// injected Store, Prober and clock. See DESIGN.md.
package failover

import (
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// phases are Decide's, by Phase.
var phases = [...]func(*decider){
	PhaseTick:   (*decider).tick,
	PhaseLocal:  (*decider).local,
	PhaseLeader: (*decider).lead,
	PhaseEffect: (*decider).effect,
}

// Decide returns what this monitor should do in phase in.Phase, in order.
// It is a pure function of in: no clock, no I/O, no goroutine, no lock;
// it reads in.Local and never modifies it (the soft-state actions it
// returns say how it changes).
func Decide(in Input) []Action {
	d := &decider{in: in, l: in.Local.clone()}
	phases[in.Phase](d)
	return d.out
}

// decider is one Decide call: its input, a scratch copy of the soft state
// with the changes decided so far, and the actions.
type decider struct {
	in  Input
	l   *Local
	out []Action
}

// emit appends actions, applying their soft part to the scratch state.
func (d *decider) emit(acts ...Action) {
	remember(d.l, acts)
	d.out = append(d.out, acts...)
}

// branch returns the actions fn emits, decided on a copy of the scratch
// state that is dropped afterwards (a Commit's branches: which one runs
// is known only once the executor tried).
func (d *decider) branch(fn func()) []Action {
	out, l := d.out, d.l
	d.out, d.l = nil, l.clone()
	fn()
	got := d.out
	d.out, d.l = out, l
	return got
}

func (d *decider) logf(level slog.Level, msg string, args ...any) Log {
	return Log{Level: level, Msg: msg, Args: args}
}

// ---- PhaseTick ----

func (d *decider) tick() {
	d.tilt()
	d.register()
	d.watches()
}

// tilt enters TILT when this tick follows the last one by more than
// TiltTrigger (the process stalled or the clock jumped; a gap keeps
// extending it) and leaves it TiltPeriod after the last such gap.
func (d *decider) tilt() {
	now, l, t := d.in.Now, d.l, d.in.Timing
	since, until := l.TiltSince, l.TiltUntil
	var acts []Action
	if !l.LastStep.IsZero() {
		if gap := now.Sub(l.LastStep); gap < 0 || gap > t.TiltTrigger {
			if since.IsZero() {
				since = now
				acts = append(acts, d.logf(slog.LevelWarn, "+tilt: the monitor stalled; its judgements are suspended", "gap", gap, "for", t.TiltPeriod),
					Publish{Channel: EvTilt, Text: "#tilt mode entered"})
			}
			until = now.Add(t.TiltPeriod)
		}
	}
	if !since.IsZero() && now.After(until) {
		since = time.Time{}
		acts = append(acts, d.logf(slog.LevelInfo, "-tilt"), Publish{Channel: EvTiltCleared, Text: "#tilt mode exited"})
	}
	d.emit(SetTilt{LastStep: now, Since: since, Until: until})
	d.emit(acts...)
}

// register re-registers this monitor when its committed record differs or
// its heartbeat is due, and adds the configured masters that the state
// has neither monitored nor seeded.
func (d *decider) register() {
	st, self := d.in.State, d.in.Self
	cur, ok := st.Monitors[self.ID]
	due := d.in.Now.Sub(d.l.LastBeat) >= d.in.Timing.PublishPeriod
	if !ok || cur.RunID != self.RunID || cur.Announce != self.Announce || cur.HTTPAddr != self.HTTPAddr ||
		cur.Protocol != state.Protocol || due {
		s := self
		s.Protocol = state.Protocol // what this build applies (OpBatch needs every member's)
		d.emit(Propose{Key: "register", Cmd: state.Command{Op: state.OpRegisterMonitor, Monitor: &s}})
	}
	for i := range d.in.Masters {
		spec := d.in.Masters[i]
		if _, ok := st.Masters[spec.Name]; !ok && !st.Seeded[spec.Name] {
			d.emit(Propose{Key: "master/" + spec.Name, Cmd: state.Command{Op: state.OpAddMaster, Spec: &spec}})
		}
	}
}

// watches has the prober watch exactly the committed masters and their
// replicas, with the committed link settings of their master (auth-user,
// auth-pass, rename-command): when those change (SENTINEL SET), the prober
// is given the new ones, and reconnects with them.
func (d *decider) watches() {
	// In name order, the first master naming a node gives its credentials:
	// a node listed under two masters (a misconfiguration) must not flip
	// between their credentials from one tick to the next.
	st := d.in.State
	want := map[string]probe.Auth{}
	for _, name := range st.MasterNames() {
		ms := st.Masters[name]
		auth := LinkAuth(ms)
		for _, a := range nodes(ms) {
			if _, ok := want[a.String()]; !ok {
				want[a.String()] = auth
			}
		}
	}
	for _, a := range slices.Sorted(maps.Keys(want)) {
		_, known := d.l.WatchedSince[a]
		switch {
		case !known:
			d.emit(Watch{Node: a, Auth: want[a], Since: d.in.Now})
		case !d.l.WatchAuth[a].Equal(want[a]):
			d.emit(Watch{Node: a, Auth: want[a]})
		}
	}
	for _, a := range slices.Sorted(maps.Keys(d.l.WatchedSince)) {
		if _, ok := want[a]; !ok {
			d.emit(Unwatch{Node: a})
		}
	}
}

// nodes returns the master of ms followed by its replicas.
func nodes(ms *state.Master) []state.Addr {
	return append([]state.Addr{ms.Addr}, ms.Replicas...)
}

// ---- PhaseLocal ----

// local judges every probed node of every master, the master first.
func (d *decider) local() {
	st := d.in.State
	tilt := !d.l.TiltSince.IsZero()
	for _, name := range st.MasterNames() {
		ms := st.Masters[name]
		for i, a := range nodes(ms) {
			if o, ok := d.in.Obs[a.String()]; ok {
				d.node(ms, i == 0, a, o, tilt)
			}
		}
	}
}

// node judges one node of ms (master: the committed master): SDOWN and its
// events, a role change, a restart; for the master, this monitor's
// opinion — except a "down" one in TILT (its own timers are suspect).
func (d *decider) node(ms *state.Master, master bool, a state.Addr, o probe.Observation, tilt bool) {
	key, now, l := a.String(), d.in.Now, d.l
	_, wasDown := l.SDownSince[key]
	down := SDownAt(o, now, l.WatchedSince[key], ms.DownAfter)
	if master && d.rebootedTooLong(key, o, ms.RebootDownAfter) {
		down = true
	}
	if master && d.reportsSlave(ms, o) {
		down = true
	}
	inst := replicaInst(a, ms.Name, ms.Addr)
	if master {
		inst = masterInst(ms.Name, a)
	}
	switch {
	case down && !wasDown:
		d.emit(SetSDown{Node: key, Since: now}, d.logf(slog.LevelWarn, "+sdown", "instance", inst), Publish{Channel: EvSDown, Inst: inst})
	case !down && wasDown:
		d.emit(SetSDown{Node: key}, d.logf(slog.LevelInfo, "-sdown", "instance", inst), Publish{Channel: EvSDownCleared, Inst: inst})
	}
	prevRun, prevRole := l.RunIDs[key], l.Roles[key]
	if o.RunID != "" && o.RunID != prevRun {
		d.emit(SetRunID{Node: key, RunID: o.RunID})
	}
	if o.Role != "" && o.Role != prevRole {
		d.emit(SetRole{Node: key, Role: o.Role})
	}
	if prevRole != "" && o.Role != "" && prevRole != o.Role {
		// "+" when the new role agrees with the committed topology.
		ev := EvRoleChange
		if master != (o.Role == "master") {
			ev = EvRoleChangeWrong
		}
		d.emit(Publish{Channel: ev, Inst: inst, Text: " new reported role is " + o.Role})
	}
	if prevRun != "" && o.RunID != "" && prevRun != o.RunID {
		if master {
			d.emit(SetReboot{Node: key, Since: now})
		}
		d.emit(d.logf(slog.LevelWarn, "+reboot", "instance", inst), Publish{Channel: EvReboot, Inst: inst})
	}
	if master && !(tilt && down) {
		d.opinion(ms, down)
	}
}

// rebootedTooLong applies master-reboot-down-after-period: a master whose
// run id changed (it restarted) and that is still loading its dataset
// after period counts as down, as in Sentinel 7. The mark clears as soon
// as the master answers normally.
func (d *decider) rebootedTooLong(key string, o probe.Observation, period time.Duration) bool {
	since, ok := d.l.RebootSince[key]
	if !ok {
		return false
	}
	if o.Connected && !o.Loading {
		d.emit(SetReboot{Node: key})
		return false
	}
	return period > 0 && d.in.Now.Sub(since) > period
}

// reportsSlave applies MasterRoleDown to master ms, counting from when
// this monitor first saw ms at its current address. It is not applied
// while a failover of ms is in progress: then the committed master
// changing role is the failover's own doing (a switchover's FAILOVER TO
// makes it a replica just before the switch).
func (d *decider) reportsSlave(ms *state.Master, o probe.Observation) bool {
	seen, ok := d.l.MasterSince[ms.Name]
	if !ok || seen.Addr != ms.Addr {
		seen = MasterSeen{Addr: ms.Addr, Since: d.in.Now}
		d.emit(SetMasterSeen{Master: ms.Name, Seen: seen})
	}
	if ms.Failover.InProgress() {
		return false
	}
	return MasterRoleDown(o, d.in.Now, seen.Since, ms.DownAfter, d.in.Timing.InfoPeriod)
}

// opinion keeps this monitor's committed opinion on ms in step with what
// it sees: a change is proposed at once, a "down" one re-asserted every
// AskPeriod (an opinion counts for OpinionTTL only).
func (d *decider) opinion(ms *state.Master, down bool) {
	id := d.in.Self.ID
	committed, has := ms.Opinions[id]
	last := d.l.OpinionSent[ms.Name]
	need := false
	switch {
	case down && (!has || !committed.Down):
		need = true
	case down && d.in.Now.Sub(last) >= d.in.Timing.AskPeriod:
		need = true
	case !down && has && committed.Down:
		need = true
	}
	if need {
		d.emit(Propose{Key: "opinion/" + ms.Name,
			Cmd: state.Command{Op: state.OpOpinion, Master: ms.Name, MonitorID: id, Addr: ms.Addr, Down: down}})
	}
}

// ---- PhaseEffect ----

// effect publishes the events of a committed effect. A switch of master
// also changes what this monitor remembers: the old master is now judged
// (and announced) afresh as a replica, expected to report role slave —
// when it comes back reporting master, that is a -role-change, as Sentinel
// reports it for its re-created instance; and the promoted replica now
// reports master, announced once whether or not this monitor's INFO saw
// it first.
func (d *decider) effect() {
	e, st := d.in.Effect, d.in.State
	d.emit(effectEvents(e, st, d.in.Self.ID)...)
	switch e.Kind {
	case state.EffSwitchMaster:
		from, to := e.From.String(), e.To.String()
		announce := d.l.Roles[to] != "master"
		d.emit(SetSDown{Node: from}, SetRole{Node: from, Role: "slave"}, SetRole{Node: to, Role: "master"})
		if announce {
			d.emit(Publish{Channel: EvRoleChangeWrong, Inst: replicaInst(e.To, e.Master, e.From), Text: " new reported role is master"})
		}
		d.emit(d.logf(slog.LevelWarn, "+switch-master", "master", e.Master, "from", from, "to", to, "epoch", e.Epoch))
	case state.EffODown:
		d.emit(d.logf(slog.LevelWarn, "+odown", "master", e.Master, "addr", e.Addr.String(), "votes", e.Votes, "quorum", e.Quorum))
	}
}
