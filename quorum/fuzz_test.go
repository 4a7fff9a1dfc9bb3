package quorum

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftsentinel/raftsentinel/acl"
	"github.com/raftsentinel/raftsentinel/state"
)

// fuzzSeedCommands are commands of every op, the seed corpus of
// FuzzFSMApply (one JSON command a line; the target splits on newlines).
func fuzzSeedCommands() []state.Command {
	spec := &state.Master{Name: "mymaster", Addr: addr(1), Quorum: 2, DownAfter: time.Second,
		FailoverTimeout: 10 * time.Second, ParallelSyncs: 1}
	return []state.Command{
		{Op: state.OpRegisterMonitor, Monitor: &state.Monitor{ID: "m1", RunID: "r1"}},
		{Op: state.OpRegisterMonitor, Monitor: &state.Monitor{ID: "m2", RunID: "r2"}},
		{Op: state.OpAddMaster, Spec: spec},
		{Op: state.OpMonitor, Master: "other", Spec: &state.Master{Name: "other", Addr: addr(7), Quorum: 1}},
		{Op: state.OpReplicas, Master: "mymaster", Replicas: []state.Addr{addr(3), addr(2)}},
		{Op: state.OpOpinion, Master: "mymaster", MonitorID: "m1", Addr: addr(1), Down: true},
		{Op: state.OpOpinion, Master: "mymaster", MonitorID: "m2", Addr: addr(1), Down: true},
		{Op: state.OpODown, Master: "mymaster", Addr: addr(1), Down: true, Votes: 2},
		{Op: state.OpFailoverStart, Master: "mymaster", FailoverID: "f1", Addr: addr(1), To: addr(2), Term: 3},
		{Op: state.OpFailoverPromoted, Master: "mymaster", FailoverID: "f1"},
		{Op: state.OpFailoverEnd, Master: "mymaster", FailoverID: "f1", Stage: "done"},
		{Op: state.OpSet, Master: "mymaster", Options: []state.SetOption{{Name: "quorum", Values: []string{"1"}}}},
		{Op: state.OpSet, Master: "mymaster", Options: []state.SetOption{{Name: "down-after-milliseconds", Values: []string{"-5"}}}},
		{Op: state.OpConfigSet, MonitorID: "m1", Config: [][2]string{{"announce-ip", "1.2.3.4"}, {"announce-port", "99999"}}},
		{Op: state.OpReset, Names: []string{"*"}},
		{Op: state.OpRemove, Master: "other"},
		{Op: state.OpRemoveMonitor, MonitorID: "m2"},
		{Op: state.OpSetUser, User: "app", Rules: []string{"on", "#" + strings.Repeat("ab", 32), "-@all", "+ping", "&chan*", "~*"}},
		{Op: state.OpSetUser, User: "ops", Base: &acl.User{Name: "ops", On: true, Commands: []string{"+@all"}}, Rules: []string{"-sentinel|failover"}},
		{Op: state.OpSetUser, User: "bad", Rules: []string{">plain"}},
		{Op: state.OpDelUser, Names: []string{"app", "nosuch"}},
		{Op: state.OpDelUser, Names: []string{"default"}},
		{Op: state.OpBatch, Batch: []state.Command{
			{Op: state.OpRegisterMonitor, Monitor: &state.Monitor{ID: "m4", Protocol: state.Protocol}},
			{Op: state.OpOpinion, Master: "mymaster", MonitorID: "m1", Addr: addr(2), Down: true},
			{Op: state.OpReplicas, Master: "mymaster", Replicas: []state.Addr{addr(5)}},
		}},
		{Op: state.OpBatch, Batch: []state.Command{{Op: state.OpSet, Master: "mymaster"}}},
		{Op: state.OpJoin, Monitor: &state.Monitor{ID: "m3"}},
		{Op: state.OpLeave, MonitorID: "m3"},
	}
}

// FuzzFSMApply decodes arbitrary bytes as Raft log entries (one a line)
// and applies them to two FSMs. Apply must never panic; it is
// deterministic (both FSMs end equal); and every state it reaches
// survives a snapshot and restore unchanged (what a restart relies on).
func FuzzFSMApply(f *testing.F) {
	var all [][]byte
	for _, c := range fuzzSeedCommands() {
		b, err := c.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, int64(0))
		all = append(all, b)
	}
	f.Add(bytes.Join(all, []byte("\n")), int64(time.Second))
	f.Add([]byte(`{"op":"set","master":"mymaster","options":[{"name":"quorum","values":["99999999999999999999"]}]}`), int64(0))
	f.Add([]byte(`{"op":"failover-start","master":"x","addr":{"host":"","port":-1}}`+"\n"+`null`+"\n"+`{"op":7}`), int64(-1))
	f.Fuzz(func(t *testing.T, data []byte, step int64) {
		a, b := NewFSM(nil), NewFSM(nil)
		now := t0
		for i, line := range bytes.Split(data, []byte("\n")) {
			l := &raft.Log{Type: raft.LogCommand, Data: line, Index: uint64(i + 1), AppendedAt: now}
			before := a.State()
			ra, rb := a.Apply(l), b.Apply(l)
			if !reflect.DeepEqual(ra, rb) {
				t.Fatalf("entry %d: results differ: %v vs %v", i, ra, rb)
			}
			if _, failed := ra.(error); failed && !sameButClock(before, a.State()) {
				t.Fatalf("entry %d failed (%v) but changed the state", i, ra)
			}
			now = now.Add(time.Duration(step))
			checkStateInvariants(t, a.State())
		}
		if !reflect.DeepEqual(a.State(), b.State()) {
			t.Fatalf("same log, different states")
		}
		snap, err := a.Snapshot()
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		c := NewFSM(nil)
		if err := c.Restore(io.NopCloser(bytes.NewReader(snap.(snapshot)))); err != nil {
			t.Fatalf("restore of our own snapshot: %v", err)
		}
		want, _ := json.Marshal(a.State())
		got, _ := json.Marshal(c.State())
		if !bytes.Equal(want, got) {
			t.Fatalf("snapshot round trip changed the state:\n%s\n%s", want, got)
		}
	})
}

// sameButClock reports whether a and b are equal but for LastApplied.
func sameButClock(a, b *state.State) bool {
	x, y := a.Clone(), b.Clone()
	x.LastApplied, y.LastApplied = time.Time{}, time.Time{}
	return reflect.DeepEqual(x, y)
}

// checkStateInvariants: every master is filed under its own name and has
// an opinion map; every monitor under its own ID.
func checkStateInvariants(t *testing.T, s *state.State) {
	t.Helper()
	for name, m := range s.Masters {
		if m == nil || m.Name != name {
			t.Fatalf("master filed under %q is %+v", name, m)
		}
		if m.Opinions == nil {
			t.Fatalf("master %q has a nil opinion map", name)
		}
	}
	for id, m := range s.Monitors {
		if m == nil || m.ID != id {
			t.Fatalf("monitor filed under %q is %+v", id, m)
		}
	}
	for name, u := range s.Users {
		if u == nil || u.Name != name {
			t.Fatalf("user filed under %q is %+v", name, u)
		}
		if err := u.Validate(); err != nil {
			t.Fatalf("user %q: %v", name, err)
		}
		if s.DeletedUsers[name] {
			t.Fatalf("user %q is both present and deleted", name)
		}
	}
}

// FuzzFSMRestore: arbitrary snapshot bytes are restored or rejected with
// an error, never a panic, and a restored state satisfies the invariants.
func FuzzFSMRestore(f *testing.F) {
	fsm := NewFSM(nil)
	for i, c := range fuzzSeedCommands() {
		b, _ := c.Encode()
		fsm.Apply(&raft.Log{Type: raft.LogCommand, Data: b, Index: uint64(i + 1), AppendedAt: t0})
	}
	snap, err := fsm.Snapshot()
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(snap.(snapshot)))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"masters":{"a":null}}`))
	f.Add([]byte(`{"masters":{"a":{"name":"b"}},"monitors":{"m":{}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := NewFSM(nil)
		if err := c.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			return
		}
		checkStateInvariants(t, c.State())
		for i, cmd := range fuzzSeedCommands() { // and it stays usable
			b, _ := cmd.Encode()
			c.Apply(&raft.Log{Type: raft.LogCommand, Data: b, Index: uint64(i + 1), AppendedAt: t0})
		}
	})
}
