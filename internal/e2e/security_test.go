//go:build integration

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// redisCLI runs the real redis-cli against addr and returns its output.
func redisCLI(t *testing.T, addr string, args ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", append([]string{"-h", host, "-p", port, "--no-auth-warning"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v (install: apt-get install -y redis-tools): %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestUserCommandRules: a monitor configured with users[].commands applies
// them to real clients (redis-cli, go-redis) with Redis 7.0's NOPERM
// error, and leaves the default user and users without rules unrestricted.
func TestUserCommandRules(t *testing.T) {
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 0)
	lns, err := demo.OpenListeners(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := demo.MonitorConfig(dir, 0, lns, tp.Master.Addr(), time.Second)
	cfg.RequirePass = "defaultpw"
	cfg.Users = []config.User{
		{Name: "app", Password: "apppw", Commands: "-@all +@connection +@pubsub allchannels +sentinel|get-master-addr-by-name +sentinel|sentinels +sentinel|replicas"},
		{Name: "ops", Password: "opspw", Commands: "+@all -sentinel|remove -sentinel|failover"},
		{Name: "root", Password: "rootpw"},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(cfg, daemon.Options{Listeners: lns[0]})
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, d)
	defer r.stop()
	addr := d.RESPAddr()
	ctx := context.Background()
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr, Username: "app", Password: "apppw"})
	defer sc.Close()
	want := strings.Replace(tp.Master.Addr(), ":", " ", 1)
	testenv.Eventually(t, 30*time.Second, "app discovers the master", func() error {
		got, err := sc.GetMasterAddrByName(ctx, testenv.MasterName).Result()
		if err != nil {
			return err
		}
		if strings.Join(got, " ") != want {
			return fmt.Errorf("got %v", got)
		}
		return nil
	})
	if err := sc.Masters(ctx).Err(); err == nil || err.Error() != "NOPERM this user has no permissions to run the 'sentinel|masters' command" {
		t.Fatalf("app SENTINEL MASTERS: %v", err)
	}

	for _, tc := range []struct {
		user, pass string
		args       []string
		want       string
	}{
		{"app", "apppw", []string{"SENTINEL", "GET-MASTER-ADDR-BY-NAME", testenv.MasterName}, strings.Replace(want, " ", "\n", 1)},
		{"app", "apppw", []string{"SENTINEL", "MASTERS"}, "NOPERM this user has no permissions to run the 'sentinel|masters' command"},
		{"app", "apppw", []string{"INFO"}, "NOPERM this user has no permissions to run the 'info' command"},
		{"app", "apppw", []string{"SENTINEL", "MASTERS", "extra"}, "ERR wrong number of arguments for 'sentinel|masters' command"},
		{"app", "wrong", []string{"PING"}, "AUTH failed: WRONGPASS invalid username-password pair or user is disabled."},
		{"ops", "opspw", []string{"SENTINEL", "REMOVE", testenv.MasterName}, "NOPERM this user has no permissions to run the 'sentinel|remove' command"},
		{"ops", "opspw", []string{"SENTINEL", "FAILOVER", testenv.MasterName}, "NOPERM this user has no permissions to run the 'sentinel|failover' command"},
		{"ops", "opspw", []string{"SENTINEL", "CKQUORUM", testenv.MasterName}, "OK 1 usable Sentinels. Quorum and failover authorization can be reached"},
		{"root", "rootpw", []string{"SENTINEL", "SET", testenv.MasterName, "quorum", "1"}, "OK"},
		{"default", "defaultpw", []string{"SENTINEL", "MYID"}, d.RunID()},
	} {
		got := redisCLI(t, addr, append([]string{"--user", tc.user, "--pass", tc.pass}, tc.args...)...)
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %v = %q, want %q", tc.user, tc.args, got, tc.want)
		}
	}
	// The master is still monitored: no denied command took effect.
	if got := redisCLI(t, addr, "--user", "root", "--pass", "rootpw", "SENTINEL", "MASTERS"); !strings.Contains(got, testenv.MasterName) {
		t.Fatalf("SENTINEL MASTERS after denied REMOVE: %q", got)
	}
}

// TestStartRefusesBadDataDir: daemon.New fails with an error naming the
// problem when the data dir cannot be used or its Raft store is damaged,
// instead of starting with less state.
func TestStartRefusesBadDataDir(t *testing.T) {
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 0)

	// A monitor that ran once: its raft.db exists.
	lns, err := demo.OpenListeners(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := demo.MonitorConfig(dir, 0, lns, tp.Master.Addr(), time.Second)
	d, err := daemon.New(cfg, daemon.Options{Listeners: lns[0]})
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, d)
	testenv.WaitReady(t, []string{d.RESPAddr()}, tp.Master.Addr(), 0, 0)
	r.stop()

	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		prepare func(c *config.Config)
		want    string
	}{
		{"data dir under a file", func(c *config.Config) { c.DataDir = filepath.Join(file, "data") }, filepath.Join(file, "data")},
		{"garbage raft.db", func(c *config.Config) {
			if err := os.WriteFile(filepath.Join(c.DataDir, "raft", "raft.db"), []byte(strings.Repeat("garbage!", 4096)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, filepath.Join(cfg.DataDir, "raft", "raft.db")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			tc.prepare(&c)
			lns, err := demo.OpenListeners(1, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer demo.CloseListeners(lns)
			d, err := daemon.New(c, daemon.Options{Listeners: lns[0]})
			if err == nil {
				d.Close()
				t.Fatal("daemon.New accepted a bad data dir")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %s", err, tc.want)
			}
		})
	}
}
