//go:build integration

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// TestDropInBinaries: the built raftsentinel binary, run three times as
// `raftsentinel <sentinel.conf> --sentinel` on three files that name no
// peers (only --raft-addr/--http-addr are given, so that no derived port
// can collide on a shared test machine), forms one group with the default
// 2 s hello period and fails over a SIGKILLed master.
func TestDropInBinaries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin := testenv.Binary(t, "dropin-bin-")
	tp := testenv.StartTopology(t, dir, 1)
	var addrs []string
	for i := range 3 {
		sd := filepath.Join(dir, fmt.Sprintf("s%d", i+1))
		port := freePort(t)
		conf := writeSentinelConf(t, sd, port, tp.Master.Addr(), 2)
		args := []string{conf, "--sentinel",
			"--raft-addr", "127.0.0.1:" + strconv.Itoa(freePort(t)), "--http-addr", "127.0.0.1:" + strconv.Itoa(freePort(t))}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		testenv.StartBinary(t, bin, args, filepath.Join(sd, "out.log"), addr)
		addrs = append(addrs, addr)
	}
	took := testenv.Eventually(t, 60*time.Second, "one group answering the master", func() error {
		for _, a := range addrs {
			r, err := redisproc.Command(ctx, a, "SENTINEL", "CKQUORUM", "mymaster")
			if err != nil || !strings.HasPrefix(r, "OK 3 usable") {
				return fmt.Errorf("%s: CKQUORUM %q %v", a, r, err)
			}
		}
		return testenv.AllAnswer(ctx, addrs, tp.Master.Addr())
	})
	t.Logf("group formed %v after the last monitor answered PING", took)
	if err := tp.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "failover to the replica", func() error {
		return testenv.AllAnswer(ctx, addrs, tp.Replicas[0].Addr())
	})
	formed := 0
	for i := range 3 {
		b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("s%d", i+1), "out.log"))
		formed += strings.Count(string(b), "formed the monitor group")
	}
	if formed != 1 {
		t.Fatalf("%d monitors bootstrapped a group, want 1", formed)
	}
}

// TestDropInBinaryRelativePaths: two binaries started from one working
// directory, each on a sentinel.conf whose relative `logfile` and
// `pidfile` come before its `dir` line, write their logs and pid files in
// their own dirs (Sentinel resolves them against the last dir), not into
// one shared file in the working directory.
func TestDropInBinaryRelativePaths(t *testing.T) {
	dir := t.TempDir()
	bin := testenv.Binary(t, "dropin-rel-")
	wd, _ := os.Getwd()
	for _, f := range []string{"rel-sentinel.log", "rel-sentinel.pid"} {
		if _, err := os.Stat(filepath.Join(wd, f)); err == nil {
			t.Fatalf("%s exists in the working directory before the test", f)
		}
		t.Cleanup(func() { os.Remove(filepath.Join(wd, f)) }) // a regression must not litter the tree
	}
	tp := testenv.StartTopology(t, dir, 0)
	var sds []string
	var pids []int
	for i := range 2 {
		sd := filepath.Join(dir, fmt.Sprintf("s%d", i+1))
		port := freePort(t)
		conf := writeSentinelConf(t, sd, port, tp.Master.Addr(), 2)
		b, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		// logfile and pidfile before dir, relative.
		text := "logfile rel-sentinel.log\npidfile rel-sentinel.pid\n" + string(b)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{conf, "--sentinel",
			"--raft-addr", "127.0.0.1:" + strconv.Itoa(freePort(t)), "--http-addr", "127.0.0.1:" + strconv.Itoa(freePort(t))}
		p := testenv.StartBinary(t, bin, args, filepath.Join(sd, "out.log"), "127.0.0.1:"+strconv.Itoa(port))
		sds, pids = append(sds, sd), append(pids, p.Pid())
	}
	for i, sd := range sds {
		testenv.Eventually(t, 10*time.Second, "log and pid file in "+sd, func() error {
			log, err := os.ReadFile(filepath.Join(sd, "rel-sentinel.log"))
			if err != nil || len(log) == 0 {
				return fmt.Errorf("log: %d bytes, %v", len(log), err)
			}
			pid, err := os.ReadFile(filepath.Join(sd, "rel-sentinel.pid"))
			if err != nil || strings.TrimSpace(string(pid)) != strconv.Itoa(pids[i]) {
				return fmt.Errorf("pid file %q (%v), want %d", pid, err, pids[i])
			}
			return nil
		})
	}
	for _, f := range []string{"rel-sentinel.log", "rel-sentinel.pid"} {
		if _, err := os.Stat(filepath.Join(wd, f)); err == nil {
			t.Fatalf("%s written in the working directory", f)
		}
	}
}
