//go:build integration

package e2e

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLeaderHandsOverOnShutdown: a leader asked to stop (SIGTERM in the
// command) first transfers leadership, so the others have a leader at once.
func TestLeaderHandsOverOnShutdown(t *testing.T) {
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 0)
	lns, err := demo.OpenListeners(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := make([]*syncBuffer, 3)
	var ds []*daemon.Daemon
	var runners []*runner
	var addrs []string
	for i := range lns {
		logs[i] = &syncBuffer{}
		cfg := demo.MonitorConfig(dir, i, lns, tp.Master.Addr(), time.Second)
		d, err := daemon.New(cfg, daemon.Options{Listeners: lns[i], Logger: slog.New(slog.NewTextHandler(logs[i], nil))})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
		runners = append(runners, run(t, d))
		addrs = append(addrs, d.RESPAddr())
	}
	defer func() {
		for _, r := range runners {
			r.stop()
		}
	}()
	testenv.WaitReady(t, addrs, tp.Master.Addr(), 0, 2)
	leader := -1
	for i, d := range ds {
		if d.Store().IsLeader() {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no leader")
	}
	runners[leader].stop()
	if !strings.Contains(logs[leader].String(), "leadership handed over before stopping") {
		t.Fatalf("the stopping leader did not hand over:\n%s", logs[leader].String())
	}
	testenv.Eventually(t, 5*time.Second, "a new leader among the others", func() error {
		for i, d := range ds {
			if i != leader && d.Store().IsLeader() {
				return nil
			}
		}
		return fmt.Errorf("no leader yet")
	})
}
