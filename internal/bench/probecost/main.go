//go:build linux

// Command probecost measures what probing Redis nodes costs a monitor
// (issue 15): the goroutines and connections per node, the commands per
// node per second and the CPU time (user+sys) per node per second.
//
// The nodes are fakes: -nodes listeners (master/replica pairs, the INFO of
// a real Redis 7.0.15 master and replica) served by a child process (this
// program with -serve), so the CPU measured is the monitor's alone. The
// monitor is either
//
//   - -system probe: this program's own probe.Prober (the package in the
//     tree it was built from; build it from another tree to compare
//     versions), watching every node with -ping and -info as its global
//     periods, or
//   - -system sentinel: a redis-sentinel monitoring the masters (it finds
//     the replicas in their INFO), down-after-milliseconds -down-after.
//
// After the nodes are all probed and -warmup, the counters are read, the
// program waits -duration and reads them again: CPU from getrusage (probe)
// or /proc/<pid>/stat (sentinel), commands from the fake nodes. Run it on
// an otherwise idle machine: the load average is printed before and after.
//
// Linux only (/proc, process groups).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
)

type options struct {
	serve     int
	system    string
	label     string
	nodes     int
	ping      time.Duration
	info      time.Duration
	downAfter time.Duration
	warmup    time.Duration
	duration  time.Duration
	profile   string
}

func main() { benchutil.Main(run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opt, err := parseFlags(args, stderr)
	if err != nil {
		return benchutil.FlagExit(stderr, "probecost", err)
	}
	if opt.serve > 0 {
		if err := serveFakes(opt.serve, os.Stdin, stdout); err != nil {
			fmt.Fprintln(stderr, "probecost -serve:", err)
			return 1
		}
		return 0
	}
	if err := measure(ctx, opt, stdout); err != nil {
		fmt.Fprintln(stderr, "probecost:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var opt options
	fs := benchutil.NewFlagSet("probecost", stderr)
	fs.IntVar(&opt.serve, "serve", 0, "internal: serve this many fake nodes (the child process)")
	fs.StringVar(&opt.system, "system", "probe", "the monitor measured: probe (this build's probe.Prober) or sentinel (redis-sentinel)")
	fs.StringVar(&opt.label, "label", "", "a name for this build in the report (e.g. old, new)")
	fs.IntVar(&opt.nodes, "nodes", 200, "fake nodes: master/replica pairs (even)")
	fs.DurationVar(&opt.ping, "ping", 100*time.Millisecond, "probe: the global PING period")
	fs.DurationVar(&opt.info, "info", time.Second, "probe: the global INFO period")
	fs.DurationVar(&opt.downAfter, "down-after", 5*time.Second, "sentinel: down-after-milliseconds of every master")
	fs.DurationVar(&opt.warmup, "warmup", 5*time.Second, "wait after every node is probed, before measuring")
	fs.DurationVar(&opt.duration, "duration", 30*time.Second, "the measured run")
	fs.StringVar(&opt.profile, "cpuprofile", "", "probe: write a CPU profile of the measured run to this file")
	if err := benchutil.ParseFlags(fs, args); err != nil {
		return opt, err
	}
	if opt.serve == 0 && (opt.nodes < 2 || opt.nodes%2 != 0) {
		return opt, fmt.Errorf("-nodes must be even and positive, got %d", opt.nodes)
	}
	if opt.system != "probe" && opt.system != "sentinel" {
		return opt, fmt.Errorf("-system must be probe or sentinel, got %q", opt.system)
	}
	return opt, nil
}

// result is one measured run.
type result struct {
	before, after counts
	cpu           time.Duration // user+sys over the run
	elapsed       time.Duration
	goroutines    float64 // per node; < 0: not measured
}

func report(w io.Writer, opt options, r result) {
	n, secs := float64(opt.nodes), r.elapsed.Seconds()
	rate := func(a, b int64) float64 { return float64(b-a) / n / secs }
	name := opt.system
	if opt.label != "" {
		name += " (" + opt.label + ")"
	}
	fmt.Fprintf(w, "%s: %d nodes (%d masters, 1 replica each), ", name, opt.nodes, opt.nodes/2)
	if opt.system == "probe" {
		fmt.Fprintf(w, "PING period %v, INFO period %v", opt.ping, opt.info)
	} else {
		fmt.Fprintf(w, "down-after %v", opt.downAfter)
	}
	fmt.Fprintf(w, "; %.1f s measured after a %v warm-up\n", secs, opt.warmup)
	var g string
	if r.goroutines >= 0 {
		g = fmt.Sprintf("goroutines %.2f, ", r.goroutines)
	}
	fmt.Fprintf(w, "  per node: %sconnections %.2f (accepted during the run: %d)\n", g, float64(r.after.Open)/n, r.after.Accepted-r.before.Accepted)
	fmt.Fprintf(w, "  per node per second: PING %.2f, full INFO %.2f, INFO <sections> %.2f, PUBLISH %.2f, other %.2f; reply bytes %.0f\n",
		rate(r.before.Ping, r.after.Ping), rate(r.before.InfoFull, r.after.InfoFull), rate(r.before.InfoPart, r.after.InfoPart),
		rate(r.before.Publish, r.after.Publish), rate(r.before.Other, r.after.Other), rate(r.before.ReplyB, r.after.ReplyB))
	fmt.Fprintf(w, "  CPU (user+sys): %.1f µs per node per second; %v over the run, %.2f%% of one core\n",
		float64(r.cpu.Microseconds())/n/secs, r.cpu.Round(time.Millisecond), 100*r.cpu.Seconds()/secs)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
