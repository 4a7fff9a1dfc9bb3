//go:build integration

// Package e2e holds end-to-end tests: real redis-server processes, monitors
// on real sockets, real clients.
package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
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

// TestFailoverEndToEnd: 3 monitors, a master and 2 replicas. SIGKILL of the
// master promotes the best replica (priority 10 beats 100), the other
// replica follows it, all monitors answer the new address, a go-redis
// FailoverClient write lands on it, and the restarted old master becomes
// its replica. Bound: the product's 30 s promise.
func TestFailoverEndToEnd(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	master := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "r1")})
	r2 := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "r2"), ReplicaOf: master.Addr()})
	best := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "r3"), ReplicaOf: master.Addr(), Priority: 10})
	g := testenv.StartGroup(t, dir, 3, nil, master.Addr(), time.Second)
	sentinels := g.Addrs()

	testenv.Eventually(t, 20*time.Second, "group ready", func() error {
		if err := testenv.AllAnswer(ctx, sentinels, master.Addr()); err != nil {
			return err
		}
		for _, s := range sentinels {
			n, err := testenv.MasterField(ctx, s, "num-slaves")
			if err != nil || n != "2" {
				return fmt.Errorf("%s: num-slaves %q %v", s, n, err)
			}
			o, err := testenv.MasterField(ctx, s, "num-other-sentinels")
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
	testenv.Eventually(t, 10*time.Second, "replicas have the write", func() error {
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
	testenv.Eventually(t, 30*time.Second, "write accepted by the new master", func() error {
		return fc.Set(ctx, "k", "after", 0).Err()
	})
	tWrite := time.Since(killed)
	testenv.Eventually(t, 30*time.Second-time.Since(killed), "all monitors answer the best replica", func() error {
		return testenv.AllAnswer(ctx, sentinels, best.Addr())
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
	testenv.Eventually(t, 15*time.Second, "other replica follows the new master", func() error {
		r, p, err := role(ctx, r2.Addr())
		if err != nil || r != "slave" || p != fmt.Sprint(best.Port()) {
			return fmt.Errorf("role %s master_port %s %v", r, p, err)
		}
		return nil
	})
	for _, s := range sentinels {
		if e, err := testenv.MasterField(ctx, s, "config-epoch"); err != nil || e != "1" {
			t.Fatalf("%s config-epoch %q %v", s, e, err)
		}
	}

	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := master.Restart(rctx); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "old master rejoins as a replica", func() error {
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
	master := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "r1")})
	replica := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "r2"), ReplicaOf: master.Addr()})
	g := testenv.StartGroup(t, dir, 3, nil, master.Addr(), time.Second)
	testenv.Eventually(t, 20*time.Second, "group knows the replica", func() error {
		for _, s := range g.Addrs() {
			if n, err := testenv.MasterField(ctx, s, "num-slaves"); err != nil || n != "1" {
				return fmt.Errorf("%s: num-slaves %q %v", s, n, err)
			}
		}
		return nil
	})
	if err := master.Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "failover", func() error { return testenv.AllAnswer(ctx, g.Addrs(), replica.Addr()) })
	raftAddrs := g.RaftAddrs()
	g.Stop()

	// The old master stays down; the group restarts from disk.
	g2 := testenv.StartGroup(t, dir, 3, raftAddrs, master.Addr(), time.Second)
	testenv.Eventually(t, 20*time.Second, "same master after restart", func() error { return testenv.AllAnswer(ctx, g2.Addrs(), replica.Addr()) })
	// For three down-after periods the state must not move: no new failover.
	end := time.Now().Add(3 * time.Second)
	for time.Now().Before(end) {
		for _, s := range g2.Addrs() {
			e, err := testenv.MasterField(ctx, s, "config-epoch")
			if err != nil {
				t.Fatal(err)
			}
			if e != "1" {
				t.Fatalf("%s: config-epoch %s after restart, want 1", s, e)
			}
		}
		if err := testenv.AllAnswer(ctx, g2.Addrs(), replica.Addr()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
