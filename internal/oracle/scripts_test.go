//go:build integration

package oracle

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// TestDifferentialScriptPaths: with `sentinel deny-scripts-reconfig no`, a
// real redis-sentinel 7.0.15 and a raftsentinel monitor run from a
// sentinel.conf (the built binary) answer SENTINEL SET of script paths the
// same way — each error text, +OK, and the notification-script and
// client-reconfig-script fields of SENTINEL MASTER, set and cleared.
func TestDifferentialScriptPaths(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin := testenv.Binary(t, "oracle-scripts-")
	exe := filepath.Join(dir, "ok.sh")
	noexec := filepath.Join(dir, "noexec.sh")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	snMaster := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "sn-master")})
	rsMaster := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "rs-master")})
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	sn, err := redisproc.StartSentinel(sctx, redisproc.SentinelOptions{Dir: filepath.Join(dir, "sn"), MasterName: testenv.MasterName,
		MasterAddr: snMaster.Addr(), Quorum: 1, Extra: []string{"sentinel deny-scripts-reconfig no"}})
	cancel()
	if err != nil {
		t.Fatalf("redis-sentinel: %v", err)
	}
	t.Cleanup(func() { sn.Close() })

	rsDir := filepath.Join(dir, "rs")
	if err := os.MkdirAll(rsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	freePort := func() int {
		p, err := redisproc.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	port := freePort()
	host, mport, _ := net.SplitHostPort(rsMaster.Addr())
	conf := filepath.Join(rsDir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s 1\nsentinel deny-scripts-reconfig no\n",
		port, rsDir, testenv.MasterName, host, mport)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	rsAddr := "127.0.0.1:" + strconv.Itoa(port)
	testenv.StartBinary(t, bin, []string{conf, "--expected-monitors", "1",
		"--raft-addr", "127.0.0.1:" + strconv.Itoa(freePort()), "--http-addr", "127.0.0.1:" + strconv.Itoa(freePort())},
		filepath.Join(rsDir, "out.log"), rsAddr)

	do := func(addr string, args ...string) string {
		c, err := Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r, err := c.Do(5*time.Second, args...)
		if err != nil {
			t.Fatalf("%s %v: %v", addr, args, err)
		}
		return oneLine(r)
	}
	field := func(addr, key string) string {
		c, err := Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r, err := c.Do(5*time.Second, "SENTINEL", "MASTER", testenv.MasterName)
		if err != nil {
			t.Fatal(err)
		}
		return fieldText(r, key)
	}
	set := func(args ...string) []string {
		return append([]string{"SENTINEL", "SET", testenv.MasterName}, args...)
	}
	steps := []struct {
		args []string
		want string // the pinned Sentinel reply
	}{
		{set("notification-script", "/nonexistent"), `error "ERR Notification script seems non existing or non executable"`},
		{set("notification-script", noexec), `error "ERR Notification script seems non existing or non executable"`},
		{set("notification-script", dir), `simple "OK"`}, // access(X_OK) holds for a directory, as in Sentinel
		{set("notification-script", ""), `simple "OK"`},
		{set("client-reconfig-script", "/nonexistent"), `error "ERR Client reconfiguration script seems non existing or non executable"`},
		{set("notification-script", exe), `simple "OK"`},
		{set("client-reconfig-script", exe), `simple "OK"`},
		{nil, "fields"},
		{set("client-reconfig-script", ""), `simple "OK"`},
		{nil, "fields"},
		{set("notification-script", ""), `simple "OK"`},
		{nil, "fields"},
	}
	for i, s := range steps {
		if s.args == nil {
			for _, k := range []string{"notification-script", "client-reconfig-script"} {
				if a, b := field(sn.Addr(), k), field(rsAddr, k); a != b {
					t.Errorf("step %d: SENTINEL MASTER %s: Sentinel %q, raftsentinel %q", i, k, a, b)
				}
			}
			continue
		}
		a, b := do(sn.Addr(), s.args...), do(rsAddr, s.args...)
		if a != s.want {
			t.Errorf("step %d %v: Sentinel answered %q, pinned %q", i, s.args, a, s.want)
		}
		if a != b {
			t.Errorf("step %d %v: Sentinel %q, raftsentinel %q", i, s.args, a, b)
		}
	}
}
