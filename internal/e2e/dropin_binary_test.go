package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testenv"
)

// TestDropInBinaries: the built raftsentinel binary, run three times as
// `raftsentinel <sentinel.conf> --sentinel` on three files that name no
// peers (only --raft-addr/--http-addr are given, so that no derived port
// can collide on a shared test machine), forms one group with the default
// 2 s hello period and fails over a SIGKILLed master.
func TestDropInBinaries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ws, err := benchutil.NewWorkspace(ctx, io.Discard, "dropin-bin-", false)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	tp := testenv.StartTopology(t, dir, 1)
	var addrs []string
	for i := range 3 {
		sd := filepath.Join(dir, fmt.Sprintf("s%d", i+1))
		port := freePort(t)
		conf := writeSentinelConf(t, sd, port, tp.Master.Addr(), 2)
		args := []string{conf, "--sentinel",
			"--raft-addr", "127.0.0.1:" + strconv.Itoa(freePort(t)), "--http-addr", "127.0.0.1:" + strconv.Itoa(freePort(t))}
		p, err := benchutil.StartProc(ctx, ws.Bin, args, filepath.Join(sd, "out.log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Kill() })
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if err := p.WaitPing(ctx, addr, 20*time.Second); err != nil {
			t.Fatal(err)
		}
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
