package quorum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftsentinel/raftsentinel/state"
)

// Configuration changes a monitor takes before it belongs to a group.
//
// Sentinel tools start sentinels that monitor nothing and then send each
// one SENTINEL MONITOR and SENTINEL SET. A raftsentinel monitor finds the
// others through the masters it monitors (hellos), so until it has a group
// nothing could be committed. Instead such changes are held: applied to a
// local state by the same pure apply as the FSM (same validation, same
// error values), persisted in the data dir, and served by Store.State, so
// the monitor answers for the new master and its brain and discovery probe
// it and send hellos on it. Once the store is a member of a group, the held
// changes are replayed into it (Store.mergeHeld) in the order they were
// taken:
//
//   - SENTINEL MONITOR becomes OpMerge: a master the group lacks is added;
//     one the group has with the same address and quorum is the same
//     definition and merges into it; one the group has with another
//     address or quorum loses (logged, with both definitions): the
//     definition committed first wins, and the first to commit is the
//     monitor that founds the group (discovery: the lowest node id among
//     the fresh monitors), then the others as they join;
//   - the SETs and the RESETs of a master replay as they were sent, except
//     for a master whose definition lost (they were meant for another
//     node);
//   - a held REMOVE only undoes this monitor's own held definition: it and
//     every change before it about that master are dropped, never sent to
//     the group (which may have the master from other monitors);
//   - CONFIG SET replays as sent.
//
// Until the replay has finished, State keeps serving the held state, so a
// client never sees the master vanish in between.

// HeldFile is the held changes' file in a store's data dir.
const HeldFile = "held.json"

type held struct {
	path string

	mu     sync.Mutex
	log    []state.Command
	closed bool // the replay has started: no more changes are held
	state  atomic.Pointer[state.State]
}

// loadHeld reads the held changes of dir (none if the file is missing) and
// rebuilds their state.
func loadHeld(dir string) (*held, error) {
	h := &held{path: filepath.Join(dir, HeldFile)}
	b, err := os.ReadFile(h.path)
	if errors.Is(err, os.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, fmt.Errorf("quorum: read %s: %w", h.path, err)
	}
	if err := json.Unmarshal(b, &h.log); err != nil {
		return nil, fmt.Errorf("quorum: %s: %w (delete it to drop the changes taken before the group formed)", h.path, err)
	}
	st := state.NewState()
	for _, c := range h.log {
		if !c.Op.IsConfig() {
			return nil, fmt.Errorf("quorum: %s: %q cannot be held (delete the file to drop the held changes)", h.path, c.Op)
		}
		_, _ = applyHeld(st, c) // a change that failed was never kept
	}
	if len(h.log) > 0 {
		h.state.Store(st)
	}
	return h, nil
}

// view returns the held state, nil when nothing is held (or the replay
// finished).
func (h *held) view() *state.State { return h.state.Load() }

// take applies cmd to the held state and persists it. handled is false
// when the replay has started: cmd must then go to the group.
func (h *held) take(cmd state.Command) (handled bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false, nil
	}
	st := h.state.Load()
	if st == nil {
		st = state.NewState()
	} else {
		st = st.Clone()
	}
	if _, err := applyHeld(st, cmd); err != nil {
		return true, err
	}
	log := append(append([]state.Command(nil), h.log...), cmd)
	if err := writeFileAtomic(h.path, log); err != nil {
		return true, err
	}
	h.log = log
	h.state.Store(st) // a private copy since the Clone above
	return true, nil
}

// applyHeld applies a held change to the held state. SENTINEL CONFIG SET of
// this monitor's own keys (announce-ip, announce-port) needs its member
// record, which only the group has: the held state gets a bare one.
func applyHeld(st *state.State, cmd state.Command) ([]state.Effect, error) {
	if cmd.Op == state.OpConfigSet && cmd.MonitorID != "" && st.Monitors[cmd.MonitorID] == nil {
		st.Monitors[cmd.MonitorID] = &state.Monitor{ID: cmd.MonitorID}
	}
	return state.Apply(st, cmd, time.Now(), 0)
}

// active reports whether there are held changes not yet replayed.
func (h *held) active() bool { return h.view() != nil }

// replay closes the held log to new changes and returns what is to be
// sent to the group, compacted as the package comment says.
func (h *held) replay() []state.Command {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	return compactHeld(h.log)
}

// finish drops the held state once the replay is complete. The file goes
// first: whoever sees the store no longer held (Held) finds it gone.
func (h *held) finish() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	err := os.Remove(h.path)
	h.state.Store(nil)
	h.log = nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("quorum: remove %s: %w", h.path, err)
	}
	return nil
}

// compactHeld drops every held REMOVE together with the changes before it
// about the same master, and turns SENTINEL MONITOR into OpMerge.
func compactHeld(log []state.Command) []state.Command {
	keep := make([]bool, len(log))
	for i := range log {
		keep[i] = true
	}
	for i, c := range log {
		if c.Op != state.OpRemove {
			continue
		}
		for j := 0; j <= i; j++ {
			if heldMaster(log[j]) == c.Master {
				keep[j] = false
			}
		}
	}
	var out []state.Command
	for i, c := range log {
		if !keep[i] {
			continue
		}
		if c.Op == state.OpMonitor {
			c.Op = state.OpMerge
		}
		out = append(out, c)
	}
	return out
}

// heldMaster is the master a held change is about ("" for CONFIG SET and
// for RESET, which names several).
func heldMaster(c state.Command) string {
	switch c.Op {
	case state.OpAddMaster, state.OpMonitor, state.OpMerge:
		if c.Spec != nil {
			return c.Spec.Name
		}
	case state.OpSet, state.OpRemove:
		return c.Master
	}
	return ""
}

// writeFileAtomic writes v as JSON to path through a temporary file and a
// rename, so a crash leaves the old or the new content, never a mix.
func writeFileAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("quorum: encode %s: %w", path, err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("quorum: write %s: %w", tmp, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("quorum: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("quorum: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("quorum: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("quorum: rename %s: %w", tmp, err)
	}
	return nil
}

// wakeHeld tells replayHeld that changes are held.
func (s *Store) wakeHeld() {
	select {
	case s.heldWake <- struct{}{}:
	default:
	}
}

// replayHeld waits for held changes and, once this store belongs to a group
// with a leader, replays them into it (see the comment at the top of this
// file), then serves the committed state. It runs until the store closes.
func (s *Store) replayHeld() {
	defer s.wg.Done()
	var pending []state.Command
	started := false
	lost := map[string]bool{}
	for {
		if !s.held.active() {
			select {
			case <-s.done:
				return
			case <-s.heldWake:
			}
			continue
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-s.done:
			t.Stop()
			return
		case <-t.C:
		}
		if id, _ := s.Leader(); id == "" || !s.HasGroup() {
			continue
		}
		if !started {
			pending, started = s.held.replay(), true
			s.log.Info("this monitor is in a group: committing the changes it took before", "changes", len(pending))
		}
		for len(pending) > 0 {
			c := pending[0]
			m := heldMaster(c)
			if m != "" && lost[m] {
				pending = pending[1:]
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := s.Propose(ctx, c)
			cancel()
			if errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotLeader) || errors.Is(err, context.DeadlineExceeded) ||
				errors.Is(err, state.ErrInvalidMonitorID) {
				// No group to take it now, or this monitor has not
				// registered in it yet (CONFIG SET announce-ip): try again.
				break
			}
			if errors.Is(err, ErrClosed) {
				return
			}
			switch {
			case errors.Is(err, state.ErrMergeConflict):
				lost[m] = true
				s.log.Warn("a master this monitor took before the group formed lost to the group's definition; its held SETs are dropped too",
					"master", m, "held_addr", c.Spec.Addr.String(), "held_quorum", c.Spec.Quorum, "group", err.Error())
			case err != nil:
				s.log.Warn("a change taken before the group formed was refused by the group", "op", c.Op, "master", m, "err", err)
			}
			pending = pending[1:]
		}
		if len(pending) > 0 {
			continue
		}
		// Before the held state gives way, this monitor's own state must
		// hold everything the group had committed (a refused change
		// proposed nothing that would have made it catch up), and a copy
		// of it must be on disk: a crash right after must not restart
		// with neither.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.Propose(ctx, state.Command{Op: state.OpSync})
		cancel()
		if errors.Is(err, ErrClosed) {
			return
		}
		if err != nil {
			continue // no leader now: the held state keeps being served
		}
		s.saveLastKnown(0)
		if err := s.held.finish(); err != nil {
			s.log.Warn("held changes committed, but their file stays", "err", err)
		}
		s.log.Info("the changes taken before the group formed are committed; serving the group's state")
	}
}
