//go:build integration

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// TestRuntimeConfiguredLikeSentinel is the set-up of Kubernetes operators,
// Ansible roles and test harnesses: five monitors started as separate
// binaries from sentinel.conf files that monitor nothing and name no peer,
// the Redis nodes started after them, then SENTINEL MONITOR and the same
// SENTINEL SETs sent to every monitor. Each answers +OK at once and serves
// the master before any group exists; they find each other through it, form
// one group, answer the same master everywhere, fail a SIGKILLed master
// over, and a restarted monitor never answers nil or "No such master".
func TestRuntimeConfiguredLikeSentinel(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin := testenv.Binary(t, "runtime-conf-")
	type mon struct {
		dir, addr string
		args      []string
		proc      *benchutil.Proc
	}
	start := func(m *mon, log string) {
		t.Helper()
		m.proc = testenv.StartBinary(t, bin, m.args, filepath.Join(m.dir, log), m.addr)
	}
	var mons []*mon
	var addrs []string
	for i := range 5 {
		sd := filepath.Join(dir, fmt.Sprintf("s%d", i+1))
		if err := os.MkdirAll(sd, 0o700); err != nil {
			t.Fatal(err)
		}
		port := freePort(t)
		conf := filepath.Join(sd, "sentinel.conf")
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n", port, sd)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		m := &mon{dir: sd, addr: "127.0.0.1:" + strconv.Itoa(port), args: []string{conf,
			"--raft-addr", "127.0.0.1:" + strconv.Itoa(freePort(t)), "--http-addr", "127.0.0.1:" + strconv.Itoa(freePort(t))}}
		start(m, "out.log")
		mons = append(mons, m)
		addrs = append(addrs, m.addr)
	}
	for _, a := range addrs {
		if r, err := redisproc.Do(ctx, a, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", testenv.MasterName); err != nil || r != nil {
			t.Fatalf("%s: a monitor of nothing answers %v %v, want nil", a, r, err)
		}
	}
	tp := testenv.StartTopology(t, dir, 1)
	host, port, _ := net.SplitHostPort(tp.Master.Addr())
	sets := [][]string{
		{"down-after-milliseconds", "1000"}, {"failover-timeout", "10000"}, {"parallel-syncs", "1"},
	}
	for _, a := range addrs {
		// Told once per monitor, as Sentinel expects; each is held at
		// once (no group yet) or committed, and answered +OK.
		for range 2 {
			if r, err := redisproc.Command(ctx, a, "SENTINEL", "MONITOR", testenv.MasterName, host, port, "2"); err != nil || r != "OK" {
				t.Fatalf("%s: SENTINEL MONITOR: %q %v", a, r, err)
			}
		}
		for _, kv := range sets {
			if r, err := redisproc.Command(ctx, a, "SENTINEL", "SET", testenv.MasterName, kv[0], kv[1]); err != nil || r != "OK" {
				t.Fatalf("%s: SENTINEL SET %v: %q %v", a, kv, r, err)
			}
		}
		_, err := redisproc.Command(ctx, a, "SENTINEL", "MONITOR", testenv.MasterName, host, strconv.Itoa(tp.Replicas[0].Port()), "2")
		var re redisproc.ReplyError
		if !errors.As(err, &re) || string(re) != "ERR Duplicate master name." {
			t.Fatalf("%s: MONITOR of another address: %v, want ERR Duplicate master name.", a, err)
		}
		if got, err := testenv.MasterAddr(ctx, a); err != nil || got != tp.Master.Addr() {
			t.Fatalf("%s: right after MONITOR answers %q %v", a, got, err)
		}
	}
	took := testenv.Eventually(t, 60*time.Second, "one group of five answering the master", func() error {
		for _, a := range addrs {
			r, err := redisproc.Command(ctx, a, "SENTINEL", "CKQUORUM", testenv.MasterName)
			if err != nil || !strings.HasPrefix(r, "OK 5 usable") {
				return fmt.Errorf("%s: CKQUORUM %q %v", a, r, err)
			}
			if d, err := testenv.MasterField(ctx, a, "down-after-milliseconds"); err != nil || d != "1000" {
				return fmt.Errorf("%s: down-after-milliseconds %q %v", a, d, err)
			}
		}
		return testenv.AllAnswer(ctx, addrs, tp.Master.Addr())
	})
	t.Logf("group of five formed %v after the SETs", took)
	formed := 0
	for _, m := range mons {
		b, _ := os.ReadFile(filepath.Join(m.dir, "out.log"))
		formed += strings.Count(string(b), "formed the monitor group")
		conf, _ := os.ReadFile(filepath.Join(m.dir, "sentinel.conf"))
		if !strings.Contains(string(conf), "sentinel monitor "+testenv.MasterName+" "+host+" "+port+" 2") {
			t.Errorf("%s: the file was not given the master:\n%s", m.addr, conf)
		}
	}
	if formed != 1 {
		t.Fatalf("%d monitors bootstrapped a group, want 1", formed)
	}

	// One monitor restarts: from its first answer on it names the master.
	m := mons[2]
	lkPath := filepath.Join(m.dir, "raftsentinel", "raft", "last-known-state.json")
	testenv.Eventually(t, 5*time.Second, "the last known state saved", func() error {
		b, err := os.ReadFile(lkPath)
		if err != nil || !strings.Contains(string(b), `"mymaster"`) {
			entries, _ := os.ReadDir(filepath.Dir(lkPath))
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return fmt.Errorf("%s: %v (dir: %v)", lkPath, err, names)
		}
		return nil
	})
	if err := m.proc.Kill(); err != nil {
		t.Fatal(err)
	}
	start(m, "out2.log")
	failf := func(format string, args ...any) {
		t.Helper()
		b, _ := os.ReadFile(filepath.Join(m.dir, "out2.log"))
		lk, _ := os.ReadFile(filepath.Join(m.dir, "raftsentinel", "raft", "last-known-state.json"))
		_, herr := os.Stat(filepath.Join(m.dir, "raftsentinel", "raft", "held.json"))
		info, _ := redisproc.Command(ctx, m.addr, "INFO", "sentinel")
		t.Fatalf(format+"\nthe restarted monitor's log:\n%s\nlast known (%d bytes): %.400s\nheld.json: %v\nINFO: %s", append(args, b, len(lk), lk, herr, info)...)
	}
	deadline := time.Now().Add(3 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		r, err := redisproc.Do(ctx, m.addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", testenv.MasterName)
		var re redisproc.ReplyError
		switch {
		case errors.As(err, &re) && strings.HasPrefix(string(re), "LOADING "):
		case err != nil:
			failf("restarted monitor, answer %d: %v", n, err)
		case r == nil:
			failf("restarted monitor, answer %d: nil", n)
		default:
			if got := fmt.Sprint(r); got != fmt.Sprint([]any{host, port}) {
				failf("restarted monitor, answer %d: %v", n, got)
			}
		}
		if _, err := redisproc.Do(ctx, m.addr, "SENTINEL", "MASTER", testenv.MasterName); err != nil && !(errors.As(err, &re) && strings.HasPrefix(string(re), "LOADING ")) {
			failf("restarted monitor: SENTINEL MASTER: %v", err)
		}
	}

	if err := tp.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	took = testenv.Eventually(t, 30*time.Second, "failover to the replica on every monitor", func() error {
		return testenv.AllAnswer(ctx, addrs, tp.Replicas[0].Addr())
	})
	t.Logf("all five answer the promoted replica %v after the kill", took)
}
