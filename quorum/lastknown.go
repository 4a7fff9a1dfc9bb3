package quorum

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/raftsentinel/raftsentinel/state"
)

// The last committed state this monitor knew, kept across restarts.
//
// hashicorp/raft restores the latest snapshot when it starts, but applies
// the log entries after it only once it learns the commit index from a
// leader. A restarted follower that cannot reach a leader yet would serve a
// state older than the one it served before it stopped — a master defined
// since the last snapshot would be unknown ("No such master with that
// name"). So the store writes the FSM's state, with the index of the last
// entry applied to it, to LastKnownFile — a configuration change (MONITOR,
// SET, REMOVE, ...) as soon as it applies, other changes at most every
// LastKnownPeriod, and when it closes — and on start serves that copy
// until the FSM has applied up to its index. Only committed entries reach the FSM, and Raft
// never undoes a committed entry, so the copy is never ahead of the group:
// it is the group's state at some recent point.

// LastKnownFile is the file of the last known committed state in a store's
// data dir.
const LastKnownFile = "last-known-state.json"

// LastKnownPeriod bounds how often the last known state is written.
const LastKnownPeriod = 500 * time.Millisecond

type lastKnown struct {
	Index uint64          `json:"index"`
	State json.RawMessage `json:"state"`
}

// preview is a last known state served until the FSM catches up.
type preview struct {
	index uint64
	state *state.State
}

// loadLastKnown reads dir's last known state; nil (no error) when there is
// none.
func loadLastKnown(dir string) (*preview, error) {
	p := filepath.Join(dir, LastKnownFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("quorum: read %s: %w", p, err)
	}
	var lk lastKnown
	if err := json.Unmarshal(b, &lk); err != nil {
		return nil, fmt.Errorf("quorum: %s: %w (delete it: the state then comes from Raft alone)", p, err)
	}
	st, err := state.Decode(bytes.NewReader(lk.State))
	if err != nil {
		return nil, fmt.Errorf("quorum: %s: %w (delete it: the state then comes from Raft alone)", p, err)
	}
	return &preview{index: lk.Index, state: st}, nil
}

// saveLastKnown writes the FSM's state if it changed since written (the
// index last written is returned).
func (s *Store) saveLastKnown(written uint64) uint64 {
	s.lastKnownMu.Lock() // keepLastKnown and the held replay both save
	defer s.lastKnownMu.Unlock()
	st, index := s.fsm.frozenAt()
	if index == written || index == 0 {
		return written
	}
	b, err := json.Marshal(st)
	if err == nil {
		err = writeFileAtomic(filepath.Join(s.opt.DataDir, LastKnownFile), lastKnown{Index: index, State: b})
	}
	if err != nil {
		s.log.Warn("could not save the last known state (a restart may serve an older one until a leader is reached)", "err", err)
		return written
	}
	return index
}

// keepLastKnown saves the last known state every LastKnownPeriod until the
// store closes, and once more then.
func (s *Store) keepLastKnown() {
	defer s.wg.Done()
	t := time.NewTicker(LastKnownPeriod)
	defer t.Stop()
	var written uint64
	for {
		select {
		case <-s.done:
			s.saveLastKnown(written)
			return
		case <-t.C:
			written = s.saveLastKnown(written)
		case <-s.saveNow:
			written = s.saveLastKnown(written)
		}
	}
}
