//go:build integration

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// TestRenameCommandFailover: a master and a replica that rename INFO,
// REPLICAOF, CONFIG and CLIENT and disable SLAVEOF, watched by 3 monitors
// (down-after 10 s) that know nothing of it:
//
//   - before SENTINEL SET rename-command, no monitor can probe them: no
//     valid PING (the connection setup's CLIENT SETNAME is unknown), no
//     INFO, so no replica is discovered;
//   - after one SENTINEL SET mymaster rename-command ... (sent to one
//     monitor), every monitor probes both and discovers the replica;
//   - killing the master makes the group promote the replica with the
//     renamed REPLICAOF (plain REPLICAOF stays unknown on the node, and
//     Redis counts the renamed calls under cmdstat_replicaof), and the
//     restarted old master is repointed to it the same way.
func TestRenameCommandFailover(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := map[string]string{"INFO": "renamed-info", "REPLICAOF": "renamed-replicaof", "SLAVEOF": "",
		"CONFIG": "renamed-config", "CLIENT": "renamed-client"}
	mSrv := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "master"), RenameCommands: srv})
	rSrv := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "replica"), ReplicaOf: mSrv.Addr(), RenameCommands: srv})
	master, replica := mSrv.Addr(), rSrv.Addr()
	replication := func(addr string) (string, error) {
		return redisproc.Command(ctx, addr, "renamed-info", "replication")
	}
	testenv.Eventually(t, 15*time.Second, "replication link up", func() error {
		info, err := replication(replica)
		if err != nil {
			return err
		}
		if s := redisproc.InfoField(info, "master_link_status"); s != "up" {
			return fmt.Errorf("master_link_status %q", s)
		}
		return nil
	})

	g := testenv.StartGroup(t, dir, 3, nil, master, 10*time.Second)
	sentinels := g.Addrs()
	field := func(s, f string) (string, error) { return testenv.MasterField(ctx, s, f) }
	testenv.Eventually(t, 8*time.Second, "no monitor can probe the master", func() error {
		for _, s := range sentinels {
			slaves, err := field(s, "num-slaves")
			if err != nil {
				return err
			}
			info, _ := field(s, "info-refresh")
			ok, _ := field(s, "last-ok-ping-reply")
			ms, _ := strconv.Atoi(ok)
			if slaves != "0" || info != "0" || ms < 1000 {
				return fmt.Errorf("%s: num-slaves %s info-refresh %s last-ok-ping-reply %s", s, slaves, info, ok)
			}
		}
		return nil
	})

	sc := redis.NewClient(&redis.Options{Addr: sentinels[0], Protocol: 2})
	defer sc.Close()
	args := []any{"SENTINEL", "SET", testenv.MasterName}
	for from, to := range srv {
		if to != "" {
			args = append(args, "rename-command", from, to)
		}
	}
	if err := sc.Do(ctx, args...).Err(); err != nil {
		t.Fatalf("SENTINEL SET rename-command: %v", err)
	}
	testenv.WaitReady(t, sentinels, master, 1, 2)
	testenv.Eventually(t, 10*time.Second, "valid PINGs on both nodes", func() error {
		for _, s := range sentinels {
			ok, err := field(s, "last-ok-ping-reply")
			if err != nil {
				return err
			}
			if ms, _ := strconv.Atoi(ok); ms > 500 {
				return fmt.Errorf("%s: last-ok-ping-reply %s", s, ok)
			}
		}
		return nil
	})

	if err := mSrv.Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 40*time.Second, "every monitor names the replica", func() error {
		return testenv.AllAnswer(ctx, sentinels, replica)
	})
	info, err := replication(replica)
	if err != nil || redisproc.InfoField(info, "role") != "master" {
		t.Fatalf("the promoted replica reports role %q (%v)", redisproc.InfoField(info, "role"), err)
	}
	if _, err := redisproc.Command(ctx, replica, "REPLICAOF", "NO", "ONE"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("plain REPLICAOF on the node: %v, want unknown command", err)
	}
	stats, err := redisproc.Command(ctx, replica, "renamed-info", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stats, "cmdstat_replicaof:calls=") || !strings.Contains(stats, "cmdstat_config|rewrite:calls=") {
		t.Fatalf("no REPLICAOF / CONFIG REWRITE calls counted on the promoted replica:\n%s", stats)
	}

	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := mSrv.Restart(rctx); err != nil {
		t.Fatal(err)
	}
	_, rport, _ := strings.Cut(replica, ":")
	testenv.Eventually(t, 40*time.Second, "old master repointed to the new one", func() error {
		info, err := replication(master)
		if err != nil {
			return err
		}
		if r, p := redisproc.InfoField(info, "role"), redisproc.InfoField(info, "master_port"); r != "slave" || p != rport {
			return fmt.Errorf("role %q master_port %q", r, p)
		}
		return nil
	})
}
