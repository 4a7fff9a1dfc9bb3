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
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/safety"
)

const modulePath = "github.com/raftsentinel/raftsentinel"

type options struct {
	failovers       int
	seed            uint64
	downAfter       time.Duration
	failoverTimeout time.Duration
	waitTimeout     time.Duration
	system          string
	mode            string
	out             string
	keep            bool
}

func main() {
	// go-redis logs every failed dial; after a kill those are expected.
	redis.SetLogger(quietLogger{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opt, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "bench-safety:", err)
		return 2
	}
	failed, err := bench(ctx, opt, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "bench-safety:", err)
		return 1
	}
	if failed > 0 {
		hint := ""
		if !opt.keep {
			hint = " (rerun with -keep to keep the monitors' configs and logs)"
		}
		fmt.Fprintf(stderr, "bench-safety: %d drill(s) failed%s\n", failed, hint)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var opt options
	fs := flag.NewFlagSet("bench-safety", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&opt.failovers, "failovers", 5, "failovers per drill")
	fs.Uint64Var(&opt.seed, "seed", 0, "seed of the random pauses before the kills, the same for every drill (0 = from the clock)")
	fs.DurationVar(&opt.downAfter, "down-after", time.Second, "down-after of the master, for both systems")
	fs.DurationVar(&opt.failoverTimeout, "failover-timeout", 5*time.Second,
		"failover-timeout of both systems (raftsentinel also waits this long between two failovers of a master)")
	fs.DurationVar(&opt.waitTimeout, "wait-timeout", 500*time.Millisecond, "timeout of WAIT 1 in the WAIT mode")
	fs.StringVar(&opt.system, "system", "both", "systems to run: both | raftsentinel | sentinel")
	fs.StringVar(&opt.mode, "mode", "both", "acknowledgement modes: both | wait | nowait")
	fs.StringVar(&opt.out, "out", "", "also write the markdown report to this file")
	fs.BoolVar(&opt.keep, "keep", false, "keep the working directory (configs, logs) instead of removing it")
	if err := fs.Parse(args); err != nil {
		return opt, err
	}
	if fs.NArg() > 0 {
		return opt, fmt.Errorf("unexpected arguments %q", fs.Args())
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
	switch opt.system {
	case "both", string(sysRaft), string(sysSentinel):
	default:
		return opt, fmt.Errorf("-system %q: want both, raftsentinel or sentinel", opt.system)
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
	sys     system
	rep     safety.Report
	err     error
	details []string // log lines worth printing with the report
}

// bench runs every drill and prints the report; it returns how many
// drills failed. An error means the benchmark itself could not run.
func bench(ctx context.Context, opt options, w io.Writer) (failed int, err error) {
	for _, name := range []string{"redis-server", "redis-sentinel"} {
		if _, err := redisproc.Binary(name); err != nil {
			return 0, err
		}
	}
	root, err := repoRoot()
	if err != nil {
		return 0, err
	}
	work, err := os.MkdirTemp("", "raftsentinel-bench-safety-")
	if err != nil {
		return 0, fmt.Errorf("working directory: %w", err)
	}
	if opt.keep {
		defer fmt.Fprintf(w, "\nworking directory kept: %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	goBin := goTool()
	bin := filepath.Join(work, "raftsentinel")
	fmt.Fprintf(w, "building %s/cmd/raftsentinel ...\n", modulePath)
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/raftsentinel")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build ./cmd/raftsentinel: %w\n%s", err, out)
	}
	machine := machineLines(ctx, goBin)
	fmt.Fprintln(w)
	for _, l := range machine {
		fmt.Fprintln(w, l)
	}

	systems := []system{sysRaft, sysSentinel}
	if opt.system != "both" {
		systems = []system{system(opt.system)}
	}
	modes := []int{1, 0}
	switch opt.mode {
	case "wait":
		modes = []int{1}
	case "nowait":
		modes = []int{0}
	}
	cfg := topoConfig{bin: bin, downAfter: opt.downAfter, failoverTimeout: opt.failoverTimeout, readyTimeout: 60 * time.Second}
	drillLine := drillDescription(opt)
	fmt.Fprintf(w, "\n%s\n\n", drillLine)

	var results []result
	for _, mode := range modes {
		for _, sys := range systems {
			dir := filepath.Join(work, fmt.Sprintf("%s-%s", sys, strings.ReplaceAll(safety.ModeName(mode), " ", "")))
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
	fmt.Fprintln(w)
	for _, l := range report {
		fmt.Fprintln(w, l)
	}
	if opt.out != "" {
		if err := os.WriteFile(opt.out, []byte(strings.Join(report, "\n")+"\n"), 0o644); err != nil {
			return failed, fmt.Errorf("write -out file: %w", err)
		}
		fmt.Fprintf(w, "\nreport written to %s\n", opt.out)
	}
	return failed, nil
}

func drillDescription(opt options) string {
	return fmt.Sprintf("drill: 1 master + 2 replicas (no persistence), 3 monitors, quorum 2, down-after %s, failover-timeout %s, parallel-syncs 1; "+
		"a go-redis FailoverClient writes seq:<i> without pause (WAIT mode: SET + WAIT 1 %d on one connection); "+
		"%d SIGKILLs of the master, each after a random 0.5–2 s pause once the killed node is a replica again and the new master took writes; seed %d",
		opt.downAfter, opt.failoverTimeout, opt.waitTimeout.Milliseconds(), opt.failovers, opt.seed)
}

// runDrill runs one drill on a fresh topology and prints its progress.
func runDrill(ctx context.Context, cfg topoConfig, opt options, sys system, mode int, dir string, w io.Writer) (res result) {
	res.sys = sys
	res.rep.Mode = safety.ModeName(mode)
	res.rep.Planned = opt.failovers
	prefix := fmt.Sprintf("[%s, %s]", sys.title(), res.rep.Mode)
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
		if sys == sysSentinel {
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
		lines = append(lines, fmt.Sprintf("| %s | %s | %d | %s | %s | %s |", r.sys.title(), r.rep.Mode, r.rep.Writer.Acked, lost, pct, done))
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
		lines = append(lines, fmt.Sprintf("| %s | %s | %d | %d | %d | %d/%d | %v |", r.sys.title(), r.rep.Mode,
			r.rep.Writer.Attempts, r.rep.Writer.SetFailed, r.rep.Writer.WaitShort, best, known, r.rep.LostPerFailover))
	}
	lines = append(lines, "")
	for _, r := range results {
		if r.sys == sysRaft && r.rep.Mode != safety.ModeName(0) {
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

// machineLines describe the machine the numbers come from.
func machineLines(ctx context.Context, goBin string) []string {
	return []string{
		"nproc: " + cmdOutput(ctx, "nproc"),
		"CPU: " + cpuModel(),
		"kernel: " + cmdOutput(ctx, "uname", "-r"),
		"go: " + cmdOutput(ctx, goBin, "version"),
		"redis-server: " + cmdOutput(ctx, "redis-server", "--version"),
		"redis-sentinel: " + cmdOutput(ctx, "redis-sentinel", "--version"),
	}
}

// cmdOutput is the trimmed output of a command, or why there is none.
func cmdOutput(ctx context.Context, name string, args ...string) string {
	if strings.HasPrefix(name, "redis-") {
		if p, err := redisproc.Binary(name); err == nil {
			name = p
		}
	}
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return fmt.Sprintf("unknown (%s: %v)", name, err)
	}
	return strings.TrimSpace(string(out))
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown (no model name in /proc/cpuinfo)"
}

// repoRoot walks up from the working directory to the module root.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module "+modulePath+"\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of %s above %s: run from the repository", modulePath, dir)
		}
	}
}

// goTool is $GOROOT/bin/go when `go run` set GOROOT, else go from PATH.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}
