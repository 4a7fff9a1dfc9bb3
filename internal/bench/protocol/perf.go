//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
)

// perfAttach is how long perf is given to attach before the load starts.
const perfAttach = 500 * time.Millisecond

// recordPerf runs, per case and not counted in the report: `perf stat`
// of the raftsentinel follower and of the Sentinel (system calls, context
// switches and CPU time per request), then `perf record -g` of the
// follower. It writes the perf.data files and `perf report` text (self and
// inclusive time by symbol) into opt.perfDir.
func recordPerf(ctx context.Context, w io.Writer, opt options, cfg benchConfig, rs, sn target) error {
	dir, err := filepath.Abs(opt.perfDir)
	if err != nil {
		return fmt.Errorf("-perf: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("-perf: %w", err)
	}
	fmt.Fprintf(w, "\nperf: per case, perf stat of %s (%s, pid %d) and %s (%s, pid %d), then perf record -g of the former at %d Hz, into %s\n",
		rs.label, rs.mon.Name, rs.mon.Pid(), sn.label, sn.mon.Name, sn.mon.Pid(), opt.perfFreq, dir)
	for _, c := range cases {
		for _, t := range []target{rs, sn} {
			st, err := statCase(ctx, cfg, t, c)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "  %-44s %-22s %10.0f req/s  %5.2f syscalls/req  %5.2f context switches/req  %6.2f µs task-clock/req\n",
				c, t.label, st.rps, st.syscalls, st.switches, st.taskClockUS)
		}
		base := filepath.Join(dir, perfSlug(c))
		data := base + ".perf.data"
		var recOut bytes.Buffer
		smp, err := withPerf(ctx, &recOut, []string{"record", "-F", strconv.Itoa(opt.perfFreq), "-g",
			"-p", strconv.Itoa(rs.mon.Pid()), "-o", data}, func() (sample, error) { return runCase(ctx, cfg, rs, c) })
		if err != nil {
			return fmt.Errorf("perf record, %s: %w", c, err)
		}
		fmt.Fprintf(w, "  %-44s %-22s %10.0f req/s under perf record -> %s\n", c, rs.label, smp.rps, data)
		for _, mode := range []string{"self", "children"} {
			txt, err := perfReport(ctx, data, mode)
			if err != nil {
				return err
			}
			if err := os.WriteFile(base+"."+mode+".txt", txt, 0o644); err != nil {
				return fmt.Errorf("perf report: %w", err)
			}
			if mode == "self" {
				for _, l := range topLines(txt, 15) {
					fmt.Fprintf(w, "      %s\n", l)
				}
			}
		}
	}
	return nil
}

// perfStat is what `perf stat` counted during one redis-benchmark run,
// per request.
type perfStat struct {
	rps                             float64
	syscalls, switches, taskClockUS float64
}

// statCase runs case c against t under `perf stat`.
func statCase(ctx context.Context, cfg benchConfig, t target, c benchCase) (perfStat, error) {
	var out bytes.Buffer
	smp, err := withPerf(ctx, &out, []string{"stat", "-x", ",", "-e", "raw_syscalls:sys_enter,context-switches,task-clock",
		"-p", strconv.Itoa(t.mon.Pid())}, func() (sample, error) { return runCase(ctx, cfg, t, c) })
	if err != nil {
		return perfStat{}, fmt.Errorf("perf stat, %s on %s: %w", c, t.label, err)
	}
	st := perfStat{rps: smp.rps}
	n := float64(c.requests(cfg.requests))
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		switch f[2] {
		case "raw_syscalls:sys_enter":
			st.syscalls = v / n
		case "context-switches":
			st.switches = v / n
		case "task-clock": // milliseconds
			st.taskClockUS = v * 1000 / n
		}
	}
	return st, nil
}

// withPerf runs `perf args...` attached to a process while load runs,
// then stops perf with SIGINT (which makes it write its results) and
// waits for it. perf's output goes to out.
func withPerf(ctx context.Context, out *bytes.Buffer, args []string, load func() (sample, error)) (sample, error) {
	cmd := exec.CommandContext(ctx, "perf", args...)
	cmd.Stdout, cmd.Stderr = out, out
	benchutil.OwnGroup(cmd, 5*time.Second)
	if err := cmd.Start(); err != nil {
		return sample{}, fmt.Errorf("perf %s: %w", args[0], err)
	}
	time.Sleep(perfAttach)
	smp, lerr := load()
	serr := cmd.Process.Signal(os.Interrupt)
	werr := cmd.Wait()
	if lerr != nil {
		return sample{}, lerr
	}
	if serr != nil || (werr != nil && !isInterrupted(werr)) {
		return sample{}, fmt.Errorf("perf %s: %w; output:\n%s", args[0], errors.Join(serr, werr), out.String())
	}
	return smp, nil
}

// isInterrupted reports whether err is the exit of a process stopped by
// SIGINT (perf record exits with status 0 on SIGINT on most versions, but
// not all).
func isInterrupted(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ((ws.Signaled() && ws.Signal() == syscall.SIGINT) || ws.ExitStatus() == 130)
}

// perfReport renders a perf.data file as text: mode "self" sorts symbols
// by their own time, "children" by time including callees.
func perfReport(ctx context.Context, data, mode string) ([]byte, error) {
	args := []string{"report", "-i", data, "--stdio", "--percent-limit", "0.5", "-g", "none"}
	if mode == "self" {
		args = append(args, "--no-children", "-F", "overhead,sym")
	} else {
		args = append(args, "--children", "-F", "overhead_children,overhead,sym")
	}
	out, err := exec.CommandContext(ctx, "perf", args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("perf %s: %w: %s", strings.Join(args, " "), err, ee.Stderr)
		}
		return nil, fmt.Errorf("perf %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// topLines returns the first n non-comment, non-empty lines of a perf
// report.
func topLines(txt []byte, n int) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(txt))
	for sc.Scan() && len(out) < n {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// perfSlug names a case's perf files.
func perfSlug(c benchCase) string {
	name := strings.ToLower(strings.ReplaceAll(c.command, " ", "-"))
	return fmt.Sprintf("%s-P%d", name, c.pipeline)
}
