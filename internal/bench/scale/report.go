//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
)

// withinBound is the failover time the kill table counts masters within.
const withinBound = 30 * time.Second

// sizeResult is one size of the sweep: its fleet and the systems' runs,
// in the order they ran.
type sizeResult struct {
	size     int
	nodes    int           // redis-server processes of the fleet
	startup  time.Duration // fleet start → every replica in sync (0: the fleet did not start)
	baseline float64       // the fleet's CPU with no monitor running, cores
	runs     []runResult
}

// failed counts the runs of s that failed.
func (s sizeResult) failed() int {
	n := 0
	for _, r := range s.runs {
		if r.err != nil {
			n++
		}
	}
	return n
}

// killStats sum up a kill phase's outcomes.
type killStats struct {
	killed, failedOver int
	median, max        time.Duration // over the masters failed over
	within             int           // failed over within withinBound
}

// summarize computes the [killStats] of outcomes.
func summarize(outcomes []killOutcome) killStats {
	st := killStats{killed: len(outcomes)}
	var took []time.Duration
	for _, o := range outcomes {
		if !o.ok {
			continue
		}
		took = append(took, o.took)
		if o.took <= withinBound {
			st.within++
		}
	}
	st.failedOver = len(took)
	if len(took) > 0 {
		st.median, st.max = benchutil.Median(took), slices.Max(took)
	}
	return st
}

// reportInput is everything the report is made of.
type reportInput struct {
	machine []string
	loadEnd string
	opt     options
	sizes   []sizeResult
}

// reportLines is the markdown report: machine and setup, then the fleet,
// steady-state, ratio and (with -kill) kill tables, then notes and
// failures.
func reportLines(in reportInput) []string {
	lines := []string{"## Scale benchmark: raftsentinel vs Redis Sentinel with many masters", ""}
	for _, m := range in.machine {
		lines = append(lines, "- "+m)
	}
	lines = append(lines, "- load average at end: "+in.loadEnd)
	lines = append(lines, setupLines(in.opt)...)
	lines = append(lines, "", "### Fleet", "",
		"| masters | redis-server processes | start-up until in sync (s) | fleet CPU with no monitor, % of a core |",
		"|---|---|---|---|")
	for _, s := range in.sizes {
		lines = append(lines, fmt.Sprintf("| %d | %d | %s | %s |", s.size, s.nodes, secs(s.startup, 2), pct(s.baseline)))
	}
	lines = append(lines, "")
	lines = append(lines, steadyLines(in.sizes)...)
	lines = append(lines, ratioLines(in.sizes)...)
	if in.opt.kill > 0 {
		lines = append(lines, killLines(in.opt, in.sizes)...)
	}
	lines = append(lines, noteLines(in.sizes)...)
	return lines
}

// setupLines say how the figures were taken.
func setupLines(o options) []string {
	return []string{
		fmt.Sprintf("- setup: per size N masters with %d replica(s) each, N × %d redis-server processes on loopback, started %d at a time, every replica in sync before a monitor starts; "+
			"per system %d monitors, quorum %d, down-after %s, failover-timeout %s, parallel-syncs %d; per size one fleet, the systems running on it one after the other (%s), "+
			"the fleet repaired between them (killed masters restarted, REPLICAOF where a node does not replicate its shard's master, replicas in sync)",
			o.replicas, 1+o.replicas, o.concurrency, o.monitors, o.quorum, o.downAfter, o.failoverTimeout, o.parallelSyncs, systemList(o.systems)),
		fmt.Sprintf("- full discovery: the monitors' start → every monitor lists every master in SENTINEL MASTERS with num-slaves %d, num-other-sentinels %d and no down or failover flag "+
			"(polled every %s, bounded by %s)", o.replicas, o.monitors-1, discoveryEvery, o.discoveryTimeout),
		fmt.Sprintf("- steady state: %s after full discovery, a window of %s. CPU: run time of a process's threads (/proc/<pid>/task/*/schedstat) over the window, %% of one core. "+
			"RSS: VmRSS at the end of the window. Fleet CPU caused: every redis-server's CPU over the window, summed, minus the same fleet's over a window as long with no monitor running "+
			"(once per size, before the first system). Raft commits/s: the leader's %s (/metrics) over the window", o.settle, o.window, metricCommit),
		fmt.Sprintf("- kill (-kill %d): SIGKILL of the first min(%d, N) masters at once; per killed master, kill → every monitor has answered SENTINEL GET-MASTER-ADDR-BY-NAME with its replica "+
			"(monitors polled concurrently, one pipeline a round, every %s + %s per master pending, bounded by %s)", o.kill, o.kill, killPollBase, killPollPerMaster, o.killTimeout),
	}
}

// steadyLines is the steady-state table: one row per run.
func steadyLines(sizes []sizeResult) []string {
	lines := []string{"### Steady state", "",
		"| masters | system | full discovery (s) | CPU per monitor, % of a core | CPU, all monitors | RSS per monitor (MiB) | RSS, all monitors (MiB) | fleet CPU caused, % of a core | Raft commits/s |",
		"|---|---|---|---|---|---|---|---|---|"}
	for _, s := range sizes {
		for _, r := range s.runs {
			head := fmt.Sprintf("| %d | %s |", s.size, r.sys.Title())
			if len(r.usage) == 0 {
				lines = append(lines, head+fmt.Sprintf(" %s | FAILED | | | | | |", secs(r.discovery, 1)))
				continue
			}
			commits := "n/a"
			if r.sys == benchutil.Raftsentinel {
				commits = fmt.Sprintf("%.2f", r.commitsPerSec)
			}
			lines = append(lines, head+fmt.Sprintf(" %s | %s | %s | %s | %s | %s | %s |", secs(r.discovery, 1),
				perMonitor(r.usage, func(u monitorUsage) string { return pct(u.core) }), pct(totalCore(r.usage)),
				perMonitor(r.usage, func(u monitorUsage) string { return mib(u.rssKiB) }), mib(totalRSS(r.usage)),
				pct(r.fleetCore-s.baseline), commits))
		}
	}
	return append(lines, "")
}

// ratioLines is the table of ratios raftsentinel / Redis Sentinel, one
// row per size that has a measured run of each.
func ratioLines(sizes []sizeResult) []string {
	lines := []string{"### Ratios raftsentinel / Redis Sentinel", "",
		"| masters | CPU, all monitors | CPU, leader / Sentinel median | CPU, follower median / Sentinel median | fleet CPU caused | RSS, all monitors | RSS, follower median / Sentinel median |",
		"|---|---|---|---|---|---|---|"}
	for _, s := range sizes {
		rs, sn := measured(s, benchutil.Raftsentinel), measured(s, benchutil.Sentinel)
		if rs == nil || sn == nil {
			continue
		}
		core := func(u monitorUsage) float64 { return u.core }
		rss := func(u monitorUsage) float64 { return float64(u.rssKiB) }
		snCore, snRSS := benchutil.Median(pick(sn.usage, roleSentinel, core)), benchutil.Median(pick(sn.usage, roleSentinel, rss))
		lines = append(lines, fmt.Sprintf("| %d | %s | %s | %s | %s | %s | %s |", s.size,
			ratio(totalCore(rs.usage), totalCore(sn.usage)),
			ratio(benchutil.Median(pick(rs.usage, roleLeader, core)), snCore),
			ratio(benchutil.Median(pick(rs.usage, roleFollower, core)), snCore),
			ratio(rs.fleetCore-s.baseline, sn.fleetCore-s.baseline),
			ratio(float64(totalRSS(rs.usage)), float64(totalRSS(sn.usage))),
			ratio(benchutil.Median(pick(rs.usage, roleFollower, rss)), snRSS)))
	}
	return append(lines, "", "(n/a: a figure is zero or negative, as the fleet CPU caused may be within the noise of the baseline.)", "")
}

// killLines is the kill table: one row per run that killed.
func killLines(o options, sizes []sizeResult) []string {
	lines := []string{fmt.Sprintf("### Kill: %d master(s) at once (SIGKILL)", o.kill), "",
		fmt.Sprintf("| masters | killed | system | kill → every monitor answers the replica, median (s) | max (s) | within %s | never failed over (within %s) |", withinBound, o.killTimeout),
		"|---|---|---|---|---|---|---|"}
	for _, s := range sizes {
		for _, r := range s.runs {
			if len(r.kills) == 0 {
				continue
			}
			st := summarize(r.kills)
			lines = append(lines, fmt.Sprintf("| %d | %d | %s | %s | %s | %d/%d | %d |", s.size, st.killed, r.sys.Title(),
				secs(st.median, 3), secs(st.max, 3), st.within, st.killed, st.killed-st.failedOver))
		}
	}
	return append(lines, "")
}

// noteLines list the runs' notes and failures.
func noteLines(sizes []sizeResult) []string {
	var lines []string
	for _, s := range sizes {
		for _, r := range s.runs {
			for _, n := range r.notes {
				lines = append(lines, fmt.Sprintf("- note, %d masters, %s: %s", s.size, r.sys.Title(), n))
			}
			if r.err != nil {
				first, _, _ := strings.Cut(r.err.Error(), "\n")
				lines = append(lines, fmt.Sprintf("- FAILED, %d masters, %s: %s", s.size, r.sys.Title(), first))
			}
		}
	}
	if len(lines) > 0 {
		lines = append(lines, "")
	}
	return lines
}

// measured is the run of sys in s that measured its window, or nil.
func measured(s sizeResult, sys benchutil.System) *runResult {
	for i := range s.runs {
		if r := &s.runs[i]; r.sys == sys && len(r.usage) > 0 {
			return r
		}
	}
	return nil
}

// pick is q of every monitor of us with role.
func pick(us []monitorUsage, role string, q func(monitorUsage) float64) []float64 {
	var out []float64
	for _, u := range us {
		if u.role == role {
			out = append(out, q(u))
		}
	}
	return out
}

// perMonitor is one cell of every monitor's figure: "a, b, c" for
// Sentinels, "leader a; followers b, c" for raftsentinel.
func perMonitor(us []monitorUsage, cell func(monitorUsage) string) string {
	var lead, rest []string
	for _, u := range us {
		if u.role == roleLeader {
			lead = append(lead, cell(u))
		} else {
			rest = append(rest, cell(u))
		}
	}
	if len(lead) == 0 {
		return strings.Join(rest, ", ")
	}
	return "leader " + strings.Join(lead, ", ") + "; followers " + strings.Join(rest, ", ")
}

func totalCore(us []monitorUsage) float64 {
	sum := 0.0
	for _, u := range us {
		sum += u.core
	}
	return sum
}

func totalRSS(us []monitorUsage) int64 {
	var sum int64
	for _, u := range us {
		sum += u.rssKiB
	}
	return sum
}

// systemList names the systems in run order: "raftsentinel, then Redis
// Sentinel".
func systemList(systems []benchutil.System) string {
	names := make([]string, len(systems))
	for i, s := range systems {
		names[i] = s.Title()
	}
	return strings.Join(names, ", then ")
}

// pct is a share of one core as a percentage with two decimals.
func pct(core float64) string { return fmt.Sprintf("%.2f", 100*core) }

// mib is KiB as MiB with one decimal.
func mib(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

// secs is d in seconds with prec decimals, "n/a" for 0 (not measured).
func secs(d time.Duration, prec int) string {
	if d == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", prec, d.Seconds())
}

// ratio is a / b with two decimals, "n/a" unless both are positive.
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}
