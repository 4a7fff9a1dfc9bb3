//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// masterName is the name both systems monitor their master under.
const masterName = "mymaster"

// readyTimeout bounds start → every monitor fully informed.
const readyTimeout = 60 * time.Second

// downAfter and failoverTimeout are the same for both systems; nothing
// fails during the benchmark, they only set the monitors' background work.
const (
	downAfter       = 5 * time.Second
	failoverTimeout = 60 * time.Second
)

// system is one of the two monitor implementations under test.
type system string

const (
	sysRaft     system = "raftsentinel"
	sysSentinel system = "sentinel"
)

// monitor is one monitor process of either system.
type monitor struct {
	name    string // m1..m3 (raftsentinel node id) or sentinel1..3
	addr    string // Sentinel-protocol address
	logPath string
	srv     *redisproc.Server // redis-sentinel
	proc    *proc             // raftsentinel
}

// pid is the monitor's process id (0 if it is not running).
func (m *monitor) pid() int {
	if m.srv != nil {
		return m.srv.Pid()
	}
	select {
	case <-m.proc.done:
		return 0
	default:
		return m.proc.cmd.Process.Pid
	}
}

// group is one system's topology: a master, its replica and three
// monitors, all local processes under dir.
type group struct {
	sys      system
	dir      string
	master   *redisproc.Server
	replica  *redisproc.Server
	monitors []*monitor
	closers  []func() error
}

// close stops every process, last started first.
func (g *group) close() error {
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		errs = append(errs, g.closers[i]())
	}
	return errors.Join(errs...)
}

// startGroup starts the master, its replica (and waits until it is in
// sync) and three monitors of sys. On error the returned group, when not
// nil, holds what was started and must be closed.
func startGroup(ctx context.Context, sys system, bin, dir string) (*group, error) {
	g := &group{sys: sys, dir: dir}
	master, err := redisproc.Start(ctx, redisproc.Options{Dir: filepath.Join(dir, "master")})
	if err != nil {
		return g, fmt.Errorf("%s: start master: %w", sys, err)
	}
	g.master = master
	g.closers = append(g.closers, master.Close)
	replica, err := redisproc.Start(ctx, redisproc.Options{Dir: filepath.Join(dir, "replica"), ReplicaOf: master.Addr()})
	if err != nil {
		return g, fmt.Errorf("%s: start replica: %w", sys, err)
	}
	g.replica = replica
	g.closers = append(g.closers, replica.Close)
	// The monitors start once the replica is in sync, so both systems find
	// it in the master's first INFO.
	if err := poll(ctx, readyTimeout, func() error { return g.replicaUp(ctx) }); err != nil {
		return g, fmt.Errorf("%s: replication: %w", sys, err)
	}
	switch sys {
	case sysRaft:
		err = g.startRaftsentinel(ctx, bin)
	case sysSentinel:
		err = g.startSentinels(ctx)
	default:
		err = fmt.Errorf("unknown system %q", sys)
	}
	if err != nil {
		return g, fmt.Errorf("%s: %w", sys, err)
	}
	return g, nil
}

// startSentinels starts three redis-sentinel processes.
func (g *group) startSentinels(ctx context.Context) error {
	for i := range 3 {
		name := fmt.Sprintf("sentinel%d", i+1)
		sdir := filepath.Join(g.dir, name)
		if err := os.MkdirAll(sdir, 0o755); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		logPath := filepath.Join(sdir, "sentinel.log")
		f, err := os.Create(logPath)
		if err != nil {
			return fmt.Errorf("%s log: %w", name, err)
		}
		s, err := redisproc.StartSentinel(ctx, redisproc.SentinelOptions{
			Dir:             sdir,
			MasterName:      masterName,
			MasterAddr:      g.master.Addr(),
			Quorum:          2,
			DownAfter:       downAfter,
			FailoverTimeout: failoverTimeout,
			ParallelSyncs:   1,
			Stdout:          f,
		})
		if err != nil {
			f.Close()
			return fmt.Errorf("start %s: %w", name, err)
		}
		g.closers = append(g.closers, func() error { return errors.Join(s.Close(), f.Close()) })
		g.monitors = append(g.monitors, &monitor{name: name, addr: s.Addr(), logPath: logPath, srv: s})
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
func (g *group) startRaftsentinel(ctx context.Context, bin string) error {
	nodes := make([]rsNode, 3)
	for i := range nodes {
		n := &nodes[i]
		n.id = fmt.Sprintf("m%d", i+1)
		n.dir = filepath.Join(g.dir, n.id)
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
		if err := os.WriteFile(nodes[i].confPath, []byte(monitorYAML(nodes, i, g.master.Addr())), 0o644); err != nil {
			return fmt.Errorf("write config of %s: %w", nodes[i].id, err)
		}
	}
	// Start all three before waiting for any: they need each other to
	// elect a Raft leader.
	for _, n := range nodes {
		p, err := startProc(ctx, bin, []string{"run", "--config", n.confPath}, n.logPath)
		if err != nil {
			return fmt.Errorf("start monitor %s: %w", n.id, err)
		}
		g.closers = append(g.closers, p.kill)
		g.monitors = append(g.monitors, &monitor{name: n.id, addr: n.listen, logPath: n.logPath, proc: p})
	}
	for _, m := range g.monitors {
		if err := m.proc.waitPing(ctx, m.addr, readyTimeout); err != nil {
			return fmt.Errorf("monitor %s: %w", m.name, err)
		}
	}
	return nil
}

// monitorYAML is the configuration file of monitor i of nodes. The log is
// JSON at level info: quiet in steady state, and it carries the "raft
// leader changed" lines that tell the leader from the followers.
func monitorYAML(nodes []rsNode, i int, masterAddr string) string {
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
	fmt.Fprintf(&b, "    down-after: %s\n    failover-timeout: %s\n    parallel-syncs: 1\n", downAfter, failoverTimeout)
	// hashicorp/raft LAN defaults, as shipped; not tuned for the bench.
	b.WriteString("raft:\n  heartbeat-timeout: 500ms\n  election-timeout: 500ms\n  leader-lease-timeout: 250ms\n")
	b.WriteString("log:\n  level: info\n  format: json\n")
	return b.String()
}

// replicaUp checks that the replica's link to the master is up.
func (g *group) replicaUp(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	info, err := redisproc.Command(cctx, g.replica.Addr(), "INFO", "replication")
	if err != nil {
		return fmt.Errorf("replica %s: %w", g.replica.Addr(), err)
	}
	if st := redisproc.InfoField(info, "master_link_status"); st != "up" {
		return fmt.Errorf("replica %s: master_link_status %q", g.replica.Addr(), st)
	}
	return nil
}

// ready checks that every monitor is running, names the master, knows the
// replica and the two other monitors and sees nothing down, and that
// replication is up.
func (g *group) ready(ctx context.Context) error {
	for _, m := range g.monitors {
		if m.pid() == 0 {
			return permanent{fmt.Errorf("monitor %s (%s) is not running", m.name, m.addr)}
		}
		if err := checkMasterAddr(ctx, m.addr, g.master.Addr()); err != nil {
			return fmt.Errorf("monitor %s: %w", m.name, err)
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		reply, err := redisproc.Do(cctx, m.addr, "SENTINEL", "MASTER", masterName)
		cancel()
		if err != nil {
			return fmt.Errorf("monitor %s: sentinel master: %w", m.name, err)
		}
		f, err := fieldMap(reply)
		if err != nil {
			return fmt.Errorf("monitor %s: sentinel master: %w", m.name, err)
		}
		if f["num-slaves"] != "1" || f["num-other-sentinels"] != "2" {
			return fmt.Errorf("monitor %s: num-slaves %q, num-other-sentinels %q", m.name, f["num-slaves"], f["num-other-sentinels"])
		}
		if fl := f["flags"]; strings.Contains(fl, "down") || strings.Contains(fl, "failover") {
			return fmt.Errorf("monitor %s: master flags %q", m.name, fl)
		}
	}
	return g.replicaUp(ctx)
}

// checkMasterAddr checks that addr answers GET-MASTER-ADDR-BY-NAME with
// want (host:port).
func checkMasterAddr(ctx context.Context, addr, want string) error {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	reply, err := redisproc.Do(cctx, addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName)
	if err != nil {
		return fmt.Errorf("get-master-addr-by-name: %w", err)
	}
	arr, ok := reply.([]any)
	if !ok || len(arr) != 2 {
		return fmt.Errorf("get-master-addr-by-name: reply %#v, want [host port]", reply)
	}
	host, _ := arr[0].(string)
	port, _ := arr[1].(string)
	if got := net.JoinHostPort(host, port); got != want {
		return fmt.Errorf("get-master-addr-by-name: %s, want %s", got, want)
	}
	return nil
}

// fieldMap turns a flat [key, value, ...] reply into a map.
func fieldMap(reply any) (map[string]string, error) {
	arr, ok := reply.([]any)
	if !ok || len(arr)%2 != 0 {
		return nil, fmt.Errorf("reply %T is not a flat key/value array", reply)
	}
	out := make(map[string]string, len(arr)/2)
	for i := 0; i < len(arr); i += 2 {
		k, _ := arr[i].(string)
		v, _ := arr[i+1].(string)
		out[k] = v
	}
	return out, nil
}

// raftLeader returns the monitor every raftsentinel monitor last logged as
// the Raft leader ("raft leader changed"); they must agree.
func (g *group) raftLeader() (*monitor, error) {
	leader := ""
	for _, m := range g.monitors {
		id, err := lastLeader(m.logPath)
		if err != nil {
			return nil, fmt.Errorf("monitor %s: %w", m.name, err)
		}
		if leader != "" && id != leader {
			return nil, fmt.Errorf("monitors disagree on the Raft leader: %s logged %s, another %s", m.name, id, leader)
		}
		leader = id
	}
	for _, m := range g.monitors {
		if m.name == leader {
			return m, nil
		}
	}
	return nil, fmt.Errorf("the logged Raft leader %q is none of the monitors", leader)
}

// lastLeader reads the leader id of the last "raft leader changed" line
// of a monitor's JSON log.
func lastLeader(logPath string) (string, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	leader := ""
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte("raft leader changed")) {
			continue
		}
		var rec struct {
			Msg    string `json:"msg"`
			Leader string `json:"leader"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "raft leader changed" {
			leader = rec.Leader
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", logPath, err)
	}
	if leader == "" {
		return "", fmt.Errorf("no current Raft leader in %s", logPath)
	}
	return leader, nil
}

// firstOther returns the first monitor that is not m.
func (g *group) firstOther(m *monitor) *monitor {
	for _, o := range g.monitors {
		if o != m {
			return o
		}
	}
	return m
}

// logTail returns the last lines of every monitor's log.
func (g *group) logTail(lines int) string {
	var b strings.Builder
	for _, m := range g.monitors {
		data, err := os.ReadFile(m.logPath)
		if err != nil {
			fmt.Fprintf(&b, "    [%s] log unreadable: %v\n", m.name, err)
			continue
		}
		all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(all) > lines {
			all = all[len(all)-lines:]
		}
		fmt.Fprintf(&b, "    [%s: %s]\n", m.name, m.logPath)
		for _, l := range all {
			fmt.Fprintf(&b, "      %s\n", l)
		}
	}
	return b.String()
}
