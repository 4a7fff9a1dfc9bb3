package failover

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// TestScenarios runs the decision scenarios of testdata/ (datadriven;
// go test -rewrite rewrites their expected output). Each file is one
// monitor, "m1", over a committed state it builds with real state.Apply
// steps, at a clock that starts at 12:00:00 and moves only by "advance".
//
// State (committed, stamped at the clock):
//
//	monitors ids=(m1,m2,m3)                  announced at 10.0.9.1:26379, ...
//	master name=N addr=A [replicas=(A,...)] [quorum=2] [down-after=1s] [failover-timeout=1m] [parallel-syncs=1]
//	set master=N option=value ...           SENTINEL SET
//	opinion master=N monitor=M [down] [at=-10s]
//	start master=N to=A [id=f1] [by=m1] [force] [coordinated] [at=-1s]
//	promoted master=N id=f1
//	end master=N id=f1 stage=completed|aborted
//	remove master=N                          SENTINEL REMOVE
//
// This monitor's view:
//
//	observe node=A [connected] [loading] [role=R] [ping=-0s] [sent=-2s] [info=-0s]
//	        [priority=100] [offset=N] [runid=R] [link-down=13s] [master=A] [role-changed=-0s] [replicas=(A,...)]
//	unobserve node=A
//	refuse master=N      (the reason is the input; empty input: not refused)
//	advance by=1s
//	timing [tilt-trigger=2s] [tilt-period=30s] [ask-period=1s] [info-period=1s]   SENTINEL DEBUG
//
// Decisions (the output is the actions, one per line, a Commit with its
// branches indented; the harness then carries the soft part out, as the
// Brain does, but a SetTilt that changes only the tick's time is not
// printed):
//
//	decide [phases=(tick,local,leader)] [follower] [commit=ok|fail] [proposals=commit]
//	effects                    PhaseEffect for the effects of the last commits
//	step master=N [attempt=ok|<error>]      the driver's NextStep
//	fence since-contact=4s [after=3s] [role=R] [committed-master] [fenced]
//	show                       the committed masters and the soft state
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := newScenario()
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return s.run(t, td)
		})
	})
}

var scenarioStart = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type scenario struct {
	now     time.Time
	st      *state.State // live: the harness applies commands to it
	index   uint64
	effects []state.Effect // of the last command that committed anything
	obs     map[string]probe.Observation
	local   Local
	refused map[string]string
	ids     int
	timing  Timing
}

func newScenario() *scenario {
	d := DefaultOptions()
	return &scenario{now: scenarioStart, st: state.NewState(), obs: map[string]probe.Observation{}, local: NewLocal(),
		refused: map[string]string{},
		timing: Timing{InfoPeriod: d.InfoPeriod, PingPeriod: d.PingPeriod, AskPeriod: d.OpinionRefresh,
			PublishPeriod: d.Heartbeat, TiltTrigger: d.TiltTrigger, TiltPeriod: d.TiltPeriod, OpinionTTL: d.OpinionTTL}}
}

// commands are the scenario commands, by name.
var commands = map[string]func(s *scenario, t *testing.T, td *datadriven.TestData) string{
	"monitors": (*scenario).monitors, "master": (*scenario).master, "set": (*scenario).set,
	"opinion": (*scenario).opinion, "start": (*scenario).start, "promoted": (*scenario).promoted,
	"end": (*scenario).end, "remove": (*scenario).remove, "observe": (*scenario).observe, "unobserve": (*scenario).unobserve,
	"refuse": (*scenario).refuse, "advance": (*scenario).advance, "decide": (*scenario).decide,
	"timing": (*scenario).setTiming, "effects": (*scenario).runEffects, "step": (*scenario).step, "fence": (*scenario).fence, "show": (*scenario).show,
}

func (s *scenario) run(t *testing.T, td *datadriven.TestData) string {
	cmd, ok := commands[td.Cmd]
	if !ok {
		t.Fatalf("%s: unknown command %q", td.Pos, td.Cmd)
	}
	return cmd(s, t, td)
}

// ---- argument helpers ----

func arg(td *datadriven.TestData, key string) (string, bool) {
	a, ok := td.Arg(key)
	if !ok || len(a.Vals) == 0 {
		return "", ok
	}
	return a.Vals[0], true
}

func mustArg(t *testing.T, td *datadriven.TestData, key string) string {
	v, ok := arg(td, key)
	if !ok {
		t.Fatalf("%s: %s needs %s=", td.Pos, td.Cmd, key)
	}
	return v
}

func addrOf(t *testing.T, s string) state.Addr {
	a, err := state.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func addrsOf(t *testing.T, td *datadriven.TestData, key string) []state.Addr {
	a, _ := td.Arg(key)
	var out []state.Addr
	for _, v := range a.Vals {
		out = append(out, addrOf(t, v))
	}
	return out
}

func durOf(t *testing.T, td *datadriven.TestData, key string, dflt time.Duration) time.Duration {
	v, ok := arg(td, key)
	if !ok {
		return dflt
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %s=%s: %v", td.Pos, key, v, err)
	}
	return d
}

func intOf(t *testing.T, td *datadriven.TestData, key string, dflt int) int {
	v, ok := arg(td, key)
	if !ok {
		return dflt
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s: %s=%s: %v", td.Pos, key, v, err)
	}
	return n
}

// at is the clock moved by the duration of key (default now).
func (s *scenario) at(t *testing.T, td *datadriven.TestData, key string) time.Time {
	if _, ok := td.Arg(key); !ok {
		return time.Time{}
	}
	return s.now.Add(durOf(t, td, key, 0))
}

// ---- the committed state ----

// commit applies cmd to the state at log time at, as the FSM would.
func (s *scenario) commit(cmd state.Command, at time.Time) error {
	s.index++
	effects, err := state.Apply(s.st, cmd, at, s.index)
	s.effects = append(s.effects, effects...)
	return err
}

// setup commits cmd (a fresh batch of effects) and reports its error.
func (s *scenario) setup(cmd state.Command, at time.Time) string {
	s.effects = nil
	if at.IsZero() {
		at = s.now
	}
	if err := s.commit(cmd, at); err != nil {
		return "error: " + err.Error()
	}
	return ""
}

func (s *scenario) monitors(t *testing.T, td *datadriven.TestData) string {
	a, _ := td.Arg("ids")
	for i, id := range a.Vals {
		mon := &state.Monitor{ID: id, RunID: id, Announce: state.Addr{Host: "10.0.9." + strconv.Itoa(i+1), Port: 26379}}
		if out := s.setup(state.Command{Op: state.OpRegisterMonitor, Monitor: mon}, s.now); out != "" {
			return out
		}
	}
	return ""
}

func (s *scenario) master(t *testing.T, td *datadriven.TestData) string {
	name := mustArg(t, td, "name")
	spec := &state.Master{Name: name, Addr: addrOf(t, mustArg(t, td, "addr")), Quorum: intOf(t, td, "quorum", 2),
		DownAfter: durOf(t, td, "down-after", time.Second), FailoverTimeout: durOf(t, td, "failover-timeout", time.Minute),
		ParallelSyncs: intOf(t, td, "parallel-syncs", 1)}
	if out := s.setup(state.Command{Op: state.OpAddMaster, Spec: spec}, s.now); out != "" {
		return out
	}
	if reps := addrsOf(t, td, "replicas"); len(reps) > 0 {
		return s.setup(state.Command{Op: state.OpReplicas, Master: name, Replicas: reps}, s.now)
	}
	return ""
}

func (s *scenario) set(t *testing.T, td *datadriven.TestData) string {
	cmd := state.Command{Op: state.OpSet, Master: mustArg(t, td, "master")}
	for _, a := range td.CmdArgs {
		if a.Key != "master" {
			cmd.Options = append(cmd.Options, state.SetOption{Name: a.Key, Values: a.Vals})
		}
	}
	return s.setup(cmd, s.now)
}

func (s *scenario) opinion(t *testing.T, td *datadriven.TestData) string {
	name := mustArg(t, td, "master")
	return s.setup(state.Command{Op: state.OpOpinion, Master: name, MonitorID: mustArg(t, td, "monitor"),
		Addr: s.st.Masters[name].Addr, Down: td.HasArg("down")}, s.at(t, td, "at"))
}

func (s *scenario) start(t *testing.T, td *datadriven.TestData) string {
	name := mustArg(t, td, "master")
	id, ok := arg(td, "id")
	if !ok {
		id = "f1"
	}
	by, ok := arg(td, "by")
	if !ok {
		by = "m1"
	}
	return s.setup(state.Command{Op: state.OpFailoverStart, Master: name, Addr: s.st.Masters[name].Addr,
		To: addrOf(t, mustArg(t, td, "to")), FailoverID: id, MonitorID: by, Term: 1,
		Force: td.HasArg("force"), Coordinated: td.HasArg("coordinated")}, s.at(t, td, "at"))
}

func (s *scenario) promoted(t *testing.T, td *datadriven.TestData) string {
	return s.setup(state.Command{Op: state.OpFailoverPromoted, Master: mustArg(t, td, "master"), FailoverID: mustArg(t, td, "id")}, s.now)
}

func (s *scenario) end(t *testing.T, td *datadriven.TestData) string {
	return s.setup(state.Command{Op: state.OpFailoverEnd, Master: mustArg(t, td, "master"), FailoverID: mustArg(t, td, "id"),
		Stage: state.Stage(mustArg(t, td, "stage"))}, s.now)
}

func (s *scenario) remove(t *testing.T, td *datadriven.TestData) string {
	return s.setup(state.Command{Op: state.OpRemove, Master: mustArg(t, td, "master")}, s.now)
}

// ---- this monitor's view ----

func (s *scenario) observe(t *testing.T, td *datadriven.TestData) string {
	o := probe.Observation{Addr: mustArg(t, td, "node"), Connected: td.HasArg("connected"), Loading: td.HasArg("loading"),
		LastOKPing: s.at(t, td, "ping"), LastPingReply: s.at(t, td, "ping"), LastPingSent: s.at(t, td, "sent"),
		InfoAt: s.at(t, td, "info"), RoleChangedAt: s.at(t, td, "role-changed"),
		Priority: intOf(t, td, "priority", 100), ReplOffset: int64(intOf(t, td, "offset", 0)),
		MasterLinkDownMs: durOf(t, td, "link-down", 0).Milliseconds()}
	o.Role, _ = arg(td, "role")
	o.RunID, _ = arg(td, "runid")
	if m, ok := arg(td, "master"); ok {
		a := addrOf(t, m)
		o.MasterHost, o.MasterPort, o.MasterLinkUp = a.Host, a.Port, o.MasterLinkDownMs == 0
	}
	for _, r := range addrsOf(t, td, "replicas") {
		o.Replicas = append(o.Replicas, probe.ReplicaEntry{Host: r.Host, Port: r.Port})
	}
	s.obs[o.Addr] = o
	return ""
}

func (s *scenario) unobserve(t *testing.T, td *datadriven.TestData) string {
	delete(s.obs, mustArg(t, td, "node"))
	return ""
}

func (s *scenario) refuse(t *testing.T, td *datadriven.TestData) string {
	s.refused[mustArg(t, td, "master")] = strings.TrimSpace(td.Input)
	return ""
}

func (s *scenario) advance(t *testing.T, td *datadriven.TestData) string {
	s.now = s.now.Add(durOf(t, td, "by", 0))
	return "now " + stamp(s.now)
}

func (s *scenario) setTiming(t *testing.T, td *datadriven.TestData) string {
	tm := &s.timing
	for key, d := range map[string]*time.Duration{"tilt-trigger": &tm.TiltTrigger, "tilt-period": &tm.TiltPeriod,
		"ask-period": &tm.AskPeriod, "info-period": &tm.InfoPeriod} {
		*d = durOf(t, td, key, *d)
	}
	return ""
}

// ---- decisions ----

func (s *scenario) input(ph Phase) Input {
	return Input{Phase: ph, State: s.st.Clone(), Obs: s.obs, Local: &s.local, Timing: s.timing,
		Self: state.Monitor{ID: "m1", RunID: "m1"}, Term: 1, Refused: s.refused, Now: s.now,
		NewID: func() string { s.ids++; return "f" + strconv.Itoa(s.ids) }}
}

var phaseNames = map[string]Phase{"tick": PhaseTick, "local": PhaseLocal, "leader": PhaseLeader}

func (s *scenario) decide(t *testing.T, td *datadriven.TestData) string {
	phases := []string{"local", "leader"}
	if a, ok := td.Arg("phases"); ok {
		phases = a.Vals
	}
	mode, _ := arg(td, "commit")
	s.effects = nil
	var b strings.Builder
	for _, name := range phases {
		ph, ok := phaseNames[name]
		if !ok {
			t.Fatalf("%s: unknown phase %q", td.Pos, name)
		}
		in := s.input(ph)
		in.Leading = !td.HasArg("follower")
		acts := Decide(in)
		s.print(&b, name, acts)
		s.carry(acts, mode == "fail", td.HasArg("proposals"))
	}
	return b.String()
}

// print writes the actions of a phase under its name.
func (s *scenario) print(b *strings.Builder, name string, acts []Action) {
	var lines []string
	for _, a := range acts {
		if tl, ok := a.(SetTilt); ok && tl.Since.Equal(s.local.TiltSince) && tl.Until.Equal(s.local.TiltUntil) {
			continue // only the tick's time
		}
		lines = append(lines, "  "+strings.ReplaceAll(a.String(), "\n", "\n  "))
	}
	if len(lines) > 0 {
		b.WriteString(name + ":\n" + strings.Join(lines, "\n") + "\n")
	}
}

// carry does what the Brain does with acts: their soft part, and, for a
// Commit, the commit (unless fail) and the branch that follows; a Drive
// marks a driver running; proposals are committed when asked.
func (s *scenario) carry(acts []Action, fail, proposals bool) {
	remember(&s.local, acts)
	for _, a := range acts {
		switch a := a.(type) {
		case Commit:
			next := a.Else
			if !fail && s.commit(a.Cmd, s.now) == nil {
				next = a.OK
			}
			s.carry(next, fail, proposals)
		case Drive:
			s.local.Driving[a.Master] = true
		case Propose:
			if proposals && s.commit(a.Cmd, s.now) == nil {
				s.local.Proposed(a.Key, a.Cmd, s.now)
			}
		}
	}
}

func (s *scenario) runEffects(t *testing.T, td *datadriven.TestData) string {
	var b strings.Builder
	effects := s.effects
	s.effects = nil
	for _, e := range effects {
		in := s.input(PhaseEffect)
		in.Effect = e
		acts := Decide(in)
		s.print(&b, string(e.Kind), acts)
		s.carry(acts, false, false)
	}
	return b.String()
}

func (s *scenario) step(t *testing.T, td *datadriven.TestData) string {
	ms := s.st.Masters[mustArg(t, td, "master")]
	var at Attempt
	if v, ok := arg(td, "attempt"); ok {
		at.Made = true
		if v != "ok" {
			at.Err = fmt.Errorf("%s", v)
		}
	}
	step := NextStep(ms, at, s.now)
	out := step.String()
	switch step.Kind {
	case StepPromote, StepRetry, StepAbort:
		out += "\ngive up after " + stamp(GiveUpAt(ms.Failover, ms.DownAfter))
	}
	return out
}

func (s *scenario) fence(t *testing.T, td *datadriven.TestData) string {
	in := FenceInput{Now: s.now, LastContact: s.now.Add(-durOf(t, td, "since-contact", 0)),
		After: durOf(t, td, "after", 3*time.Second), CommittedMaster: td.HasArg("committed-master"), Fenced: td.HasArg("fenced")}
	in.Obs.Role, in.Observed = arg(td, "role")
	return [...]string{FenceHold: "hold", FencePause: "pause writes", FenceLift: "lift the pause"}[Fence(in)]
}

func (s *scenario) show(t *testing.T, td *datadriven.TestData) string {
	var b strings.Builder
	for _, name := range s.st.MasterNames() {
		ms := s.st.Masters[name]
		fmt.Fprintf(&b, "%s: addr=%s epoch=%d odown=%v", name, ms.Addr, ms.ConfigEpoch, ms.ODown)
		if f := ms.Failover; f != nil {
			fmt.Fprintf(&b, " failover=%s(%s→%s %s)", f.ID, f.From, f.To, f.Stage)
		}
		b.WriteString("\n")
	}
	l := &s.local
	for _, k := range slices.Sorted(maps.Keys(l.SDownSince)) {
		fmt.Fprintf(&b, "sdown %s since %s\n", k, stamp(l.SDownSince[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(l.Blocked)) {
		fmt.Fprintf(&b, "blocked %s: %s\n", k, l.Blocked[k])
	}
	for _, k := range slices.Sorted(maps.Keys(l.Backoff)) {
		fmt.Fprintf(&b, "backoff %s until %s\n", k, stamp(l.Backoff[k]))
	}
	if !l.TiltSince.IsZero() {
		fmt.Fprintf(&b, "tilt since %s until %s\n", stamp(l.TiltSince), stamp(l.TiltUntil))
	}
	return b.String()
}
