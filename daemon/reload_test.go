package daemon

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftsentinel/raftsentinel/config"
)

// reloadDaemon is a Daemon with just what a reload without new masters
// touches.
func reloadDaemon(t *testing.T) (*Daemon, config.Config, *slog.LevelVar) {
	t.Helper()
	cfg := config.Default()
	cfg.NodeID, cfg.RaftAddr, cfg.HTTPAddr, cfg.DataDir = "m1", "127.0.0.1:7000", "127.0.0.1:7001", t.TempDir()
	cfg.Peers = []config.Peer{{ID: "m1", RaftAddr: "127.0.0.1:7000"}}
	lv := new(slog.LevelVar)
	d := &Daemon{cfg: cfg, level: lv, log: slog.New(slog.DiscardHandler), reloads: newReloadMetrics(prometheus.NewRegistry())}
	return d, cfg, lv
}

// TestReloadComponents: past the fixed keys, the log level and the admin
// token are applied by their reloaders and the new configuration is in
// force; a change of fixed keys is refused naming each, in order, with
// nothing applied.
func TestReloadComponents(t *testing.T) {
	d, cfg, lv := reloadDaemon(t)
	bad := cfg
	bad.Log.Level, bad.AdminToken = "debug", "t"
	bad.Listen, bad.DataDir = "127.0.0.1:1", t.TempDir()
	err := d.Reload(context.Background(), bad)
	if !errors.Is(err, ErrReload) || !strings.Contains(err.Error(),
		"listen cannot change at run time (restart the monitor)\ndata-dir cannot change at run time") {
		t.Fatalf("fixed keys: %v", err)
	}
	if lv.Level() != slog.LevelInfo || d.adminToken() != "" {
		t.Fatalf("a refused reload applied level %v, token %q", lv.Level(), d.adminToken())
	}
	good := cfg
	good.Log.Level, good.AdminToken, good.MaxClients = "debug", "new-token", 5
	if err := d.Reload(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	if lv.Level() != slog.LevelDebug || d.adminToken() != "new-token" || d.cfg.MaxClients != 5 {
		t.Fatalf("after reload: level %v, token %q, maxclients %d", lv.Level(), d.adminToken(), d.cfg.MaxClients)
	}
}

// TestReloadJoinsComponentErrors: every reloader runs, and the error names
// each failing component.
func TestReloadJoinsComponentErrors(t *testing.T) {
	cfg := config.Default()
	var ran []string
	rs := []reloader{
		{"a", func(config.Config) error { ran = append(ran, "a"); return errors.New("boom") }},
		{"b", func(config.Config) error { ran = append(ran, "b"); return nil }},
		{"c", func(config.Config) error { ran = append(ran, "c"); return errors.New("bang") }},
	}
	err := applyReloaders(rs, cfg)
	if err == nil || err.Error() != "a: boom\nc: bang" || strings.Join(ran, "") != "abc" {
		t.Fatalf("err %v, ran %v", err, ran)
	}
}
