package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Script options of SENTINEL SET: per monitor, never replicated.
const (
	optNotificationScript = "notification-script"
	optReconfigScript     = "client-reconfig-script"
)

// scriptPaths are this monitor's notification and client-reconfig scripts
// per master. They belong to the host the monitor runs on: a path set with
// SENTINEL SET (only where the file says deny-scripts-reconfig no) changes
// this monitor's scripts alone, so no client can make every host of the
// group run a command. Paths set at run time are kept in file (in the data
// dir; they win over the sentinel.conf's lines at the next start) and are
// written into the sentinel.conf by the confWriter, as Sentinel writes them.
// Safe for concurrent use.
type scriptPaths struct {
	file string
	dir  string // relative paths resolve against Sentinel's dir

	mu     sync.Mutex
	notify map[string]string // in force
	reconf map[string]string
	runSet scriptPathsFile // set at run time ("" = cleared), what file holds
}

type scriptPathsFile struct {
	Notify map[string]string `json:"notification-script"`
	Reconf map[string]string `json:"client-reconfig-script"`
}

// loadScriptPaths starts from the sentinel.conf's scripts and applies the
// run-time changes kept in file (an empty path there clears the script).
func loadScriptPaths(file, dir string, notify, reconf map[string]string) (*scriptPaths, error) {
	p := &scriptPaths{file: file, dir: dir, notify: map[string]string{}, reconf: map[string]string{},
		runSet: scriptPathsFile{Notify: map[string]string{}, Reconf: map[string]string{}}}
	for m, v := range notify {
		p.notify[m] = v
	}
	for m, v := range reconf {
		p.reconf[m] = v
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	var f scriptPathsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w (delete it to use the sentinel.conf's scripts)", file, err)
	}
	overlay := func(dst, src map[string]string) {
		for m, v := range src {
			if v == "" {
				delete(dst, m)
			} else {
				dst[m] = v
			}
		}
	}
	overlay(p.notify, f.Notify)
	overlay(p.reconf, f.Reconf)
	for m, v := range f.Notify {
		p.runSet.Notify[m] = v
	}
	for m, v := range f.Reconf {
		p.runSet.Reconf[m] = v
	}
	return p, nil
}

// get returns master's scripts ("" for none).
func (p *scriptPaths) get(master string) (notify, reconf string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notify[master], p.reconf[master]
}

// check resolves path (relative to dir) and checks it as Sentinel does,
// with access(2) X_OK: it must exist and this process must be allowed to
// execute it; "" clears the script. The error text is Sentinel's.
func (p *scriptPaths) check(option, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.dir, path)
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		if option == optReconfigScript {
			return "", errors.New("Client reconfiguration script seems non existing or non executable")
		}
		return "", errors.New("Notification script seems non existing or non executable")
	}
	return path, nil
}

// set records master's script for option (notification-script or
// client-reconfig-script; "" clears it) and persists it.
func (p *scriptPaths) set(master, option, path string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, run := p.notify, p.runSet.Notify
	if option == optReconfigScript {
		m, run = p.reconf, p.runSet.Reconf
	}
	prevRun, hadRun := run[master]
	run[master] = path
	if err := p.saveLocked(); err != nil {
		if hadRun {
			run[master] = prevRun
		} else {
			delete(run, master)
		}
		return err
	}
	if path == "" {
		delete(m, master)
	} else {
		m[master] = path
	}
	return nil
}

// saveLocked writes the run-time changes atomically.
func (p *scriptPaths) saveLocked() error {
	b, err := json.Marshal(p.runSet)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p.file, err)
	}
	tmp := p.file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, p.file); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}
