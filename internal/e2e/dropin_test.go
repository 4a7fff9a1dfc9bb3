//go:build integration

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// dropInMonitor is one monitor started from a sentinel.conf.
type dropInMonitor struct {
	d   *daemon.Daemon
	cfg config.Config
	r   *runner
}

// startDropIn starts a monitor from the sentinel.conf at path as the
// command does (config.LoadSentinelConf, daemon.PrepareDropIn), with its
// raft and http listeners given (as --raft-addr/--http-addr would) so that
// no derived port can collide in a test. The RESP listener is opened on
// the file's port, as the command does.
func startDropIn(t *testing.T, path string, helloPeriod time.Duration, tweak ...func(*config.Config)) *dropInMonitor {
	t.Helper()
	lns, err := demo.OpenListeners(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	lns[0].RESP.Close()
	lns[0].RESP = nil // the file's port
	fs := pflag.NewFlagSet("raftsentinel", pflag.ContinueOnError)
	config.BindFlags(fs)
	if err := fs.Parse([]string{"--raft-addr", lns[0].Raft.Addr().String(), "--http-addr", lns[0].HTTP.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.LoadSentinelConf(path, fs, nil)
	if err != nil {
		demo.CloseListeners(lns)
		t.Fatal(err)
	}
	for _, f := range tweak {
		f(&cfg)
	}
	cfg.DropIn.HelloPeriod = helloPeriod
	if err := daemon.PrepareDropIn(&cfg); err != nil {
		t.Fatal(err)
	}
	// The monitor's log goes beside its file (read it when a test fails).
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(path), "monitor.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := daemon.New(cfg, daemon.Options{Listeners: lns[0], Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	m := &dropInMonitor{d: d, cfg: cfg, r: run(t, d)}
	t.Cleanup(m.r.stop)
	return m
}

// writeSentinelConf writes a minimal sentinel.conf as an operator would.
func writeSentinelConf(t *testing.T, dir string, port int, master string, quorum int, extra ...string) string {
	t.Helper()
	host, mport, _ := net.SplitHostPort(master)
	lines := []string{
		"port " + strconv.Itoa(port),
		"bind 127.0.0.1",
		"daemonize no",
		"dir " + dir,
		fmt.Sprintf("sentinel monitor mymaster %s %s %d", host, mport, quorum),
		"sentinel down-after-milliseconds mymaster 1000",
		"sentinel failover-timeout mymaster 10000",
		"sentinel parallel-syncs mymaster 1",
	}
	lines = append(lines, extra...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := redisproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitOneGroup waits until every monitor is a member of one Raft group of
// len(ms) voters and answers want for mymaster with the others listed.
func waitOneGroup(t *testing.T, ms []*dropInMonitor, want string, replicas int) {
	t.Helper()
	ctx := context.Background()
	var addrs []string
	for _, m := range ms {
		addrs = append(addrs, m.d.RESPAddr())
	}
	testenv.Eventually(t, 60*time.Second, "one group of all monitors", func() error {
		for _, m := range ms {
			s, err := m.d.Store().Servers()
			if err != nil || len(s) != len(ms) {
				return fmt.Errorf("%s: raft members %v %v", m.cfg.NodeID, s, err)
			}
		}
		return nil
	})
	testenv.WaitReady(t, addrs, want, replicas, len(ms)-1)
	_ = ctx
}

// TestDropInFormsGroupAndFailsOver: three monitors started from three
// sentinel.conf files that name no peers find each other through hello
// messages on the master, form one Raft group (bootstrapped by the lowest
// node id, the others joined) and fail over a killed master.
func TestDropInFormsGroupAndFailsOver(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 2)
	var ms []*dropInMonitor
	for i := range 3 {
		sd := filepath.Join(dir, fmt.Sprintf("s%d", i+1))
		if err := os.MkdirAll(sd, 0o755); err != nil {
			t.Fatal(err)
		}
		notify, reconf := filepath.Join(sd, "notify.sh"), filepath.Join(sd, "reconf.sh")
		for p, log := range map[string]string{notify: "notify.log", reconf: "reconf.log"} {
			if err := os.WriteFile(p, []byte("#!/bin/sh\necho \"$*\" >> "+filepath.Join(sd, log)+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		p := writeSentinelConf(t, sd, freePort(t), tp.Master.Addr(), 2,
			"sentinel notification-script mymaster "+notify, "sentinel client-reconfig-script mymaster "+reconf)
		ms = append(ms, startDropIn(t, p, 200*time.Millisecond))
	}
	waitOneGroup(t, ms, tp.Master.Addr(), 2)

	// One group, formed once: every group file names the lowest node id,
	// and node ids are the Sentinel ids (SENTINEL MYID).
	lowest := ms[0].cfg.NodeID
	for _, m := range ms {
		lowest = min(lowest, m.cfg.NodeID)
	}
	for _, m := range ms {
		b, err := os.ReadFile(filepath.Join(m.cfg.DataDir, "group"))
		if err != nil || strings.TrimSpace(string(b)) != lowest {
			t.Fatalf("%s: group file %q %v, want %s", m.cfg.NodeID, b, err, lowest)
		}
		id, err := redisproc.Command(ctx, m.d.RESPAddr(), "SENTINEL", "MYID")
		if err != nil || id != m.cfg.NodeID {
			t.Fatalf("SENTINEL MYID %q %v, want the node id %s", id, err, m.cfg.NodeID)
		}
	}

	if err := tp.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, m := range ms {
		addrs = append(addrs, m.d.RESPAddr())
	}
	testenv.Eventually(t, 30*time.Second, "failover to a replica", func() error {
		got, err := testenv.MasterAddr(ctx, addrs[0])
		if err != nil {
			return err
		}
		if got != tp.Replicas[0].Addr() && got != tp.Replicas[1].Addr() {
			return fmt.Errorf("master still %s", got)
		}
		return testenv.AllAnswer(ctx, addrs, got)
	})
	newMaster, _ := testenv.MasterAddr(ctx, addrs[0])
	_, newPort, _ := net.SplitHostPort(newMaster)

	// Scripts, as Sentinel runs them: each monitor's notification script
	// gets the WARNING events (type, description); the reconfiguration
	// script runs on every monitor, as leader on the one that failed over.
	testenv.Eventually(t, 20*time.Second, "scripts called", func() error {
		leaders := 0
		for i := range ms {
			sd := filepath.Join(dir, fmt.Sprintf("s%d", i+1))
			rb, _ := os.ReadFile(filepath.Join(sd, "reconf.log"))
			nb, _ := os.ReadFile(filepath.Join(sd, "notify.log"))
			line := strings.TrimSpace(string(rb))
			want := fmt.Sprintf("start 127.0.0.1 %d 127.0.0.1 %s", tp.Master.Port(), newPort)
			switch line {
			case "mymaster leader " + want:
				leaders++
			case "mymaster observer " + want:
			default:
				return fmt.Errorf("monitor %d: reconf script called with %q", i+1, line)
			}
			for _, ev := range []string{fmt.Sprintf("+sdown master mymaster 127.0.0.1 %d", tp.Master.Port()),
				fmt.Sprintf("+switch-master mymaster 127.0.0.1 %d 127.0.0.1 %s", tp.Master.Port(), newPort)} {
				if !strings.Contains(string(nb), ev) {
					return fmt.Errorf("monitor %d: notification script not called with %q:\n%s", i+1, ev, nb)
				}
			}
			if strings.Contains(string(nb), "+slave ") {
				return fmt.Errorf("monitor %d: notification script called for a notice-level event:\n%s", i+1, nb)
			}
		}
		if leaders != 1 {
			return fmt.Errorf("%d monitors ran the reconf script as leader, want 1", leaders)
		}
		return nil
	})
}

// TestDropInReplacesRealSentinels: three real redis-sentinel processes run
// on generated files and rewrite them (myid, known-replica, known-sentinel,
// current-epoch); they are stopped and raftsentinel runs from those files
// unchanged, on the same ports: node ids are the Sentinels' ids, the group
// size comes from the known-sentinel lines, and the group forms and fails
// over a killed master.
func TestDropInReplacesRealSentinels(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 2)
	sents := testenv.StartSentinels(t, dir, 3, tp.Master.Addr(), time.Second)
	testenv.Eventually(t, 30*time.Second, "Sentinels wrote their state into their files", func() error {
		for _, s := range sents {
			b, err := os.ReadFile(s.ConfigFile())
			if err != nil {
				return err
			}
			conf := string(b)
			if strings.Count(conf, "known-sentinel") != 2 || strings.Count(conf, "known-replica") != 2 || !strings.Contains(conf, "sentinel myid") {
				return fmt.Errorf("%s not complete yet:\n%s", s.ConfigFile(), conf)
			}
		}
		return nil
	})
	var files []string
	var ids, ports []string
	for _, s := range sents {
		id, err := redisproc.Command(ctx, s.Addr(), "SENTINEL", "MYID")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		ports = append(ports, strconv.Itoa(s.Port()))
		files = append(files, s.ConfigFile())
		if err := s.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	var ms []*dropInMonitor
	for i, f := range files {
		m := startDropIn(t, f, 200*time.Millisecond)
		ms = append(ms, m)
		if m.cfg.NodeID != ids[i] || m.cfg.DropIn.ExpectedMonitors != 3 {
			t.Fatalf("%s: node id %s (want the Sentinel's %s), expected monitors %d (want 3)", f, m.cfg.NodeID, ids[i], m.cfg.DropIn.ExpectedMonitors)
		}
		if _, port, _ := net.SplitHostPort(m.d.RESPAddr()); port != ports[i] {
			t.Fatalf("%s: listening on %s, want the Sentinel's port %s", f, m.d.RESPAddr(), ports[i])
		}
	}
	waitOneGroup(t, ms, tp.Master.Addr(), 2)
	if err := tp.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, m := range ms {
		addrs = append(addrs, m.d.RESPAddr())
	}
	testenv.Eventually(t, 30*time.Second, "failover to a replica", func() error {
		got, err := testenv.MasterAddr(ctx, addrs[0])
		if err != nil {
			return err
		}
		if got == tp.Master.Addr() {
			return errors.New("master not failed over yet")
		}
		return testenv.AllAnswer(ctx, addrs, got)
	})
	newMaster, _ := testenv.MasterAddr(ctx, addrs[0])
	host, port, _ := net.SplitHostPort(newMaster)

	// The files follow the state (FLUSHCONFIG forces it; the monitors also
	// rewrite by themselves), so Redis Sentinel can take over again: the
	// same processes started on the rewritten files know the new master,
	// its replicas and each other.
	for _, a := range addrs {
		if r, err := redisproc.Command(ctx, a, "SENTINEL", "FLUSHCONFIG"); err != nil || r != "OK" {
			t.Fatalf("FLUSHCONFIG on %s: %q %v", a, r, err)
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "sentinel monitor mymaster "+host+" "+port+" ") || strings.Count(string(b), "known-sentinel") != 2 ||
			!strings.Contains(string(b), "sentinel current-epoch 1") {
			t.Fatalf("%s not rewritten from the state:\n%s", f, b)
		}
	}
	for _, m := range ms {
		m.r.stop()
	}
	for _, s := range sents {
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := s.Restart(rctx)
		cancel()
		if err != nil {
			t.Fatalf("redis-sentinel does not start from the rewritten file: %v\n%s", err, s.Output())
		}
	}
	var sentAddrs []string
	for _, s := range sents {
		sentAddrs = append(sentAddrs, s.Addr())
	}
	testenv.Eventually(t, 30*time.Second, "Redis Sentinel back on the rewritten files", func() error {
		if err := testenv.AllAnswer(ctx, sentAddrs, newMaster); err != nil {
			return err
		}
		for _, a := range sentAddrs {
			if o, err := testenv.MasterField(ctx, a, "num-other-sentinels"); err != nil || o != "2" {
				return fmt.Errorf("%s: num-other-sentinels %q %v", a, o, err)
			}
			if e, err := testenv.MasterField(ctx, a, "config-epoch"); err != nil || e != "1" {
				return fmt.Errorf("%s: config-epoch %q %v", a, e, err)
			}
		}
		return nil
	})
}

// TestDropInRefusesBesideRedisSentinel: a real redis-sentinel monitors the
// same master as a drop-in group. The group hears its 8-field hellos and
// refuses to fail the master over: CKQUORUM says why, and when the master
// dies the failover is blocked for that reason (counted in
// raftsentinel_failover_blocked_total) while the master address stays.
func TestDropInRefusesBesideRedisSentinel(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	// The real Sentinel waits long before acting itself, so that only
	// raftsentinel could fail over within the test.
	sents := testenv.StartSentinels(t, dir, 1, tp.Master.Addr(), 10*time.Minute)
	hellos := redis.NewClient(&redis.Options{Addr: tp.Master.Addr()}).Subscribe(ctx, "__sentinel__:hello")
	defer hellos.Close()
	if _, err := hellos.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	var ms []*dropInMonitor
	for i := range 3 {
		p := writeSentinelConf(t, filepath.Join(dir, fmt.Sprintf("s%d", i+1)), freePort(t), tp.Master.Addr(), 2)
		ms = append(ms, startDropIn(t, p, 200*time.Millisecond))
	}
	testenv.Eventually(t, 60*time.Second, "one group", func() error {
		for _, m := range ms {
			if s, err := m.d.Store().Servers(); err != nil || len(s) != 3 {
				return fmt.Errorf("%s: members %v %v", m.cfg.NodeID, s, err)
			}
		}
		return nil
	})
	// raftsentinel hellos (13 fields) flow on the channel, and the real
	// Sentinel ignores them (it parses only 8-field hellos).
	for n := 0; n < 3; {
		msg, err := hellos.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(msg.Payload, ",") == 12 && strings.Contains(msg.Payload, ",raftsentinel1,") {
			n++
		}
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: sents[0].Addr()})
	defer sc.Close()
	if others, err := sc.Sentinels(ctx, "mymaster").Result(); err != nil || len(others) != 0 {
		t.Fatalf("the Redis Sentinel took raftsentinel hellos for Sentinels: %v %v", others, err)
	}
	testenv.Eventually(t, 30*time.Second, "CKQUORUM names the Redis Sentinel", func() error {
		for _, m := range ms {
			sc := redis.NewSentinelClient(&redis.Options{Addr: m.d.RESPAddr()})
			_, err := sc.CkQuorum(ctx, "mymaster").Result()
			sc.Close()
			if err == nil || !strings.Contains(err.Error(), "Redis Sentinel") {
				return fmt.Errorf("%s: CKQUORUM %v", m.d.RESPAddr(), err)
			}
		}
		return nil
	})
	if err := tp.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "failover blocked because of the Redis Sentinel", func() error {
		for _, m := range ms {
			body, err := httpGet(ctx, "http://"+m.d.HTTPAddr()+"/metrics")
			if err != nil {
				return err
			}
			if strings.Contains(body, `raftsentinel_failover_blocked_total{master="mymaster",reason="redis-sentinel-present"}`) {
				return nil
			}
		}
		return errors.New("no monitor reports the block")
	})
	for _, m := range ms {
		if got, err := testenv.MasterAddr(ctx, m.d.RESPAddr()); err != nil || got != tp.Master.Addr() {
			t.Fatalf("%s answers %s %v: raftsentinel failed over a master shared with Redis Sentinel", m.d.RESPAddr(), got, err)
		}
	}
}

func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestDropInLateJoinForgetAndReadmit: a fourth monitor started later joins
// the formed group; stopped, it is removed by the leader once unheard for
// forget-after; started again (same data dir, its Raft state says it is a
// member), the leader hears it and adds it back.
func TestDropInLateJoinForgetAndReadmit(t *testing.T) {
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	forget := func(c *config.Config) { c.DropIn.ForgetAfter = 3 * time.Second }
	var ms []*dropInMonitor
	for i := range 3 {
		p := writeSentinelConf(t, filepath.Join(dir, fmt.Sprintf("s%d", i+1)), freePort(t), tp.Master.Addr(), 2)
		ms = append(ms, startDropIn(t, p, 200*time.Millisecond, forget))
	}
	members := func(n int) func() error {
		return func() error {
			for _, m := range ms[:3] {
				if s, err := m.d.Store().Servers(); err != nil || len(s) != n {
					return fmt.Errorf("%s: members %v %v, want %d", m.cfg.NodeID, s, err, n)
				}
			}
			return nil
		}
	}
	testenv.Eventually(t, 60*time.Second, "three members", members(3))
	p4 := writeSentinelConf(t, filepath.Join(dir, "s4"), freePort(t), tp.Master.Addr(), 2)
	m4 := startDropIn(t, p4, 200*time.Millisecond, forget)
	testenv.Eventually(t, 30*time.Second, "the late monitor joined", members(4))
	m4.r.stop()
	took := testenv.Eventually(t, 60*time.Second, "the stopped monitor removed", members(3))
	t.Logf("stopped monitor removed after %v (forget-after 3s)", took)
	m4 = startDropIn(t, p4, 200*time.Millisecond, forget)
	testenv.Eventually(t, 30*time.Second, "the monitor back again is a member again", members(4))
	testenv.Eventually(t, 30*time.Second, "it serves the master", func() error {
		return testenv.AllAnswer(context.Background(), []string{m4.d.RESPAddr()}, tp.Master.Addr())
	})
}
