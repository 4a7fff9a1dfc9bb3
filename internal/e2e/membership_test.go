//go:build integration

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/raftsentinel/raftsentinel/state"
)

func sentinelsSeen(ctx context.Context, addr string) (int, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer sc.Close()
	s, err := sc.Sentinels(ctx, "mymaster").Result()
	return len(s), err
}

// TestMembershipGrowsAndShrinks: a fourth monitor joins a running group
// through any member; every monitor then lists three others. Two monitors
// then leave (Sentinel's membership never shrinks): the two that remain
// list one other, and fail over a killed master on their own.
func TestMembershipGrowsAndShrinks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	g := testenv.StartGroup(t, dir, 3, nil, tp.Master.Addr(), time.Second)
	testenv.WaitReady(t, g.Addrs(), tp.Master.Addr(), 1, 2)

	lns, err := demo.OpenListeners(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := demo.MonitorConfig(dir, 0, lns, tp.Master.Addr(), time.Second)
	cfg.NodeID, cfg.DataDir = "m4", dir+"/m4"
	cfg.Peers, cfg.Join = nil, []string{g.Daemons[1].HTTPAddr()}
	cfg.Masters[0].Quorum = 2
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d4, err := daemon.New(cfg, daemon.Options{Listeners: lns[0]})
	if err != nil {
		t.Fatal(err)
	}
	r4 := run(t, d4)
	defer r4.stop()
	all := append(g.Addrs(), d4.RESPAddr())
	testenv.Eventually(t, 20*time.Second, "four members everywhere", func() error {
		for _, a := range all {
			if n, err := sentinelsSeen(ctx, a); err != nil || n != 3 {
				return fmt.Errorf("%s lists %d other monitors (%v)", a, n, err)
			}
		}
		return testenv.AllAnswer(ctx, all, tp.Master.Addr())
	})

	leave := func(id string) error {
		fwd := quorum.HTTPForwarder(&http.Client{Timeout: 5 * time.Second})
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := fwd(lctx, state.Monitor{HTTPAddr: g.Daemons[0].HTTPAddr()}, state.Command{Op: state.OpLeave, MonitorID: id})
		return err
	}
	if err := leave("m9"); err == nil {
		t.Fatal("leave of a non-member succeeded")
	}
	if err := leave("m3"); err != nil {
		t.Fatalf("leave m3: %v", err)
	}
	if err := leave("m4"); err != nil {
		t.Fatalf("leave m4: %v", err)
	}
	// Quorum 2 with two members left: a third leave is refused.
	if err := leave("m2"); err == nil {
		t.Fatal("a leave below the master's quorum was accepted")
	}
	remaining := g.Addrs()[:2]
	testenv.Eventually(t, 20*time.Second, "two members", func() error {
		for _, a := range remaining {
			if n, err := sentinelsSeen(ctx, a); err != nil || n != 1 {
				return fmt.Errorf("%s lists %d other monitors (%v)", a, n, err)
			}
		}
		return nil
	})
	if err := tp.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the two remaining monitors fail over", func() error {
		return testenv.AllAnswer(ctx, remaining, tp.Replicas[0].Addr())
	})
}
