//go:build integration

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// pingCalls is the number of PINGs the redis-server at addr has served
// (INFO commandstats).
func pingCalls(t *testing.T, addr string) int {
	t.Helper()
	info, err := redisproc.Command(context.Background(), addr, "INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_ping:calls="); ok {
			n, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
			return n
		}
	}
	return 0
}

// timeForPings waits (polling, with a deadline) until the server has
// served n more PINGs than now and returns how long that took.
func timeForPings(t *testing.T, addr string, n int, deadline time.Duration) time.Duration {
	t.Helper()
	start, c0 := time.Now(), pingCalls(t, addr)
	testenv.Eventually(t, deadline, fmt.Sprintf("%d more PINGs", n), func() error {
		if c := pingCalls(t, addr); c < c0+n {
			return fmt.Errorf("%d of %d PINGs", c-c0, n)
		}
		return nil
	})
	return time.Since(start)
}

// TestDebugPingPeriodChangesPingRate: SENTINEL DEBUG PING-PERIOD changes
// how often the monitor PINGs a real redis-server (counted by the server),
// and SENTINEL DEBUG reports the new value.
func TestDebugPingPeriodChangesPingRate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 0)
	g := testenv.StartGroup(t, dir, 1, nil, tp.Master.Addr(), 5*time.Second)
	addr := g.Addrs()[0]
	testenv.WaitReady(t, []string{addr}, tp.Master.Addr(), 0, 0)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	debug := func(args ...any) {
		t.Helper()
		if v, err := c.Do(ctx, append([]any{"SENTINEL", "DEBUG"}, args...)...).Result(); err != nil || v != "OK" {
			t.Fatalf("SENTINEL DEBUG %v: %v %v", args, v, err)
		}
	}
	// The configured 100 ms period: 5 PINGs well within 2 s.
	if d := timeForPings(t, tp.Master.Addr(), 5, 10*time.Second); d > 2*time.Second {
		t.Fatalf("5 PINGs took %v at the default 100 ms period", d)
	}

	debug("Ping-Period", "700")
	timeForPings(t, tp.Master.Addr(), 1, 10*time.Second) // the one sent at the change
	if d := timeForPings(t, tp.Master.Addr(), 3, 15*time.Second); d < 1500*time.Millisecond {
		t.Fatalf("3 PINGs took %v at a 700 ms period (want about 2.1 s)", d)
	}
	v, err := c.Do(ctx, "SENTINEL", "DEBUG").Result()
	if err != nil || !strings.Contains(fmt.Sprint(v), "PING-PERIOD:700") {
		t.Fatalf("SENTINEL DEBUG: %v %v", v, err)
	}

	debug("ping-period", "20")
	if d := timeForPings(t, tp.Master.Addr(), 20, 10*time.Second); d > 2*time.Second {
		t.Fatalf("20 PINGs took %v at a 20 ms period", d)
	}
}

// TestDebugScriptLimitsReachRunner: in drop-in mode, SENTINEL DEBUG
// SCRIPT-MAX-RUNTIME and SCRIPT-RETRY-DELAY change the script runner's
// limits: a notification script that hangs is killed after 300 ms and
// retried 100 ms later (then 200 ms, ...), so it starts several times
// within seconds (with Sentinel's 60 s and 30 s, once).
func TestDebugScriptLimitsReachRunner(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	sd := filepath.Join(dir, "s1")
	if err := os.MkdirAll(sd, 0o755); err != nil {
		t.Fatal(err)
	}
	starts := filepath.Join(sd, "starts.log")
	notify := filepath.Join(sd, "notify.sh")
	if err := os.WriteFile(notify, []byte("#!/bin/sh\necho \"$*\" >> "+starts+"\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := writeSentinelConf(t, sd, freePort(t), tp.Master.Addr(), 1, "sentinel notification-script mymaster "+notify)
	m := startDropIn(t, p, 200*time.Millisecond, func(c *config.Config) { c.DropIn.ExpectedMonitors = 1 })
	addr := m.d.RESPAddr()
	testenv.WaitReady(t, []string{addr}, tp.Master.Addr(), 1, 0)
	if v, err := redisproc.Command(ctx, addr, "SENTINEL", "DEBUG", "script-max-runtime", "300", "SCRIPT-RETRY-DELAY", "100"); err != nil || v != "OK" {
		t.Fatalf("SENTINEL DEBUG: %q %v", v, err)
	}
	if err := tp.Replicas[0].Kill(); err != nil { // +sdown slave: a WARNING event
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, "the hung script killed and retried", func() error {
		b, _ := os.ReadFile(starts)
		if n := strings.Count(string(b), "+sdown"); n < 3 {
			return fmt.Errorf("%d starts:\n%s", n, b)
		}
		return nil
	})
}

// TestDebugDefaultDownAfterChangesDetection: SENTINEL DEBUG
// DEFAULT-DOWN-AFTER is the down-after of masters added later with SENTINEL
// MONITOR, and so how long a killed one takes to be seen down: 1 s after a
// DEBUG of 1000, at least 4 s after one of 4000.
func TestDebugDefaultDownAfterChangesDetection(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 0)
	g := testenv.StartGroup(t, dir, 1, nil, tp.Master.Addr(), 5*time.Second)
	addr := g.Addrs()[0]
	testenv.WaitReady(t, []string{addr}, tp.Master.Addr(), 0, 0)
	detect := func(name string, ms int) time.Duration {
		t.Helper()
		if r, err := redisproc.Command(ctx, addr, "SENTINEL", "DEBUG", "default-down-after", strconv.Itoa(ms)); err != nil || r != "OK" {
			t.Fatalf("SENTINEL DEBUG default-down-after %d: %q %v", ms, r, err)
		}
		node := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, name)})
		host, port := "127.0.0.1", strconv.Itoa(node.Port())
		if r, err := redisproc.Command(ctx, addr, "SENTINEL", "MONITOR", name, host, port, "1"); err != nil || r != "OK" {
			t.Fatalf("SENTINEL MONITOR %s: %q %v", name, r, err)
		}
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
		defer sc.Close()
		testenv.Eventually(t, 10*time.Second, name+" probed", func() error {
			m, err := sc.Master(ctx, name).Result()
			if err != nil || m["runid"] == "" || m["down-after-milliseconds"] != strconv.Itoa(ms) {
				return fmt.Errorf("%v %v", m, err)
			}
			return nil
		})
		if err := node.Kill(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		testenv.Eventually(t, 20*time.Second, name+" s_down", func() error {
			m, err := sc.Master(ctx, name).Result()
			if err != nil || !strings.Contains(m["flags"], "s_down") {
				return fmt.Errorf("flags %q %v", m["flags"], err)
			}
			return nil
		})
		return time.Since(killed)
	}
	fast := detect("fast", 1000)
	slow := detect("slow", 4000)
	t.Logf("detection: %v with DEFAULT-DOWN-AFTER 1000, %v with 4000", fast, slow)
	// Down is counted from the last answered PING, up to one PING period
	// (100 ms) before the kill: hence 3.5 s, not 4 s, as the lower bound.
	if fast > 3*time.Second || slow < 3500*time.Millisecond || slow-fast < 2*time.Second {
		t.Fatalf("detection %v (1000 ms) and %v (4000 ms) do not follow DEFAULT-DOWN-AFTER", fast, slow)
	}
}
