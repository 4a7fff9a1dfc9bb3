//go:build linux

// Command safety is the lost-writes benchmark of `make bench-safety`: the
// same drill against raftsentinel and against Redis Sentinel, in one run.
//
// Each drill starts a fresh topology on loopback — a redis-server master,
// two replicas and three monitors (quorum 2): three processes of the built
// raftsentinel binary, or three Debian redis-sentinel processes — and a
// client writing seq:<i> = i without pause through go-redis's
// FailoverClient, either plain SETs or each SET followed by WAIT 1 on the
// same connection. Meanwhile the master is SIGKILLed -failovers times (a
// random pause, seeded by -seed, before each kill; the killed node is
// restarted and must become a replica again before the next). Then every
// acknowledged write is looked up on the final master.
//
// The report is a markdown table: system, mode, acknowledged writes, lost,
// lost %, failovers completed. The program exits non-zero only when a drill
// itself failed (setup, a failover that did not happen in time); lost
// writes are a result, not a failure.
//
// Linux only (process groups with a parent-death signal, /proc/cpuinfo).
package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
	"github.com/raftsentinel/raftsentinel/internal/safety"
)

type options struct {
	failovers       int
	seed            uint64
	downAfter       time.Duration
	failoverTimeout time.Duration
	waitTimeout     time.Duration
	system          string
	systems         []benchutil.System // from system
	mode            string
	out             string
	keep            bool
}

func main() {
	benchutil.QuietRedisLogs()
	benchutil.Main(run)
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opt, err := parseFlags(args, stderr)
	if err != nil {
		return benchutil.FlagExit(stderr, "bench-safety", err)
	}
	failed, err := bench(ctx, opt, stdout)
	return benchutil.ExitCode(stderr, "bench-safety", "drill", failed, err, opt.keep)
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var opt options
	fs := benchutil.NewFlagSet("bench-safety", stderr)
	fs.IntVar(&opt.failovers, "failovers", 5, "failovers per drill")
	fs.Uint64Var(&opt.seed, "seed", 0, "seed of the random pauses before the kills, the same for every drill (0 = from the clock)")
	fs.DurationVar(&opt.downAfter, "down-after", time.Second, "down-after of the master, for both systems")
	fs.DurationVar(&opt.failoverTimeout, "failover-timeout", 5*time.Second,
		"failover-timeout of both systems (raftsentinel also waits this long between two failovers of a master)")
	fs.DurationVar(&opt.waitTimeout, "wait-timeout", 500*time.Millisecond, "timeout of WAIT 1 in the WAIT mode")
	benchutil.SystemFlag(fs, &opt.system)
	fs.StringVar(&opt.mode, "mode", "both", "acknowledgement modes: both | wait | nowait")
	fs.StringVar(&opt.out, "out", "", "also write the markdown report to this file")
	fs.BoolVar(&opt.keep, "keep", false, "keep the working directory (configs, logs) instead of removing it")
	if err := benchutil.ParseFlags(fs, args); err != nil {
		return opt, err
	}
	switch {
	case opt.failovers < 1:
		return opt, fmt.Errorf("-failovers %d: must be at least 1", opt.failovers)
	case opt.downAfter < 100*time.Millisecond || opt.downAfter%time.Millisecond != 0:
		return opt, fmt.Errorf("-down-after %s: must be a whole number of milliseconds, at least 100ms", opt.downAfter)
	case opt.failoverTimeout < time.Second || opt.failoverTimeout%time.Millisecond != 0:
		return opt, fmt.Errorf("-failover-timeout %s: must be a whole number of milliseconds, at least 1s", opt.failoverTimeout)
	case opt.waitTimeout < time.Millisecond:
		return opt, fmt.Errorf("-wait-timeout %s: must be at least 1ms", opt.waitTimeout)
	}
	var err error
	if opt.systems, err = benchutil.Systems(opt.system); err != nil {
		return opt, err
	}
	switch opt.mode {
	case "both", "wait", "nowait":
	default:
		return opt, fmt.Errorf("-mode %q: want both, wait or nowait", opt.mode)
	}
	if opt.seed == 0 {
		opt.seed = uint64(time.Now().UnixNano())
	}
	return opt, nil
}

// result is one drill.
type result struct {
	sys     benchutil.System
	rep     safety.Report
	err     error
	details []string // log lines worth printing with the report
}

// bench runs every drill and prints the report; it returns how many
// drills failed. An error means the benchmark itself could not run.
func bench(ctx context.Context, opt options, w io.Writer) (failed int, err error) {
	if err := benchutil.NeedRedis("redis-server", "redis-sentinel"); err != nil {
		return 0, err
	}
	ws, err := benchutil.NewWorkspace(ctx, w, "raftsentinel-bench-safety-", opt.keep)
	if err != nil {
		return 0, err
	}
	defer ws.Close()
	machine := benchutil.MachineLines(ctx, ws.GoBin, "redis-server", "redis-sentinel")
	benchutil.PrintLines(w, machine)

	modes := []int{1, 0}
	switch opt.mode {
	case "wait":
		modes = []int{1}
	case "nowait":
		modes = []int{0}
	}
	// raftsentinel's log: text, as grepLogs reads it; level warn keeps
	// "failover started ... offset=" and "replica promoted".
	cfg := benchutil.GroupOptions{Bin: ws.Bin, MasterName: masterName, DownAfter: opt.downAfter, FailoverTimeout: opt.failoverTimeout,
		ReadyTimeout: 60 * time.Second, LogLevel: "warn", LogFormat: "text"}
	drillLine := drillDescription(opt)
	fmt.Fprintf(w, "\n%s\n\n", drillLine)

	var results []result
	for _, mode := range modes {
		for _, sys := range opt.systems {
			dir := filepath.Join(ws.Dir, fmt.Sprintf("%s-%s", sys, strings.ReplaceAll(safety.ModeName(mode), " ", "")))
			r := runDrill(ctx, cfg, opt, sys, mode, dir, w)
			if ctx.Err() != nil {
				return 0, fmt.Errorf("interrupted during the %s %s drill: %w", sys, safety.ModeName(mode), ctx.Err())
			}
			results = append(results, r)
			if r.err != nil {
				failed++
			}
		}
	}

	report := reportLines(results, machine, drillLine)
	return failed, benchutil.WriteReport(w, report, opt.out)
}

func drillDescription(opt options) string {
	return fmt.Sprintf("drill: 1 master + 2 replicas (no persistence), 3 monitors, quorum 2, down-after %s, failover-timeout %s, parallel-syncs 1; "+
		"a go-redis FailoverClient writes seq:<i> without pause (WAIT mode: SET + WAIT 1 %d on one connection); "+
		"%d SIGKILLs of the master, each after a random 0.5–2 s pause once the killed node is a replica again and the new master took writes; seed %d",
		opt.downAfter, opt.failoverTimeout, opt.waitTimeout.Milliseconds(), opt.failovers, opt.seed)
}

// runDrill runs one drill on a fresh topology and prints its progress.
func runDrill(ctx context.Context, cfg benchutil.GroupOptions, opt options, sys benchutil.System, mode int, dir string, w io.Writer) (res result) {
	res.sys = sys
	res.rep.Mode = safety.ModeName(mode)
	res.rep.Planned = opt.failovers
	prefix := fmt.Sprintf("[%s, %s]", sys.Title(), res.rep.Mode)
	fmt.Fprintf(w, "%s starting\n", prefix)
	topo, err := startTopology(ctx, cfg, sys, dir)
	defer func() {
		if cerr := topo.close(); cerr != nil && res.err == nil {
			res.err = fmt.Errorf("cleanup: %w", cerr)
		}
		if res.err != nil {
			fmt.Fprintf(w, "%s FAILED: %v\n", prefix, res.err)
		}
	}()
	if err != nil {
		res.err = fmt.Errorf("setup: %w", err)
		return res
	}
	res.rep, res.err = safety.Drill(ctx, safety.DrillOptions{
		Target:       topo.target(),
		WaitReplicas: mode,
		WaitTimeout:  opt.waitTimeout,
		Driver: safety.DriverOptions{
			Failovers: opt.failovers,
			Seed:      opt.seed,
			Logf: func(format string, args ...any) {
				fmt.Fprintf(w, "%s %s\n", prefix, fmt.Sprintf(format, args...))
			},
		},
	})
	r := res.rep
	fmt.Fprintf(w, "%s %d writes attempted, %d acknowledged (SET failed %d, WAIT short %d), %d lost on final master %s; lost per failover %v; %d/%d failovers in %.1f s\n",
		prefix, r.Writer.Attempts, r.Writer.Acked, r.Writer.SetFailed, r.Writer.WaitShort, r.Verify.Lost, r.FinalMaster,
		r.LostPerFailover, r.Completed, r.Planned, r.Duration.Seconds())
	if r.Verify.Lost > 0 || res.err != nil {
		words := []string{`msg="failover started"`, `msg="replica promoted"`, `msg="failover blocked"`, `msg="failover aborted"`}
		if sys == benchutil.Sentinel {
			words = []string{"+selected-slave", "+promoted-slave", "+switch-master", "-failover-abort", "+convert-to-slave"}
		}
		res.details = topo.grepLogs(words...)
		if r.Verify.Lost > 0 {
			fmt.Fprintf(w, "%s first lost indices: %v\n", prefix, r.Verify.LostIdx[:min(20, len(r.Verify.LostIdx))])
		}
		for _, l := range res.details {
			fmt.Fprintf(w, "%s   %s\n", prefix, l)
		}
	}
	return res
}

// reportLines is the markdown report.
func reportLines(results []result, machine []string, drillLine string) []string {
	lines := []string{"## Lost-writes benchmark: raftsentinel vs Redis Sentinel", ""}
	for _, m := range machine {
		lines = append(lines, "- "+m)
	}
	lines = append(lines, "- "+drillLine, "",
		"| system | mode | acknowledged writes | lost | lost % | failovers completed |",
		"|---|---|---|---|---|---|")
	for _, r := range results {
		lost := fmt.Sprint(r.rep.Verify.Lost)
		pct := fmt.Sprintf("%.4f", r.rep.LostPercent())
		if !r.rep.Verified {
			lost, pct = "not verified", "n/a"
		}
		done := fmt.Sprintf("%d/%d", r.rep.Completed, r.rep.Planned)
		if r.err != nil {
			done += " (drill failed)"
		}
		lines = append(lines, fmt.Sprintf("| %s | %s | %d | %s | %s | %s |", r.sys.Title(), r.rep.Mode, r.rep.Writer.Acked, lost, pct, done))
	}
	lines = append(lines, "",
		"| system | mode | writes attempted | SET failed | SET ok, WAIT short | promoted replica had the highest offset at the kill | lost per failover (attempted before kill 1, 2, …, after the last) |",
		"|---|---|---|---|---|---|---|")
	for _, r := range results {
		best, known := 0, 0
		for _, f := range r.rep.Failovers {
			if b, k := f.PromotedBest(); k {
				known++
				if b {
					best++
				}
			}
		}
		lines = append(lines, fmt.Sprintf("| %s | %s | %d | %d | %d | %d/%d | %v |", r.sys.Title(), r.rep.Mode,
			r.rep.Writer.Attempts, r.rep.Writer.SetFailed, r.rep.Writer.WaitShort, best, known, r.rep.LostPerFailover))
	}
	lines = append(lines, "")
	for _, r := range results {
		if r.sys == benchutil.Raftsentinel && r.rep.Mode != safety.ModeName(0) {
			verdict := "holds"
			switch {
			case !r.rep.Verified:
				verdict = "not measured"
			case r.rep.Verify.Lost > 0:
				verdict = "DOES NOT hold"
			}
			lines = append(lines, fmt.Sprintf("Target for raftsentinel: 0 acknowledged writes lost with %s: %s (%d lost).", r.rep.Mode, verdict, r.rep.Verify.Lost))
		}
	}
	return lines
}
