package quorum

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/raft"
)

// ErrCorrupt is wrapped by the errors of Open that find the data dir
// damaged: a snapshot that does not verify, or snapshots without the Raft
// store they belong to. Open refuses to start rather than run with part of
// the state; the remedy (in the message) is to move the damaged part or
// the whole data dir away, so that the monitor rejoins from the others.
var ErrCorrupt = errors.New("damaged data dir")

// checkDataDir creates dir if needed and checks that files can be created
// in it, so that a wrong or read-only data dir is reported by name at start.
func checkDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("quorum: data dir %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("quorum: data dir %s is not writable: %w", dir, err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("quorum: data dir %s: %w", dir, err)
	}
	return nil
}

// keyCurrentTerm is where hashicorp/raft keeps the current term in the
// stable store.
var keyCurrentTerm = []byte("CurrentTerm")

// checkSnapshots verifies every snapshot under dir/snapshots (metadata
// readable, state matching its checksum); when there is one, that the
// stable store has a Raft term; when there is none, that the log starts at
// index 1. hashicorp/raft itself skips a snapshot whose metadata it cannot
// read, starts on an empty Raft store that was lost or truncated, and
// replays a compacted log without its snapshot: each silently runs with
// less state (or panics on the missing entries).
func checkSnapshots(dir string, snaps *raft.FileSnapshotStore, stable raft.StableStore, logs raft.LogStore) error {
	root := filepath.Join(dir, "snapshots")
	entries, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("quorum: read snapshots in %s: %w", root, err)
	}
	damaged := func(path string, err error) error {
		return fmt.Errorf("quorum: snapshot %s: %w: %v; refusing to start with part of the state: "+
			"move that snapshot away (or the whole data dir %s, to rejoin from the other monitors)", path, ErrCorrupt, err, dir)
	}
	found := 0
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue // a snapshot being written when the process stopped
		}
		path := filepath.Join(root, e.Name())
		b, err := os.ReadFile(filepath.Join(path, "meta.json"))
		if err != nil {
			return damaged(path, fmt.Errorf("meta.json: %w", err))
		}
		var meta raft.SnapshotMeta
		if err := json.Unmarshal(b, &meta); err != nil {
			return damaged(path, fmt.Errorf("meta.json: %w", err))
		}
		if meta.ID != e.Name() {
			return damaged(path, fmt.Errorf("meta.json names snapshot %q", meta.ID))
		}
		_, rc, err := snaps.Open(meta.ID) // verifies state.bin's CRC
		if err != nil {
			return damaged(path, fmt.Errorf("state.bin: %w", err))
		}
		_, err = io.Copy(io.Discard, rc)
		_ = rc.Close()
		if err != nil {
			return damaged(path, fmt.Errorf("state.bin: %w", err))
		}
		found++
	}
	if found == 0 {
		// A log that no longer starts at 1 was compacted into a snapshot:
		// without one, raft would replay from a hole (and panic).
		first, err := logs.FirstIndex()
		if err != nil {
			return fmt.Errorf("quorum: read %s: %w", filepath.Join(dir, "raft.db"), err)
		}
		if first > 1 {
			return fmt.Errorf("quorum: the Raft log in %s starts at index %d but %s holds no snapshot of the "+
				"entries before it: %w: the snapshots were lost; refusing to start with part of the state: "+
				"move the whole data dir %s away to rejoin from the other monitors",
				filepath.Join(dir, "raft.db"), first, root, ErrCorrupt, dir)
		}
	}
	if found > 0 {
		if term, err := stable.GetUint64(keyCurrentTerm); err != nil || term == 0 {
			return fmt.Errorf("quorum: %s has snapshots but %s holds no Raft term: %w: the Raft store was "+
				"lost or replaced; refusing to start with part of the state (and a forgotten vote): "+
				"move the whole data dir %s away to rejoin from the other monitors",
				root, filepath.Join(dir, "raft.db"), ErrCorrupt, dir)
		}
	}
	return nil
}
