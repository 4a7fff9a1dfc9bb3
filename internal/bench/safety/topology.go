//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/safety"
)

// masterName is the name both systems monitor the master under.
const masterName = "mymaster"

// system is one of the two monitor implementations under test.
type system string

const (
	sysRaft     system = "raftsentinel"
	sysSentinel system = "sentinel"
)

func (s system) title() string {
	if s == sysSentinel {
		return "Redis Sentinel"
	}
	return "raftsentinel"
}

// topoConfig is what every topology of a run shares.
type topoConfig struct {
	bin             string        // built raftsentinel binary
	downAfter       time.Duration // down-after of both systems
	failoverTimeout time.Duration // failover-timeout of both systems
	readyTimeout    time.Duration // bound of each start-up wait
}

// topology is a master, two replicas and three monitors of one system, all
// local processes under dir.
type topology struct {
	dir      string
	master   *redisproc.Server
	nodes    map[string]*redisproc.Server
	monitors []string // Sentinel-protocol addresses
	logs     []string // monitor log files
	closers  []func() error
}

func (t *topology) target() safety.Target {
	return safety.Target{MasterName: masterName, Monitors: t.monitors, Nodes: t.nodes}
}

// close stops every process, last started first.
func (t *topology) close() error {
	var errs []error
	for i := len(t.closers) - 1; i >= 0; i-- {
		errs = append(errs, t.closers[i]())
	}
	return errors.Join(errs...)
}

// grepLogs returns the monitor log lines containing any of words; a run of
// lines alike (same msg and reason, as raftsentinel repeats "failover
// blocked" every tick) is shown as its first line and a count.
func (t *topology) grepLogs(words ...string) []string {
	var out []string
	for i, p := range t.logs {
		data, err := os.ReadFile(p)
		if err != nil {
			out = append(out, fmt.Sprintf("[monitor %d] log unreadable: %v", i+1, err))
			continue
		}
		prevKey, repeats := "", 0
		flush := func() {
			if repeats > 0 {
				out[len(out)-1] += fmt.Sprintf(" (and %d more alike)", repeats)
			}
			repeats = 0
		}
		for _, l := range strings.Split(string(data), "\n") {
			if !slices.ContainsFunc(words, func(w string) bool { return strings.Contains(l, w) }) {
				continue
			}
			key := strings.Join(alikeRE.FindAllString(l, -1), " ")
			if key != "" && key == prevKey {
				repeats++
				continue
			}
			flush()
			prevKey = key
			out = append(out, fmt.Sprintf("[monitor %d] %s", i+1, l))
		}
		flush()
	}
	return out
}

// alikeRE picks the parts of a raftsentinel log line that make two lines
// alike.
var alikeRE = regexp.MustCompile(`(msg|reason)=("[^"]*"|\S+)`)

// startTopology starts the data nodes, waits until both replicas are in
// sync, then starts three monitors of sys. On error the returned topology
// holds what was started and must be closed.
func startTopology(ctx context.Context, cfg topoConfig, sys system, dir string) (*topology, error) {
	t := &topology{dir: dir, nodes: map[string]*redisproc.Server{}}
	sctx, cancel := context.WithTimeout(ctx, cfg.readyTimeout)
	defer cancel()
	master, err := redisproc.Start(sctx, redisproc.Options{Dir: filepath.Join(dir, "master")})
	if err != nil {
		return t, fmt.Errorf("start master: %w", err)
	}
	t.master = master
	t.nodes[master.Addr()] = master
	t.closers = append(t.closers, master.Close)
	var replicas []*redisproc.Server
	for i := range 2 {
		r, err := redisproc.Start(sctx, redisproc.Options{
			Dir: filepath.Join(dir, fmt.Sprintf("replica%d", i+1)), ReplicaOf: master.Addr()})
		if err != nil {
			return t, fmt.Errorf("start replica %d: %w", i+1, err)
		}
		replicas = append(replicas, r)
		t.nodes[r.Addr()] = r
		t.closers = append(t.closers, r.Close)
	}
	// Monitors start once the replicas are in sync, so both systems find
	// both replicas in the master's first INFO.
	err = pollUntil(sctx, func() error {
		for _, r := range replicas {
			info, err := redisproc.Command(sctx, r.Addr(), "INFO", "replication")
			if err != nil {
				return err
			}
			if st := redisproc.InfoField(info, "master_link_status"); st != "up" {
				return fmt.Errorf("replica %s: master_link_status %q", r.Addr(), st)
			}
		}
		return nil
	})
	if err != nil {
		return t, fmt.Errorf("replication: %w", err)
	}
	switch sys {
	case sysRaft:
		err = t.startRaftsentinel(sctx, ctx, cfg)
	case sysSentinel:
		err = t.startSentinels(sctx, cfg)
	default:
		err = fmt.Errorf("unknown system %q", sys)
	}
	return t, err
}

// startSentinels starts three redis-sentinel processes, quorum 2.
func (t *topology) startSentinels(ctx context.Context, cfg topoConfig) error {
	for i := range 3 {
		sdir := filepath.Join(t.dir, fmt.Sprintf("sentinel%d", i+1))
		if err := os.MkdirAll(sdir, 0o755); err != nil {
			return fmt.Errorf("sentinel %d: %w", i+1, err)
		}
		logPath := filepath.Join(sdir, "sentinel.log")
		f, err := os.Create(logPath)
		if err != nil {
			return fmt.Errorf("sentinel %d log: %w", i+1, err)
		}
		t.logs = append(t.logs, logPath)
		s, err := redisproc.StartSentinel(ctx, redisproc.SentinelOptions{
			Dir: sdir, MasterName: masterName, MasterAddr: t.master.Addr(), Quorum: 2,
			DownAfter: cfg.downAfter, FailoverTimeout: cfg.failoverTimeout, ParallelSyncs: 1, Stdout: f,
		})
		if err != nil {
			f.Close()
			return fmt.Errorf("start sentinel %d: %w", i+1, err)
		}
		t.closers = append(t.closers, func() error { return errors.Join(s.Close(), f.Close()) })
		t.monitors = append(t.monitors, s.Addr())
	}
	return nil
}

// rsNode is one raftsentinel monitor's identity and addresses.
type rsNode struct {
	id                     string
	listen, raft, http     string
	dir, confPath, logPath string
}

// startRaftsentinel writes three monitor configurations and runs the built
// binary on each, as separate processes living until runCtx ends or close.
func (t *topology) startRaftsentinel(ctx, runCtx context.Context, cfg topoConfig) error {
	nodes := make([]rsNode, 3)
	for i := range nodes {
		n := &nodes[i]
		n.id = fmt.Sprintf("m%d", i+1)
		n.dir = filepath.Join(t.dir, n.id)
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return fmt.Errorf("monitor %s: %w", n.id, err)
		}
		n.confPath = filepath.Join(n.dir, "raftsentinel.yaml")
		n.logPath = filepath.Join(n.dir, "raftsentinel.log")
		for _, p := range []*string{&n.listen, &n.raft, &n.http} {
			port, err := redisproc.FreePort()
			if err != nil {
				return err
			}
			*p = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
	}
	for i := range nodes {
		if err := os.WriteFile(nodes[i].confPath, []byte(monitorYAML(nodes, i, t.master.Addr(), cfg)), 0o644); err != nil {
			return fmt.Errorf("write config of %s: %w", nodes[i].id, err)
		}
	}
	// All three start before any is waited for: they elect a leader
	// together.
	var procs []*proc
	for _, n := range nodes {
		p, err := startProc(runCtx, cfg.bin, []string{"run", "--config", n.confPath}, n.logPath)
		if err != nil {
			return fmt.Errorf("start monitor %s: %w", n.id, err)
		}
		procs = append(procs, p)
		t.closers = append(t.closers, p.kill)
		t.logs = append(t.logs, n.logPath)
		t.monitors = append(t.monitors, n.listen)
	}
	for i, n := range nodes {
		if err := procs[i].waitPing(ctx, n.listen); err != nil {
			return fmt.Errorf("monitor %s: %w", n.id, err)
		}
	}
	return nil
}

// monitorYAML is the configuration file of monitor i of nodes.
func monitorYAML(nodes []rsNode, i int, masterAddr string, cfg topoConfig) string {
	n := nodes[i]
	var b strings.Builder
	fmt.Fprintf(&b, "node-id: %s\n", n.id)
	fmt.Fprintf(&b, "listen: %q\nannounce: %q\n", n.listen, n.listen)
	fmt.Fprintf(&b, "raft-addr: %q\nhttp-addr: %q\n", n.raft, n.http)
	fmt.Fprintf(&b, "data-dir: %q\n", filepath.Join(n.dir, "data"))
	b.WriteString("peers:\n")
	for _, p := range nodes {
		fmt.Fprintf(&b, "  - id: %s\n    raft-addr: %q\n", p.id, p.raft)
	}
	b.WriteString("masters:\n")
	fmt.Fprintf(&b, "  - name: %s\n    addr: %q\n    quorum: 2\n", masterName, masterAddr)
	fmt.Fprintf(&b, "    down-after: %s\n    failover-timeout: %s\n    parallel-syncs: 1\n", cfg.downAfter, cfg.failoverTimeout)
	// hashicorp/raft LAN defaults, as shipped.
	b.WriteString("raft:\n  heartbeat-timeout: 500ms\n  election-timeout: 500ms\n  leader-lease-timeout: 250ms\n")
	// warn keeps "failover started ... offset=" and "replica promoted".
	b.WriteString("log:\n  level: warn\n  format: text\n")
	return b.String()
}

// proc is one raftsentinel process in its own process group.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// startProc runs bin with args, output to logPath. The process group is
// killed when ctx ends, on kill, and (Pdeathsig) when this program dies.
func startProc(ctx context.Context, bin string, args []string, logPath string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), log: f}
	go func() {
		_ = cmd.Wait() // killed: an exit status is expected
		close(p.done)
	}()
	return p, nil
}

// kill sends SIGKILL to the process group and waits until it is reaped.
func (p *proc) kill() error {
	var err error
	select {
	case <-p.done:
	default:
		err = killGroup(p.cmd.Process.Pid)
		<-p.done
	}
	return errors.Join(err, p.log.Close())
}

func killGroup(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pid, err)
	}
	return nil
}

// waitPing waits (bounded by ctx) until addr answers PING; it fails at once
// when the process exits.
func (p *proc) waitPing(ctx context.Context, addr string) error {
	return pollUntil(ctx, func() error {
		select {
		case <-p.done:
			data, _ := os.ReadFile(p.log.Name())
			return permanent{fmt.Errorf("process exited (%s); output:\n%s", p.cmd.ProcessState, data)}
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err := redisproc.Command(pctx, addr, "PING")
		return err
	})
}

// permanent marks an error pollUntil must not retry.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// pollUntil calls fn every 20 ms until it succeeds, returns a permanent
// error, or ctx ends (then the last error is returned with ctx's).
func pollUntil(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return err
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
