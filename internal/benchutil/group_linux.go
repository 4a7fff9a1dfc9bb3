//go:build linux

package benchutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// Monitor is one monitor process of a [Monitors] group.
type Monitor struct {
	Name    string            // node id m1, m2, … (raftsentinel) or sentinel1, sentinel2, …
	Addr    string            // Sentinel-protocol address
	LogPath string            // its log file
	HTTP    string            // raftsentinel's HTTP address (/metrics, /v1/status); "" for Redis Sentinel
	Server  *redisproc.Server // the redis-sentinel; nil for raftsentinel
	Proc    *Proc             // the raftsentinel process; nil for Redis Sentinel
}

// Pid is the monitor's process id, or 0 when it is not running.
func (m *Monitor) Pid() int {
	if m.Server != nil {
		return m.Server.Pid()
	}
	return m.Proc.Pid()
}

// Monitors is a group of monitors of one system watching its masters, all
// local processes, in the order they were started.
type Monitors struct {
	System System
	List   []*Monitor

	closers []func() error
}

// Addrs are the monitors' Sentinel-protocol addresses.
func (g *Monitors) Addrs() []string {
	out := make([]string, len(g.List))
	for i, m := range g.List {
		out[i] = m.Addr
	}
	return out
}

// Close stops every monitor, last started first, and closes its log.
func (g *Monitors) Close() error {
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		errs = append(errs, g.closers[i]())
	}
	g.closers = nil
	return errors.Join(errs...)
}

// StartMonitors starts a group of sys on loopback as opt says and waits,
// within opt.ReadyTimeout, until every monitor answers PING (nothing more:
// whether the monitors know the master, its replicas and each other is for
// the caller to poll).
//
// raftsentinel: [NewNodes] under opt.Dir, a [MonitorYAML] configuration
// each, then `opt.Bin run --config` on each, all started before any is
// waited for (they need each other to elect a Raft leader); the processes
// live until ctx ends or Close. Redis Sentinel: redis-sentinel processes
// started one after the other (see [redisproc.StartSentinel]), their
// output in sentinel.log of their directories; ctx bounds only their
// start.
//
// StartMonitors always returns a group, which must be closed, also along
// with an error: it then holds what was started.
func StartMonitors(ctx context.Context, sys System, opt GroupOptions) (*Monitors, error) {
	opt = opt.withDefaults()
	g := &Monitors{System: sys}
	deadline := time.Now().Add(opt.ReadyTimeout)
	var err error
	switch sys {
	case Raftsentinel:
		err = g.startRaftsentinel(ctx, opt, deadline)
	case Sentinel:
		err = g.startSentinels(ctx, opt, deadline)
	default:
		err = fmt.Errorf("unknown system %q", sys)
	}
	return g, err
}

func (g *Monitors) startRaftsentinel(ctx context.Context, opt GroupOptions, deadline time.Time) error {
	nodes, err := NewNodes(opt.Dir, opt.Size)
	if err != nil {
		return err
	}
	for i, n := range nodes {
		if err := os.WriteFile(n.ConfPath, []byte(MonitorYAML(nodes, i, opt)), 0o644); err != nil {
			return fmt.Errorf("write config of %s: %w", n.ID, err)
		}
	}
	for _, n := range nodes {
		p, err := StartProc(ctx, opt.Bin, []string{"run", "--config", n.ConfPath}, n.LogPath)
		if err != nil {
			return fmt.Errorf("start monitor %s: %w", n.ID, err)
		}
		g.closers = append(g.closers, p.Kill)
		g.List = append(g.List, &Monitor{Name: n.ID, Addr: n.Listen, LogPath: n.LogPath, HTTP: n.HTTP, Proc: p})
	}
	for _, m := range g.List {
		if err := m.Proc.WaitPing(ctx, m.Addr, time.Until(deadline)); err != nil {
			return fmt.Errorf("monitor %s: %w", m.Name, err)
		}
	}
	return nil
}

func (g *Monitors) startSentinels(ctx context.Context, opt GroupOptions, deadline time.Time) error {
	sctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for i := range opt.Size {
		name := fmt.Sprintf("sentinel%d", i+1)
		dir := filepath.Join(opt.Dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		logPath := filepath.Join(dir, "sentinel.log")
		f, err := os.Create(logPath)
		if err != nil {
			return fmt.Errorf("%s log: %w", name, err)
		}
		s, err := redisproc.StartSentinel(sctx, redisproc.SentinelOptions{
			Dir:             dir,
			Masters:         sentinelMasters(opt.MasterList()),
			Quorum:          opt.Quorum,
			DownAfter:       opt.DownAfter,
			FailoverTimeout: opt.FailoverTimeout,
			ParallelSyncs:   opt.ParallelSyncs,
			Stdout:          f,
		})
		if err != nil {
			f.Close()
			return fmt.Errorf("start %s: %w", name, err)
		}
		g.closers = append(g.closers, func() error { return errors.Join(s.Close(), f.Close()) })
		g.List = append(g.List, &Monitor{Name: name, Addr: s.Addr(), LogPath: logPath, Server: s})
	}
	return nil
}

// sentinelMasters are ms as redis-sentinel's masters.
func sentinelMasters(ms []MasterSpec) []redisproc.SentinelMaster {
	out := make([]redisproc.SentinelMaster, len(ms))
	for i, m := range ms {
		out[i] = redisproc.SentinelMaster{Name: m.Name, Addr: m.Addr}
	}
	return out
}
