package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
