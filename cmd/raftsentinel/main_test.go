package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/daemon"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String() + errb.String(), err
}

func TestVersion(t *testing.T) {
	out, err := run(t, "version")
	if err != nil || !strings.Contains(out, "raftsentinel") {
		t.Fatalf("%q %v", out, err)
	}
}

func TestRunRejectsBadConfigNamingTheKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(p, []byte("node-id: m1\nmasters:\n  - name: x\n    qourum: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := run(t, "run", "--config", p)
	if err == nil || !strings.Contains(err.Error(), "qourum") {
		t.Fatalf("want an error naming the unknown key, got %v", err)
	}
	_, err = run(t, "run", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil {
		t.Fatal("missing config file accepted")
	}
}

func TestPrintStatus(t *testing.T) {
	var b bytes.Buffer
	printStatus(&b, daemon.Status{Monitor: "m1", Leader: "m2", Stale: true,
		Masters: []daemon.MasterStatus{{Name: "mymaster", Addr: "10.0.0.1:6379", ConfigEpoch: 3, ODown: true, Maintenance: true,
			Replicas: []daemon.ReplicaStatus{{Addr: "10.0.0.2:6379", Role: "slave", LinkUp: true, LagBytes: 42}}}},
		Monitors: []daemon.MonitorStatus{{ID: "m1", Announce: "10.0.0.9:26379"}, {ID: "m2", Announce: "10.0.0.8:26379", Leader: true}}})
	out := b.String()
	for _, want := range []string{"mymaster", "odown,maintenance", "lag 42 bytes", "link up", "m2", "leader", "cut off from the majority"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
}

// TestImportSentinelConfLoads: what `raftsentinel import` writes, once the
// placeholders are filled in, is a valid configuration with the masters.
func TestImportSentinelConfLoads(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "sentinel.conf")
	conf := "port 26380\nsentinel monitor mymaster 127.0.0.1 6380 2\nsentinel down-after-milliseconds mymaster 2000\n" +
		"sentinel auth-pass mymaster \"p w\"\nsentinel known-replica mymaster 127.0.0.1 6381\n" +
		"requirepass top\nuser app on >a\\x22pw ~* &+switch-master -@all +sentinel|get-master-addr-by-name\n"
	if err := os.WriteFile(src, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "import", src)
	if err != nil {
		t.Fatal(err)
	}
	yamlText := out[:strings.Index(out, "note:")]
	yamlText = strings.NewReplacer("CHANGE-ME-m1", "127.0.0.1", "CHANGE-ME-m2", "127.0.0.2", "CHANGE-ME-m3", "127.0.0.3").Replace(yamlText)
	p := filepath.Join(dir, "m1.yaml")
	if err := os.WriteFile(p, []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p, nil)
	if err != nil {
		t.Fatalf("imported YAML does not load: %v\n%s", err, yamlText)
	}
	m := cfg.Masters[0]
	if m.Name != "mymaster" || m.Addr != "127.0.0.1:6380" || m.Quorum != 2 || m.DownAfter.String() != "2s" || m.AuthPass != "p w" {
		t.Fatalf("imported master %+v", m)
	}
	wantUsers := []config.User{{Name: "app", Password: `a\x22pw`, Commands: "&+switch-master -@all +sentinel|get-master-addr-by-name"}}
	if cfg.RequirePass != "top" || !reflect.DeepEqual(cfg.Users, wantUsers) {
		t.Fatalf("imported requirepass %q, users %+v", cfg.RequirePass, cfg.Users)
	}
	if !strings.Contains(out, "note: line 5") {
		t.Fatalf("no note for the state line:\n%s", out)
	}
}

// TestRedisLoggerReachesTheLog: go-redis's process-wide log lines (pool and
// dial errors) reach the monitor's log at WARN, not a silent sink.
func TestRedisLoggerReachesTheLog(t *testing.T) {
	var b strings.Builder
	l := redisLogger{slog.New(slog.NewTextHandler(&b, nil))}
	l.Printf(context.Background(), "redis: connection pool: %s", "dial tcp 127.0.0.1:1: connect: connection refused")
	if out := b.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "connection refused") || !strings.Contains(out, "component=go-redis") {
		t.Fatalf("go-redis log line: %q", out)
	}
}
