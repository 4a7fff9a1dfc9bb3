//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// benchCase is one redis-benchmark measurement: a command and a pipeline
// depth.
type benchCase struct {
	command  string   // as shown in the report
	args     []string // the command line redis-benchmark sends
	pipeline int      // redis-benchmark -P
}

func (c benchCase) String() string { return fmt.Sprintf("%s, -P %d", c.command, c.pipeline) }

// requests is how many requests a run of c sends, given -n: pipeline times
// n, so that a pipelined run lasts about as long as an unpipelined one. At
// -n 200000 a -P 16 run was over in ~0.2 s, a good part of it
// redis-benchmark's start-up and connection set-up, and its 5 runs
// spread by up to 74%.
func (c benchCase) requests(n int) int { return n * c.pipeline }

// cases are the measurements, in report order. PING is sent as a custom
// command: redis-benchmark's own `-t ping` runs PING_INLINE and
// PING_MBULK, two tests where clients only ever send the second.
var cases = []benchCase{
	{command: "SENTINEL get-master-addr-by-name", args: []string{"SENTINEL", "get-master-addr-by-name", masterName}, pipeline: 1},
	{command: "SENTINEL get-master-addr-by-name", args: []string{"SENTINEL", "get-master-addr-by-name", masterName}, pipeline: 16},
	{command: "PING", args: []string{"PING"}, pipeline: 1},
	{command: "PING", args: []string{"PING"}, pipeline: 16},
}

// target is one monitor under measurement.
type target struct {
	label string // column of the report
	sys   benchutil.System
	mon   *benchutil.Monitor
}

// benchConfig is what is the same for every redis-benchmark run.
type benchConfig struct {
	requests int
	clients  int
	threads  int // redis-benchmark --threads (1: the option is not passed)
}

// sampleKey identifies the samples of one cell of the report.
type sampleKey struct {
	c     string // benchCase.String()
	label string
}

// benchTimeout bounds one redis-benchmark run: far above any plausible
// duration, it only catches a hung server.
const benchTimeout = 5 * time.Minute

// sample is one measurement.
type sample struct {
	rps   float64 // redis-benchmark's requests per second
	cpuUS float64 // CPU time (user + system) of the monitor per request, in µs
	// clientCPU is redis-benchmark's CPU time (user + system) over its
	// run's wall time and its thread count: 1 is every thread busy all
	// the time, when the client, not the server, bounds the throughput.
	clientCPU float64
}

// runCase checks that the target answers the command correctly, runs
// redis-benchmark against it and returns the throughput and the monitor's
// CPU time per request over the run.
//
// redis-benchmark runs single-threaded unless -threads says otherwise.
// Single-threaded it spends more CPU per request than either server (12.4
// µs against 7.5–8 at -P 1 on 2 cores), so wherever it gets one core it
// bounds both systems. With --threads, 7.0 notices the end of a run only
// at its 250 ms timer: run times come in 250 ms steps (measured: 1.251,
// 1.501, 1.751 s), ±10% on a run of 2.5 s, so -threads needs long runs.
func runCase(ctx context.Context, cfg benchConfig, t target, c benchCase) (sample, error) {
	if err := checkReply(ctx, t.mon.Addr, c); err != nil {
		return sample{}, err
	}
	host, port, err := net.SplitHostPort(t.mon.Addr)
	if err != nil {
		return sample{}, err
	}
	args := []string{"-h", host, "-p", port,
		"-c", strconv.Itoa(cfg.clients), "-n", strconv.Itoa(c.requests(cfg.requests)), "-P", strconv.Itoa(c.pipeline),
		"-q", "--csv"}
	threads := max(cfg.threads, 1)
	if threads > 1 {
		args = append(args, "--threads", strconv.Itoa(threads))
	}
	args = append(args, c.args...)
	pid := t.mon.Pid()
	var before time.Duration
	var beforeErr error
	stdout, clientCPU, err := runBenchmark(ctx, args, func() { before, beforeErr = cpuTime(pid) })
	if err != nil {
		return sample{}, err
	}
	after, afterErr := cpuTime(pid)
	if t.mon.Pid() != pid || errors.Join(beforeErr, afterErr) != nil {
		return sample{}, fmt.Errorf("%s exited during the measurement (%v)", t.mon.Name, errors.Join(beforeErr, afterErr))
	}
	rps, err := parseRPS(stdout)
	if err != nil {
		return sample{}, err
	}
	return sample{rps: rps, cpuUS: float64((after - before).Microseconds()) / float64(c.requests(cfg.requests)), clientCPU: clientCPU / float64(threads)}, nil
}

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time (user + system, all threads, including exited
// ones) a process has used, from /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields 14 and 15
	// (utime, stime) are the 12th and 13th after its closing parenthesis.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// checkReply sends the case's command once and checks the reply, so a
// measurement never counts error or empty replies.
func checkReply(ctx context.Context, addr string, c benchCase) error {
	if c.command == "PING" {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		got, err := redisproc.Command(cctx, addr, "PING")
		if err != nil {
			return fmt.Errorf("PING: %w", err)
		}
		if got != "PONG" {
			return fmt.Errorf("PING: reply %q, want PONG", got)
		}
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	reply, err := redisproc.Do(cctx, addr, c.args...)
	if err != nil {
		return fmt.Errorf("%s: %w", c.command, err)
	}
	if arr, ok := reply.([]any); !ok || len(arr) != 2 {
		return fmt.Errorf("%s: reply %#v, want [host port]", c.command, reply)
	}
	return nil
}

// runBenchmark runs redis-benchmark with args in its own process group
// (killed with this program) and returns its standard output and the
// share of one core it used (CPU time over wall time). started, if not
// nil, is called once the process runs.
func runBenchmark(ctx context.Context, args []string, started func()) ([]byte, float64, error) {
	bin, err := redisproc.Binary("redis-benchmark")
	if err != nil {
		return nil, 0, err
	}
	bctx, cancel := context.WithTimeout(ctx, benchTimeout)
	defer cancel()
	cmd := exec.CommandContext(bctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	benchutil.OwnGroup(cmd, 2*time.Second)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start redis-benchmark: %w", err)
	}
	if started != nil {
		started()
	}
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		return nil, 0, fmt.Errorf("redis-benchmark %s: %w; stderr: %s", strings.Join(args, " "), err, benchStderr(stderr.Bytes()))
	}
	wall := time.Since(start)
	if msg := benchStderr(stderr.Bytes()); msg != "" {
		return nil, 0, fmt.Errorf("redis-benchmark %s: unexpected stderr: %s", strings.Join(args, " "), msg)
	}
	var share float64
	if ps := cmd.ProcessState; ps != nil && wall > 0 {
		share = float64(ps.UserTime()+ps.SystemTime()) / float64(wall)
	}
	return stdout.Bytes(), share, nil
}

// benchStderr is redis-benchmark's standard error without the warning it
// prints for every server without CONFIG GET (both Sentinels).
func benchStderr(b []byte) string {
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l == "WARNING: Could not fetch server CONFIG" {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, " | ")
}

// parseRPS reads the "rps" column of redis-benchmark's --csv output (a
// header line, then one line per test; we run exactly one test).
func parseRPS(out []byte) (float64, error) {
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		return 0, fmt.Errorf("redis-benchmark csv: %w (output %q)", err, out)
	}
	if len(recs) != 2 {
		return 0, fmt.Errorf("redis-benchmark csv: %d lines, want a header and one result (output %q)", len(recs), out)
	}
	col := -1
	for i, h := range recs[0] {
		if h == "rps" {
			col = i
		}
	}
	if col < 0 || col >= len(recs[1]) {
		return 0, fmt.Errorf("redis-benchmark csv: no rps column (output %q)", out)
	}
	rps, err := strconv.ParseFloat(recs[1][col], 64)
	if err != nil || rps <= 0 {
		return 0, fmt.Errorf("redis-benchmark csv: rps %q (output %q)", recs[1][col], out)
	}
	return rps, nil
}

// readRSSAll reads the memory of every target, by label.
func readRSSAll(targets []target) (map[string]benchutil.Memory, error) {
	out := map[string]benchutil.Memory{}
	for _, t := range targets {
		m, err := benchutil.ReadMemory(t.mon.Pid())
		if err != nil {
			return nil, fmt.Errorf("memory of %s (%s): %w", t.label, t.mon.Name, err)
		}
		out[t.label] = m
	}
	return out, nil
}
