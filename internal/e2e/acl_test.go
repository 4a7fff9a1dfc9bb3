//go:build integration

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// TestACLUsersReachEveryMonitor: a user made with ACL SETUSER on one
// monitor can AUTH on the other two (the user goes through Raft), still
// can after the whole group restarts, and ACL DELUSER on another monitor
// removes it everywhere. The password never reaches the data directories
// in clear text. SHUTDOWN then stops one monitor as a SIGTERM would.
func TestACLUsersReachEveryMonitor(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 0)
	g := testenv.StartGroup(t, dir, 3, nil, tp.Master.Addr(), time.Second)
	testenv.WaitReady(t, g.Addrs(), tp.Master.Addr(), 0, 2)
	const pass = "clear-text-9f2c"

	do := func(addr string, args ...any) (any, error) {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		defer c.Close()
		return c.Do(ctx, args...).Result()
	}
	// auth reports how AUTH app <pass> and then ROLE / PING fare on addr.
	auth := func(addr string) error {
		c := redis.NewClient(&redis.Options{Addr: addr, Username: "app", Password: pass, MaxRetries: -1})
		defer c.Close()
		if err := c.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("%s: AUTH and PING: %w", addr, err)
		}
		if err := c.Do(ctx, "ROLE").Err(); err == nil || err.Error() != "NOPERM this user has no permissions to run the 'role' command" {
			return fmt.Errorf("%s: ROLE: %v, want NOPERM", addr, err)
		}
		return nil
	}
	if v, err := do(g.Addrs()[0], "ACL", "SETUSER", "app", "on", ">"+pass, "-@all", "+ping"); err != nil || v != "OK" {
		t.Fatalf("ACL SETUSER: %v %v", v, err)
	}
	everywhere := func(gr *testenv.Group) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, "app authenticates on every monitor", func() error {
			for _, a := range gr.Addrs() {
				if err := auth(a); err != nil {
					return err
				}
			}
			return nil
		})
	}
	everywhere(g)
	raftAddrs := g.RaftAddrs()
	g.Stop()
	g2 := testenv.StartGroup(t, dir, 3, raftAddrs, tp.Master.Addr(), time.Second)
	testenv.WaitReady(t, g2.Addrs(), tp.Master.Addr(), 0, 2)
	everywhere(g2)

	if v, err := do(g2.Addrs()[2], "ACL", "DELUSER", "app"); err != nil || v != int64(1) {
		t.Fatalf("ACL DELUSER: %v %v", v, err)
	}
	testenv.Eventually(t, 10*time.Second, "app gone from every monitor", func() error {
		for _, a := range g2.Addrs() {
			err := auth(a)
			if err == nil {
				return fmt.Errorf("%s: app still authenticates", a)
			}
			if u, _ := do(a, "ACL", "GETUSER", "app"); u != nil {
				return fmt.Errorf("%s: ACL GETUSER app = %v", a, u)
			}
		}
		return nil
	})

	// The clear-text password is nowhere on disk (Raft log, snapshots).
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(pass)) {
			t.Errorf("%s holds the clear-text password", path)
		}
		return nil
	})

	// SHUTDOWN stops monitor 1 (Run returns nil: StartGroup reports any
	// error); the others keep answering.
	c := redis.NewClient(&redis.Options{Addr: g2.Addrs()[1], MaxRetries: -1})
	err := c.Do(ctx, "SHUTDOWN", "NOSAVE").Err()
	c.Close()
	if err == nil {
		t.Fatalf("SHUTDOWN answered")
	}
	testenv.Eventually(t, 15*time.Second, "monitor 1 stopped", func() error {
		if !g2.Exited(1) {
			return fmt.Errorf("still running")
		}
		return nil
	})
	if v, err := do(g2.Addrs()[0], "PING"); err != nil || v != "PONG" {
		t.Fatalf("monitor 0 after monitor 1's SHUTDOWN: %v %v", v, err)
	}
}
