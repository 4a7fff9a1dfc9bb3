// Package testenv is the harness of integration tests: real redis-server
// and redis-sentinel processes on free loopback ports, raftsentinel monitor
// groups on real sockets, and polling with a deadline. Everything started is
// stopped by t.Cleanup.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/internal/benchutil"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/wait"
)

// MasterName is the name every topology monitors.
const MasterName = "mymaster"

// StartRedis starts a redis-server; the test fails (never skips) when
// redis-server is not installed.
func StartRedis(t testing.TB, opt redisproc.Options) *redisproc.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := redisproc.Start(ctx, opt)
	if err != nil {
		t.Fatalf("redis-server (install: apt-get install -y redis-server): %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Topology is a master and its replicas.
type Topology struct {
	Master   *redisproc.Server
	Replicas []*redisproc.Server
}

// StartTopology starts a master and n replicas under dir, and waits until
// every replica's link is up.
func StartTopology(t testing.TB, dir string, n int) *Topology {
	t.Helper()
	tp := &Topology{Master: StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "master")})}
	for i := range n {
		tp.Replicas = append(tp.Replicas, StartRedis(t, redisproc.Options{
			Dir: filepath.Join(dir, fmt.Sprintf("replica%d", i+1)), ReplicaOf: tp.Master.Addr()}))
	}
	Eventually(t, 15*time.Second, "replication links up", func() error {
		for _, r := range tp.Replicas {
			info, err := redisproc.Command(context.Background(), r.Addr(), "INFO", "replication")
			if err != nil {
				return err
			}
			if s := redisproc.InfoField(info, "master_link_status"); s != "up" {
				return fmt.Errorf("%s: master_link_status %q", r.Addr(), s)
			}
		}
		return nil
	})
	return tp
}

// Group is a running raftsentinel monitor group.
type Group struct {
	Daemons []*daemon.Daemon
	exited  []chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// StartGroup starts n monitors of master under dir. raftAddrs, when given,
// restarts a group on the raft addresses its members know.
func StartGroup(t testing.TB, dir string, n int, raftAddrs []string, master string, downAfter time.Duration) *Group {
	t.Helper()
	lns, err := demo.OpenListeners(n, raftAddrs)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := demo.NewMonitors(dir, lns, master, downAfter, nil)
	if err != nil {
		t.Fatal(err)
	}
	return RunGroup(t, ds)
}

// RunGroup runs monitors made (not yet run) by the caller until the test
// ends; a monitor whose Run fails, other than by a simulated crash, fails
// the test.
func RunGroup(t testing.TB, ds []*daemon.Daemon) *Group {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g := &Group{Daemons: ds, cancel: cancel}
	for _, d := range ds {
		g.wg.Add(1)
		done := make(chan struct{})
		g.exited = append(g.exited, done)
		go func() {
			defer g.wg.Done()
			defer close(done)
			// A simulated crash (SENTINEL SIMULATE-FAILURE) is a test's intent.
			if err := d.Run(ctx); err != nil && !errors.Is(err, daemon.ErrSimulatedCrash) {
				t.Errorf("monitor: %v", err)
			}
		}()
	}
	t.Cleanup(g.Stop)
	return g
}

// Stop stops every monitor and waits for them. Idempotent.
func (g *Group) Stop() {
	g.once.Do(func() {
		g.cancel()
		g.wg.Wait()
	})
}

// Exited reports whether monitor i has stopped running.
func (g *Group) Exited(i int) bool {
	select {
	case <-g.exited[i]:
		return true
	default:
		return false
	}
}

// Addrs are the monitors' Sentinel-protocol addresses.
func (g *Group) Addrs() []string {
	var out []string
	for _, d := range g.Daemons {
		out = append(out, d.RESPAddr())
	}
	return out
}

// RaftAddrs are the monitors' raft addresses.
func (g *Group) RaftAddrs() []string {
	var out []string
	for _, d := range g.Daemons {
		out = append(out, d.RaftAddr())
	}
	return out
}

// StartSentinels starts n real redis-sentinel processes monitoring master
// (quorum n/2+1), the oracle of differential tests and benchmarks.
func StartSentinels(t testing.TB, dir string, n int, master string, downAfter time.Duration) []*redisproc.Server {
	t.Helper()
	var out []*redisproc.Server
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		s, err := redisproc.StartSentinel(ctx, redisproc.SentinelOptions{
			Dir: filepath.Join(dir, fmt.Sprintf("sentinel%d", i+1)), MasterName: MasterName, MasterAddr: master,
			Quorum: n/2 + 1, DownAfter: downAfter, FailoverTimeout: 30 * time.Second, ParallelSyncs: 1})
		cancel()
		if err != nil {
			t.Fatalf("redis-sentinel (install: apt-get install -y redis-sentinel): %v", err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out
}

// Eventually polls fn every 10 ms until it returns nil; the test fails with
// fn's last error after d. It returns how long it took.
func Eventually(t testing.TB, d time.Duration, what string, fn func() error) time.Duration {
	t.Helper()
	return wait.Until(t, d, what, fn)
}

// MasterAddr asks one Sentinel-protocol server for MasterName's address.
func MasterAddr(ctx context.Context, sentinel string) (string, error) {
	return MasterAddrOf(ctx, sentinel, MasterName)
}

// MasterAddrOf asks one Sentinel-protocol server for master name's address
// (GET-MASTER-ADDR-BY-NAME) as host:port.
func MasterAddrOf(ctx context.Context, sentinel, name string) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel, ReadTimeout: 500 * time.Millisecond})
	defer sc.Close()
	got, err := sc.GetMasterAddrByName(ctx, name).Result()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(got[0], got[1]), nil
}

// AllAnswer checks that every server answers want for MasterName.
func AllAnswer(ctx context.Context, sentinels []string, want string) error {
	for _, s := range sentinels {
		got, err := MasterAddr(ctx, s)
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		if got != want {
			return fmt.Errorf("%s answers %s, want %s", s, got, want)
		}
	}
	return nil
}

// MasterField returns one field of SENTINEL MASTER MasterName.
func MasterField(ctx context.Context, sentinel, field string) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel})
	defer sc.Close()
	m, err := sc.Master(ctx, MasterName).Result()
	if err != nil {
		return "", err
	}
	return m[field], nil
}

// WaitReady waits until every server answers master and reports replicas
// replicas and others other sentinels.
func WaitReady(t testing.TB, sentinels []string, master string, replicas, others int) {
	t.Helper()
	ctx := context.Background()
	Eventually(t, 30*time.Second, "sentinels ready", func() error {
		if err := AllAnswer(ctx, sentinels, master); err != nil {
			return err
		}
		for _, s := range sentinels {
			for field, want := range map[string]int{"num-slaves": replicas, "num-other-sentinels": others} {
				got, err := MasterField(ctx, s, field)
				if err != nil || got != fmt.Sprint(want) {
					return fmt.Errorf("%s: %s %q (want %d) %v", s, field, got, want, err)
				}
			}
		}
		return nil
	})
}

// RunMonitor validates cfg, creates a monitor on the listeners ln and runs
// it until the test ends (the cleanup stops it and reports a Run error).
func RunMonitor(t testing.TB, cfg config.Config, ln daemon.Listeners) *daemon.Daemon {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(cfg, daemon.Options{Listeners: ln})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return d
}

// Binary builds the raftsentinel binary once for the test and returns its
// path; the build is removed by t.Cleanup.
func Binary(t testing.TB, prefix string) string {
	t.Helper()
	ws, err := benchutil.NewWorkspace(context.Background(), io.Discard, prefix, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws.Bin
}

// StartBinary runs bin with args, its output in logPath, and waits until
// addr (its Sentinel-protocol port) answers PING; the process is killed by
// t.Cleanup. A process that exits first fails the test with its output.
func StartBinary(t testing.TB, bin string, args []string, logPath, addr string) *benchutil.Proc {
	t.Helper()
	ctx := context.Background()
	p, err := benchutil.StartProc(ctx, bin, args, logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill() })
	if err := p.WaitPing(ctx, addr, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return p
}
