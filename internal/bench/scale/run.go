//go:build linux

package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
)

// discoveryEvery is the pause between two rounds of SENTINEL MASTERS
// while waiting for full discovery.
const discoveryEvery = 200 * time.Millisecond

// Roles of a monitor in the report.
const (
	roleLeader   = "leader"   // raftsentinel's Raft leader
	roleFollower = "follower" // another raftsentinel monitor
	roleSentinel = ""         // a Redis Sentinel
)

// monitorUsage is one monitor's cost over the steady-state window.
type monitorUsage struct {
	name, role string
	core       float64 // CPU time per wall time (1 = one core busy)
	rssKiB     int64   // VmRSS at the end of the window
}

// runResult is one system's run on one size of the sweep. The run failed
// when err is set; what was measured before the failure is kept.
type runResult struct {
	size          int
	sys           benchutil.System
	err           error
	discovery     time.Duration  // monitors' start → every monitor knows every master fully
	usage         []monitorUsage // every monitor, in start order
	fleetCore     float64        // every fleet node's CPU over the window, summed (not less the baseline)
	commitsPerSec float64        // raftsentinel: Raft entries the leader committed per second of the window
	leader        string         // raftsentinel: the Raft leader during the window
	notes         []string       // what the report should mention (a leader change)
	kills         []killOutcome  // -kill: one per killed master
	logTail       string         // the monitors' log tails, for a failed run
}

// runSystem runs one system on the fleet under dir: starts its monitors
// on the fleet's current masters, measures (see measureRun), stops them,
// then restarts any fleet node not running and repairs the fleet (see
// fleet.repair) for the next run. The error is for a fleet that could not
// be repaired: the sweep cannot go on with it.
func runSystem(ctx context.Context, opt options, bin string, sys benchutil.System, f *fleet, dir string) (runResult, error) {
	res := runResult{size: len(f.shards), sys: sys}
	start := time.Now()
	mons, err := benchutil.StartMonitors(ctx, sys, opt.group(bin, dir, f.masters()))
	stop := sync.OnceValue(mons.Close)
	defer stop()
	if err == nil {
		err = measureRun(ctx, opt, f, mons, start, &res)
	}
	if err != nil {
		res.err = err
		res.logTail = logTail(mons, 20)
	}
	if err := stop(); err != nil && res.err == nil {
		res.err = fmt.Errorf("stop the monitors: %w", err)
	}
	if err := f.restartStopped(ctx, opt.concurrency, opt.setupTimeout); err != nil {
		return res, err
	}
	if err := f.repair(ctx, opt.concurrency, opt.setupTimeout); err != nil {
		return res, fmt.Errorf("repair the fleet after %s: %w", sys, err)
	}
	return res, nil
}

// measureRun waits for full discovery (every monitor lists every master
// with its replicas and the other monitors, bounded by
// opt.discoveryTimeout), pauses opt.settle, measures the steady-state
// window and, with opt.kill, kills masters. Masters never failed over are
// an outcome in res, not an error.
func measureRun(ctx context.Context, opt options, f *fleet, mons *benchutil.Monitors, start time.Time, res *runResult) error {
	names := make([]string, len(f.shards))
	for i, s := range f.shards {
		names[i] = s.name
	}
	err := benchutil.Poll(ctx, opt.discoveryTimeout, discoveryEvery, func() error {
		return allDiscovered(ctx, mons.List, names, opt.replicas)
	})
	if err != nil {
		return fmt.Errorf("discovery not complete %s after the monitors' start: %w", opt.discoveryTimeout, err)
	}
	res.discovery = time.Since(start)
	if err := benchutil.Sleep(ctx, opt.settle); err != nil {
		return err
	}
	if err := measureWindow(ctx, opt.window, f, mons, res); err != nil {
		return fmt.Errorf("steady-state window: %w", err)
	}
	if opt.kill == 0 {
		return nil
	}
	n := min(opt.kill, len(f.shards))
	res.kills, err = killMasters(ctx, f.shards[:n], mons.List, opt.killTimeout)
	if err != nil {
		return fmt.Errorf("kill %d master(s): %w", n, err)
	}
	return nil
}

// measureWindow measures, over window: every monitor's CPU and, at the
// end, its RSS; the fleet's CPU; for raftsentinel the leader (from
// /metrics, before and after) and the leader's commits per second.
func measureWindow(ctx context.Context, window time.Duration, f *fleet, mons *benchutil.Monitors, res *runResult) error {
	raft := mons.System == benchutil.Raftsentinel
	var before raftView
	if raft {
		var err error
		if before, err = readRaft(ctx, mons.List); err != nil {
			return err
		}
		res.leader = before.leader
	}
	pids, err := f.pids()
	if err != nil {
		return err
	}
	for _, m := range mons.List {
		pids = append(pids, m.Pid())
	}
	cores, wall, err := sampleCPU(ctx, window, pids)
	if err != nil {
		return err
	}
	nFleet := len(cores) - len(mons.List)
	for _, c := range cores[:nFleet] {
		res.fleetCore += c
	}
	for i, m := range mons.List {
		mem, err := benchutil.ReadMemory(m.Pid())
		if err != nil {
			return fmt.Errorf("memory of %s: %w", m.Name, err)
		}
		role := roleSentinel
		if raft {
			role = roleFollower
			if m.Name == before.leader {
				role = roleLeader
			}
		}
		res.usage = append(res.usage, monitorUsage{name: m.Name, role: role, core: cores[nFleet+i], rssKiB: mem.RSS})
	}
	if !raft {
		return nil
	}
	after, err := readRaft(ctx, mons.List)
	if err != nil {
		return err
	}
	if after.leader != before.leader {
		res.notes = append(res.notes, fmt.Sprintf("the Raft leader changed during the window (%s, then %s)", before.leader, after.leader))
	}
	res.commitsPerSec = (after.commit - before.commit) / wall.Seconds()
	return nil
}

// sampleCPU is each process's CPU time (see [benchutil.RunTime]) per wall
// time over window, in the order of pids, and the wall time measured.
func sampleCPU(ctx context.Context, window time.Duration, pids []int) ([]float64, time.Duration, error) {
	t0 := time.Now()
	before, err := runTimes(pids)
	if err != nil {
		return nil, 0, err
	}
	if err := benchutil.Sleep(ctx, window); err != nil {
		return nil, 0, err
	}
	wall := time.Since(t0)
	after, err := runTimes(pids)
	if err != nil {
		return nil, 0, err
	}
	out := make([]float64, len(pids))
	for i := range pids {
		out[i] = float64(after[i]-before[i]) / float64(wall)
	}
	return out, wall, nil
}

// runTimes is [benchutil.RunTime] of each of pids.
func runTimes(pids []int) ([]time.Duration, error) {
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		d, err := benchutil.RunTime(pid)
		if err != nil {
			return nil, fmt.Errorf("CPU time of pid %d: %w", pid, err)
		}
		out[i] = d
	}
	return out, nil
}

// fleetBaseline is the fleet's CPU, summed over its nodes, over window
// with no monitor running.
func fleetBaseline(ctx context.Context, f *fleet, window time.Duration) (float64, error) {
	pids, err := f.pids()
	if err != nil {
		return 0, err
	}
	cores, _, err := sampleCPU(ctx, window, pids)
	if err != nil {
		return 0, err
	}
	sum := 0.0
	for _, c := range cores {
		sum += c
	}
	return sum, nil
}

// logTail is the last lines of every monitor's log.
func logTail(mons *benchutil.Monitors, lines int) string {
	var b strings.Builder
	for _, m := range mons.List {
		b.WriteString(benchutil.LogTail(m.Name, m.LogPath, lines))
	}
	return b.String()
}
