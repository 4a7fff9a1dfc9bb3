//go:build integration

package redisproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/testing/wait"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// requireRedis fails (never skips) when the binaries are missing.
func requireRedis(t *testing.T) {
	t.Helper()
	for _, name := range []string{"redis-server", "redis-sentinel"} {
		if _, err := Binary(name); err != nil {
			t.Fatalf("%v", err)
		}
	}
}

func startServer(t *testing.T, ctx context.Context, opt Options) *Server {
	t.Helper()
	s, err := Start(ctx, opt)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// waitFor polls cond every 10ms until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return wait.True(t, d, what, cond)
}

func info(addr, section string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	s, err := Command(ctx, addr, "INFO", section)
	if err != nil {
		return ""
	}
	return s
}

func TestBinaryMissing(t *testing.T) {
	_, err := Binary("redis-server-does-not-exist")
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install") {
		t.Fatalf("Binary(missing) = %v, want ErrNotInstalled with advice", err)
	}
}

func TestMasterReplicaKillRestartPause(t *testing.T) {
	requireRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()

	master := startServer(t, ctx, Options{Dir: filepath.Join(dir, "m")})
	replica := startServer(t, ctx, Options{Dir: filepath.Join(dir, "r"), ReplicaOf: master.Addr(), Priority: 50})
	if master.Port() == replica.Port() || master.Port() == 0 {
		t.Fatalf("ports: master %d replica %d", master.Port(), replica.Port())
	}
	if got := InfoField(info(replica.Addr(), "replication"), "slave_priority"); got != "50" {
		t.Errorf("replica slave_priority = %q, want 50", got)
	}

	took := waitFor(t, 10*time.Second, "replication link up", func() bool {
		return InfoField(info(replica.Addr(), "replication"), "master_link_status") == "up"
	})
	t.Logf("replication link up after %v", took)
	waitFor(t, 5*time.Second, "master sees the replica", func() bool {
		return InfoField(info(master.Addr(), "replication"), "connected_slaves") == "1"
	})

	// A write reaches the replica.
	if _, err := Command(ctx, master.Addr(), "SET", "k", "v"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	waitFor(t, 5*time.Second, "key replicated", func() bool {
		cctx, c := context.WithTimeout(ctx, 200*time.Millisecond)
		defer c()
		v, err := Command(cctx, replica.Addr(), "GET", "k")
		return err == nil && v == "v"
	})

	// Kill: the process is gone and the port refuses.
	oldPid := master.Pid()
	if err := master.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if master.Running() || master.Pid() != 0 {
		t.Fatalf("Running after Kill")
	}
	if err := master.Kill(); err != nil {
		t.Fatalf("second Kill: %v", err)
	}
	cctx, c := context.WithTimeout(ctx, time.Second)
	if _, err := Command(cctx, master.Addr(), "PING"); err == nil {
		t.Fatalf("PING answered after Kill")
	}
	c()
	waitFor(t, 10*time.Second, "replica sees link down", func() bool {
		return InfoField(info(replica.Addr(), "replication"), "master_link_status") == "down"
	})

	// Restart on the same port; the replica reconnects.
	if err := master.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if !master.Running() || master.Pid() == oldPid {
		t.Fatalf("Restart: running=%v pid %d (old %d)", master.Running(), master.Pid(), oldPid)
	}
	took = waitFor(t, 10*time.Second, "replication link up after restart", func() bool {
		return InfoField(info(replica.Addr(), "replication"), "master_link_status") == "up"
	})
	t.Logf("replication link up again %v after restart", took)

	// Pause: PING times out but the port accepts; Resume: answers again.
	if err := master.Pause(); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	cctx, c = context.WithTimeout(ctx, 200*time.Millisecond)
	_, err := Command(cctx, master.Addr(), "PING")
	c()
	if err == nil {
		t.Fatalf("PING answered while paused")
	}
	if !master.Running() {
		t.Fatalf("paused process reported not running")
	}
	if err := master.Resume(); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	waitFor(t, 5*time.Second, "PONG after Resume", func() bool {
		cctx, c := context.WithTimeout(ctx, 200*time.Millisecond)
		defer c()
		v, err := Command(cctx, master.Addr(), "PING")
		return err == nil && v == "PONG"
	})

	// CONFIG REWRITE works (there is a config file) and survives a restart.
	if _, err := Command(ctx, replica.Addr(), "REPLICAOF", "NO", "ONE"); err != nil {
		t.Fatalf("REPLICAOF NO ONE: %v", err)
	}
	if _, err := Command(ctx, replica.Addr(), "CONFIG", "REWRITE"); err != nil {
		t.Fatalf("CONFIG REWRITE: %v", err)
	}
	if err := replica.Restart(ctx); err != nil {
		t.Fatalf("replica Restart: %v", err)
	}
	if got := InfoField(info(replica.Addr(), "replication"), "role"); got != "master" {
		t.Fatalf("after rewrite+restart role = %q, want master", got)
	}

	// Close is idempotent; a paused process is killed too.
	if err := replica.Pause(); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if err := replica.Close(); err != nil {
		t.Fatalf("Close paused: %v", err)
	}
	if err := replica.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if replica.Running() {
		t.Fatalf("running after Close")
	}
	if err := replica.Pause(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Pause after Close = %v, want ErrNotRunning", err)
	}
	if err := replica.Restart(ctx); err == nil {
		t.Fatalf("Restart after Close succeeded")
	}
}

func TestNeverPromoteAndExtra(t *testing.T) {
	requireRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := startServer(t, ctx, Options{Dir: t.TempDir(), NeverPromote: true, Extra: []string{"requirepass sekret"}})
	_, err := Command(ctx, s.Addr(), "PING")
	var re ReplyError
	if !errors.As(err, &re) || !strings.HasPrefix(string(re), "NOAUTH") {
		t.Fatalf("PING without auth = %v, want NOAUTH", err)
	}
	conf, err := os.ReadFile(s.ConfigFile())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"replica-priority 0", "requirepass sekret", "save \"\"", "protected-mode no"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
}

func TestNoConfigFile(t *testing.T) {
	requireRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := startServer(t, ctx, Options{Dir: t.TempDir(), NoConfigFile: true, Priority: 7})
	if s.ConfigFile() != "" {
		t.Fatalf("ConfigFile = %q", s.ConfigFile())
	}
	v, err := Do(ctx, s.Addr(), "CONFIG", "GET", "replica-priority")
	if a, ok := v.([]any); err != nil || !ok || len(a) != 2 || a[1] != "7" {
		t.Errorf("CONFIG GET replica-priority = %#v, %v; want 7", v, err)
	}
	_, err = Command(ctx, s.Addr(), "CONFIG", "REWRITE")
	var re ReplyError
	if !errors.As(err, &re) {
		t.Fatalf("CONFIG REWRITE without a file = %v, want an error reply", err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
}

func TestFixedPortTaken(t *testing.T) {
	requireRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := startServer(t, ctx, Options{Dir: t.TempDir()})
	_, err := Start(ctx, Options{Dir: t.TempDir(), Port: a.Port()})
	if !errors.Is(err, ErrExited) {
		t.Fatalf("Start on a taken fixed port = %v, want ErrExited", err)
	}
}

func TestSentinel(t *testing.T) {
	requireRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	master := startServer(t, ctx, Options{Dir: filepath.Join(dir, "m")})
	sen, err := StartSentinel(ctx, SentinelOptions{
		Dir:             filepath.Join(dir, "s"),
		MasterName:      "mymaster",
		MasterAddr:      master.Addr(),
		Quorum:          1,
		DownAfter:       500 * time.Millisecond,
		FailoverTimeout: 5 * time.Second,
		ParallelSyncs:   1,
	})
	if err != nil {
		t.Fatalf("StartSentinel: %v", err)
	}
	t.Cleanup(func() { _ = sen.Close() })

	v, err := Do(ctx, sen.Addr(), "SENTINEL", "get-master-addr-by-name", "mymaster")
	if err != nil {
		t.Fatalf("get-master-addr-by-name: %v", err)
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 2 || arr[0] != "127.0.0.1" || arr[1] != strconv.Itoa(master.Port()) {
		t.Fatalf("get-master-addr-by-name = %#v, want [127.0.0.1 %d]", v, master.Port())
	}
	if got := InfoField(info(sen.Addr(), "server"), "redis_mode"); got != "sentinel" {
		t.Fatalf("redis_mode = %q, want sentinel", got)
	}
	v, err = Do(ctx, sen.Addr(), "SENTINEL", "master", "mymaster")
	if err != nil {
		t.Fatalf("SENTINEL master: %v", err)
	}
	fields := map[string]string{}
	if a, ok := v.([]any); ok {
		for i := 0; i+1 < len(a); i += 2 {
			k, _ := a[i].(string)
			val, _ := a[i+1].(string)
			fields[k] = val
		}
	}
	if fields["down-after-milliseconds"] != "500" || fields["failover-timeout"] != "5000" || fields["quorum"] != "1" {
		t.Fatalf("SENTINEL master fields = %v", fields)
	}
	if err := sen.Restart(ctx); err != nil {
		t.Fatalf("sentinel Restart: %v", err)
	}
	if err := sen.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestFreePortOutsideEphemeralRange: FreePort never hands out a port an
// outbound connection could take (the kernel's ephemeral range), nor the
// same port twice.
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatal(err)
	}
	ephLow, err := strconv.Atoi(strings.Fields(string(b))[0])
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for range 500 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if p >= ephLow || p <= 1024 {
			t.Fatalf("FreePort gave %d; the ephemeral range starts at %d", p, ephLow)
		}
		if seen[p] {
			t.Fatalf("FreePort gave %d twice", p)
		}
		seen[p] = true
	}
}
