package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsentinel/raftsentinel/internal/daemon"
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
