//go:build integration

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// TestScriptPathsAtRunTime: with `deny-scripts-reconfig no`, SENTINEL SET
// notification-script / client-reconfig-script sets the script of the
// monitor that received it only (each host its own path, nothing
// replicated), with Sentinel's error texts for a missing or non-executable
// script; the path shows in that monitor's SENTINEL MASTER and file, and the
// scripts run at the next failover. With the default `deny-scripts-reconfig
// yes`, Sentinel's refusal stays.
func TestScriptPathsAtRunTime(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	var ms []*dropInMonitor
	var addrs []string
	for i := range 3 {
		sd := filepath.Join(dir, fmt.Sprintf("s%d", i+1))
		if err := os.MkdirAll(sd, 0o755); err != nil {
			t.Fatal(err)
		}
		var extra []string
		if i < 2 {
			extra = append(extra, "sentinel deny-scripts-reconfig no")
		}
		p := writeSentinelConf(t, sd, freePort(t), tp.Master.Addr(), 2, extra...)
		m := startDropIn(t, p, 200*time.Millisecond)
		ms = append(ms, m)
		addrs = append(addrs, m.d.RESPAddr())
	}
	waitOneGroup(t, ms, tp.Master.Addr(), 1)

	s1, s2 := filepath.Join(dir, "s1"), filepath.Join(dir, "s2")
	notify := filepath.Join(s1, "notify.sh")
	reconf := filepath.Join(s2, "reconf.sh")
	for p, log := range map[string]string{notify: filepath.Join(s1, "notify.log"), reconf: filepath.Join(s2, "reconf.log")} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho \"$*\" >> "+log+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	plain := filepath.Join(s1, "plain.sh")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused := func(addr string, args []string, want string) {
		t.Helper()
		_, err := redisproc.Command(ctx, addr, args...)
		var re redisproc.ReplyError
		if !errors.As(err, &re) || string(re) != want {
			t.Fatalf("%v: %v, want %q", args, err, want)
		}
	}
	set := func(addr string, args ...string) {
		t.Helper()
		if r, err := redisproc.Command(ctx, addr, append([]string{"SENTINEL", "SET", testenv.MasterName}, args...)...); err != nil || r != "OK" {
			t.Fatalf("%s SENTINEL SET %v: %q %v", addr, args, r, err)
		}
	}
	refused(addrs[0], []string{"SENTINEL", "SET", testenv.MasterName, "notification-script", "/nonexistent"},
		"ERR Notification script seems non existing or non executable")
	refused(addrs[0], []string{"SENTINEL", "SET", testenv.MasterName, "notification-script", plain},
		"ERR Notification script seems non existing or non executable")
	// All or none: a bad script path commits nothing of the same SET.
	refused(addrs[1], []string{"SENTINEL", "SET", testenv.MasterName, "quorum", "1", "client-reconfig-script", "/nonexistent"},
		"ERR Client reconfiguration script seems non existing or non executable")
	if q, err := testenv.MasterField(ctx, addrs[1], "quorum"); err != nil || q != "2" {
		t.Fatalf("quorum after a refused SET: %q %v", q, err)
	}
	refused(addrs[2], []string{"SENTINEL", "SET", testenv.MasterName, "notification-script", notify},
		"ERR Reconfiguration of scripts path is denied for security reasons. Check the deny-scripts-reconfig configuration directive in your Sentinel configuration")
	set(addrs[0], "notification-script", "notify.sh") // relative: against the file's dir
	set(addrs[1], "client-reconfig-script", reconf, "failover-timeout", "12000")

	for i, want := range []string{notify, "", ""} {
		got, err := testenv.MasterField(ctx, addrs[i], "notification-script")
		if err != nil || got != want {
			t.Fatalf("monitor %d: notification-script %q %v, want %q (per monitor, not replicated)", i+1, got, err, want)
		}
		testenv.Eventually(t, 5*time.Second, fmt.Sprintf("monitor %d has the replicated part of the SET", i+1), func() error {
			if ft, err := testenv.MasterField(ctx, addrs[i], "failover-timeout"); err != nil || ft != "12000" {
				return fmt.Errorf("failover-timeout %q %v", ft, err)
			}
			return nil
		})
	}
	testenv.Eventually(t, 10*time.Second, "the paths written into each monitor's own file", func() error {
		b1, _ := os.ReadFile(filepath.Join(s1, "sentinel.conf"))
		b2, _ := os.ReadFile(filepath.Join(s2, "sentinel.conf"))
		b3, _ := os.ReadFile(filepath.Join(dir, "s3", "sentinel.conf"))
		if !strings.Contains(string(b1), "sentinel notification-script mymaster "+notify+"\n") ||
			!strings.Contains(string(b2), "sentinel client-reconfig-script mymaster "+reconf+"\n") ||
			strings.Contains(string(b2), "notification-script") || strings.Contains(string(b3), "-script mymaster") {
			return fmt.Errorf("files:\n%s\n---\n%s\n---\n%s", b1, b2, b3)
		}
		return nil
	})

	if err := tp.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "failover to the replica", func() error {
		return testenv.AllAnswer(ctx, addrs, tp.Replicas[0].Addr())
	})
	testenv.Eventually(t, 20*time.Second, "the scripts set at run time called", func() error {
		nb, _ := os.ReadFile(filepath.Join(s1, "notify.log"))
		rb, _ := os.ReadFile(filepath.Join(s2, "reconf.log"))
		ev := fmt.Sprintf("+switch-master mymaster 127.0.0.1 %d 127.0.0.1 %d", tp.Master.Port(), tp.Replicas[0].Port())
		if !strings.Contains(string(nb), ev) {
			return fmt.Errorf("notification script log %q lacks %q", nb, ev)
		}
		want := fmt.Sprintf("start 127.0.0.1 %d 127.0.0.1 %d", tp.Master.Port(), tp.Replicas[0].Port())
		if line := strings.TrimSpace(string(rb)); !strings.HasPrefix(line, "mymaster ") || !strings.HasSuffix(line, want) {
			return fmt.Errorf("reconf script called with %q", line)
		}
		return nil
	})
}
