//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
)

// idleCPU is one monitor's CPU use while no client is connected: what it
// costs to keep watching one master (probes, and for raftsentinel Raft).
type idleCPU struct {
	sys  benchutil.System
	name string
	role string  // "leader" or "follower" for raftsentinel, "" for Sentinel
	core float64 // CPU time per wall time (1 = one core busy)
}

// measureIdle samples the CPU time of every monitor of groups over window
// (no redis-benchmark running) and returns one entry per monitor, in group
// order. leader names raftsentinel's Raft leader.
func measureIdle(ctx context.Context, groups []*group, leader string, window time.Duration) ([]idleCPU, error) {
	type mark struct {
		pid int
		cpu time.Duration
	}
	var out []idleCPU
	var before []mark
	for _, g := range groups {
		for _, m := range g.monitors {
			pid := m.Pid()
			cpu, err := runTime(pid)
			if err != nil {
				return nil, fmt.Errorf("CPU time of %s: %w", m.Name, err)
			}
			role := ""
			if g.sys == benchutil.Raftsentinel {
				role = "follower"
				if m.Name == leader {
					role = "leader"
				}
			}
			out = append(out, idleCPU{sys: g.sys, name: m.Name, role: role})
			before = append(before, mark{pid, cpu})
		}
	}
	start := time.Now()
	if err := benchutil.Sleep(ctx, window); err != nil {
		return nil, err
	}
	wall := time.Since(start)
	for i, b := range before {
		cpu, err := runTime(b.pid)
		if err != nil {
			return nil, fmt.Errorf("CPU time of %s: %w", out[i].name, err)
		}
		out[i].core = float64(cpu-b.cpu) / float64(wall)
	}
	return out, nil
}

// runTime is the time the threads of process pid now alive have spent on a
// CPU, in nanoseconds, from /proc/<pid>/task/*/schedstat (the 10 ms ticks
// of /proc/<pid>/stat are too coarse for an idle Sentinel, which uses
// ~2 ms per second).
func runTime(pid int) (time.Duration, error) {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no /proc/%d/task/*/schedstat (process gone?)", pid)
	}
	var sum time.Duration
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			if os.IsNotExist(err) {
				continue // the thread ended meanwhile
			}
			return 0, err
		}
		fields := strings.Fields(string(data))
		if len(fields) != 3 {
			return 0, fmt.Errorf("%s: %q: want 3 fields", f, data)
		}
		ns, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// idleLines is the report's idle-cost table: every monitor, then the
// medians by role and their ratios to Sentinel's.
func idleLines(idle []idleCPU, window time.Duration) []string {
	if len(idle) == 0 {
		return nil
	}
	lines := []string{
		fmt.Sprintf("Idle cost: CPU of each monitor watching its master (1 master + 1 replica) with no client connected, over %s "+
			"(run time of the process's threads from /proc/<pid>/task/*/schedstat):", window),
		"",
		"| monitor | CPU, % of a core |",
		"|---|---|",
	}
	byRole := map[string][]float64{}
	for _, m := range idle {
		label, key := m.name+" (raftsentinel "+m.role+")", m.role
		if m.sys == benchutil.Sentinel {
			label, key = m.name+" (Redis Sentinel)", "sentinel"
		}
		lines = append(lines, fmt.Sprintf("| %s | %.2f |", label, 100*m.core))
		byRole[key] = append(byRole[key], m.core)
	}
	sn := benchutil.Median(byRole["sentinel"])
	lines = append(lines, fmt.Sprintf("| ratio raftsentinel leader / Sentinel (median) | %s |", ratioCell(benchutil.Median(byRole["leader"]), sn)),
		fmt.Sprintf("| ratio raftsentinel follower (median) / Sentinel (median) | %s |", ratioCell(benchutil.Median(byRole["follower"]), sn)), "")
	return lines
}
