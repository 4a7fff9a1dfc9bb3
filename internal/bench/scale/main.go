//go:build linux

// Command scale is the scale benchmark of `make bench-scale` (issue 15,
// many masters at Sentinel's cost): raftsentinel and Redis Sentinel, in
// one run, watching a growing number of masters on the same real
// redis-server fleet.
//
// For each size of -sizes it starts a fleet of that many masters with
// -replicas replicas each (in parallel, at most -concurrency processes
// starting at once, every replica in sync before any monitor starts),
// measures the fleet's CPU with no monitor running over -window, then
// runs each system in turn (raftsentinel, then Redis Sentinel) on that
// fleet: -monitors monitors watching every master, the time from their
// start to full discovery, their CPU and RSS and the fleet's CPU over a
// steady-state window, raftsentinel's Raft commits per second and, with
// -kill K, the failover times of K masters killed at once. Between the
// systems the fleet is repaired: killed masters are restarted and rejoin
// as replicas.
//
// The report (markdown, printed, and written with -out) has a table per
// aspect and the ratios raftsentinel / Sentinel. The program exits
// non-zero when a run failed (a monitor that does not start or discover,
// a measurement that fails; masters never failed over are a result, not a
// failure), with the monitors' log tails, or when the benchmark itself
// could not run.
//
// Linux only (process groups with a parent-death signal, /proc).
package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
)

type options struct {
	sizes            []int
	monitors         int
	quorum           int
	replicas         int
	downAfter        time.Duration
	failoverTimeout  time.Duration
	parallelSyncs    int
	window           time.Duration
	settle           time.Duration
	discoveryTimeout time.Duration
	kill             int
	killTimeout      time.Duration
	concurrency      int
	setupTimeout     time.Duration
	system           string
	systems          []benchutil.System // from system
	out              string
	keep             bool
}

func main() {
	benchutil.QuietRedisLogs()
	benchutil.Main(run)
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opt, err := parseFlags(args, stderr)
	if err != nil {
		return benchutil.FlagExit(stderr, "bench-scale", err)
	}
	failed, err := bench(ctx, opt, stdout)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("interrupted; every process it started is stopped: %w", err)
	}
	return benchutil.ExitCode(stderr, "bench-scale", "run", failed, err, opt.keep)
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var opt options
	var sizes string
	fs := benchutil.NewFlagSet("bench-scale", stderr)
	fs.StringVar(&sizes, "sizes", "1,10,100", "comma-separated numbers of masters to sweep, e.g. 1,10,100,300")
	fs.IntVar(&opt.monitors, "monitors", 3, "monitors per system")
	fs.IntVar(&opt.quorum, "quorum", 2, "quorum of every master")
	fs.IntVar(&opt.replicas, "replicas", 1, "replicas of every master")
	fs.DurationVar(&opt.downAfter, "down-after", 5*time.Second, "down-after of every master, for both systems")
	fs.DurationVar(&opt.failoverTimeout, "failover-timeout", time.Minute, "failover-timeout of every master, for both systems")
	fs.IntVar(&opt.parallelSyncs, "parallel-syncs", 1, "parallel-syncs of every master, for both systems")
	fs.DurationVar(&opt.window, "window", 30*time.Second, "steady-state window after discovery (and of the fleet's baseline)")
	fs.DurationVar(&opt.settle, "settle", 2*time.Second, "pause after the fleet is in sync and after full discovery, before a window")
	fs.DurationVar(&opt.discoveryTimeout, "discovery-timeout", 2*time.Minute, "bound of the monitors' start → full discovery; a run that takes longer fails")
	fs.IntVar(&opt.kill, "kill", 0, "after the window, SIGKILL this many masters at once and time their failovers (0: off)")
	fs.DurationVar(&opt.killTimeout, "kill-timeout", time.Minute, "bound of kill → every monitor answers the replica; a master not failed over by then counts as never")
	fs.IntVar(&opt.concurrency, "concurrency", 16, "fleet nodes started (or restarted, repaired) at once")
	fs.DurationVar(&opt.setupTimeout, "setup-timeout", 5*time.Minute, "bound of the fleet's start-up (and of each repair) until every replica is in sync")
	benchutil.SystemFlag(fs, &opt.system)
	fs.StringVar(&opt.out, "out", "", "also write the markdown report to this file")
	fs.BoolVar(&opt.keep, "keep", false, "keep the working directory (configs, logs) instead of removing it")
	if err := benchutil.ParseFlags(fs, args); err != nil {
		return opt, err
	}
	var err error
	if opt.sizes, err = parseSizes(sizes); err != nil {
		return opt, err
	}
	if opt.systems, err = benchutil.Systems(opt.system); err != nil {
		return opt, err
	}
	return opt, opt.check()
}

// check refuses option values the benchmark cannot run with.
func (o options) check() error {
	whole := func(d time.Duration) bool { return d%time.Millisecond == 0 }
	switch {
	case o.monitors < 1:
		return fmt.Errorf("-monitors %d: must be at least 1", o.monitors)
	case o.quorum < 1 || o.quorum > o.monitors:
		return fmt.Errorf("-quorum %d: must be between 1 and -monitors (%d)", o.quorum, o.monitors)
	case o.replicas < 1:
		return fmt.Errorf("-replicas %d: must be at least 1 (a killed master fails over to one)", o.replicas)
	case o.downAfter < 100*time.Millisecond || !whole(o.downAfter):
		return fmt.Errorf("-down-after %s: must be at least 100ms, in whole milliseconds (Sentinel's unit)", o.downAfter)
	case o.failoverTimeout <= 0 || !whole(o.failoverTimeout):
		return fmt.Errorf("-failover-timeout %s: must be positive, in whole milliseconds", o.failoverTimeout)
	case o.parallelSyncs < 1:
		return fmt.Errorf("-parallel-syncs %d: must be at least 1", o.parallelSyncs)
	case o.window <= 0:
		return fmt.Errorf("-window %s: must be positive", o.window)
	case o.settle < 0:
		return fmt.Errorf("-settle %s: must not be negative", o.settle)
	case o.discoveryTimeout <= 0 || o.killTimeout <= 0 || o.setupTimeout <= 0:
		return fmt.Errorf("-discovery-timeout %s, -kill-timeout %s, -setup-timeout %s: must be positive", o.discoveryTimeout, o.killTimeout, o.setupTimeout)
	case o.kill < 0:
		return fmt.Errorf("-kill %d: must not be negative", o.kill)
	case o.concurrency < 1:
		return fmt.Errorf("-concurrency %d: must be at least 1", o.concurrency)
	}
	return nil
}

// parseSizes reads -sizes: positive numbers separated by commas, in the
// order given.
func parseSizes(v string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-sizes %q: %q is not a positive number of masters", v, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// group is the monitors' options of a run on masters under dir.
func (o options) group(bin, dir string, masters []benchutil.MasterSpec) benchutil.GroupOptions {
	return benchutil.GroupOptions{
		Dir: dir, Size: o.monitors, Masters: masters, Quorum: o.quorum,
		DownAfter: o.downAfter, FailoverTimeout: o.failoverTimeout, ParallelSyncs: o.parallelSyncs,
		ReadyTimeout: time.Minute, Bin: bin, LogLevel: "info",
	}
}

// bench runs the sweep and prints the report; it returns how many runs
// failed. An error means the benchmark itself could not go on (the report
// of what ran is printed first).
func bench(ctx context.Context, opt options, w io.Writer) (failed int, err error) {
	if err := benchutil.NeedRedis("redis-server", "redis-sentinel"); err != nil {
		return 0, err
	}
	ws, err := benchutil.NewWorkspace(ctx, w, "raftsentinel-bench-scale-", opt.keep)
	if err != nil {
		return 0, err
	}
	defer ws.Close()

	machine := []string{"raftsentinel: " + benchutil.SourceVersion(ctx, ws.Root)}
	machine = append(machine, benchutil.MachineLines(ctx, ws.GoBin, "redis-server", "redis-sentinel")...)
	machine = append(machine, "load average at start: "+benchutil.LoadAverage())
	benchutil.PrintLines(w, machine)
	fmt.Fprintf(w, "\nsweep: sizes %v masters × %d replica(s); %d monitors per system, quorum %d, down-after %s; window %s; kill %d\n",
		opt.sizes, opt.replicas, opt.monitors, opt.quorum, opt.downAfter, opt.window, opt.kill)

	var sizes []sizeResult
	for _, n := range opt.sizes {
		sr, serr := runSize(ctx, opt, ws, n, w)
		sizes = append(sizes, sr)
		failed += sr.failed()
		if serr != nil {
			err = fmt.Errorf("%d masters: %w", n, serr)
			break
		}
	}
	report := reportLines(reportInput{machine: machine, loadEnd: benchutil.LoadAverage(), opt: opt, sizes: sizes})
	if werr := benchutil.WriteReport(w, report, opt.out); err == nil {
		err = werr
	}
	return failed, err
}

// runSize starts the fleet of n masters, measures its baseline and runs
// every system on it. The error is for a fleet that could not start or be
// repaired; a failed run is in the result.
func runSize(ctx context.Context, opt options, ws *benchutil.Workspace, n int, w io.Writer) (sizeResult, error) {
	sr := sizeResult{size: n, nodes: n * (1 + opt.replicas)}
	dir := filepath.Join(ws.Dir, fmt.Sprintf("size%d", n))
	fmt.Fprintf(w, "\n%d master(s): starting %d redis-server ...\n", n, sr.nodes)
	start := time.Now()
	f, err := startFleet(ctx, filepath.Join(dir, "fleet"), n, opt.replicas, opt.concurrency, opt.setupTimeout)
	defer f.close()
	if err != nil {
		return sr, fmt.Errorf("fleet: %w", err)
	}
	sr.startup = time.Since(start)
	if err := benchutil.Sleep(ctx, opt.settle); err != nil {
		return sr, err
	}
	if sr.baseline, err = fleetBaseline(ctx, f, opt.window); err != nil {
		return sr, fmt.Errorf("fleet baseline: %w", err)
	}
	fmt.Fprintf(w, "  fleet in sync after %.2f s; its CPU with no monitor over %s: %s%% of a core\n", sr.startup.Seconds(), opt.window, pct(sr.baseline))
	for _, sys := range opt.systems {
		res, err := runSystem(ctx, opt, ws.Bin, sys, f, filepath.Join(dir, string(sys)))
		printRun(w, res, sr.baseline)
		sr.runs = append(sr.runs, res)
		if err != nil {
			return sr, err
		}
	}
	return sr, nil
}

// printRun prints one run's line (and, for a failed run, the error and
// the monitors' log tails).
func printRun(w io.Writer, r runResult, baseline float64) {
	line := fmt.Sprintf("  %-14s discovery %s s", r.sys.Title(), secs(r.discovery, 1))
	if len(r.usage) > 0 {
		line += fmt.Sprintf("; CPU (%% of a core) %s; RSS (MiB) %s; fleet CPU caused %s%%",
			perMonitor(r.usage, func(u monitorUsage) string { return pct(u.core) }),
			perMonitor(r.usage, func(u monitorUsage) string { return mib(u.rssKiB) }), pct(r.fleetCore-baseline))
		if r.sys == benchutil.Raftsentinel {
			line += fmt.Sprintf("; %.2f Raft commits/s", r.commitsPerSec)
		}
	}
	if len(r.kills) > 0 {
		st := summarize(r.kills)
		line += fmt.Sprintf("; kill %d: median %s s, max %s s, %d within %s, %d never", st.killed, secs(st.median, 3), secs(st.max, 3), st.within, withinBound, st.killed-st.failedOver)
	}
	fmt.Fprintln(w, line)
	for _, n := range r.notes {
		fmt.Fprintf(w, "    note: %s\n", n)
	}
	if r.err != nil {
		fmt.Fprintf(w, "    FAILED: %v\n", r.err)
		if r.logTail != "" {
			fmt.Fprintf(w, "    monitor logs (tail):\n%s", r.logTail)
		}
	}
}
