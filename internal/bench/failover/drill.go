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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// masterName is the name both systems monitor the master under.
const masterName = "mymaster"

// pollEvery is the pause between two probes of the same node.
const pollEvery = 5 * time.Millisecond

// system is one of the two monitor implementations under test.
type system string

const (
	sysRaft     system = "raftsentinel"
	sysSentinel system = "sentinel"
)

// drillConfig is the part of a drill that is the same for every run.
type drillConfig struct {
	bin             string        // built raftsentinel binary
	downAfter       time.Duration // down-after of both systems
	failoverTimeout time.Duration // failover-timeout of both systems
	readyTimeout    time.Duration // start → fully connected topology
	runTimeout      time.Duration // kill → both measurements done
}

// result is what one drill measured. A run failed when err is set.
type result struct {
	system    system
	run       int
	err       error
	setup     time.Duration // start of the topology → ready to kill
	writes    time.Duration // (a) kill → a replica accepts SET
	agreed    time.Duration // (b) kill → all monitors answer the same new address
	perMon    []time.Duration
	oldMaster string
	promoted  string // replica that accepted the write
	announced string // address the monitors agreed on
	logTail   string // monitors' log tails, for failed runs
}

// topology is one master, its replicas and three monitors, all local
// processes under dir.
type topology struct {
	dir      string
	master   *redisproc.Server
	replicas []*redisproc.Server
	monitors []string // Sentinel-protocol addresses
	logs     []string // monitor log files
	closers  []func() error

	monClients []*redis.SentinelClient
	repClients []*redis.Client
}

// close stops every process and client, last started first.
func (t *topology) close() error {
	var errs []error
	for _, c := range t.monClients {
		errs = append(errs, c.Close())
	}
	for _, c := range t.repClients {
		errs = append(errs, c.Close())
	}
	for i := len(t.closers) - 1; i >= 0; i-- {
		errs = append(errs, t.closers[i]())
	}
	return errors.Join(errs...)
}

// logTail returns the last lines of every monitor's log.
func (t *topology) logTail(lines int) string {
	var b strings.Builder
	for i, p := range t.logs {
		data, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(&b, "    [monitor %d] log unreadable: %v\n", i+1, err)
			continue
		}
		all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(all) > lines {
			all = all[len(all)-lines:]
		}
		fmt.Fprintf(&b, "    [monitor %d: %s]\n", i+1, p)
		for _, l := range all {
			fmt.Fprintf(&b, "      %s\n", l)
		}
	}
	return b.String()
}

// runDrill builds a fresh topology for sys under dir, waits until it is
// fully connected, kills the master and measures the failover.
func runDrill(ctx context.Context, cfg drillConfig, sys system, run int, dir string) (res result) {
	res = result{system: sys, run: run}
	start := time.Now()
	topo, err := startTopology(ctx, cfg, sys, dir)
	if topo != nil {
		defer func() {
			if err := topo.close(); err != nil && res.err == nil {
				res.err = fmt.Errorf("cleanup: %w", err)
			}
		}()
	}
	if err != nil {
		res.err = fmt.Errorf("setup: %w", err)
		if topo != nil {
			res.logTail = topo.logTail(20)
		}
		return res
	}
	res.oldMaster = topo.master.Addr()
	if err := poll(ctx, cfg.readyTimeout, func() error { return topo.ready(ctx) }); err != nil {
		res.err = fmt.Errorf("topology not ready after %s: %w", cfg.readyTimeout, err)
		res.logTail = topo.logTail(20)
		return res
	}
	res.setup = time.Since(start)
	m, err := topo.measure(ctx, cfg.runTimeout)
	res.writes, res.agreed, res.perMon = m.writes, m.agreed, m.perMon
	res.promoted, res.announced = m.promoted, m.announced
	if err == nil && m.promoted != m.announced {
		err = fmt.Errorf("replica %s accepted writes but the monitors announce %s", m.promoted, m.announced)
	}
	if err != nil {
		res.err = err
		res.logTail = topo.logTail(20)
	}
	return res
}

// startTopology starts the master, two replicas (and waits until both are
// in sync) and three monitors of sys. On error the returned topology, when
// not nil, holds what was started and must be closed.
func startTopology(ctx context.Context, cfg drillConfig, sys system, dir string) (*topology, error) {
	t := &topology{dir: dir}
	master, err := redisproc.Start(ctx, redisproc.Options{Dir: filepath.Join(dir, "master")})
	if err != nil {
		return t, fmt.Errorf("start master: %w", err)
	}
	t.master = master
	t.closers = append(t.closers, master.Close)
	for i := range 2 {
		r, err := redisproc.Start(ctx, redisproc.Options{
			Dir:       filepath.Join(dir, fmt.Sprintf("replica%d", i+1)),
			ReplicaOf: master.Addr(),
		})
		if err != nil {
			return t, fmt.Errorf("start replica %d: %w", i+1, err)
		}
		t.replicas = append(t.replicas, r)
		t.closers = append(t.closers, r.Close)
		t.repClients = append(t.repClients, redis.NewClient(clientOptions(r.Addr())))
	}
	// Monitors start once the replicas are in sync, so both systems find
	// both replicas in the master's first INFO.
	if err := poll(ctx, cfg.readyTimeout, func() error { return t.replicasUp(ctx) }); err != nil {
		return t, fmt.Errorf("replication: %w", err)
	}
	switch sys {
	case sysRaft:
		err = t.startRaftsentinel(ctx, cfg)
	case sysSentinel:
		err = t.startSentinels(ctx, cfg)
	default:
		err = fmt.Errorf("unknown system %q", sys)
	}
	if err != nil {
		return t, err
	}
	for _, a := range t.monitors {
		t.monClients = append(t.monClients, redis.NewSentinelClient(clientOptions(a)))
	}
	return t, nil
}

// startSentinels starts three redis-sentinel processes.
func (t *topology) startSentinels(ctx context.Context, cfg drillConfig) error {
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
			Dir:             sdir,
			MasterName:      masterName,
			MasterAddr:      t.master.Addr(),
			Quorum:          2,
			DownAfter:       cfg.downAfter,
			FailoverTimeout: cfg.failoverTimeout,
			ParallelSyncs:   1,
			Stdout:          f,
		})
		if err != nil {
			f.Close()
			return fmt.Errorf("start sentinel %d: %w", i+1, err)
		}
		t.closers = append(t.closers, func() error {
			return errors.Join(s.Close(), f.Close())
		})
		t.monitors = append(t.monitors, s.Addr())
	}
	return nil
}

// rsNode is the addresses of one raftsentinel monitor.
type rsNode struct {
	id                     string
	listen, raft, http     string
	dir, confPath, logPath string
}

// startRaftsentinel writes three monitor configurations and runs the
// built binary on each, as separate processes.
func (t *topology) startRaftsentinel(ctx context.Context, cfg drillConfig) error {
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
	// Start all three before waiting for any: they need each other to
	// elect a Raft leader.
	var procs []*proc
	for _, n := range nodes {
		p, err := startProc(ctx, cfg.bin, []string{"run", "--config", n.confPath}, n.logPath)
		if err != nil {
			return fmt.Errorf("start monitor %s: %w", n.id, err)
		}
		procs = append(procs, p)
		t.closers = append(t.closers, p.kill)
		t.logs = append(t.logs, n.logPath)
		t.monitors = append(t.monitors, n.listen)
	}
	for i, n := range nodes {
		if err := procs[i].waitPing(ctx, n.listen, cfg.readyTimeout); err != nil {
			return fmt.Errorf("monitor %s: %w", n.id, err)
		}
	}
	return nil
}

// monitorYAML is the configuration file of monitor i of nodes.
func monitorYAML(nodes []rsNode, i int, masterAddr string, cfg drillConfig) string {
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
	// hashicorp/raft LAN defaults, as shipped; not tuned for the bench.
	b.WriteString("raft:\n  heartbeat-timeout: 500ms\n  election-timeout: 500ms\n  leader-lease-timeout: 250ms\n")
	b.WriteString("log:\n  level: warn\n  format: text\n")
	return b.String()
}

// proc is one raftsentinel process in its own process group.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// startProc runs bin with args, its output going to logPath. The process
// is killed when ctx ends, when kill is called, and (Pdeathsig) when this
// program dies.
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

// waitPing waits until addr answers PING, failing early if the process
// exits.
func (p *proc) waitPing(ctx context.Context, addr string, timeout time.Duration) error {
	c := redis.NewClient(clientOptions(addr))
	defer c.Close()
	return poll(ctx, timeout, func() error {
		select {
		case <-p.done:
			data, _ := os.ReadFile(p.log.Name())
			return permanent{fmt.Errorf("process exited (%s); output:\n%s", p.cmd.ProcessState, data)}
		default:
		}
		return c.Ping(ctx).Err()
	})
}

// replicasUp checks that every replica's link to the master is up.
func (t *topology) replicasUp(ctx context.Context) error {
	for i, c := range t.repClients {
		info, err := c.Info(ctx, "replication").Result()
		if err != nil {
			return fmt.Errorf("replica %s: %w", t.replicas[i].Addr(), err)
		}
		if st := redisproc.InfoField(info, "master_link_status"); st != "up" {
			return fmt.Errorf("replica %s: master_link_status %q", t.replicas[i].Addr(), st)
		}
	}
	return nil
}

// ready checks that every monitor names the master, knows both replicas and
// the two other monitors, and that replication is up.
func (t *topology) ready(ctx context.Context) error {
	for i, c := range t.monClients {
		a := t.monitors[i]
		got, err := c.GetMasterAddrByName(ctx, masterName).Result()
		if err != nil {
			return fmt.Errorf("monitor %s: get-master-addr-by-name: %w", a, err)
		}
		if len(got) != 2 || net.JoinHostPort(got[0], got[1]) != t.master.Addr() {
			return fmt.Errorf("monitor %s: master %v, want %s", a, got, t.master.Addr())
		}
		m, err := c.Master(ctx, masterName).Result()
		if err != nil {
			return fmt.Errorf("monitor %s: sentinel master: %w", a, err)
		}
		if m["num-slaves"] != "2" || m["num-other-sentinels"] != "2" {
			return fmt.Errorf("monitor %s: num-slaves %q, num-other-sentinels %q", a, m["num-slaves"], m["num-other-sentinels"])
		}
		if strings.Contains(m["flags"], "down") || strings.Contains(m["flags"], "failover") {
			return fmt.Errorf("monitor %s: master flags %q", a, m["flags"])
		}
	}
	return t.replicasUp(ctx)
}

// measurement is what measure saw after the kill.
type measurement struct {
	writes, agreed      time.Duration
	promoted, announced string
	perMon              []time.Duration // first new answer of each monitor; 0 = none
}

// measure kills the master and polls, concurrently, every replica with a
// SET and every monitor with GET-MASTER-ADDR-BY-NAME, until a replica
// accepts the write and all monitors give the same new address, or timeout.
func (t *topology) measure(ctx context.Context, timeout time.Duration) (measurement, error) {
	old := t.master.Addr()
	var (
		mu            sync.Mutex
		m             = measurement{perMon: make([]time.Duration, len(t.monitors))}
		latest        = make([]string, len(t.monitors))
		lastErr       = make([]error, len(t.replicas))
		wrote, agreed bool
		wg            sync.WaitGroup
	)
	t0 := time.Now()
	if err := t.master.Kill(); err != nil {
		return m, fmt.Errorf("kill master: %w", err)
	}
	mctx, cancel := context.WithDeadline(ctx, t0.Add(timeout))
	defer cancel()
	wctx, stopWrites := context.WithCancel(mctx)
	defer stopWrites()
	actx, stopAsks := context.WithCancel(mctx)
	defer stopAsks()

	for i, c := range t.repClients {
		addr := t.replicas[i].Addr()
		wg.Add(1)
		go func() {
			defer wg.Done()
			pollUntil(wctx, func() bool {
				err := c.Set(wctx, "bench:k", "v", 0).Err()
				at := time.Since(t0)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if wctx.Err() == nil {
						lastErr[i] = err
					}
					return wrote
				}
				if !wrote {
					wrote, m.writes, m.promoted = true, at, addr
					stopWrites()
				}
				return true
			})
		}()
	}
	for i, c := range t.monClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pollUntil(actx, func() bool {
				got, err := c.GetMasterAddrByName(actx, masterName).Result()
				at := time.Since(t0)
				mu.Lock()
				defer mu.Unlock()
				if err != nil || len(got) != 2 {
					return agreed
				}
				addr := net.JoinHostPort(got[0], got[1])
				latest[i] = addr
				if addr != old && m.perMon[i] == 0 {
					m.perMon[i] = at
				}
				if !agreed && allSame(latest, old) {
					agreed, m.agreed, m.announced = true, at, addr
					stopAsks()
				}
				return agreed
			})
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return m, err
	}
	if wrote && agreed {
		return m, nil
	}
	var missing []string
	if !wrote {
		var errs []string
		for i, e := range lastErr {
			errs = append(errs, fmt.Sprintf("%s: %v", t.replicas[i].Addr(), e))
		}
		missing = append(missing, "no replica accepted writes (last errors: "+strings.Join(errs, "; ")+")")
	}
	if !agreed {
		missing = append(missing, fmt.Sprintf("monitors do not agree on a new master (last answers %v, old master %s)", latest, old))
	}
	return m, fmt.Errorf("timeout after %s: %s", timeout, strings.Join(missing, "; "))
}

// allSame reports whether every answer is the same address, not old.
func allSame(answers []string, old string) bool {
	for _, a := range answers {
		if a == "" || a == old || a != answers[0] {
			return false
		}
	}
	return true
}

// clientOptions are short timeouts and no retries: every poll is one try.
func clientOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:                  addr,
		Protocol:              2,
		DisableIdentity:       true,
		DialTimeout:           200 * time.Millisecond,
		ReadTimeout:           200 * time.Millisecond,
		WriteTimeout:          200 * time.Millisecond,
		MaxRetries:            -1,
		PoolSize:              1,
		ContextTimeoutEnabled: true,
	}
}

// pollUntil calls fn every pollEvery until it returns true or ctx ends.
func pollUntil(ctx context.Context, fn func() bool) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if fn() {
			return
		}
		t.Reset(pollEvery)
	}
}
