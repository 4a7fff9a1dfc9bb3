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
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
)

type options struct {
	runs     int
	requests int
	clients  int
	threads  int
	out      string
	leader   bool
	keep     bool
	settle   time.Duration
	idle     time.Duration
	perfDir  string
	perfFreq int
}

func main() { benchutil.Main(run) }

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opt, err := parseFlags(args, stderr)
	if err != nil {
		return benchutil.FlagExit(stderr, "bench-protocol", err)
	}
	if err := bench(ctx, opt, stdout); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "bench-protocol: interrupted; every process it started is stopped")
			return 1
		}
		fmt.Fprintf(stderr, "bench-protocol: %v%s\n", err, benchutil.KeepHint(opt.keep))
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var opt options
	fs := benchutil.NewFlagSet("bench-protocol", stderr)
	fs.IntVar(&opt.runs, "runs", 3, "repetitions of every measurement (the report gives the median)")
	fs.IntVar(&opt.requests, "n", 200000, "requests per redis-benchmark measurement (redis-benchmark -n; pipelined cases send -P times as many)")
	fs.IntVar(&opt.clients, "c", 50, "parallel connections of redis-benchmark (redis-benchmark -c)")
	fs.IntVar(&opt.threads, "threads", 1, "redis-benchmark threads (redis-benchmark --threads), for machines with cores to spare; above 1, runs end in 250 ms steps: give -n for runs of 25 s or more")
	fs.StringVar(&opt.out, "out", "", "also write the markdown report to this file")
	fs.BoolVar(&opt.leader, "leader", true, "also measure raftsentinel's Raft leader (for reference; the comparison uses a follower)")
	fs.DurationVar(&opt.settle, "settle", 2*time.Second, "pause between the topologies being ready and the first RSS reading")
	fs.DurationVar(&opt.idle, "idle", 10*time.Second, "how long to measure every monitor's CPU with no client connected, after -settle (0: not measured)")
	fs.StringVar(&opt.perfDir, "perf", "", "after the measurements, run perf stat (follower and Sentinel) and perf record -g (follower) under each load, writing into `dir`")
	fs.IntVar(&opt.perfFreq, "perf-freq", 999, "sampling frequency of -perf (Hz)")
	fs.BoolVar(&opt.keep, "keep", false, "keep the working directory (configs, logs) instead of removing it")
	if err := benchutil.ParseFlags(fs, args); err != nil {
		return opt, err
	}
	switch {
	case opt.runs < 1:
		return opt, fmt.Errorf("-runs %d: must be at least 1", opt.runs)
	case opt.requests < 1000:
		return opt, fmt.Errorf("-n %d: must be at least 1000", opt.requests)
	case opt.clients < 1:
		return opt, fmt.Errorf("-c %d: must be at least 1", opt.clients)
	case opt.threads < 1:
		return opt, fmt.Errorf("-threads %d: must be at least 1", opt.threads)
	case opt.settle < 0:
		return opt, fmt.Errorf("-settle %s: must not be negative", opt.settle)
	case opt.idle < 0:
		return opt, fmt.Errorf("-idle %s: must not be negative", opt.idle)
	case opt.perfFreq < 1:
		return opt, fmt.Errorf("-perf-freq %d: must be positive", opt.perfFreq)
	}
	return opt, nil
}

// bench starts both topologies, measures and prints the report. An error
// means the benchmark could not run (or a measurement failed).
func bench(ctx context.Context, opt options, w io.Writer) (err error) {
	if err := benchutil.NeedRedis("redis-server", "redis-sentinel", "redis-benchmark"); err != nil {
		return err
	}
	if opt.perfDir != "" {
		if _, err := exec.LookPath("perf"); err != nil {
			return fmt.Errorf("-perf: %w (apt-get install -y linux-perf)", err)
		}
	}
	ws, err := benchutil.NewWorkspace(ctx, w, "raftsentinel-bench-protocol-", opt.keep)
	if err != nil {
		return err
	}
	defer ws.Close()

	machine := machineLines(ctx, ws.GoBin, ws.Root)
	benchutil.PrintLines(w, machine)

	// Both topologies stay up for the whole run, so each system is measured
	// with the other one idling beside it, as it would be in the other's
	// measurements.
	fmt.Fprintln(w, "\nstarting: per system 1 master + 1 replica, 3 monitors (quorum 2) ...")
	rs, err := startGroup(ctx, benchutil.Raftsentinel, ws.Bin, filepath.Join(ws.Dir, "raftsentinel-topology"))
	if rs != nil {
		defer func() { err = errors.Join(err, rs.close()) }()
	}
	if err != nil {
		return withLogs(err, rs)
	}
	sn, err := startGroup(ctx, benchutil.Sentinel, ws.Bin, filepath.Join(ws.Dir, "sentinel-topology"))
	if sn != nil {
		defer func() { err = errors.Join(err, sn.close()) }()
	}
	if err != nil {
		return withLogs(err, sn)
	}
	for _, g := range []*group{rs, sn} {
		if err := benchutil.Poll(ctx, readyTimeout, readyEvery, func() error { return g.ready(ctx) }); err != nil {
			return withLogs(fmt.Errorf("%s not ready after %s: %w", g.sys, readyTimeout, err), g)
		}
	}
	leader, err := rs.raftLeader()
	if err != nil {
		return withLogs(err, rs)
	}
	follower := rs.firstOther(leader)
	targets := []target{
		{label: labelFollower, sys: benchutil.Raftsentinel, mon: follower},
		{label: labelSentinel, sys: benchutil.Sentinel, mon: sn.monitors[0]},
	}
	if opt.leader {
		targets = append(targets, target{label: labelLeader, sys: benchutil.Raftsentinel, mon: leader})
	}
	for _, t := range targets {
		fmt.Fprintf(w, "  %-22s %s (%s, pid %d)\n", t.label+":", t.mon.Addr, t.mon.Name, t.mon.Pid())
	}

	if opt.settle > 0 {
		if err := benchutil.Sleep(ctx, opt.settle); err != nil {
			return err
		}
	}
	rssIdle, err := readRSSAll(targets)
	if err != nil {
		return err
	}
	var idle []idleCPU
	if opt.idle > 0 {
		fmt.Fprintf(w, "\nidle: every monitor's CPU over %s, no client connected\n", opt.idle)
		if idle, err = measureIdle(ctx, []*group{rs, sn}, leader.Name, opt.idle); err != nil {
			return err
		}
	}

	groups := map[benchutil.System]*group{benchutil.Raftsentinel: rs, benchutil.Sentinel: sn}
	cfg := benchConfig{requests: opt.requests, clients: opt.clients, threads: opt.threads}
	fmt.Fprintf(w, "\nwarm-up: %d requests (× the pipeline depth) of each case against each target (not counted)\n", warmupRequests(opt.requests))
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

	fmt.Fprintf(w, "\nmeasuring: redis-benchmark -c %d -n %d (× the pipeline depth) --threads %d, %d run(s) per measurement, targets alternating\n", opt.clients, opt.requests, opt.threads, opt.runs)
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
				fmt.Fprintf(w, "  run %d/%d  %-44s %-22s %10.0f req/s  %6.2f µs CPU/req  client %3.0f%% of its threads\n", i+1, opt.runs, c, t.label, smp.rps, smp.cpuUS, 100*smp.clientCPU)
			}
		}
	}
	rssAfter, err := readRSSAll(targets)
	if err != nil {
		return err
	}
	leaderAfter, lerr := rs.raftLeader()
	if lerr != nil || leaderAfter.Name != leader.Name {
		fmt.Fprintf(w, "\nWARNING: the Raft leader changed during the run (%s before, %v after): the follower/leader labels may be off\n", leader.Name, describeLeader(leaderAfter, lerr))
	}
	// Under load a monitor may have seen a probe time out; that is worth a
	// note, not the loss of the measurements.
	for _, g := range []*group{rs, sn} {
		if err := g.ready(ctx); err != nil {
			fmt.Fprintf(w, "\nWARNING: %s after the benchmark: %v\n", g.sys, err)
		}
	}

	report := reportLines(reportInput{
		machine: machine, opt: opt, targets: targets, leader: leader.Name, follower: follower.Name,
		samples: samples, rss: [3]map[string]benchutil.Memory{rssIdle, rssWarm, rssAfter}, idle: idle, loadEnd: benchutil.LoadAverage(),
	})
	if err := benchutil.WriteReport(w, report, opt.out); err != nil {
		return err
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

func describeLeader(m *benchutil.Monitor, err error) string {
	if err != nil {
		return err.Error()
	}
	return m.Name
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
	lines := []string{"raftsentinel: " + benchutil.SourceVersion(ctx, root)}
	lines = append(lines, benchutil.MachineLines(ctx, goBin, "redis-server", "redis-benchmark")...)
	return append(lines, "load average at start: "+benchutil.LoadAverage())
}
