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
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// masterName is the name both systems monitor their master under.
const masterName = "mymaster"

// readyTimeout bounds start → every monitor fully informed; readyEvery is
// the pause between two checks meanwhile.
const (
	readyTimeout = 60 * time.Second
	readyEvery   = 50 * time.Millisecond
)

// downAfter and failoverTimeout are the same for both systems; nothing
// fails during the benchmark, they only set the monitors' background work.
const (
	downAfter       = 5 * time.Second
	failoverTimeout = 60 * time.Second
)

// group is one system's topology: a master, its replica and three
// monitors, all local processes under dir.
type group struct {
	sys      benchutil.System
	dir      string
	master   *redisproc.Server
	replica  *redisproc.Server
	monitors []*benchutil.Monitor
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
func startGroup(ctx context.Context, sys benchutil.System, bin, dir string) (*group, error) {
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
	if err := benchutil.Poll(ctx, readyTimeout, readyEvery, func() error { return g.replicaUp(ctx) }); err != nil {
		return g, fmt.Errorf("%s: replication: %w", sys, err)
	}
	// raftsentinel logs JSON at level info: quiet in steady state, and it
	// carries the "raft leader changed" lines that tell the leader from the
	// followers.
	mons, err := benchutil.StartMonitors(ctx, sys, benchutil.GroupOptions{
		Dir: dir, MasterName: masterName, MasterAddr: master.Addr(),
		DownAfter: downAfter, FailoverTimeout: failoverTimeout, ReadyTimeout: readyTimeout,
		Bin: bin, LogLevel: "info", LogFormat: "json",
	})
	g.closers = append(g.closers, mons.Close)
	g.monitors = mons.List
	if err != nil {
		return g, fmt.Errorf("%s: %w", sys, err)
	}
	return g, nil
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
		if m.Pid() == 0 {
			return benchutil.Permanent(fmt.Errorf("monitor %s (%s) is not running", m.Name, m.Addr))
		}
		if err := checkMasterAddr(ctx, m.Addr, g.master.Addr()); err != nil {
			return fmt.Errorf("monitor %s: %w", m.Name, err)
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		reply, err := redisproc.Do(cctx, m.Addr, "SENTINEL", "MASTER", masterName)
		cancel()
		if err != nil {
			return fmt.Errorf("monitor %s: sentinel master: %w", m.Name, err)
		}
		f, err := benchutil.FieldMap(reply)
		if err != nil {
			return fmt.Errorf("monitor %s: sentinel master: %w", m.Name, err)
		}
		if f["num-slaves"] != "1" || f["num-other-sentinels"] != "2" {
			return fmt.Errorf("monitor %s: num-slaves %q, num-other-sentinels %q", m.Name, f["num-slaves"], f["num-other-sentinels"])
		}
		if fl := f["flags"]; strings.Contains(fl, "down") || strings.Contains(fl, "failover") {
			return fmt.Errorf("monitor %s: master flags %q", m.Name, fl)
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

// raftLeader returns the monitor every raftsentinel monitor last logged as
// the Raft leader ("raft leader changed"); they must agree.
func (g *group) raftLeader() (*benchutil.Monitor, error) {
	leader := ""
	for _, m := range g.monitors {
		id, err := lastLeader(m.LogPath)
		if err != nil {
			return nil, fmt.Errorf("monitor %s: %w", m.Name, err)
		}
		if leader != "" && id != leader {
			return nil, fmt.Errorf("monitors disagree on the Raft leader: %s logged %s, another %s", m.Name, id, leader)
		}
		leader = id
	}
	for _, m := range g.monitors {
		if m.Name == leader {
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
func (g *group) firstOther(m *benchutil.Monitor) *benchutil.Monitor {
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
		b.WriteString(benchutil.LogTail(m.Name, m.LogPath, lines))
	}
	return b.String()
}
