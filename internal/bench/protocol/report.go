//go:build linux

package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
)

// The target of the issue: raftsentinel's throughput at least this
// multiple of Sentinel's on every row.
const targetRatio = 1.0

// Report column labels (also the target labels of bench).
const (
	labelFollower = "raftsentinel follower"
	labelSentinel = "Redis Sentinel"
	labelLeader   = "raftsentinel leader"
)

// reportInput is everything the report is made of.
type reportInput struct {
	machine          []string
	opt              options
	targets          []target
	leader, follower string // raftsentinel node ids
	samples          map[sampleKey][]sample
	rss              [3]map[string]benchutil.Memory // idle, after warm-up, after the benchmark
	idle             []idleCPU                      // every monitor's CPU with no client (none: not measured)
	loadEnd          string
}

// pick returns one quantity of each sample.
func pick(ss []sample, q func(sample) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = q(s)
	}
	return out
}

func sampleRPS(s sample) float64    { return s.rps }
func sampleCPU(s sample) float64    { return s.cpuUS }
func sampleClient(s sample) float64 { return s.clientCPU }

// clientBound is the share of its threads' capacity (median) above which
// redis-benchmark is taken to bound the throughput.
const clientBound = 0.9

// spread is (max - min) / median of xs.
func spread(xs []float64) float64 {
	m := benchutil.Median(xs)
	if m == 0 {
		return 0
	}
	return (slices.Max(xs) - slices.Min(xs)) / m
}

func ratioCell(a, b float64) string {
	if a == 0 || b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func rpsCell(x float64) string {
	if x == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", x)
}

func mib(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

func monName(targets []target, label string) string {
	for _, t := range targets {
		if t.label == label {
			return t.mon.Name
		}
	}
	return "?"
}

// reportLines is the markdown report: machine, throughput table, CPU
// table, memory table, idle CPU table, target.
func reportLines(in reportInput) []string {
	threads := max(in.opt.threads, 1)
	// median is the median of one quantity of the samples of case c on
	// the target labelled label.
	median := func(c benchCase, label string, q func(sample) float64) float64 {
		return benchutil.Median(pick(in.samples[sampleKey{c.String(), label}], q))
	}
	lines := []string{"## Protocol benchmark: raftsentinel vs Redis Sentinel", ""}
	for _, m := range in.machine {
		lines = append(lines, "- "+m)
	}
	lines = append(lines, "- load average at end: "+in.loadEnd)
	withLeader := false
	for _, t := range in.targets {
		withLeader = withLeader || t.label == labelLeader
	}
	measured := fmt.Sprintf("raftsentinel measured on Raft follower %s", in.follower)
	if withLeader {
		measured += fmt.Sprintf(" (and on the leader %s, for reference)", in.leader)
	}
	lines = append(lines,
		fmt.Sprintf("- setup: per system 1 master + 1 replica watched by 3 monitors (quorum 2), all on loopback, both systems running side by side; "+
			"`redis-benchmark -c %d -n %d --threads %d -q --csv <command>` (with -P 16: -n × 16, so that each run lasts about as long) against one monitor of each system; "+
			"median of %d runs, the systems alternating measurement by measurement; %s, Redis Sentinel on %s (all Sentinels are equal)",
			in.opt.clients, in.opt.requests, threads, in.opt.runs, measured, monName(in.targets, labelSentinel)),
		fmt.Sprintf("- caveat: this machine has %d CPU core(s); redis-benchmark (%d thread(s)) runs on the same cores as the monitor under test, beside the other, idle, monitors and Redis nodes, "+
			"so the client's CPU use bounds both systems' figures: they compare the two systems under equal conditions, not either system's ceiling, "+
			"and other load on the machine (see the load averages) adds noise",
			runtime.NumCPU(), threads),
		"")

	header := "| command | pipeline | raftsentinel req/s | Redis Sentinel req/s | ratio raftsentinel / Sentinel |"
	sep := "|---|---|---|---|---|"
	if withLeader {
		header += " raftsentinel leader req/s | ratio leader / Sentinel |"
		sep += "---|---|"
	}
	lines = append(lines, header, sep)
	holds := true
	var misses []string
	worstSpread, worstCell := 0.0, ""
	for _, c := range cases {
		mf := median(c, labelFollower, sampleRPS)
		ms := median(c, labelSentinel, sampleRPS)
		row := fmt.Sprintf("| %s | %d | %s | %s | %s |", c.command, c.pipeline, rpsCell(mf), rpsCell(ms), ratioCell(mf, ms))
		if withLeader {
			ml := median(c, labelLeader, sampleRPS)
			row += fmt.Sprintf(" %s | %s |", rpsCell(ml), ratioCell(ml, ms))
		}
		lines = append(lines, row)
		if mf == 0 || ms == 0 || mf/ms < targetRatio {
			holds = false
			misses = append(misses, fmt.Sprintf("%s -P %d (%s)", c.command, c.pipeline, ratioCell(mf, ms)))
		}
		for _, t := range in.targets {
			xs := pick(in.samples[sampleKey{c.String(), t.label}], sampleRPS)
			if sp := spread(xs); sp > worstSpread {
				worstSpread, worstCell = sp, fmt.Sprintf("%s -P %d on the %s", c.command, c.pipeline, t.label)
			}
		}
	}
	lines = append(lines, "")
	if in.opt.runs > 1 && worstCell != "" {
		lines = append(lines, fmt.Sprintf("Largest spread of the %d runs of one cell ((max − min) / median): %.0f%% (%s).", in.opt.runs, 100*worstSpread, worstCell), "")
	}

	// CPU time per request does not depend on how much CPU the client and
	// the rest of the machine leave the monitor, so it is the steadier
	// comparison on a busy machine.
	header = "| command | pipeline | raftsentinel CPU µs/request | Redis Sentinel CPU µs/request | ratio raftsentinel / Sentinel |"
	sep = "|---|---|---|---|---|"
	if withLeader {
		header += " raftsentinel leader CPU µs/request |"
		sep += "---|"
	}
	header += fmt.Sprintf(" redis-benchmark CPU, %% of its %d thread(s) (vs raftsentinel / vs Sentinel) |", threads)
	sep += "---|"
	lines = append(lines, header, sep)
	var bound, dearer []string
	for _, c := range cases {
		cf := median(c, labelFollower, sampleCPU)
		cs := median(c, labelSentinel, sampleCPU)
		row := fmt.Sprintf("| %s | %d | %.2f | %.2f | %s |", c.command, c.pipeline, cf, cs, ratioCell(cf, cs))
		if withLeader {
			row += fmt.Sprintf(" %.2f |", median(c, labelLeader, sampleCPU))
		}
		kf := median(c, labelFollower, sampleClient)
		ks := median(c, labelSentinel, sampleClient)
		row += fmt.Sprintf(" %.0f / %.0f |", 100*kf, 100*ks)
		lines = append(lines, row)
		if cf == 0 || cs == 0 || cf > cs {
			dearer = append(dearer, fmt.Sprintf("%s -P %d (%s)", c.command, c.pipeline, ratioCell(cf, cs)))
		}
		if kf >= clientBound && ks >= clientBound {
			bound = append(bound, fmt.Sprintf("%s -P %d", c.command, c.pipeline))
		}
	}
	lines = append(lines, "", "(CPU time = user + system time of the monitor process, all threads, from /proc/<pid>/stat in 10 ms ticks, over the redis-benchmark run, divided by the requests; "+
		"redis-benchmark's share = its user + system time over its wall time and its thread count.)", "")
	if len(bound) > 0 {
		lines = append(lines, fmt.Sprintf("Client-bound (redis-benchmark at ≥ %.0f%% of its %d thread(s) against both systems): %s. "+
			"There the client's ceiling bounds both systems, so the throughput ratio is 1.0 plus noise whichever server is faster; "+
			"CPU per request compares the servers.", 100*clientBound, threads, strings.Join(bound, "; ")), "")
	}

	lines = append(lines,
		"| process | VmRSS idle, ready + settle (MiB) | VmRSS after warm-up (MiB) | VmRSS after the benchmark (MiB) | peak VmHWM (MiB) |",
		"|---|---|---|---|---|")
	for _, t := range in.targets {
		idle, warm, after := in.rss[0][t.label], in.rss[1][t.label], in.rss[2][t.label]
		lines = append(lines, fmt.Sprintf("| %s (%s) | %s | %s | %s | %s |", t.label, t.mon.Name, mib(idle.RSS), mib(warm.RSS), mib(after.RSS), mib(after.HWM)))
	}
	r := in.rss
	lines = append(lines, fmt.Sprintf("| ratio raftsentinel follower / Sentinel | %s | %s | %s | %s |",
		ratioCell(float64(r[0][labelFollower].RSS), float64(r[0][labelSentinel].RSS)),
		ratioCell(float64(r[1][labelFollower].RSS), float64(r[1][labelSentinel].RSS)),
		ratioCell(float64(r[2][labelFollower].RSS), float64(r[2][labelSentinel].RSS)),
		ratioCell(float64(r[2][labelFollower].HWM), float64(r[2][labelSentinel].HWM))))
	lines = append(lines, "")
	lines = append(lines, idleLines(in.idle, in.opt.idle)...)

	verdict := "holds"
	if !holds {
		verdict = "DOES NOT hold (below: " + strings.Join(misses, "; ") + ")"
	}
	lines = append(lines, fmt.Sprintf("Target for raftsentinel: throughput ≥ %.1f × Sentinel's on every row (follower vs Sentinel, medians): %s.", targetRatio, verdict))
	cost := "yes"
	if len(dearer) > 0 {
		cost = "no (more on: " + strings.Join(dearer, "; ") + ")"
	}
	lines = append(lines, "", "Server CPU per request ≤ Sentinel's on every row (follower vs Sentinel, medians): "+cost+".")
	return lines
}
