// Package e2e holds end-to-end tests: real redis-server processes, monitors
// on real sockets, real clients.
package e2e

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/raftsentinel/raftsentinel/internal/daemon"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// group is a running set of monitors.
type group struct {
	t      *testing.T
	dir    string
	ds     []*daemon.Daemon
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startGroup(t *testing.T, dir string, raftAddrs []string, master string, downAfter time.Duration) *group {
	t.Helper()
	n := 3
	lns, err := demo.OpenListeners(n, raftAddrs)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := demo.NewMonitors(dir, lns, master, downAfter, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &group{t: t, dir: dir, ds: ds, cancel: cancel}
	for _, d := range ds {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if err := d.Run(ctx); err != nil {
				t.Errorf("monitor: %v", err)
			}
		}()
	}
	t.Cleanup(g.stop)
	return g
}

func (g *group) stop() {
	g.cancel()
	g.wg.Wait()
}

func (g *group) addrs() []string {
	var out []string
	for _, d := range g.ds {
		out = append(out, d.RESPAddr())
	}
	return out
}

func (g *group) raftAddrs() []string {
	var out []string
	for _, d := range g.ds {
		out = append(out, d.RaftAddr())
	}
	return out
}

func startRedis(t *testing.T, opt redisproc.Options) *redisproc.Server {
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

func eventually(t *testing.T, d time.Duration, what string, fn func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := fn()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s: %v", what, d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// masterAddr asks one monitor for the master's address.
func masterAddr(ctx context.Context, sentinel string) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel, ReadTimeout: 500 * time.Millisecond})
	defer sc.Close()
	got, err := sc.GetMasterAddrByName(ctx, "mymaster").Result()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(got[0], got[1]), nil
}

func allAnswer(ctx context.Context, sentinels []string, want string) error {
	for _, s := range sentinels {
		got, err := masterAddr(ctx, s)
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		if got != want {
			return fmt.Errorf("%s answers %s, want %s", s, got, want)
		}
	}
	return nil
}

func role(ctx context.Context, addr string) (string, string, error) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return "", "", err
	}
	return redisproc.InfoField(info, "role"), redisproc.InfoField(info, "master_port"), nil
}

func sentinelInt(ctx context.Context, sentinel, field string) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel})
	defer sc.Close()
	m, err := sc.Master(ctx, "mymaster").Result()
	if err != nil {
		return "", err
	}
	return m[field], nil
}

// TestFailoverEndToEnd: 3 monitors, a master and 2 replicas. SIGKILL of the
// master promotes the best replica (priority 10 beats 100), the other
// replica follows it, all monitors answer the new address, a go-redis
// FailoverClient write lands on it, and the restarted old master becomes
// its replica. Bound: the product's 30 s promise.
func TestFailoverEndToEnd(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	master := startRedis(t, redisproc.Options{Dir: filepath.Join(dir, "r1")})
	r2 := startRedis(t, redisproc.Options{Dir: filepath.Join(dir, "r2"), ReplicaOf: master.Addr()})
	best := startRedis(t, redisproc.Options{Dir: filepath.Join(dir, "r3"), ReplicaOf: master.Addr(), Priority: 10})
	g := startGroup(t, dir, nil, master.Addr(), time.Second)
	sentinels := g.addrs()

	eventually(t, 20*time.Second, "group ready", func() error {
		if err := allAnswer(ctx, sentinels, master.Addr()); err != nil {
			return err
		}
		for _, s := range sentinels {
			n, err := sentinelInt(ctx, s, "num-slaves")
			if err != nil || n != "2" {
				return fmt.Errorf("%s: num-slaves %q %v", s, n, err)
			}
			o, err := sentinelInt(ctx, s, "num-other-sentinels")
			if err != nil || o != "2" {
				return fmt.Errorf("%s: num-other-sentinels %q %v", s, o, err)
			}
		}
		return nil
	})
	fc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "mymaster", SentinelAddrs: sentinels,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer fc.Close()
	if err := fc.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "replicas have the write", func() error {
		for _, r := range []*redisproc.Server{r2, best} {
			c := redis.NewClient(&redis.Options{Addr: r.Addr()})
			err := c.Get(ctx, "k").Err()
			c.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})

	ps := redis.NewClient(&redis.Options{Addr: sentinels[2]}).Subscribe(ctx, "+switch-master")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}

	killed := time.Now()
	if err := master.Kill(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "write accepted by the new master", func() error {
		return fc.Set(ctx, "k", "after", 0).Err()
	})
	tWrite := time.Since(killed)
	eventually(t, 30*time.Second-time.Since(killed), "all monitors answer the best replica", func() error {
		return allAnswer(ctx, sentinels, best.Addr())
	})
	tAll := time.Since(killed)
	t.Logf("kill → write accepted %v, → all monitors agree %v", tWrite, tAll)
	if tAll > 30*time.Second {
		t.Fatalf("failover took %v, over the 30 s promise", tAll)
	}
	msg, err := ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("mymaster 127.0.0.1 %d 127.0.0.1 %d", master.Port(), best.Port())
	if msg.Payload != want {
		t.Fatalf("+switch-master payload %q, want %q", msg.Payload, want)
	}
	if r, _, err := role(ctx, best.Addr()); err != nil || r != "master" {
		t.Fatalf("best replica role %q %v", r, err)
	}
	if v := redis.NewClient(&redis.Options{Addr: best.Addr()}).Get(ctx, "k").Val(); v != "after" {
		t.Fatalf("new master has k=%q", v)
	}
	eventually(t, 15*time.Second, "other replica follows the new master", func() error {
		r, p, err := role(ctx, r2.Addr())
		if err != nil || r != "slave" || p != fmt.Sprint(best.Port()) {
			return fmt.Errorf("role %s master_port %s %v", r, p, err)
		}
		return nil
	})
	for _, s := range sentinels {
		if e, err := sentinelInt(ctx, s, "config-epoch"); err != nil || e != "1" {
			t.Fatalf("%s config-epoch %q %v", s, e, err)
		}
	}

	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := master.Restart(rctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "old master rejoins as a replica", func() error {
		r, p, err := role(ctx, master.Addr())
		if err != nil || r != "slave" || p != fmt.Sprint(best.Port()) {
			return fmt.Errorf("role %s master_port %s %v", r, p, err)
		}
		return nil
	})
}

// TestRestartKeepsState: after a failover, every monitor is stopped and
// started again from its data dir; they answer the same master and epoch
// and start no new failover.
func TestRestartKeepsState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	master := startRedis(t, redisproc.Options{Dir: filepath.Join(dir, "r1")})
	replica := startRedis(t, redisproc.Options{Dir: filepath.Join(dir, "r2"), ReplicaOf: master.Addr()})
	g := startGroup(t, dir, nil, master.Addr(), time.Second)
	eventually(t, 20*time.Second, "group knows the replica", func() error {
		for _, s := range g.addrs() {
			if n, err := sentinelInt(ctx, s, "num-slaves"); err != nil || n != "1" {
				return fmt.Errorf("%s: num-slaves %q %v", s, n, err)
			}
		}
		return nil
	})
	if err := master.Kill(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "failover", func() error { return allAnswer(ctx, g.addrs(), replica.Addr()) })
	raftAddrs := g.raftAddrs()
	g.stop()

	// The old master stays down; the group restarts from disk.
	g2 := startGroup(t, dir, raftAddrs, master.Addr(), time.Second)
	eventually(t, 20*time.Second, "same master after restart", func() error { return allAnswer(ctx, g2.addrs(), replica.Addr()) })
	// For three down-after periods the state must not move: no new failover.
	end := time.Now().Add(3 * time.Second)
	for time.Now().Before(end) {
		for _, s := range g2.addrs() {
			e, err := sentinelInt(ctx, s, "config-epoch")
			if err != nil {
				t.Fatal(err)
			}
			if e != "1" {
				t.Fatalf("%s: config-epoch %s after restart, want 1", s, e)
			}
		}
		if err := allAnswer(ctx, g2.addrs(), replica.Addr()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
