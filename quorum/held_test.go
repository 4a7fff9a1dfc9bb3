package quorum

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/state"
)

func openAlone(t *testing.T, id, dir string, peers bool, fwd Forwarder, log *slog.Logger) *Store {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{ID: id, Listener: ln, DataDir: dir, Forward: fwd, Logger: log}
	if peers {
		opt.Peers = []Peer{{ID: id, RaftAddr: ln.Addr().String()}}
	}
	s, err := Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range s.Effects() {
		}
	}()
	return s
}

// groupOfOne opens store "a" as the leader of a group of its own,
// registered (so that others can forward to it).
func groupOfOne(t *testing.T, ctx context.Context) *Store {
	t.Helper()
	a := openAlone(t, "a", t.TempDir(), true, nil, nil)
	eventually(t, 10*time.Second, func() error {
		if !a.IsLeader() {
			return errors.New("a is not leader")
		}
		return nil
	})
	if err := a.Propose(ctx, state.Command{Op: state.OpRegisterMonitor, Monitor: &state.Monitor{ID: "a", HTTPAddr: "127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}
	return a
}

func spec(name, host string, port, q int) *state.Master {
	return &state.Master{Name: name, Addr: state.Addr{Host: host, Port: port}, Quorum: q, DownAfter: 30 * time.Second,
		FailoverTimeout: 3 * time.Minute, ParallelSyncs: 1}
}

// TestHeldBeforeGroup: a monitor with no group takes SENTINEL MONITOR and
// SET at once (held), serves them, keeps them across a restart, and
// commits them when it forms a group, after which the committed state is
// served and the held file is gone.
func TestHeldBeforeGroup(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := openAlone(t, "m1", dir, false, nil, nil)
	if err := s.Propose(ctx, state.Command{Op: state.OpMonitor, Spec: spec("mymaster", "127.0.0.1", 6379, 2)}); err != nil {
		t.Fatalf("MONITOR before a group: %v", err)
	}
	if err := s.Propose(ctx, state.Command{Op: state.OpMonitor, Spec: spec("mymaster", "127.0.0.1", 6379, 2)}); err != nil {
		t.Fatalf("the same MONITOR again: %v", err)
	}
	if err := s.Propose(ctx, state.Command{Op: state.OpMonitor, Spec: spec("mymaster", "127.0.0.1", 6380, 2)}); !errors.Is(err, state.ErrDuplicateMaster) {
		t.Fatalf("MONITOR of another address: %v, want ErrDuplicateMaster", err)
	}
	set := state.Command{Op: state.OpSet, Master: "mymaster", Options: []state.SetOption{{Name: "down-after-milliseconds", Values: []string{"2500"}}}}
	if err := s.Propose(ctx, set); err != nil {
		t.Fatalf("SET before a group: %v", err)
	}
	if err := s.Propose(ctx, state.Command{Op: state.OpSet, Master: "nosuch", Options: set.Options}); !errors.Is(err, state.ErrNoSuchMaster) {
		t.Fatalf("SET of an unknown master: %v, want ErrNoSuchMaster", err)
	}
	if err := s.Propose(ctx, state.Command{Op: state.OpMonitor, Spec: spec("gone", "127.0.0.1", 7000, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Propose(ctx, state.Command{Op: state.OpRemove, Master: "gone"}); err != nil {
		t.Fatal(err)
	}
	short, scancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer scancel()
	if err := s.Propose(short, state.Command{Op: state.OpOpinion, Master: "mymaster"}); err == nil {
		t.Fatal("an opinion was taken without a group")
	}
	check := func(st *state.State, what string) {
		t.Helper()
		m := st.Masters["mymaster"]
		if m == nil || m.DownAfter != 2500*time.Millisecond || m.Addr.Port != 6379 || st.Masters["gone"] != nil || len(st.Masters) != 1 {
			t.Fatalf("%s: masters %+v", what, st.Masters)
		}
	}
	check(s.State(), "held")
	if !s.Held() || s.Loading() {
		t.Fatalf("Held %v Loading %v", s.Held(), s.Loading())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAlone(t, "m1", dir, false, nil, nil)
	defer s.Close()
	check(s.State(), "held, after a restart")
	if err := s.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if s.Held() {
			return errors.New("still held")
		}
		return nil
	})
	check(s.fsm.State(), "committed")
	check(s.State(), "served after the replay")
	if _, err := os.Stat(filepath.Join(dir, HeldFile)); !os.IsNotExist(err) {
		t.Fatalf("held file after the replay: %v", err)
	}
	// In a group, the same MONITOR is +OK and another address is refused.
	if err := s.Propose(ctx, state.Command{Op: state.OpMonitor, Spec: spec("mymaster", "127.0.0.1", 6379, 2)}); err != nil {
		t.Fatalf("the same MONITOR in a group: %v", err)
	}
	if err := s.Propose(ctx, state.Command{Op: state.OpMonitor, Spec: spec("mymaster", "127.0.0.1", 6380, 2)}); !errors.Is(err, state.ErrDuplicateMaster) {
		t.Fatalf("MONITOR of another address in a group: %v", err)
	}
}

// TestHeldMergeIntoGroup: a monitor that took masters before it had a group
// joins a group that has one of them under another address. The group's
// definition wins (logged, with the held SETs of that master dropped), an
// identical definition merges, and a master the group lacks is added with
// its held SETs.
func TestHeldMergeIntoGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := groupOfOne(t, ctx)
	defer a.Close()
	for _, c := range []state.Command{
		{Op: state.OpMonitor, Spec: spec("conflict", "127.0.0.1", 7001, 2)},
		{Op: state.OpMonitor, Spec: spec("same", "127.0.0.1", 7002, 2)},
	} {
		if err := a.Propose(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	logs := &syncWriter{w: &bytes.Buffer{}}
	toA := func(ctx context.Context, _ state.Monitor, cmd state.Command) (uint64, error) {
		return a.propose(ctx, cmd)
	}
	b := openAlone(t, "b", t.TempDir(), false, toA, slog.New(slog.NewTextHandler(logs, nil)))
	defer b.Close()
	downAfter := func(name, ms string) state.Command {
		return state.Command{Op: state.OpSet, Master: name, Options: []state.SetOption{{Name: "down-after-milliseconds", Values: []string{ms}}}}
	}
	for _, c := range []state.Command{
		{Op: state.OpMonitor, Spec: spec("conflict", "127.0.0.1", 8001, 2)},
		downAfter("conflict", "1111"),
		{Op: state.OpMonitor, Spec: spec("same", "127.0.0.1", 7002, 2)},
		{Op: state.OpMonitor, Spec: spec("new", "127.0.0.1", 7003, 3)},
		downAfter("new", "2222"),
	} {
		if err := b.Propose(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.join(ctx, &state.Monitor{ID: "b", RaftAddr: b.RaftAddr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() error {
		if b.Held() {
			return errors.New("b still serves its held changes")
		}
		return nil
	})
	st := a.State()
	if m := st.Masters["conflict"]; m == nil || m.Addr.Port != 7001 || m.DownAfter != 30*time.Second {
		t.Fatalf("conflict: %+v, want the group's 7001 with its own down-after", m)
	}
	if m := st.Masters["same"]; m == nil || m.Addr.Port != 7002 {
		t.Fatalf("same: %+v", m)
	}
	if m := st.Masters["new"]; m == nil || m.Addr.Port != 7003 || m.Quorum != 3 || m.DownAfter != 2222*time.Millisecond {
		t.Fatalf("new: %+v", m)
	}
	eventually(t, 5*time.Second, func() error {
		if got := b.State().Masters["new"]; got == nil {
			return errors.New("b does not serve the committed state")
		}
		return nil
	})
	out := logs.String()
	if !bytes.Contains([]byte(out), []byte("lost to the group's definition")) || !bytes.Contains([]byte(out), []byte("master=conflict")) {
		t.Fatalf("the losing definition was not logged:\n%s", out)
	}
}

func TestCompactHeld(t *testing.T) {
	log := []state.Command{
		{Op: state.OpMonitor, Spec: spec("x", "h", 1, 1)},
		{Op: state.OpSet, Master: "x"},
		{Op: state.OpMonitor, Spec: spec("y", "h", 2, 1)},
		{Op: state.OpRemove, Master: "x"},
		{Op: state.OpConfigSet, Config: [][2]string{{"resolve-hostnames", "yes"}}},
		{Op: state.OpMonitor, Spec: spec("x", "h", 3, 1)},
	}
	got := compactHeld(log)
	if len(got) != 3 || got[0].Op != state.OpMerge || got[0].Spec.Name != "y" || got[1].Op != state.OpConfigSet ||
		got[2].Op != state.OpMerge || got[2].Spec.Addr.Port != 3 {
		t.Fatalf("compactHeld: %+v", got)
	}
}

// syncWriter serialises writes to w (a log handler shared by goroutines).
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// TestRestartServesLastKnownState: a follower restarted while no leader can
// be reached serves the committed state it knew before it stopped — a
// master committed after the last snapshot included — not the older
// snapshot, and is not Loading.
func TestRestartServesLastKnownState(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	ctx := context.Background()
	var fdir, fid string
	func() {
		nodes := startGroup(t, dirs, nil)
		f := follower(nodes)
		fdir, fid = f.dir, f.id
		if err := f.store.Propose(ctx, state.Command{Op: state.OpMonitor, Spec: spec("late", "127.0.0.1", 7100, 2)}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, func() error {
			p, err := loadLastKnown(fdir)
			if err != nil || p == nil || p.state.Masters["late"] == nil {
				return fmt.Errorf("last known state not written yet: %v", err)
			}
			return nil
		})
		for _, nd := range nodes {
			nd.http.Close()
			if err := nd.store.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}()
	s := openAlone(t, fid, fdir, false, nil, nil)
	defer s.Close()
	if s.fsm.State().Masters["late"] != nil {
		t.Fatal("the FSM already has the master: the test proves nothing")
	}
	if m := s.State().Masters["late"]; m == nil || m.Addr.Port != 7100 {
		t.Fatalf("restarted follower serves %+v, want the last known master", s.State().Masters)
	}
	if s.Loading() {
		t.Fatal("Loading while serving the last known state")
	}
}

// TestHeldAllRefusedStillCatchesUp: when every held change is refused by
// the group (a conflicting SENTINEL MONITOR only), the monitor still serves
// the group's full state the moment it stops serving the held one.
func TestHeldAllRefusedStillCatchesUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := groupOfOne(t, ctx)
	defer a.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 { // a log long enough to take a while to reach b
		must(a.Propose(ctx, state.Command{Op: state.OpMonitor, Spec: spec(fmt.Sprintf("m%02d", i), "127.0.0.1", 7000+i, 1)}))
	}
	toA := func(ctx context.Context, _ state.Monitor, cmd state.Command) (uint64, error) {
		return a.propose(ctx, cmd)
	}
	b := openAlone(t, "b", t.TempDir(), false, toA, nil)
	defer b.Close()
	must(b.Propose(ctx, state.Command{Op: state.OpMonitor, Spec: spec("m49", "127.0.0.1", 9999, 1)}))
	if _, err := a.join(ctx, &state.Monitor{ID: "b", RaftAddr: b.RaftAddr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() error {
		if b.Held() {
			return errors.New("b still serves its held state")
		}
		// Checked in the same poll as the switch.
		st := b.State()
		if len(st.Masters) != 50 || st.Masters["m49"] == nil || st.Masters["m49"].Addr.Port != 7049 {
			t.Fatalf("right after the held state gave way, b serves %d masters (m49 %+v)", len(st.Masters), st.Masters["m49"])
		}
		return nil
	})
}

// TestHeldConfigSetOwnAnnounce: SENTINEL CONFIG SET announce-ip before a
// group exists is held (the held state has a bare record of this monitor)
// and reaches the group once this monitor has registered in it.
func TestHeldConfigSetOwnAnnounce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := openAlone(t, "m1", t.TempDir(), false, nil, nil)
	defer s.Close()
	set := state.Command{Op: state.OpConfigSet, MonitorID: "m1", Config: [][2]string{{"announce-ip", "192.0.2.7"}}}
	if err := s.Propose(ctx, set); err != nil {
		t.Fatalf("CONFIG SET announce-ip before a group: %v", err)
	}
	if m := s.State().Monitors["m1"]; m == nil || m.AnnounceIP != "192.0.2.7" {
		t.Fatalf("held state: %+v", m)
	}
	if err := s.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if !s.IsLeader() {
			return errors.New("not leader yet")
		}
		return nil
	})
	// Not registered yet: the change waits, and is still served.
	if !s.Held() || s.State().Monitors["m1"].AnnounceIP != "192.0.2.7" {
		t.Fatal("the held change was dropped before this monitor registered")
	}
	if err := s.Propose(ctx, state.Command{Op: state.OpRegisterMonitor, Monitor: &state.Monitor{ID: "m1", RunID: "r1"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if s.Held() {
			return errors.New("still held")
		}
		return nil
	})
	if m := s.fsm.State().Monitors["m1"]; m == nil || m.AnnounceIP != "192.0.2.7" {
		t.Fatalf("committed: %+v", m)
	}
}
