//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/safety"
)

// masterName is the name both systems monitor the master under.
const masterName = "mymaster"

// pollEvery is the pause between two checks of the replicas during the
// start-up.
const pollEvery = 20 * time.Millisecond

// topology is a master, two replicas and three monitors of one system, all
// local processes under dir.
type topology struct {
	dir     string
	master  *redisproc.Server
	nodes   map[string]*redisproc.Server
	mons    *benchutil.Monitors
	closers []func() error
}

func (t *topology) target() safety.Target {
	return safety.Target{MasterName: masterName, Monitors: t.mons.Addrs(), Nodes: t.nodes}
}

// close stops every process, last started first.
func (t *topology) close() error {
	var errs []error
	for i := len(t.closers) - 1; i >= 0; i-- {
		errs = append(errs, t.closers[i]())
	}
	return errors.Join(errs...)
}

// grepLogs returns the monitor log lines containing any of words; a run of
// lines alike (same msg and reason, as raftsentinel repeats "failover
// blocked" every tick) is shown as its first line and a count.
func (t *topology) grepLogs(words ...string) []string {
	var out []string
	if t.mons == nil {
		return nil
	}
	for i, m := range t.mons.List {
		data, err := os.ReadFile(m.LogPath)
		if err != nil {
			out = append(out, fmt.Sprintf("[monitor %d] log unreadable: %v", i+1, err))
			continue
		}
		prevKey, repeats := "", 0
		flush := func() {
			if repeats > 0 {
				out[len(out)-1] += fmt.Sprintf(" (and %d more alike)", repeats)
			}
			repeats = 0
		}
		for _, l := range strings.Split(string(data), "\n") {
			if !slices.ContainsFunc(words, func(w string) bool { return strings.Contains(l, w) }) {
				continue
			}
			key := strings.Join(alikeRE.FindAllString(l, -1), " ")
			if key != "" && key == prevKey {
				repeats++
				continue
			}
			flush()
			prevKey = key
			out = append(out, fmt.Sprintf("[monitor %d] %s", i+1, l))
		}
		flush()
	}
	return out
}

// alikeRE picks the parts of a raftsentinel log line that make two lines
// alike.
var alikeRE = regexp.MustCompile(`(msg|reason)=("[^"]*"|\S+)`)

// startTopology starts the data nodes, waits until both replicas are in
// sync, then starts three monitors of sys as cfg (the template of every
// topology of the run) says, all within cfg.ReadyTimeout. On error the
// returned topology holds what was started and must be closed.
func startTopology(ctx context.Context, cfg benchutil.GroupOptions, sys benchutil.System, dir string) (*topology, error) {
	t := &topology{dir: dir, nodes: map[string]*redisproc.Server{}}
	deadline := time.Now().Add(cfg.ReadyTimeout)
	sctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	master, err := redisproc.Start(sctx, redisproc.Options{Dir: filepath.Join(dir, "master")})
	if err != nil {
		return t, fmt.Errorf("start master: %w", err)
	}
	t.master = master
	t.nodes[master.Addr()] = master
	t.closers = append(t.closers, master.Close)
	var replicas []*redisproc.Server
	for i := range 2 {
		r, err := redisproc.Start(sctx, redisproc.Options{
			Dir: filepath.Join(dir, fmt.Sprintf("replica%d", i+1)), ReplicaOf: master.Addr()})
		if err != nil {
			return t, fmt.Errorf("start replica %d: %w", i+1, err)
		}
		replicas = append(replicas, r)
		t.nodes[r.Addr()] = r
		t.closers = append(t.closers, r.Close)
	}
	// Monitors start once the replicas are in sync, so both systems find
	// both replicas in the master's first INFO.
	err = benchutil.Poll(sctx, benchutil.Forever, pollEvery, func() error {
		for _, r := range replicas {
			info, err := redisproc.Command(sctx, r.Addr(), "INFO", "replication")
			if err != nil {
				return err
			}
			if st := redisproc.InfoField(info, "master_link_status"); st != "up" {
				return fmt.Errorf("replica %s: master_link_status %q", r.Addr(), st)
			}
		}
		return nil
	})
	if err != nil {
		return t, fmt.Errorf("replication: %w", err)
	}
	// The raftsentinel processes live until ctx ends or close; their
	// start-up has the rest of the time sctx leaves.
	mopt := cfg
	mopt.Dir, mopt.MasterAddr, mopt.ReadyTimeout = dir, master.Addr(), time.Until(deadline)
	t.mons, err = benchutil.StartMonitors(ctx, sys, mopt)
	t.closers = append(t.closers, t.mons.Close)
	return t, err
}
