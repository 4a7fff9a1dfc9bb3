//go:build linux

// Command protocol is the protocol benchmark of `make bench-protocol`:
// redis-benchmark against raftsentinel and against Redis Sentinel, in one
// run, on the two commands clients send most — SENTINEL
// GET-MASTER-ADDR-BY-NAME and PING — without and with pipelining.
//
// Two topologies run side by side on loopback, each a redis-server master
// with one replica watched by three monitors (quorum 2): three raftsentinel
// processes of the freshly built binary, and three redis-sentinel
// processes. Once every monitor answers GET-MASTER-ADDR-BY-NAME and knows
// the replica and the two other monitors, redis-benchmark is pointed at one
// monitor of each system (for raftsentinel a Raft follower, plus the leader
// for reference). The systems alternate measurement by measurement, each
// measurement is repeated -runs times and the report gives medians and the
// ratio raftsentinel / Sentinel, then the resident memory (VmRSS) of the
// measured monitors, read from /proc after warm-up and after the benchmark.
//
// The program exits non-zero only when the benchmark could not run (setup,
// a failed redis-benchmark, a wrong reply); a missed target is reported,
// not an error.
//
// Linux only (process groups with a parent-death signal, /proc).
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

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

const modulePath = "github.com/raftsentinel/raftsentinel"

type options struct {
	runs     int
	requests int
	clients  int
	out      string
	leader   bool
	keep     bool
	settle   time.Duration
	perfDir  string
	perfFreq int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opt, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "bench-protocol:", err)
		return 2
	}
	if err := bench(ctx, opt, stdout); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "bench-protocol: interrupted; every process it started is stopped")
			return 1
		}
		hint := ""
		if !opt.keep {
			hint = " (rerun with -keep to keep the monitors' configs and logs)"
		}
		fmt.Fprintf(stderr, "bench-protocol: %v%s\n", err, hint)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var opt options
	fs := flag.NewFlagSet("bench-protocol", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&opt.runs, "runs", 3, "repetitions of every measurement (the report gives the median)")
	fs.IntVar(&opt.requests, "n", 200000, "requests per redis-benchmark measurement (redis-benchmark -n)")
	fs.IntVar(&opt.clients, "c", 50, "parallel connections of redis-benchmark (redis-benchmark -c)")
	fs.StringVar(&opt.out, "out", "", "also write the markdown report to this file")
	fs.BoolVar(&opt.leader, "leader", true, "also measure raftsentinel's Raft leader (for reference; the comparison uses a follower)")
	fs.DurationVar(&opt.settle, "settle", 2*time.Second, "pause between the topologies being ready and the first RSS reading")
	fs.StringVar(&opt.perfDir, "perf", "", "after the measurements, run perf stat (follower and Sentinel) and perf record -g (follower) under each load, writing into `dir`")
	fs.IntVar(&opt.perfFreq, "perf-freq", 999, "sampling frequency of -perf (Hz)")
	fs.BoolVar(&opt.keep, "keep", false, "keep the working directory (configs, logs) instead of removing it")
	if err := fs.Parse(args); err != nil {
		return opt, err
	}
	if fs.NArg() > 0 {
		return opt, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case opt.runs < 1:
		return opt, fmt.Errorf("-runs %d: must be at least 1", opt.runs)
	case opt.requests < 1000:
		return opt, fmt.Errorf("-n %d: must be at least 1000", opt.requests)
	case opt.clients < 1:
		return opt, fmt.Errorf("-c %d: must be at least 1", opt.clients)
	case opt.settle < 0:
		return opt, fmt.Errorf("-settle %s: must not be negative", opt.settle)
	case opt.perfFreq < 1:
		return opt, fmt.Errorf("-perf-freq %d: must be positive", opt.perfFreq)
	}
	return opt, nil
}

// bench starts both topologies, measures and prints the report. An error
// means the benchmark could not run (or a measurement failed).
func bench(ctx context.Context, opt options, w io.Writer) (err error) {
	for _, name := range []string{"redis-server", "redis-sentinel", "redis-benchmark"} {
		if _, err := redisproc.Binary(name); err != nil {
			return err
		}
	}
	if opt.perfDir != "" {
		if _, err := exec.LookPath("perf"); err != nil {
			return fmt.Errorf("-perf: %w (apt-get install -y linux-perf)", err)
		}
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "raftsentinel-bench-protocol-")
	if err != nil {
		return fmt.Errorf("working directory: %w", err)
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
		return fmt.Errorf("go build ./cmd/raftsentinel: %w\n%s", err, out)
	}

	machine := machineLines(ctx, goBin, root)
	fmt.Fprintln(w)
	for _, l := range machine {
		fmt.Fprintln(w, l)
	}

	// Both topologies stay up for the whole run, so each system is measured
	// with the other one idling beside it, as it would be in the other's
	// measurements.
	fmt.Fprintln(w, "\nstarting: per system 1 master + 1 replica, 3 monitors (quorum 2) ...")
	rs, err := startGroup(ctx, sysRaft, bin, filepath.Join(work, "raftsentinel-topology"))
	if rs != nil {
		defer func() { err = errors.Join(err, rs.close()) }()
	}
	if err != nil {
		return withLogs(err, rs)
	}
	sn, err := startGroup(ctx, sysSentinel, bin, filepath.Join(work, "sentinel-topology"))
	if sn != nil {
		defer func() { err = errors.Join(err, sn.close()) }()
	}
	if err != nil {
		return withLogs(err, sn)
	}
	for _, g := range []*group{rs, sn} {
		if err := poll(ctx, readyTimeout, func() error { return g.ready(ctx) }); err != nil {
			return withLogs(fmt.Errorf("%s not ready after %s: %w", g.sys, readyTimeout, err), g)
		}
	}
	leader, err := rs.raftLeader()
	if err != nil {
		return withLogs(err, rs)
	}
	follower := rs.firstOther(leader)
	targets := []target{
		{label: labelFollower, sys: sysRaft, mon: follower},
		{label: labelSentinel, sys: sysSentinel, mon: sn.monitors[0]},
	}
	if opt.leader {
		targets = append(targets, target{label: labelLeader, sys: sysRaft, mon: leader})
	}
	for _, t := range targets {
		fmt.Fprintf(w, "  %-22s %s (%s, pid %d)\n", t.label+":", t.mon.addr, t.mon.name, t.mon.pid())
	}

	if opt.settle > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(opt.settle):
		}
	}
	rssIdle, err := readRSSAll(targets)
	if err != nil {
		return err
	}

	groups := map[system]*group{sysRaft: rs, sysSentinel: sn}
	cfg := benchConfig{requests: opt.requests, clients: opt.clients}
	fmt.Fprintf(w, "\nwarm-up: %d requests of each case against each target (not counted)\n", warmupRequests(opt.requests))
	for _, c := range cases {
		for _, t := range targets {
			wc := cfg
			wc.requests = warmupRequests(opt.requests)
			if _, err := runCase(ctx, wc, t, c); err != nil {
				return withLogs(fmt.Errorf("warm-up %s on %s: %w", c, t.label, err), groups[t.sys])
			}
		}
	}
	rssWarm, err := readRSSAll(targets)
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "\nmeasuring: redis-benchmark -c %d -n %d, %d run(s) per measurement, targets alternating\n", opt.clients, opt.requests, opt.runs)
	samples := map[sampleKey][]sample{}
	for i := 0; i < opt.runs; i++ {
		for ci, c := range cases {
			// Rotate the order of the targets so neither system is always
			// measured first (or right after the other).
			for k := range targets {
				t := targets[(i+ci+k)%len(targets)]
				smp, err := runCase(ctx, cfg, t, c)
				if err != nil {
					return withLogs(fmt.Errorf("run %d, %s on %s: %w", i+1, c, t.label, err), groups[t.sys])
				}
				key := sampleKey{c.String(), t.label}
				samples[key] = append(samples[key], smp)
				fmt.Fprintf(w, "  run %d/%d  %-44s %-22s %10.0f req/s  %6.2f µs CPU/req\n", i+1, opt.runs, c, t.label, smp.rps, smp.cpuUS)
			}
		}
	}
	rssAfter, err := readRSSAll(targets)
	if err != nil {
		return err
	}
	leaderAfter, lerr := rs.raftLeader()
	if lerr != nil || leaderAfter.name != leader.name {
		fmt.Fprintf(w, "\nWARNING: the Raft leader changed during the run (%s before, %v after): the follower/leader labels may be off\n", leader.name, describeLeader(leaderAfter, lerr))
	}
	// Under load a monitor may have seen a probe time out; that is worth a
	// note, not the loss of the measurements.
	for _, g := range []*group{rs, sn} {
		if err := g.ready(ctx); err != nil {
			fmt.Fprintf(w, "\nWARNING: %s after the benchmark: %v\n", g.sys, err)
		}
	}

	report := reportLines(reportInput{
		machine: machine, opt: opt, targets: targets, leader: leader.name, follower: follower.name,
		samples: samples, rss: [3]map[string]memory{rssIdle, rssWarm, rssAfter}, loadEnd: loadAverage(),
	})
	fmt.Fprintln(w)
	for _, l := range report {
		fmt.Fprintln(w, l)
	}
	if opt.out != "" {
		text := strings.Join(report, "\n") + "\n"
		if err := os.WriteFile(opt.out, []byte(text), 0o644); err != nil {
			return fmt.Errorf("write -out file: %w", err)
		}
		fmt.Fprintf(w, "\nreport written to %s\n", opt.out)
	}

	if opt.perfDir != "" {
		if err := recordPerf(ctx, w, opt, cfg, targets[0], targets[1]); err != nil {
			if ctx.Err() == nil {
				return withLogs(err, rs)
			}
			return err
		}
	}
	return nil
}

func describeLeader(m *monitor, err error) string {
	if err != nil {
		return err.Error()
	}
	return m.name
}

// warmupRequests is the size of the uncounted warm-up pass of each case.
func warmupRequests(n int) int { return max(n/10, 1000) }

// withLogs appends the tail of g's monitor logs to err.
func withLogs(err error, g *group) error {
	if g == nil {
		return err
	}
	if tail := g.logTail(15); tail != "" {
		return fmt.Errorf("%w\nmonitor logs (tail):\n%s", err, tail)
	}
	return err
}

// machineLines describe the machine (and the raftsentinel source) the
// numbers come from.
func machineLines(ctx context.Context, goBin, root string) []string {
	return []string{
		"raftsentinel: " + sourceVersion(ctx, root),
		"nproc: " + cmdOutput(ctx, "nproc"),
		"CPU: " + cpuModel(),
		"kernel: " + cmdOutput(ctx, "uname", "-r"),
		"go: " + cmdOutput(ctx, goBin, "version"),
		"redis-server: " + cmdOutput(ctx, "redis-server", "--version"),
		"redis-benchmark: " + cmdOutput(ctx, "redis-benchmark", "--version"),
		"load average at start: " + loadAverage(),
	}
}

// sourceVersion is the commit the benchmarked binary was built from, and
// whether tracked files had uncommitted changes.
func sourceVersion(ctx context.Context, root string) string {
	head, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return fmt.Sprintf("unknown commit (git: %v)", err)
	}
	v := "commit " + strings.TrimSpace(string(head))
	status, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil && len(bytes.TrimSpace(status)) > 0 {
		v += " with uncommitted changes"
	}
	return v
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cmdOutput is the trimmed output of a command, or why it has none.
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
