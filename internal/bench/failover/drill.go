//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// masterName is the name both systems monitor the master under.
const masterName = "mymaster"

// pollEvery is the pause between two probes of the same node after the
// kill.
const pollEvery = 5 * time.Millisecond

// readyEvery is the pause between two checks of the topology before the
// kill.
const readyEvery = 20 * time.Millisecond

// drillConfig is the part of a drill that is the same for every run.
type drillConfig struct {
	// monitors is the template of every run's monitors (all but Dir and
	// MasterAddr); its ReadyTimeout also bounds start → fully connected
	// topology.
	monitors   benchutil.GroupOptions
	runTimeout time.Duration // kill → both measurements done
}

// result is what one drill measured. A run failed when err is set.
type result struct {
	system    benchutil.System
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
	mons     *benchutil.Monitors
	monitors []string // Sentinel-protocol addresses
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
	if t.mons == nil {
		return ""
	}
	var b strings.Builder
	for i, m := range t.mons.List {
		b.WriteString(benchutil.LogTail(fmt.Sprintf("monitor %d", i+1), m.LogPath, lines))
	}
	return b.String()
}

// runDrill builds a fresh topology for sys under dir, waits until it is
// fully connected, kills the master and measures the failover.
func runDrill(ctx context.Context, cfg drillConfig, sys benchutil.System, run int, dir string) (res result) {
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
	if err := benchutil.Poll(ctx, cfg.monitors.ReadyTimeout, readyEvery, func() error { return topo.ready(ctx) }); err != nil {
		res.err = fmt.Errorf("topology not ready after %s: %w", cfg.monitors.ReadyTimeout, err)
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
func startTopology(ctx context.Context, cfg drillConfig, sys benchutil.System, dir string) (*topology, error) {
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
	if err := benchutil.Poll(ctx, cfg.monitors.ReadyTimeout, readyEvery, func() error { return t.replicasUp(ctx) }); err != nil {
		return t, fmt.Errorf("replication: %w", err)
	}
	mopt := cfg.monitors
	mopt.Dir, mopt.MasterAddr = dir, master.Addr()
	t.mons, err = benchutil.StartMonitors(ctx, sys, mopt)
	t.closers = append(t.closers, t.mons.Close)
	if err != nil {
		return t, err
	}
	t.monitors = t.mons.Addrs()
	for _, a := range t.monitors {
		t.monClients = append(t.monClients, redis.NewSentinelClient(clientOptions(a)))
	}
	return t, nil
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
