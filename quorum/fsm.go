package quorum

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/raftsentinel/raftsentinel/state"
)

// FSM is the replicated state machine. Apply is deterministic: it reads no
// clock (time comes from the entry's AppendedAt, stamped by the leader) and
// does no I/O. Restore replaces the state wholesale.
//
// State and Apply are safe for concurrent use; effects are handed to the
// sink passed to NewFSM synchronously, so the sink must not block.
type FSM struct {
	mu     sync.RWMutex
	state  *state.State
	frozen atomic.Pointer[state.State] // read-only copy of state, replaced after every change
	sink   func([]state.Effect)
	// configApplied, if set, is called (without locks, must not block)
	// after a configuration change (MONITOR, SET, REMOVE, ...) applies.
	configApplied func()
	// applied is the index of the last entry Apply handled, set once its
	// change is visible through State. (raft.AppliedIndex runs ahead: raft
	// sets it when it hands entries to the FSM goroutine.)
	applied atomic.Uint64
}

// NewFSM returns an FSM with empty state. sink (may be nil) receives the
// effects of every applied entry, in log order.
func NewFSM(sink func([]state.Effect)) *FSM {
	f := &FSM{state: state.NewState(), sink: sink}
	f.frozen.Store(f.state.Clone())
	return f
}

// State returns the current state. The value is shared and read-only:
// callers must not modify it (use Clone for a private copy). Reading it
// costs no copy, so it is fit for every client request.
func (f *FSM) State() *state.State {
	return f.frozen.Load()
}

// frozenAt returns the current state with the index of the last entry
// applied to it.
func (f *FSM) frozenAt() (*state.State, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.frozen.Load(), f.applied.Load()
}

// view runs fn with read access to the live state (no copy).
func (f *FSM) view(fn func(*state.State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.state)
}

// Apply implements raft.FSM. It returns nil on success or an error value
// (never panics on bad input).
func (f *FSM) Apply(l *raft.Log) any {
	defer f.applied.Store(l.Index)
	if l.Type != raft.LogCommand {
		return nil
	}
	cmd, err := state.DecodeCommand(l.Data)
	if err != nil {
		return err
	}
	f.mu.Lock()
	effects, err := state.Apply(f.state, cmd, l.AppendedAt, l.Index)
	f.frozen.Store(f.state.Clone())
	f.applied.Store(l.Index) // with the state it belongs to (frozenAt)
	f.mu.Unlock()
	if err == nil && cmd.Op.IsConfig() && f.configApplied != nil {
		f.configApplied()
	}
	if len(effects) > 0 && f.sink != nil {
		f.sink(effects)
	}
	return err
}

// Snapshot implements raft.FSM.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, err := json.Marshal(f.state)
	if err != nil {
		return nil, fmt.Errorf("quorum: encode snapshot: %w", err)
	}
	return snapshot(b), nil
}

// Restore implements raft.FSM: the snapshot replaces the whole state. A
// snapshot that does not decode, or whose masters or monitors are null or
// filed under another name, is an error and leaves the state unchanged.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := state.Decode(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.state = st
	f.frozen.Store(st.Clone())
	f.mu.Unlock()
	if f.sink != nil {
		f.sink([]state.Effect{{Kind: state.EffStateRestored}})
	}
	return nil
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("quorum: write snapshot: %w", err)
	}
	return sink.Close()
}

func (s snapshot) Release() {}
