//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/probe"
)

// fakes is the child process serving the fake nodes.
type fakes struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	addrs []string
}

func startFakes(ctx context.Context, n int) (*fakes, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program: %w", err)
	}
	cmd := exec.CommandContext(ctx, self, "-serve", strconv.Itoa(n))
	benchutil.OwnGroup(cmd, 2*time.Second)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("fake nodes: %w", err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("fake nodes: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the fake nodes: %w", err)
	}
	f := &fakes{cmd: cmd, in: in, out: bufio.NewReader(outPipe)}
	line, err := f.out.ReadString('\n')
	if err != nil {
		f.close()
		return nil, fmt.Errorf("fake nodes' addresses: %w", err)
	}
	f.addrs = strings.Fields(line)
	if len(f.addrs) != n {
		f.close()
		return nil, fmt.Errorf("fake nodes: %d addresses, want %d", len(f.addrs), n)
	}
	return f, nil
}

func (f *fakes) counts() (counts, error) {
	var c counts
	if _, err := io.WriteString(f.in, "stats\n"); err != nil {
		return c, fmt.Errorf("ask the fake nodes: %w", err)
	}
	line, err := f.out.ReadBytes('\n')
	if err != nil {
		return c, fmt.Errorf("read the fake nodes' counts: %w", err)
	}
	if err := json.Unmarshal(line, &c); err != nil {
		return c, fmt.Errorf("fake nodes' counts %q: %w", line, err)
	}
	return c, nil
}

func (f *fakes) close() {
	_ = f.in.Close()
	_ = f.cmd.Wait()
}

// monitor is what is measured: CPU so far, and goroutines (-1 if not
// known).
type monitor interface {
	cpu() (time.Duration, error)
	goroutines() int
	close()
}

func measure(ctx context.Context, opt options, w io.Writer) error {
	fmt.Fprintf(w, "load average before: %s (%d CPUs)\n", loadavg(), runtime.NumCPU())
	f, err := startFakes(ctx, opt.nodes)
	if err != nil {
		return err
	}
	defer f.close()
	g0 := runtime.NumGoroutine()
	var m monitor
	if opt.system == "probe" {
		m, err = startProber(ctx, opt, f.addrs)
	} else {
		m, err = startSentinel(ctx, opt, f.addrs)
	}
	if err != nil {
		return err
	}
	defer m.close()
	if err := benchutil.Sleep(ctx, opt.warmup); err != nil {
		return err
	}
	var r result
	c0, err := m.cpu()
	if err != nil {
		return err
	}
	if r.before, err = f.counts(); err != nil {
		return err
	}
	start := time.Now()
	stop, err := startProfile(opt.profile)
	if err != nil {
		return err
	}
	err = benchutil.Sleep(ctx, opt.duration)
	stop()
	if err != nil {
		return err
	}
	c1, err := m.cpu()
	if err != nil {
		return err
	}
	r.elapsed, r.cpu = time.Since(start), c1-c0
	if r.after, err = f.counts(); err != nil {
		return err
	}
	r.goroutines = -1
	if g := m.goroutines(); g >= 0 {
		r.goroutines = float64(g-g0) / float64(opt.nodes)
	}
	report(w, opt, r)
	fmt.Fprintf(w, "load average after: %s\n", loadavg())
	return nil
}

// startProfile starts a CPU profile into path ("" = none) and returns
// what stops it.
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// prober is this build's probe.Prober as the measured monitor.
type prober struct{ p *probe.Prober }

func startProber(ctx context.Context, opt options, addrs []string) (*prober, error) {
	p := probe.New(probe.Options{PingPeriod: opt.ping, InfoPeriod: opt.info, ClientName: "probecost",
		Logger: slog.New(slog.DiscardHandler)})
	for _, a := range addrs {
		p.Watch(a, probe.Auth{})
	}
	err := benchutil.Poll(ctx, 30*time.Second, 50*time.Millisecond, func() error {
		for _, a := range addrs {
			if o, _ := p.Observe(a); !o.Connected || o.InfoAt.IsZero() {
				return fmt.Errorf("%s not probed yet", a)
			}
		}
		return nil
	})
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	return &prober{p}, nil
}

func (m *prober) cpu() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

func (m *prober) goroutines() int { return runtime.NumGoroutine() }
func (m *prober) close()          { _ = m.p.Close() }

// sentinel is a redis-sentinel process as the measured monitor.
type sentinel struct {
	proc *benchutil.Proc
	dir  string
}

func startSentinel(ctx context.Context, opt options, addrs []string) (*sentinel, error) {
	if err := benchutil.NeedRedis("redis-sentinel"); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "probecost-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	port, err := redisproc.FreePort()
	if err != nil {
		return nil, err
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "port %d\nbind 127.0.0.1\ndir %s\n", port, dir)
	for i := 0; i < len(addrs); i += 2 {
		host, p, _ := strings.Cut(addrs[i], ":")
		fmt.Fprintf(&conf, "sentinel monitor m%d %s %s 1\nsentinel down-after-milliseconds m%d %d\n", i/2, host, p, i/2, opt.downAfter.Milliseconds())
	}
	path := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	proc, err := benchutil.StartProc(ctx, "redis-sentinel", []string{path}, filepath.Join(dir, "sentinel.log"))
	if err != nil {
		return nil, err
	}
	s := &sentinel{proc: proc, dir: dir}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	err = benchutil.Poll(ctx, 60*time.Second, 200*time.Millisecond, func() error { return sentinelReady(ctx, addr, len(addrs)/2) })
	if err != nil {
		s.close()
		return nil, fmt.Errorf("redis-sentinel: %w", err)
	}
	return s, nil
}

// sentinelReady checks that every master is known with its replica.
func sentinelReady(ctx context.Context, addr string, masters int) error {
	v, err := redisproc.Do(ctx, addr, "SENTINEL", "MASTERS")
	if err != nil {
		return err
	}
	list, _ := v.([]any)
	if len(list) != masters {
		return fmt.Errorf("%d masters of %d", len(list), masters)
	}
	for _, m := range list {
		kv, _ := m.([]any)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == "num-slaves" && kv[i+1] != "1" {
				return errors.New("a master without its replica yet")
			}
		}
	}
	return nil
}

// cpu reads utime+stime of /proc/<pid>/stat (in USER_HZ ticks, 100 a
// second on Linux).
func (s *sentinel) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.proc.Pid()))
	if err != nil {
		return 0, fmt.Errorf("sentinel cpu: %w", err)
	}
	// The fields after the command name in parentheses: state is field 3,
	// utime 14, stime 15.
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("sentinel cpu: short stat %q", b)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("sentinel cpu: %w", err)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

func (s *sentinel) goroutines() int { return -1 }

func (s *sentinel) close() {
	_ = s.proc.Kill()
	_ = os.RemoveAll(s.dir)
}
