//go:build integration

package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// TestReload: a reload that changes a key fixed at start is refused,
// naming the key, and the metric says so; a valid one applies the log
// level, the admin token and a master new to the file.
func TestReload(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 0)
	other := testenv.StartTopology(t, dir+"/other", 0)
	lns, err := demo.OpenListeners(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ds []*daemon.Daemon
	var cfgs []config.Config
	level := new(slog.LevelVar)
	for i := range lns {
		cfg := demo.MonitorConfig(dir, i, lns, tp.Master.Addr(), time.Second)
		opt := daemon.Options{Listeners: lns[i]}
		if i == 0 {
			opt.Level = level
		}
		d, err := daemon.New(cfg, opt)
		if err != nil {
			t.Fatal(err)
		}
		ds, cfgs = append(ds, d), append(cfgs, cfg)
		r := run(t, d)
		defer r.stop()
	}
	var addrs []string
	for _, d := range ds {
		addrs = append(addrs, d.RESPAddr())
	}
	testenv.WaitReady(t, addrs, tp.Master.Addr(), 0, 2)
	base := "http://" + ds[0].HTTPAddr()

	bad := cfgs[0]
	bad.RaftAddr = "127.0.0.1:1"
	bad.Peers = append([]config.Peer(nil), bad.Peers...)
	bad.Peers[0].RaftAddr = "127.0.0.1:1"
	err = ds[0].Reload(ctx, bad)
	if !errors.Is(err, daemon.ErrReload) || !strings.Contains(err.Error(), "raft-addr cannot change at run time") {
		t.Fatalf("reload of a fixed key: %v", err)
	}
	if _, body := httpDo(t, "GET", base+"/metrics", ""); !strings.Contains(body, "raftsentinel_config_last_reload_successful 0") {
		t.Fatal("a refused reload is not visible in the metrics")
	}

	good := cfgs[0]
	good.Log.Level = "debug"
	good.AdminToken = "new-token"
	m := config.DefaultMaster()
	m.Name, m.Addr, m.Quorum = "second", other.Master.Addr(), 2
	good.Masters = append(append([]config.Master(nil), good.Masters...), m)
	if err := ds[0].Reload(ctx, good); err != nil {
		t.Fatal(err)
	}
	if level.Level() != slog.LevelDebug {
		t.Fatalf("log level %v after reload", level.Level())
	}
	if code, _ := httpDo(t, "POST", base+"/v1/masters/mymaster/pause", "new-token"); code != 200 {
		t.Fatalf("the new admin token is not in force: %d", code)
	}
	testenv.Eventually(t, 10*time.Second, "the new master is monitored everywhere", func() error {
		for _, a := range addrs {
			if got, err := masterAddrOf(ctx, a, "second"); err != nil || got != other.Master.Addr() {
				return fmt.Errorf("%s: %q %v", a, got, err)
			}
		}
		return nil
	})
	if _, body := httpDo(t, "GET", base+"/metrics", ""); !strings.Contains(body, "raftsentinel_config_last_reload_successful 1") {
		t.Fatal("a successful reload is not visible in the metrics")
	}

	// A master the file added is seeded as at start: removed with SENTINEL
	// REMOVE, it stays removed when the same file is reloaded again (or
	// read at the next start).
	if r, err := redisproc.Command(ctx, addrs[1], "SENTINEL", "REMOVE", "second"); err != nil || r != "OK" {
		t.Fatalf("SENTINEL REMOVE second: %q %v", r, err)
	}
	testenv.Eventually(t, 5*time.Second, "the removal reached m1", func() error {
		if ds[0].Store().State().Masters["second"] != nil {
			return fmt.Errorf("m1 still has second")
		}
		return nil
	})
	if err := ds[0].Reload(ctx, good); err != nil {
		t.Fatal(err)
	}
	if st := ds[0].Store().State(); st.Masters["second"] != nil || !st.Seeded["second"] {
		t.Fatalf("after REMOVE and another reload: second %+v, seeded %v", st.Masters["second"], st.Seeded["second"])
	}
}
