package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/wait"
)

// TestDropInCommand: `raftsentinel sentinel.conf --sentinel` (and
// `--sentinel sentinel.conf`) runs a monitor from a Redis sentinel.conf on
// the file's port, logs to its logfile, writes its pidfile (removed on
// exit), and keeps a generated Sentinel id across restarts.
func TestDropInCommand(t *testing.T) {
	dir := t.TempDir()
	port, err := redisproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	logf, pidf := filepath.Join(dir, "sentinel.log"), filepath.Join(dir, "sentinel.pid")
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize yes\npidfile %s\nlogfile %s\ndir %s\nprotected-mode no\n"+
		"sentinel monitor mymaster 127.0.0.1 6399 2\nsentinel deny-scripts-reconfig yes\nsentinel resolve-hostnames no\n",
		port, pidf, logf, dir)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var ids []string
	for _, args := range [][]string{{conf, "--sentinel"}, {"--sentinel", conf}} {
		rp, err1 := redisproc.FreePort()
		hp, err2 := redisproc.FreePort()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		args = append(args, "--raft-addr", "127.0.0.1:"+strconv.Itoa(rp), "--http-addr", "127.0.0.1:"+strconv.Itoa(hp))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		var out bytes.Buffer
		go func() {
			root := newRoot(&out, &out)
			root.SetArgs(args)
			done <- root.ExecuteContext(ctx)
		}()
		var id string
		wait.Until(t, 20*time.Second, fmt.Sprintf("%v: an answer on %s", args, addr), func() error {
			pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
			defer pcancel()
			id, err = redisproc.Command(pctx, addr, "SENTINEL", "MYID")
			return err
		})
		ids = append(ids, id)
		if b, err := os.ReadFile(pidf); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
			t.Errorf("pidfile %q %v", b, err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		if _, err := os.Stat(pidf); !os.IsNotExist(err) {
			t.Errorf("pidfile left behind: %v", err)
		}
	}
	if len(ids[0]) != 40 || ids[0] != ids[1] {
		t.Fatalf("Sentinel ids %q: want one generated 40-hex id kept across restarts", ids)
	}
	b, err := os.ReadFile(logf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"drop-in mode", "raftsentinel does not fork", "protected-mode no"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("logfile lacks %q", want)
		}
	}
	if _, err := run(t, "--sentinel"); err == nil {
		t.Error("--sentinel without a file accepted")
	}
}
