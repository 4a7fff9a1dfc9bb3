//go:build integration

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// replicaOf sends REPLICAOF to the redis-server at addr by hand.
func replicaOf(t *testing.T, addr, master string) {
	t.Helper()
	host, port, _ := strings.Cut(master, ":")
	if _, err := redisproc.Command(context.Background(), addr, "REPLICAOF", host, port); err != nil {
		t.Fatal(err)
	}
}

// TestMasterReportingSlaveIsSDown: a master made a replica of some other
// node by hand answers PINGs but reports role slave; after down-after +
// 2 × INFO period (1 s + 2 × 1 s here) it is flagged s_down, as in
// Sentinel. With no replica to promote it stays the master (the failover
// is blocked: no good replica).
func TestMasterReportingSlaveIsSDown(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 0)
	other := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "other")})
	g := testenv.StartGroup(t, dir, 1, nil, tp.Master.Addr(), time.Second)
	addr := g.Addrs()[0]
	testenv.WaitReady(t, []string{addr}, tp.Master.Addr(), 0, 0)

	began := time.Now()
	replicaOf(t, tp.Master.Addr(), other.Addr())
	testenv.Eventually(t, 15*time.Second, "master flagged s_down", func() error {
		if f, err := testenv.MasterField(ctx, addr, "flags"); err != nil || !strings.Contains(f, "s_down") {
			return fmt.Errorf("flags %q (%v)", f, err)
		}
		return nil
	})
	if el := time.Since(began); el < 3*time.Second {
		t.Fatalf("s_down after %v, before down-after + 2 × INFO period (3 s)", el)
	}
	if role, _ := testenv.MasterField(ctx, addr, "role-reported"); role != "slave" {
		t.Fatalf("role-reported %q", role)
	}
	if a, err := testenv.MasterAddr(ctx, addr); err != nil || a != tp.Master.Addr() {
		t.Fatalf("master address %q (%v), want it unchanged without replicas", a, err)
	}
	// Made a master again, it is no longer s_down.
	if _, err := redisproc.Command(ctx, tp.Master.Addr(), "REPLICAOF", "NO", "ONE"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, "s_down cleared", func() error {
		if f, err := testenv.MasterField(ctx, addr, "flags"); err != nil || strings.Contains(f, "s_down") {
			return fmt.Errorf("flags %q (%v)", f, err)
		}
		return nil
	})
}

// TestMasterReportingSlaveFailsOver: with a replica, a master reporting
// slave is failed over as Sentinel does (SDOWN, ODOWN, failover): the
// replica is promoted and the old master is repointed at it, leaving the
// node it was pointed at by hand. The promoted replica has the data it
// had replicated through the old master, which had already resynchronized
// from that other node: the hand-made REPLICAOF, not the failover, is what
// replaced the old master's data.
func TestMasterReportingSlaveFailsOver(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	other := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "other")})
	g := testenv.StartGroup(t, dir, 1, nil, tp.Master.Addr(), time.Second)
	addr := g.Addrs()[0]
	testenv.WaitReady(t, []string{addr}, tp.Master.Addr(), 1, 0)

	replicaOf(t, tp.Master.Addr(), other.Addr())
	newMaster := tp.Replicas[0].Addr()
	testenv.Eventually(t, 30*time.Second, "replica promoted", func() error {
		if a, err := testenv.MasterAddr(ctx, addr); err != nil || a != newMaster {
			return fmt.Errorf("master %q (%v)", a, err)
		}
		return nil
	})
	testenv.Eventually(t, 30*time.Second, "old master follows the new one", func() error {
		info, err := redisproc.Command(ctx, tp.Master.Addr(), "INFO", "replication")
		if err != nil {
			return err
		}
		_, port, _ := strings.Cut(newMaster, ":")
		if p := redisproc.InfoField(info, "master_port"); p != port {
			return fmt.Errorf("old master follows port %q, want %s", p, port)
		}
		return nil
	})
}
