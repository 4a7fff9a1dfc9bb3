package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/sentinelconf"
	"github.com/raftsentinel/raftsentinel/state"
)

// TestScriptPaths: this monitor's script paths start from the file, are
// checked as Sentinel checks them (its error texts), resolve relative paths
// against dir, survive a restart (the run-time value wins over the file's
// line, a cleared one stays cleared), and are written into the sentinel.conf.
func TestScriptPaths(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain.txt")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "scripts.json")
	p, err := loadScriptPaths(file, dir, map[string]string{"m": "/from/file.sh"}, map[string]string{"m": "/reconf.sh"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ option, path, want string }{
		{optNotificationScript, "/nonexistent", "Notification script seems non existing or non executable"},
		{optNotificationScript, plain, "Notification script seems non existing or non executable"},
		{optReconfigScript, "/nonexistent", "Client reconfiguration script seems non existing or non executable"},
	} {
		if _, err := p.check(c.option, c.path); err == nil || err.Error() != c.want {
			t.Errorf("check(%s, %s) = %v, want %q", c.option, c.path, err, c.want)
		}
	}
	abs, err := p.check(optNotificationScript, "notify.sh")
	if err != nil || abs != exe {
		t.Fatalf("relative path: %q %v, want %q", abs, err, exe)
	}
	if err := p.set("m", optNotificationScript, abs); err != nil {
		t.Fatal(err)
	}
	if err := p.set("m", optReconfigScript, ""); err != nil {
		t.Fatal(err)
	}
	if n, r := p.get("m"); n != exe || r != "" {
		t.Fatalf("get: %q %q", n, r)
	}
	again, err := loadScriptPaths(file, dir, map[string]string{"m": "/from/file.sh"}, map[string]string{"m": "/reconf.sh"})
	if err != nil {
		t.Fatal(err)
	}
	if n, r := again.get("m"); n != exe || r != "" {
		t.Fatalf("after a restart: %q %q", n, r)
	}

	st := &state.State{Masters: map[string]*state.Master{
		"m": {Name: "m", Addr: state.Addr{Host: "10.0.0.1", Port: 6379}, Quorum: 2, DownAfter: time.Second, FailoverTimeout: time.Minute, ParallelSyncs: 1},
		"n": {Name: "n", Addr: state.Addr{Host: "10.0.0.2", Port: 6379}, Quorum: 2, DownAfter: time.Second, FailoverTimeout: time.Minute, ParallelSyncs: 1},
	}}
	if err := again.set("n", optReconfigScript, "/with space/r.sh"); err != nil {
		t.Fatal(err)
	}
	orig := "sentinel monitor m 10.0.0.1 6379 2\nsentinel notification-script m /from/file.sh\nsentinel client-reconfig-script m /reconf.sh\n" +
		"sentinel monitor n 10.0.0.2 6379 2\n"
	got := string(sentinelconf.Render([]byte(orig), st, "a", "aaaa", 0, again.get))
	if !strings.Contains(got, "sentinel notification-script m "+exe+"\n") || strings.Contains(got, "client-reconfig-script m") ||
		!strings.Contains(got, "sentinel client-reconfig-script n \"/with space/r.sh\"\n") || strings.Contains(got, "/from/file.sh") {
		t.Fatalf("rendering:\n%s", got)
	}
	if twice := string(sentinelconf.Render([]byte(got), st, "a", "aaaa", 0, again.get)); twice != got {
		t.Fatalf("not idempotent:\n%s\n---\n%s", got, twice)
	}
}
