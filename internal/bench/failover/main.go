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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

const modulePath = "github.com/raftsentinel/raftsentinel"

// minRuns is the smallest number of runs per system without -quick.
const minRuns = 5

type options struct {
	runs      int
	downAfter time.Duration
	out       string
	system    string
	quick     bool
	keep      bool
	timeout   time.Duration
}

func main() {
	// go-redis logs every failed dial; after the kill those are expected.
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
		fmt.Fprintln(stderr, "bench-failover:", err)
		return 2
	}
	failed, err := bench(ctx, opt, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "bench-failover:", err)
		return 1
	}
	if failed > 0 {
		hint := ""
		if !opt.keep {
			hint = " (rerun with -keep to keep the monitors' configs and logs)"
		}
		fmt.Fprintf(stderr, "bench-failover: %d run(s) failed%s\n", failed, hint)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var opt options
	fs := flag.NewFlagSet("bench-failover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&opt.runs, "runs", minRuns, fmt.Sprintf("runs per system (at least %d unless -quick)", minRuns))
	fs.DurationVar(&opt.downAfter, "down-after", time.Second, "down-after of the master, for both systems")
	fs.StringVar(&opt.out, "out", "", "also write the markdown report to this file")
	fs.StringVar(&opt.system, "system", "both", "systems to run: both | raftsentinel | sentinel")
	fs.BoolVar(&opt.quick, "quick", false, fmt.Sprintf("allow fewer than %d runs (1 unless -runs is given)", minRuns))
	fs.DurationVar(&opt.timeout, "timeout", 30*time.Second, "per run: kill → both measurements done; a run that takes longer fails")
	fs.BoolVar(&opt.keep, "keep", false, "keep the working directory (configs, logs) instead of removing it")
	if err := fs.Parse(args); err != nil {
		return opt, err
	}
	if fs.NArg() > 0 {
		return opt, fmt.Errorf("unexpected arguments %q", fs.Args())
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
	switch opt.system {
	case "both", string(sysRaft), string(sysSentinel):
	default:
		return opt, fmt.Errorf("-system %q: want both, raftsentinel or sentinel", opt.system)
	}
	return opt, nil
}

// bench runs the drills and prints the report; it returns how many runs
// failed. An error means the benchmark itself could not run.
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
	work, err := os.MkdirTemp("", "raftsentinel-bench-")
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
	var systems []system
	switch opt.system {
	case "both":
		systems = []system{sysRaft, sysSentinel}
	default:
		systems = []system{system(opt.system)}
	}
	cfg := drillConfig{
		bin:             bin,
		downAfter:       opt.downAfter,
		failoverTimeout: 30 * time.Second,
		readyTimeout:    60 * time.Second,
		runTimeout:      opt.timeout,
	}
	fmt.Fprintf(w, "\ndrill: 1 master + 2 replicas, 3 monitors, quorum 2, down-after %s, failover-timeout %s, parallel-syncs 1; %d run(s) per system, alternating\n",
		cfg.downAfter, cfg.failoverTimeout, opt.runs)
	fmt.Fprintln(w, "(a) = kill → a replica accepts SET; (b) = kill → all 3 monitors answer GET-MASTER-ADDR-BY-NAME with the same new address")
	fmt.Fprintln(w)

	var results []result
	for i := 1; i <= opt.runs; i++ {
		for _, sys := range systems {
			dir := filepath.Join(work, fmt.Sprintf("run%02d-%s", i, sys))
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

	report := reportLines(results, systems, opt.downAfter, machine)
	fmt.Fprintln(w)
	for _, l := range report {
		fmt.Fprintln(w, l)
	}
	if opt.out != "" {
		text := strings.Join(report, "\n") + "\n"
		if err := os.WriteFile(opt.out, []byte(text), 0o644); err != nil {
			return failed, fmt.Errorf("write -out file: %w", err)
		}
		fmt.Fprintf(w, "\nreport written to %s\n", opt.out)
	}
	return failed, nil
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

func collect(results []result, sys system) stats {
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

// median of ds (mean of the two middle values for an even count); 0 when
// empty.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
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
func reportLines(results []result, systems []system, downAfter time.Duration, machine []string) []string {
	lines := []string{"## Failover benchmark: raftsentinel vs Redis Sentinel", ""}
	for _, m := range machine {
		lines = append(lines, "- "+m)
	}
	lines = append(lines, fmt.Sprintf("- drill: SIGKILL of the master; 1 master + 2 replicas, 3 monitors, quorum 2, down-after %s, failover-timeout 30s, parallel-syncs 1; polling every %s", downAfter, pollEvery), "")
	lines = append(lines,
		"| system | ok runs | (a) kill → replica accepts writes, median (s) | (a) max (s) | (b) kill → all monitors answer new address, median (s) | (b) max (s) |",
		"|---|---|---|---|---|---|")
	st := map[system]stats{}
	for _, sys := range systems {
		s := collect(results, sys)
		st[sys] = s
		name := "raftsentinel"
		if sys == sysSentinel {
			name = "Redis Sentinel"
		}
		lines = append(lines, fmt.Sprintf("| %s | %d/%d | %s | %s | %s | %s |",
			name, s.ok, s.total, cell(median(s.writes)), cell(maxOf(s.writes)), cell(median(s.agreed)), cell(maxOf(s.agreed))))
	}
	rs, haveRS := st[sysRaft]
	sn, haveSN := st[sysSentinel]
	if haveRS && haveSN {
		lines = append(lines, fmt.Sprintf("| ratio raftsentinel / Sentinel (medians) | | %s | | %s | |",
			ratio(median(rs.writes), median(sn.writes)), ratio(median(rs.agreed), median(sn.agreed))))
	}
	lines = append(lines, "")
	if !haveRS {
		return lines
	}
	rsB := median(rs.agreed)
	var targets []string
	limit := downAfter + 300*time.Millisecond
	if rsB == 0 {
		targets = append(targets, "(b) median ≤ down-after + 0.3 s: not measured (no successful run)")
	} else {
		targets = append(targets, fmt.Sprintf("(b) median %.3f s ≤ down-after + 0.3 s = %.3f s: %s", rsB.Seconds(), limit.Seconds(), holds(rsB <= limit)))
	}
	snB := time.Duration(0)
	if haveSN {
		snB = median(sn.agreed)
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

// machineLines describe the machine the numbers come from.
func machineLines(ctx context.Context, goBin string) []string {
	return []string{
		"nproc: " + cmdOutput(ctx, "nproc"),
		"CPU: " + cpuModel(),
		"kernel: " + cmdOutput(ctx, "uname", "-r"),
		"go: " + cmdOutput(ctx, goBin, "version"),
		"redis-server: " + cmdOutput(ctx, "redis-server", "--version"),
	}
}

// cmdOutput is the trimmed output of a command, or why it has none.
func cmdOutput(ctx context.Context, name string, args ...string) string {
	if name == "redis-server" {
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

// repoRoot walks up from the working directory to the module root (where
// `go run` runs when invoked by make).
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

// goTool is the go command: $GOROOT/bin/go when `go run` set GOROOT (the
// toolchain running us), else go from PATH.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// permanent marks an error poll must not retry.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// poll calls fn until it succeeds, returns a permanent error, timeout
// passes (then the last error is returned) or ctx ends.
func poll(ctx context.Context, timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		err := fn()
		if err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) || time.Now().After(deadline) {
			return err
		}
		t.Reset(20 * time.Millisecond)
	}
}
