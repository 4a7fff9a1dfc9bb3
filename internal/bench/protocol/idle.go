//go:build linux

package main

import (
	"context"
	"fmt"
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
			cpu, err := benchutil.RunTime(pid)
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
		cpu, err := benchutil.RunTime(b.pid)
		if err != nil {
			return nil, fmt.Errorf("CPU time of %s: %w", out[i].name, err)
		}
		out[i].core = float64(cpu-b.cpu) / float64(wall)
	}
	return out, nil
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
