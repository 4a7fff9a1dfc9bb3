package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/config"
)

func TestRunIDStableAndValidated(t *testing.T) {
	dir := t.TempDir()
	a, err := loadRunID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 40 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Fatalf("run id %q is not 40 hex", a)
	}
	b, err := loadRunID(dir)
	if err != nil || b != a {
		t.Fatalf("second load %q %v, want %q", b, err, a)
	}
	if err := os.WriteFile(filepath.Join(dir, "myid"), []byte("zz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadRunID(dir); err == nil || !strings.Contains(err.Error(), "not a 40-hex id") {
		t.Fatalf("corrupt myid: %v", err)
	}
}

// TestRunReturnsAComponentsError: a component that fails stops the
// monitor, and Run returns its error (it was dropped before).
func TestRunReturnsAComponentsError(t *testing.T) {
	cfg := config.Default()
	cfg.NodeID, cfg.DataDir = "m1", t.TempDir()
	cfg.RaftAddr, cfg.HTTPAddr, cfg.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	d, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	d.extra = append(d.extra, func(ctx context.Context) error { return boom })
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Fatalf("Run returned %v, want the component's error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop when a component failed")
	}
}
