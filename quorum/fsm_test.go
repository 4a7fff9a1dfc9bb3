package quorum

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsentinel/raftsentinel/state"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func addr(p int) state.Addr { return state.Addr{Host: "10.0.0.1", Port: p} }

func logOf(t *testing.T, cmd state.Command, at time.Time, idx uint64) *raft.Log {
	t.Helper()
	b, err := cmd.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Type: raft.LogCommand, Data: b, AppendedAt: at, Index: idx}
}

type step struct {
	cmd     state.Command
	after   time.Duration // since t0
	wantErr error
	kinds   []state.EffectKind
}

func runSteps(t *testing.T, f *FSM, got *[]state.Effect, steps []step) {
	t.Helper()
	for i, s := range steps {
		*got = nil
		res := f.Apply(logOf(t, s.cmd, t0.Add(s.after), uint64(i+1)))
		err, _ := res.(error)
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
			t.Fatalf("step %d (%s): err = %v, want %v", i, s.cmd.Op, err, s.wantErr)
		}
		var kinds []state.EffectKind
		for _, e := range *got {
			kinds = append(kinds, e.Kind)
		}
		if !reflect.DeepEqual(kinds, s.kinds) {
			t.Fatalf("step %d (%s): effects %v, want %v", i, s.cmd.Op, kinds, s.kinds)
		}
	}
}

func TestFSMRejectsBadInput(t *testing.T) {
	f := NewFSM(nil)
	for _, data := range [][]byte{nil, []byte("{"), []byte(`{"op":""}`), []byte(`[]`)} {
		if err, _ := f.Apply(&raft.Log{Type: raft.LogCommand, Data: data}).(error); !errors.Is(err, state.ErrBadCommand) {
			t.Errorf("%q: %v", data, err)
		}
	}
	cases := []struct {
		cmd  state.Command
		want error
	}{
		// An unknown op is that, whether or not its master exists (the ops
		// table is consulted first).
		{state.Command{Op: "bogus", Master: "x"}, state.ErrUnknownOp},
		{state.Command{Op: state.OpOpinion, Master: "nope"}, state.ErrNoSuchMaster},
		{state.Command{Op: state.OpRegisterMonitor}, state.ErrInvalidMonitorID},
		{state.Command{Op: state.OpAddMaster, Spec: &state.Master{Name: "x"}}, state.ErrBadCommand},
	}
	for _, c := range cases {
		if err, _ := f.Apply(logOf(t, c.cmd, t0, 1)).(error); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c.cmd, err, c.want)
		}
	}
	f.Apply(logOf(t, state.Command{Op: state.OpAddMaster, Spec: &state.Master{Name: "x", Addr: addr(1)}}, t0, 2))
	if err, _ := f.Apply(logOf(t, state.Command{Op: "bogus", Master: "x"}, t0, 3)).(error); !errors.Is(err, state.ErrUnknownOp) {
		t.Errorf("unknown op: %v", err)
	}
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { m.cancelled = true; return nil }
func (m *memSink) Close() error  { return nil }

func TestFSMSnapshotRestoreReplaces(t *testing.T) {
	var got []state.Effect
	f := NewFSM(func(e []state.Effect) { got = append(got, e...) })
	spec := &state.Master{Name: "mymaster", Addr: addr(1), Quorum: 2, FailoverTimeout: 10 * time.Second}
	steps := []step{
		{cmd: state.Command{Op: state.OpRegisterMonitor, Monitor: &state.Monitor{ID: "m1", RunID: "r1"}}, kinds: []state.EffectKind{state.EffMonitorAdded}},
		{cmd: state.Command{Op: state.OpAddMaster, Spec: spec}, kinds: []state.EffectKind{state.EffMasterAdded}},
		{cmd: state.Command{Op: state.OpOpinion, Master: "mymaster", MonitorID: "m1", Addr: addr(1), Down: true}, after: time.Second,
			kinds: []state.EffectKind{state.EffOpinion}},
		{cmd: state.Command{Op: state.OpFailoverStart, Master: "mymaster", Addr: addr(1), To: addr(2), FailoverID: "f1"},
			kinds: []state.EffectKind{state.EffNewEpoch, state.EffFailoverStart}},
	}
	runSteps(t, f, &got, steps)
	want := f.State()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	// Restore into an FSM that holds other state: nothing of it may survive.
	g := NewFSM(nil)
	g.Apply(logOf(t, state.Command{Op: state.OpAddMaster, Spec: &state.Master{Name: "other", Addr: addr(7)}}, t0, 1))
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if gotState := g.State(); !reflect.DeepEqual(gotState, want) {
		t.Fatalf("restored state differs:\n got %+v\nwant %+v", gotState, want)
	}
	if err := g.Restore(io.NopCloser(bytes.NewReader([]byte("garbage")))); err == nil {
		t.Fatal("restore of garbage succeeded")
	}
}
