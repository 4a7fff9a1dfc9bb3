package state

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func addr(p int) Addr { return Addr{Host: "10.0.0.1", Port: p} }

// step is one command applied at t0+after, with the error and the effect
// kinds it must give.
type step struct {
	cmd     Command
	after   time.Duration // since t0
	wantErr error
	kinds   []EffectKind
}

func runSteps(t *testing.T, s *State, steps []step) {
	t.Helper()
	for i, st := range steps {
		eff, err := Apply(s, st.cmd, t0.Add(st.after), uint64(i+1))
		if !errors.Is(err, st.wantErr) || (st.wantErr == nil && err != nil) {
			t.Fatalf("step %d (%s): err = %v, want %v", i, st.cmd.Op, err, st.wantErr)
		}
		var kinds []EffectKind
		for _, e := range eff {
			if e.Index != uint64(i+1) {
				t.Fatalf("step %d (%s): effect %s carries index %d", i, st.cmd.Op, e.Kind, e.Index)
			}
			kinds = append(kinds, e.Kind)
		}
		if !reflect.DeepEqual(kinds, st.kinds) {
			t.Fatalf("step %d (%s): effects %v, want %v", i, st.cmd.Op, kinds, st.kinds)
		}
	}
}

func baseSteps() []step {
	spec := &Master{Name: "mymaster", Addr: addr(1), Quorum: 2, DownAfter: time.Second,
		FailoverTimeout: 10 * time.Second, ParallelSyncs: 1}
	return []step{
		{cmd: Command{Op: OpRegisterMonitor, Monitor: &Monitor{ID: "m1", RunID: "r1"}}, kinds: []EffectKind{EffMonitorAdded}},
		{cmd: Command{Op: OpAddMaster, Spec: spec}, kinds: []EffectKind{EffMasterAdded}},
		{cmd: Command{Op: OpAddMaster, Spec: &Master{Name: "mymaster", Addr: addr(9), Quorum: 1}}}, // first wins
		{cmd: Command{Op: OpReplicas, Master: "mymaster", Replicas: []Addr{addr(3), addr(2), addr(1)}},
			kinds: []EffectKind{EffReplicaAdded, EffReplicaAdded}},
	}
}

func TestApplyFailoverLifecycle(t *testing.T) {
	s := NewState()
	steps := append(baseSteps(),
		step{cmd: Command{Op: OpOpinion, Master: "mymaster", MonitorID: "m1", Addr: addr(1), Down: true}, after: time.Second,
			kinds: []EffectKind{EffOpinion}},
		step{cmd: Command{Op: OpOpinion, Master: "mymaster", MonitorID: "m1", Addr: addr(1), Down: true}, after: time.Second}, // refresh: no change
		step{cmd: Command{Op: OpOpinion, Master: "mymaster", MonitorID: "m2", Addr: addr(9), Down: true}, wantErr: ErrStaleAddress},
		step{cmd: Command{Op: OpODown, Master: "mymaster", Addr: addr(1), Down: true, Votes: 2}, after: time.Second, kinds: []EffectKind{EffODown}},
		step{cmd: Command{Op: OpFailoverStart, Master: "mymaster", Addr: addr(1), To: addr(2), FailoverID: "f1", MonitorID: "m1"},
			after: 2 * time.Second, kinds: []EffectKind{EffNewEpoch, EffFailoverStart}},
		step{cmd: Command{Op: OpFailoverStart, Master: "mymaster", Addr: addr(1), To: addr(3), FailoverID: "f2"},
			after: 3 * time.Second, wantErr: ErrFailoverInProg},
		step{cmd: Command{Op: OpFailoverEnd, Master: "mymaster", FailoverID: "f1", Stage: StageCompleted}, wantErr: ErrWrongStage},
		step{cmd: Command{Op: OpFailoverPromoted, Master: "mymaster", FailoverID: "nope"}, wantErr: ErrNoSuchFailover},
		step{cmd: Command{Op: OpFailoverPromoted, Master: "mymaster", FailoverID: "f1"}, after: 3 * time.Second,
			kinds: []EffectKind{EffODownCleared, EffSwitchMaster}},
		step{cmd: Command{Op: OpFailoverPromoted, Master: "mymaster", FailoverID: "f1"}}, // idempotent
		step{cmd: Command{Op: OpFailoverEnd, Master: "mymaster", FailoverID: "f1", Stage: StageAborted}, wantErr: ErrWrongStage},
		step{cmd: Command{Op: OpFailoverEnd, Master: "mymaster", FailoverID: "f1", Stage: StageCompleted}, after: 4 * time.Second,
			kinds: []EffectKind{EffFailoverEnd}},
		// Anti-flap: a new failover within failover-timeout of the last start is refused...
		step{cmd: Command{Op: OpFailoverStart, Master: "mymaster", Addr: addr(2), To: addr(3), FailoverID: "f3"},
			after: 5 * time.Second, wantErr: ErrTooSoon},
		// ...unless forced (manual), and after the window it is allowed.
		step{cmd: Command{Op: OpFailoverStart, Master: "mymaster", Addr: addr(2), To: addr(3), FailoverID: "f4"},
			after: 13 * time.Second, kinds: []EffectKind{EffNewEpoch, EffFailoverStart}},
	)
	runSteps(t, s, steps)
	st := s
	m := st.Masters["mymaster"]
	if m.Addr != addr(2) || m.ConfigEpoch != 1 || st.CurrentEpoch != 2 {
		t.Fatalf("addr %v epoch %d current %d", m.Addr, m.ConfigEpoch, st.CurrentEpoch)
	}
	if want := []Addr{addr(1), addr(3)}; !reflect.DeepEqual(m.Replicas, want) {
		t.Fatalf("replicas %v, want %v (old master kept as replica, new one removed)", m.Replicas, want)
	}
	if len(m.Opinions) != 0 || m.ODown {
		t.Fatalf("opinions/odown not reset on switch: %+v %v", m.Opinions, m.ODown)
	}
	if m.Failover.ID != "f4" || m.Failover.Deadline != t0.Add(23*time.Second) {
		t.Fatalf("failover %+v", m.Failover)
	}
}

func TestApplyExpiredFailoverIsSuperseded(t *testing.T) {
	s := NewState()
	steps := append(baseSteps(),
		step{cmd: Command{Op: OpFailoverStart, Master: "mymaster", Addr: addr(1), To: addr(2), FailoverID: "f1"},
			kinds: []EffectKind{EffNewEpoch, EffFailoverStart}},
		// Before the deadline: in progress.
		step{cmd: Command{Op: OpFailoverStart, Master: "mymaster", Addr: addr(1), To: addr(3), FailoverID: "f2"},
			after: 9 * time.Second, wantErr: ErrFailoverInProg},
		// After it: the stuck one is aborted and a new one starts with a new epoch.
		step{cmd: Command{Op: OpFailoverStart, Master: "mymaster", Addr: addr(1), To: addr(3), FailoverID: "f2"},
			after: 11 * time.Second, kinds: []EffectKind{EffFailoverAbort, EffNewEpoch, EffFailoverStart}},
		// The old one can no longer be promoted.
		step{cmd: Command{Op: OpFailoverPromoted, Master: "mymaster", FailoverID: "f1"}, wantErr: ErrNoSuchFailover},
		step{cmd: Command{Op: OpFailoverEnd, Master: "mymaster", FailoverID: "f2", Stage: StageAborted, Reason: "x"},
			after: 12 * time.Second, kinds: []EffectKind{EffFailoverAbort}},
		// After an abort a retry is not held back by the anti-flap window.
		step{cmd: Command{Op: OpFailoverStart, Master: "mymaster", Addr: addr(1), To: addr(2), FailoverID: "f3"},
			after: 13 * time.Second, kinds: []EffectKind{EffNewEpoch, EffFailoverStart}},
	)
	runSteps(t, s, steps)
	if e := s.CurrentEpoch; e != 3 {
		t.Fatalf("epoch %d", e)
	}
}

func TestApplyAdminOps(t *testing.T) {
	s := NewState()
	steps := append(baseSteps(),
		step{cmd: Command{Op: OpMonitor, Spec: &Master{Name: "mymaster", Addr: addr(5)}}, wantErr: ErrDuplicateMaster},
		step{cmd: Command{Op: OpMonitor, Spec: &Master{Name: "two", Addr: addr(5), Quorum: 1, FailoverTimeout: time.Minute}},
			kinds: []EffectKind{EffMasterAdded}},
		// SET is all or nothing: a bad second option leaves the first unapplied.
		step{cmd: Command{Op: OpSet, Master: "two", Options: []SetOption{{Name: "quorum", Values: []string{"2"}}, {Name: "parallel-syncs", Values: []string{"0"}}}},
			wantErr: ErrSetting},
		step{cmd: Command{Op: OpSet, Master: "two", Options: []SetOption{{Name: "quorum", Values: []string{"2"}}, {Name: "auth-pass", Values: []string{"s3"}}}},
			kinds: []EffectKind{EffSet, EffSet}},
		step{cmd: Command{Op: OpConfigSet, MonitorID: "m1", Config: [][2]string{{"announce-ip", "10.9.9.9"}, {"loglevel", "debug"}}}},
		step{cmd: Command{Op: OpConfigSet, MonitorID: "m1", Config: [][2]string{{"loglevel", "loud"}}}, wantErr: ErrSetting},
		// Re-registration keeps the announce override.
		step{cmd: Command{Op: OpRegisterMonitor, Monitor: &Monitor{ID: "m1", RunID: "r1"}}},
		step{cmd: Command{Op: OpFailoverStart, Master: "mymaster", Addr: addr(1), To: addr(2), FailoverID: "f1"},
			kinds: []EffectKind{EffNewEpoch, EffFailoverStart}},
		step{cmd: Command{Op: OpReset, Names: []string{"mymaster", "gone"}}, kinds: []EffectKind{EffFailoverAbort, EffReset}},
		step{cmd: Command{Op: OpRemove, Master: "two"}, kinds: []EffectKind{EffMasterRemoved}},
		step{cmd: Command{Op: OpRemove, Master: "two"}, wantErr: ErrNoSuchMaster},
		step{cmd: Command{Op: OpRemove, Master: "mymaster"}, kinds: []EffectKind{EffMasterRemoved}},
		// A configuration file seeds a name once: a removed master stays removed...
		step{cmd: Command{Op: OpAddMaster, Spec: &Master{Name: "mymaster", Addr: addr(1)}}},
		// ...while SENTINEL MONITOR brings it back.
		step{cmd: Command{Op: OpMonitor, Spec: &Master{Name: "mymaster", Addr: addr(1)}}, kinds: []EffectKind{EffMasterAdded}},
	)
	runSteps(t, s, steps)
	st := s
	if m := st.Monitors["m1"]; m.Announced().Host != "10.9.9.9" || st.ConfigValue("m1", "loglevel") != "debug" {
		t.Fatalf("config: %+v %v", m, st.Config)
	}
	if m := st.Masters["mymaster"]; len(m.Replicas) != 0 || m.Failover != nil {
		t.Fatalf("re-monitored master carries old state: %+v", m)
	}
	got, err := Apply(s, Command{Op: OpSet, Master: "mymaster", Options: []SetOption{{Name: "auth-pass", Values: []string{"s3"}}}}, t0, 99)
	if err != nil || len(got) != 1 || got[0].Kind != EffSet || got[0].Value != "******" {
		t.Fatalf("+set of auth-pass must hide the value: %+v", got)
	}
}

// TestFailoverTooSoon: the one anti-flap rule the FSM and the brain share.
func TestFailoverTooSoon(t *testing.T) {
	t0 := time.Unix(1000, 0)
	m := &Master{FailoverTimeout: time.Minute}
	for _, c := range []struct {
		f    *Failover
		at   time.Time
		want bool
	}{
		{nil, t0, false},
		{&Failover{StartedAt: t0, Stage: StageCompleted}, t0.Add(59 * time.Second), true},
		{&Failover{StartedAt: t0, Stage: StageCompleted}, t0.Add(time.Minute), false},
		{&Failover{StartedAt: t0, Stage: StageStarted}, t0.Add(time.Second), true},
		{&Failover{StartedAt: t0, Stage: StageAborted}, t0.Add(time.Second), false},
	} {
		m.Failover = c.f
		if got := m.FailoverTooSoon(c.at); got != c.want {
			t.Errorf("failover %+v at +%v: %v, want %v", c.f, c.at.Sub(t0), got, c.want)
		}
	}
}

// TestApplyBatch: a batch applies each command as its own step — one that
// fails is skipped, the others' effects come in order with the batch's
// index — and a batch holding a command that cannot be batched changes
// nothing.
func TestApplyBatch(t *testing.T) {
	s := NewState()
	runSteps(t, s, baseSteps())
	runSteps(t, s, []step{{cmd: Command{Op: OpBatch, Batch: []Command{
		{Op: OpRegisterMonitor, Monitor: &Monitor{ID: "m2", Protocol: Protocol}},
		{Op: OpOpinion, Master: "mymaster", MonitorID: "m1", Addr: addr(1), Down: true},
		{Op: OpOpinion, Master: "mymaster", MonitorID: "m2", Addr: addr(9), Down: true}, // stale: skipped
		{Op: OpOpinion, Master: "nosuch", MonitorID: "m2", Addr: addr(1), Down: true},   // skipped
		{Op: OpReplicas, Master: "mymaster", Replicas: []Addr{addr(4)}},
	}}, after: time.Second, kinds: []EffectKind{EffMonitorAdded, EffOpinion, EffReplicaAdded}}})
	m := s.Masters["mymaster"]
	if !m.Opinions["m1"].Down || len(m.Opinions) != 1 || len(m.Replicas) != 3 {
		t.Fatalf("after the batch: opinions %+v replicas %v", m.Opinions, m.Replicas)
	}
	before := s.Clone()
	runSteps(t, s, []step{{cmd: Command{Op: OpBatch, Batch: []Command{
		{Op: OpOpinion, Master: "mymaster", MonitorID: "m2", Addr: addr(1), Down: true},
		{Op: OpFailoverStart, Master: "mymaster", Addr: addr(1), To: addr(2), FailoverID: "f1"},
	}}, after: time.Second, wantErr: ErrBadCommand}})
	before.LastApplied = s.LastApplied
	if !reflect.DeepEqual(s, before) {
		t.Fatalf("a refused batch changed the state")
	}
}

// TestGroupProtocol: the lowest protocol of the members, a member that
// registered none counting as 1.
func TestGroupProtocol(t *testing.T) {
	s := NewState()
	if got := s.GroupProtocol(); got != Protocol {
		t.Fatalf("no members: %d", got)
	}
	s.Monitors["a"] = &Monitor{ID: "a", Protocol: Protocol}
	if got := s.GroupProtocol(); got != Protocol {
		t.Fatalf("one current member: %d", got)
	}
	s.Monitors["b"] = &Monitor{ID: "b"}
	if got := s.GroupProtocol(); got != 1 {
		t.Fatalf("with a member of an older build: %d, want 1", got)
	}
}
