package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/raftsentinel/raftsentinel/sentinelconf"
)

// confWriter keeps a drop-in monitor's sentinel.conf in step with the
// committed state (Redis Sentinel rewrites its file on every change).
type confWriter struct {
	path   string
	selfID string
	myID   string
	base   uint64 // epoch base (see sentinelconf.Render)
	store  *quorum.Store
	log    interface{ Warn(string, ...any) }
	// scripts are this monitor's own script paths (nil: the file's lines
	// stay as written).
	scripts *scriptPaths

	mu     sync.Mutex
	last   []byte
	warned bool
}

// flush rewrites the file if its rendering changed. The write is atomic
// (a temporary file renamed over it) and keeps the file's mode.
func (w *confWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	orig, err := os.ReadFile(w.path)
	if err != nil {
		return fmt.Errorf("read %s: %w", w.path, err)
	}
	// The state served: committed, or held before the group exists (a
	// master taken with SENTINEL MONITOR is written at once, as Sentinel
	// writes it). With no master yet (nothing taken, nothing committed) the
	// file stays as it is.
	var next []byte
	if st := w.store.State(); len(st.Masters) > 0 {
		var scripts func(string) (string, string)
		if w.scripts != nil {
			scripts = w.scripts.get
		}
		next = sentinelconf.Render(orig, st, w.selfID, w.myID, w.base, scripts)
	}
	if next == nil || bytes.Equal(next, orig) {
		return nil
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(w.path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(w.path), ".sentinel.conf-*")
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", w.path, err)
	}
	_, werr := tmp.Write(next)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if werr != nil || serr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("rewrite %s: %v %v %v", w.path, werr, serr, cerr)
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("rewrite %s: %w", w.path, err)
	}
	if err := os.Rename(tmp.Name(), w.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("rewrite %s: %w", w.path, err)
	}
	w.last = next
	return nil
}

// run flushes every period until ctx is done, logging the first failure.
func (w *confWriter) run(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := w.flush(); err != nil {
			w.mu.Lock()
			if !w.warned {
				w.warned = true
				w.log.Warn("could not rewrite the sentinel.conf (state is safe in Raft; the file is for a return to Redis Sentinel)", "err", err)
			}
			w.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// loadEpochBase returns the epoch base kept in dataDir/epoch-base, writing
// fileEpoch there on the first start.
func loadEpochBase(dataDir string, fileEpoch uint64) (uint64, error) {
	p := filepath.Join(dataDir, "epoch-base")
	b, err := os.ReadFile(p)
	if err == nil {
		v, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if perr != nil {
			return 0, fmt.Errorf("%s: %w (delete it to take the sentinel.conf's current-epoch again)", p, perr)
		}
		return v, nil
	}
	if !os.IsNotExist(err) {
		return 0, fmt.Errorf("read %s: %w", p, err)
	}
	if err := os.WriteFile(p, []byte(strconv.FormatUint(fileEpoch, 10)+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("write %s: %w", p, err)
	}
	return fileEpoch, nil
}
