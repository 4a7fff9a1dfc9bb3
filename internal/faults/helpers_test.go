//go:build integration

package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/netfault"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// promise is the product's bound from a fault to the failover being visible
// on every (surviving) monitor.
const promise = 30 * time.Second

// ---- monitor logs ----

// logBuffer collects the monitors' slog output; the test prints it when it
// fails and greps it for blocking reasons.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the log lines that contain every one of substrs.
func (l *logBuffer) lines(substrs ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, s := range substrs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// ---- a monitor group whose members stop one by one ----

// groupOpts are the settings that differ from demo.MonitorConfig's.
type groupOpts struct {
	downAfter       time.Duration // required
	failoverTimeout time.Duration // 0 = demo's 30s
	staleAfter      time.Duration // 0 = the default (3s)
	// links, when set, carries every monitor-to-monitor connection and
	// watches the monitors' connections to Redis (partitions between
	// live monitors).
	links *netfault.Links
}

// group is three in-process monitors of testenv.MasterName, built like
// demo.NewMonitors, each with its own context so that one can be stopped
// (its Run cancelled: the monitor is gone) while the others run on.
type group struct {
	t       *testing.T
	daemons []*daemon.Daemon
	cfgs    []config.Config
	log     *slog.Logger
	logs    *logBuffer

	mu      sync.Mutex
	cancels []context.CancelFunc
	done    []chan error // receives Run's result once
	stopped []bool
}

// startGroup starts three monitors of master with o's settings. They are
// stopped by t.Cleanup; their logs are printed if the test fails (or always
// with FAULTS_LOGS=1).
func startGroup(t *testing.T, dir, master string, o groupOpts) *group {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	lns, err := demo.OpenListeners(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &group{t: t, log: log, logs: logs}
	for i := range lns {
		cfg := demo.MonitorConfig(dir, i, lns, master, o.downAfter)
		if o.failoverTimeout > 0 {
			cfg.Masters[0].FailoverTimeout = o.failoverTimeout
		}
		if o.staleAfter > 0 {
			cfg.StaleAfter = o.staleAfter
		}
		err := cfg.Validate()
		var d *daemon.Daemon
		if err == nil {
			opts := daemon.Options{Listeners: lns[i], Logger: log}
			if o.links != nil {
				o.links.Register(i, lns[i].Raft.Addr().String(), lns[i].HTTP.Addr().String())
				opts.Dial, opts.RedisDial = o.links.Dialer(i), o.links.RedisDialer(i)
			}
			d, err = daemon.New(cfg, opts)
		}
		if err != nil {
			for _, x := range g.daemons {
				x.Close()
			}
			demo.CloseListeners(lns[i:])
			t.Fatalf("monitor m%d: %v", i+1, err)
		}
		g.daemons = append(g.daemons, d)
		g.cfgs = append(g.cfgs, cfg)
	}
	// Registered before the stop below, so it runs after it: the log is
	// complete when printed.
	stalls := watchStalls()
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("FAULTS_LOGS") != "" {
			t.Logf("monitor logs:\n%s", logs.String())
		}
		if t.Failed() {
			// Triage: the monitors live in this process; a stalled
			// process (an overloaded host) stalls all three at once.
			t.Logf("test process stalls: %s", stalls)
			if tilts := logs.lines("+tilt"); len(tilts) > 0 {
				t.Logf("monitors entered TILT %d time(s) (a decision tick came > 2 s late): the host stalled; first: %s", len(tilts), tilts[0])
			}
		}
	})
	t.Cleanup(stalls.close)
	for i := range g.daemons {
		g.cancels = append(g.cancels, nil)
		g.done = append(g.done, nil)
		g.stopped = append(g.stopped, true)
		g.run(i)
	}
	t.Cleanup(g.stopAll)
	return g
}

// run starts monitor i's Run.
func (g *group) run(i int) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	g.mu.Lock()
	d := g.daemons[i]
	g.cancels[i], g.done[i], g.stopped[i] = cancel, done, false
	g.mu.Unlock()
	go func() { done <- d.Run(ctx) }()
}

// restart starts stopped monitor i again from its data dir, on its raft
// address (the address its peers know) and new Sentinel-protocol and HTTP
// ports.
func (g *group) restart(t *testing.T, i int) {
	t.Helper()
	if g.running(i) {
		t.Fatalf("restart of running monitor m%d", i+1)
	}
	cfg := g.cfgs[i]
	lns, err := demo.OpenListeners(1, []string{cfg.RaftAddr})
	if err != nil {
		t.Fatalf("monitor m%d: reopen listeners: %v", i+1, err)
	}
	cfg.Listen = lns[0].RESP.Addr().String()
	cfg.Announce = cfg.Listen
	cfg.HTTPAddr = lns[0].HTTP.Addr().String()
	d, err := daemon.New(cfg, daemon.Options{Listeners: lns[0], Logger: g.log})
	if err != nil {
		demo.CloseListeners(lns)
		t.Fatalf("monitor m%d: %v", i+1, err)
	}
	g.mu.Lock()
	g.daemons[i], g.cfgs[i] = d, cfg
	g.mu.Unlock()
	g.run(i)
}

// stop cancels monitor i's Run and waits until it has returned. Safe to
// call from any goroutine; idempotent.
func (g *group) stop(i int) {
	g.mu.Lock()
	if g.stopped[i] {
		g.mu.Unlock()
		return
	}
	g.stopped[i] = true
	cancel, done := g.cancels[i], g.done[i]
	g.mu.Unlock()
	cancel()
	if err := <-done; err != nil {
		g.t.Errorf("monitor m%d: %v", i+1, err)
	}
}

// crash closes monitor i while its Run is still going — Raft, probes and
// servers stop at once, without the leadership handover a cancelled Run
// performs, as when the process is killed — then cancels Run and waits.
func (g *group) crash(i int) {
	if err := g.daemons[i].Close(); err != nil {
		g.t.Logf("monitor m%d close: %v", i+1, err)
	}
	g.stop(i)
}

// stopAll stops every monitor still running, concurrently.
func (g *group) stopAll() {
	var wg sync.WaitGroup
	for i := range g.daemons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.stop(i)
		}()
	}
	wg.Wait()
}

// running reports whether monitor i has not been stopped.
func (g *group) running(i int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.stopped[i]
}

// addrs are the Sentinel-protocol addresses of monitors idx (all when idx
// is empty).
func (g *group) addrs(idx ...int) []string {
	if len(idx) == 0 {
		for i := range g.daemons {
			idx = append(idx, i)
		}
	}
	var out []string
	for _, i := range idx {
		out = append(out, g.daemons[i].RESPAddr())
	}
	return out
}

// leader waits until exactly one running monitor is the Raft leader and
// returns its index.
func (g *group) leader(t *testing.T, within time.Duration) int {
	t.Helper()
	idx := -1
	testenv.Eventually(t, within, "one raft leader among the running monitors", func() error {
		idx = -1
		for i, d := range g.daemons {
			if !g.running(i) || !d.Store().IsLeader() {
				continue
			}
			if idx >= 0 {
				return fmt.Errorf("m%d and m%d both lead", idx+1, i+1)
			}
			idx = i
		}
		if idx < 0 {
			return fmt.Errorf("no leader")
		}
		return nil
	})
	return idx
}

// logLines t.Logs the monitor log lines that contain every one of substrs
// (the evidence of a scenario; the first few and the last) and returns
// them all.
func (g *group) logLines(t *testing.T, substrs ...string) []string {
	t.Helper()
	const show = 4
	lines := g.logs.lines(substrs...)
	for i, l := range lines {
		switch {
		case i < show || i == len(lines)-1:
			t.Logf("log: %s", l)
		case i == show:
			t.Logf("log: ... %d more like this ...", len(lines)-show-1)
		}
	}
	return lines
}

// stallWatch measures how late a 20 ms ticker fires in this process: the
// evidence, when a timing assertion fails, that the host stalled.
type stallWatch struct {
	mu     sync.Mutex
	worst  time.Duration
	at     time.Time
	over   int // stalls longer than 500 ms
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
}

func watchStalls() *stallWatch {
	w := &stallWatch{stop: make(chan struct{}), done: make(chan struct{})}
	const period = 20 * time.Millisecond
	go func() {
		defer close(w.done)
		t := time.NewTicker(period)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				now := time.Now()
				late := now.Sub(last) - period
				last = now
				w.mu.Lock()
				if late > w.worst {
					w.worst, w.at = late, now
				}
				if late > 500*time.Millisecond {
					w.over++
				}
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *stallWatch) close() {
	w.closed.Do(func() { close(w.stop) })
	<-w.done
}

func (w *stallWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("worst %v at %s, %d over 500ms", w.worst.Round(time.Millisecond), w.at.Format("15:04:05.000"), w.over)
}

// ---- Sentinel events ----

// event is one Pub/Sub message received from monitor mon.
type event struct {
	mon              int
	channel, payload string
	at               time.Time
}

// events records every message of a PSUBSCRIBE * on each monitor.
type events struct {
	mu   sync.Mutex
	list []event
	wg   sync.WaitGroup
}

// subscribe opens a PSUBSCRIBE * connection to every address and records
// what arrives until the test ends.
func subscribe(t *testing.T, addrs []string) *events {
	t.Helper()
	ev := &events{}
	ctx := context.Background()
	// Cleanups run last-in first-out: this wait runs after every close
	// below has ended its reader.
	t.Cleanup(ev.wg.Wait)
	for i, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		ps := c.PSubscribe(ctx, "*")
		if _, err := ps.Receive(ctx); err != nil { // the subscription confirmation
			ps.Close()
			c.Close()
			t.Fatalf("PSUBSCRIBE * on %s: %v", a, err)
		}
		ev.wg.Add(1)
		go func() {
			defer ev.wg.Done()
			for {
				msg, err := ps.ReceiveMessage(ctx)
				if err != nil {
					return // closed, or the monitor is gone
				}
				ev.mu.Lock()
				ev.list = append(ev.list, event{mon: i, channel: msg.Channel, payload: msg.Payload, at: time.Now()})
				ev.mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			ps.Close()
			c.Close()
		})
	}
	return ev
}

// find returns the recorded events on channel ("" = any) whose payload
// starts with prefix.
func (ev *events) find(channel, prefix string) []event {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []event
	for _, e := range ev.list {
		if (channel == "" || e.channel == channel) && strings.HasPrefix(e.payload, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// monitors returns the set of monitors among es.
func monitors(es []event) map[int]bool {
	out := map[int]bool{}
	for _, e := range es {
		out[e.mon] = true
	}
	return out
}

// ---- Redis nodes ----

// node is a Redis node as ROLE reports it.
type node struct {
	role       string // master or slave
	masterPort int    // slave: the port of its master
	state      string // slave: connect, connecting, sync, connected
}

// roleOf asks addr for ROLE (bounded: the node may be hung).
func roleOf(addr string) (node, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	v, err := redisproc.Do(ctx, addr, "ROLE")
	if err != nil {
		return node{}, err
	}
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return node{}, fmt.Errorf("%s: ROLE reply %v", addr, v)
	}
	n := node{role: fmt.Sprint(a[0])}
	if n.role == "slave" {
		if len(a) < 4 {
			return node{}, fmt.Errorf("%s: ROLE reply %v", addr, v)
		}
		p, ok := a[2].(int64)
		if !ok {
			return node{}, fmt.Errorf("%s: ROLE master port %v", addr, a[2])
		}
		n.masterPort, n.state = int(p), fmt.Sprint(a[3])
	}
	return n, nil
}

// followsConnected checks that replica reports role slave of masterPort
// with its link connected.
func followsConnected(replica string, masterPort int) error {
	n, err := roleOf(replica)
	if err != nil {
		return err
	}
	if n.role != "slave" || n.masterPort != masterPort || n.state != "connected" {
		return fmt.Errorf("%s: role %s master port %d state %q, want slave of %d connected", replica, n.role, n.masterPort, n.state, masterPort)
	}
	return nil
}

// oneMaster checks ROLE on every node: master is the only master and every
// other node is its connected replica.
func oneMaster(master *redisproc.Server, others ...*redisproc.Server) error {
	n, err := roleOf(master.Addr())
	if err != nil {
		return err
	}
	if n.role != "master" {
		return fmt.Errorf("%s: role %s, want master", master.Addr(), n.role)
	}
	for _, o := range others {
		if err := followsConnected(o.Addr(), master.Port()); err != nil {
			return err
		}
	}
	return nil
}

// cmd runs one command on a Redis node with a short deadline.
func cmd(addr string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return redisproc.Command(ctx, addr, args...)
}

// dbsize is DBSIZE of addr.
func dbsize(addr string) (int, error) {
	s, err := cmd(addr, "DBSIZE")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

// linksUp waits until every replica's master_link_status is up.
func linksUp(t *testing.T, replicas ...*redisproc.Server) {
	t.Helper()
	testenv.Eventually(t, 15*time.Second, "replication links up", func() error {
		for _, r := range replicas {
			info, err := cmd(r.Addr(), "INFO", "replication")
			if err != nil {
				return err
			}
			if s := redisproc.InfoField(info, "master_link_status"); s != "up" {
				return fmt.Errorf("%s: master_link_status %q", r.Addr(), s)
			}
		}
		return nil
	})
}

// ---- Sentinel protocol ----

// sentinelDo runs one command on a monitor.
func sentinelDo(addr string, args ...any) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	return c.Do(ctx, args...).Result()
}

// sentinelMaster is SENTINEL MASTER MasterName on one monitor.
func sentinelMaster(addr string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer sc.Close()
	return sc.Master(ctx, testenv.MasterName).Result()
}

// violation marks an observation that breaks an assertion, as opposed to a
// query that failed (a loaded machine can time a query out, which proves
// nothing either way).
type violation struct{ error }

func violationf(format string, args ...any) error {
	return violation{fmt.Errorf(format, args...)}
}

// masterAddr asks one monitor for MasterName's address.
func masterAddr(sentinel string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel})
	defer sc.Close()
	got, err := sc.GetMasterAddrByName(ctx, testenv.MasterName).Result()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(got[0], got[1]), nil
}

// steady checks that every monitor answers master at config epoch epoch
// with no failover in progress. A different answer is a violation.
func steady(sentinels []string, master string, epoch int) error {
	for _, s := range sentinels {
		got, err := masterAddr(s)
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		if got != master {
			return violationf("%s answers %s, want %s", s, got, master)
		}
		m, err := sentinelMaster(s)
		if err != nil {
			return fmt.Errorf("%s: SENTINEL MASTER: %w", s, err)
		}
		if m["config-epoch"] != strconv.Itoa(epoch) {
			return violationf("%s: config-epoch %s, want %d", s, m["config-epoch"], epoch)
		}
		if strings.Contains(m["flags"], "failover_in_progress") {
			return violationf("%s: flags %s", s, m["flags"])
		}
	}
	return nil
}

// holds polls fn every 50 ms during d: "nothing happens during d". A
// violation fails the test at once; other errors (failed queries) are
// tolerated, but at least one poll must succeed, the last one included.
func holds(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	holdUntil(t, time.Now().Add(d), what, fn)
}

// holdUntil is holds up to a point in time.
func holdUntil(t *testing.T, end time.Time, what string, fn func() error) {
	t.Helper()
	ok, failed := 0, 0
	var lastErr error
	for {
		err := fn()
		var v violation
		switch {
		case errors.As(err, &v):
			t.Fatalf("%s: broken %v before the end of the window: %v", what, time.Until(end).Round(time.Millisecond), err)
		case err != nil:
			failed++
			lastErr = err
		default:
			ok++
		}
		if !time.Now().Before(end) {
			if err != nil {
				// The window is over but the last look failed: look
				// again until one succeeds (bounded).
				if time.Since(end) > 10*time.Second {
					t.Fatalf("%s: cannot observe the end of the window: %v", what, err)
				}
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if failed > 0 {
				t.Logf("%s: %d polls ok, %d failed queries tolerated (last: %v)", what, ok, failed, lastErr)
			}
			return
		}
		time.Sleep(min(50*time.Millisecond, max(time.Until(end), 0)))
	}
}
