//go:build linux

// Command failover is the failover benchmark of `make bench-failover`: the
// same drill against raftsentinel and against Redis Sentinel, in one run.
//
// Each run starts a fresh topology on loopback — a redis-server master,
// two replicas and three monitors (quorum 2) — waits until every monitor
// knows the master, both replicas and the two other monitors, SIGKILLs the
// master and measures
//
//	(a) kill → a replica accepts SET (the new master is writable), and
//	(b) kill → all three monitors answer GET-MASTER-ADDR-BY-NAME with the
//	    same new address (what Sentinel-aware clients see).
//
// The systems alternate run by run. The report is a markdown table of
// medians and maxima, a ratio row and the targets; the program exits
// non-zero only when a run failed (timeout, or a setup error).
//
// Linux only (process groups with a parent-death signal, /proc/cpuinfo).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
)

// minRuns is the smallest number of runs per system without -quick.
const minRuns = 5

type options struct {
	runs      int
	downAfter time.Duration
	out       string
	system    string
	systems   []benchutil.System // from system
	quick     bool
	keep      bool
	timeout   time.Duration
}

func main() {
	benchutil.QuietRedisLogs()
	benchutil.Main(run)
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opt, err := parseFlags(args, stderr)
	if err != nil {
		return benchutil.FlagExit(stderr, "bench-failover", err)
	}
	failed, err := bench(ctx, opt, stdout)
	return benchutil.ExitCode(stderr, "bench-failover", "run", failed, err, opt.keep)
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var opt options
	fs := benchutil.NewFlagSet("bench-failover", stderr)
	fs.IntVar(&opt.runs, "runs", minRuns, fmt.Sprintf("runs per system (at least %d unless -quick)", minRuns))
	fs.DurationVar(&opt.downAfter, "down-after", time.Second, "down-after of the master, for both systems")
	fs.StringVar(&opt.out, "out", "", "also write the markdown report to this file")
	benchutil.SystemFlag(fs, &opt.system)
	fs.BoolVar(&opt.quick, "quick", false, fmt.Sprintf("allow fewer than %d runs (1 unless -runs is given)", minRuns))
	fs.DurationVar(&opt.timeout, "timeout", 30*time.Second, "per run: kill → both measurements done; a run that takes longer fails")
	fs.BoolVar(&opt.keep, "keep", false, "keep the working directory (configs, logs) instead of removing it")
	if err := benchutil.ParseFlags(fs, args); err != nil {
		return opt, err
	}
	runsSet := false
	fs.Visit(func(f *flag.Flag) { runsSet = runsSet || f.Name == "runs" })
	if opt.quick && !runsSet {
		opt.runs = 1
	}
	switch {
	case opt.runs < 1:
		return opt, fmt.Errorf("-runs %d: must be at least 1", opt.runs)
	case opt.runs < minRuns && !opt.quick:
		return opt, fmt.Errorf("-runs %d: must be at least %d (or pass -quick)", opt.runs, minRuns)
	case opt.timeout <= 0:
		return opt, fmt.Errorf("-timeout %s: must be positive", opt.timeout)
	case opt.downAfter < 100*time.Millisecond:
		return opt, fmt.Errorf("-down-after %s: must be at least 100ms (raftsentinel's probe period)", opt.downAfter)
	case opt.downAfter%time.Millisecond != 0:
		return opt, fmt.Errorf("-down-after %s: must be a whole number of milliseconds (Sentinel's unit)", opt.downAfter)
	}
	var err error
	if opt.systems, err = benchutil.Systems(opt.system); err != nil {
		return opt, err
	}
	return opt, nil
}

// bench runs the drills and prints the report; it returns how many runs
// failed. An error means the benchmark itself could not run.
func bench(ctx context.Context, opt options, w io.Writer) (failed int, err error) {
	if err := benchutil.NeedRedis("redis-server", "redis-sentinel"); err != nil {
		return 0, err
	}
	ws, err := benchutil.NewWorkspace(ctx, w, "raftsentinel-bench-", opt.keep)
	if err != nil {
		return 0, err
	}
	defer ws.Close()

	machine := benchutil.MachineLines(ctx, ws.GoBin, "redis-server")
	benchutil.PrintLines(w, machine)
	cfg := drillConfig{
		monitors: benchutil.GroupOptions{
			Bin:             ws.Bin,
			MasterName:      masterName,
			DownAfter:       opt.downAfter,
			FailoverTimeout: 30 * time.Second,
			ReadyTimeout:    60 * time.Second,
		},
		runTimeout: opt.timeout,
	}
	fmt.Fprintf(w, "\ndrill: 1 master + 2 replicas, 3 monitors, quorum 2, down-after %s, failover-timeout %s, parallel-syncs 1; %d run(s) per system, alternating\n",
		cfg.monitors.DownAfter, cfg.monitors.FailoverTimeout, opt.runs)
	fmt.Fprintln(w, "(a) = kill → a replica accepts SET; (b) = kill → all 3 monitors answer GET-MASTER-ADDR-BY-NAME with the same new address")
	fmt.Fprintln(w)

	var results []result
	for i := 1; i <= opt.runs; i++ {
		for _, sys := range opt.systems {
			dir := filepath.Join(ws.Dir, fmt.Sprintf("run%02d-%s", i, sys))
			r := runDrill(ctx, cfg, sys, i, dir)
			if ctx.Err() != nil {
				return 0, fmt.Errorf("interrupted during run %d (%s): %w", i, sys, ctx.Err())
			}
			printRun(w, r, opt.runs)
			results = append(results, r)
			if r.err != nil {
				failed++
			}
		}
	}

	report := reportLines(results, opt.systems, opt.downAfter, machine)
	return failed, benchutil.WriteReport(w, report, opt.out)
}

// printRun prints one run's line (and, for a failed run, the monitors'
// log tails).
func printRun(w io.Writer, r result, runs int) {
	head := fmt.Sprintf("run %d/%d %-12s", r.run, runs, r.system)
	if r.err != nil {
		fmt.Fprintf(w, "%s FAILED: %v\n", head, r.err)
		if r.writes > 0 || r.agreed > 0 {
			fmt.Fprintf(w, "  partial: (a) %s (b) %s, monitors %s\n", secs(r.writes), secs(r.agreed), perMonitor(r.perMon))
		}
		if r.logTail != "" {
			fmt.Fprintf(w, "  monitor logs (tail):\n%s", r.logTail)
		}
		return
	}
	fmt.Fprintf(w, "%s (a) %s  (b) %s  promoted %s (old %s); each monitor's first new answer: %s; setup %.1f s\n",
		head, secs(r.writes), secs(r.agreed), r.promoted, r.oldMaster, perMonitor(r.perMon), r.setup.Seconds())
}

func perMonitor(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		if d == 0 {
			parts = append(parts, "-")
		} else {
			parts = append(parts, fmt.Sprintf("%.3f", d.Seconds()))
		}
	}
	return strings.Join(parts, " / ")
}

func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f s", d.Seconds())
}

// stats are the successful runs of one system.
type stats struct {
	ok, total      int
	writes, agreed []time.Duration
}

func collect(results []result, sys benchutil.System) stats {
	var s stats
	for _, r := range results {
		if r.system != sys {
			continue
		}
		s.total++
		if r.err != nil {
			continue
		}
		s.ok++
		s.writes = append(s.writes, r.writes)
		s.agreed = append(s.agreed, r.agreed)
	}
	return s
}

func maxOf(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return slices.Max(ds)
}

func cell(d time.Duration) string {
	if d == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", d.Seconds())
}

// reportLines is the markdown report: machine, table, targets.
func reportLines(results []result, systems []benchutil.System, downAfter time.Duration, machine []string) []string {
	lines := []string{"## Failover benchmark: raftsentinel vs Redis Sentinel", ""}
	for _, m := range machine {
		lines = append(lines, "- "+m)
	}
	lines = append(lines, fmt.Sprintf("- drill: SIGKILL of the master; 1 master + 2 replicas, 3 monitors, quorum 2, down-after %s, failover-timeout 30s, parallel-syncs 1; polling every %s", downAfter, pollEvery), "")
	lines = append(lines,
		"| system | ok runs | (a) kill → replica accepts writes, median (s) | (a) max (s) | (b) kill → all monitors answer new address, median (s) | (b) max (s) |",
		"|---|---|---|---|---|---|")
	st := map[benchutil.System]stats{}
	for _, sys := range systems {
		s := collect(results, sys)
		st[sys] = s
		lines = append(lines, fmt.Sprintf("| %s | %d/%d | %s | %s | %s | %s |",
			sys.Title(), s.ok, s.total, cell(benchutil.Median(s.writes)), cell(maxOf(s.writes)), cell(benchutil.Median(s.agreed)), cell(maxOf(s.agreed))))
	}
	rs, haveRS := st[benchutil.Raftsentinel]
	sn, haveSN := st[benchutil.Sentinel]
	if haveRS && haveSN {
		lines = append(lines, fmt.Sprintf("| ratio raftsentinel / Sentinel (medians) | | %s | | %s | |",
			ratio(benchutil.Median(rs.writes), benchutil.Median(sn.writes)), ratio(benchutil.Median(rs.agreed), benchutil.Median(sn.agreed))))
	}
	lines = append(lines, "")
	if !haveRS {
		return lines
	}
	rsB := benchutil.Median(rs.agreed)
	var targets []string
	limit := downAfter + 300*time.Millisecond
	if rsB == 0 {
		targets = append(targets, "(b) median ≤ down-after + 0.3 s: not measured (no successful run)")
	} else {
		targets = append(targets, fmt.Sprintf("(b) median %.3f s ≤ down-after + 0.3 s = %.3f s: %s", rsB.Seconds(), limit.Seconds(), holds(rsB <= limit)))
	}
	snB := time.Duration(0)
	if haveSN {
		snB = benchutil.Median(sn.agreed)
	}
	if rsB == 0 || snB == 0 {
		targets = append(targets, "(b) median ≤ 0.6 × Sentinel's (b) median: not measured")
	} else {
		l := time.Duration(0.6 * float64(snB))
		targets = append(targets, fmt.Sprintf("(b) median %.3f s ≤ 0.6 × Sentinel's %.3f s = %.3f s: %s", rsB.Seconds(), snB.Seconds(), l.Seconds(), holds(rsB <= l)))
	}
	lines = append(lines, "Targets for raftsentinel: "+strings.Join(targets, "; ")+".")
	return lines
}

func ratio(a, b time.Duration) string {
	if a == 0 || b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", a.Seconds()/b.Seconds())
}

func holds(ok bool) string {
	if ok {
		return "holds"
	}
	return "DOES NOT hold"
}
