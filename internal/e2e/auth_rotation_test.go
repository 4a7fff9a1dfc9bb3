//go:build integration

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
	"github.com/raftsentinel/raftsentinel/probe"
)

// rotatePassword makes the node at addr require password to (and
// authenticate to its master with it), authenticating with from ("" = the
// node has none), then drops the node's normal clients: Redis keeps a
// connection authenticated after CONFIG SET requirepass, so revoking the
// old password takes reconnecting everyone (the monitors included).
func rotatePassword(ctx context.Context, addr, from, to string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, Password: from, Protocol: 2, MaxRetries: -1})
	defer c.Close()
	if err := c.Do(ctx, "CONFIG", "SET", "requirepass", to, "masterauth", to).Err(); err != nil {
		return fmt.Errorf("%s: CONFIG SET requirepass: %w", addr, err)
	}
	if err := c.Do(ctx, "CLIENT", "KILL", "TYPE", "normal").Err(); err != nil {
		return fmt.Errorf("%s: CLIENT KILL: %w", addr, err)
	}
	return nil
}

// linkView is what one monitor reports of the master and its one replica.
type linkView struct {
	masterFlags, replicaFlags   string
	masterLastOK, replicaLastOK int // last-ok-ping-reply, ms
	epoch, failoverState        string
}

func viewLinks(ctx context.Context, sentinel string) (linkView, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel, MaxRetries: -1})
	defer sc.Close()
	m, err := sc.Master(ctx, testenv.MasterName).Result()
	if err != nil {
		return linkView{}, fmt.Errorf("%s: SENTINEL MASTER: %w", sentinel, err)
	}
	rs, err := sc.Replicas(ctx, testenv.MasterName).Result()
	if err != nil {
		return linkView{}, fmt.Errorf("%s: SENTINEL REPLICAS: %w", sentinel, err)
	}
	if len(rs) != 1 {
		return linkView{}, fmt.Errorf("%s: %d replicas, want 1", sentinel, len(rs))
	}
	v := linkView{masterFlags: m["flags"], replicaFlags: rs[0]["flags"], epoch: m["config-epoch"], failoverState: m["failover-state"]}
	if v.masterLastOK, err = strconv.Atoi(m["last-ok-ping-reply"]); err == nil {
		v.replicaLastOK, err = strconv.Atoi(rs[0]["last-ok-ping-reply"])
	}
	if err != nil {
		return linkView{}, fmt.Errorf("%s: last-ok-ping-reply: %w", sentinel, err)
	}
	return v, nil
}

// TestAuthRotation rotates the password of a master and its replica twice,
// in both orders a user may take, with 3 monitors and down-after 10 s:
//
//	(a) CONFIG SET requirepass on the nodes first: until SENTINEL SET
//	    auth-pass, every monitor flags both nodes disconnected (they refuse
//	    the monitors' missing password, NOAUTH); after the SET, sent to one
//	    monitor, every monitor's probes recover within a PING period plus
//	    slack (flags "master" / "slave", last-ok-ping-reply small).
//	(b) SENTINEL SET auth-pass first: every monitor flags both nodes
//	    disconnected (WRONGPASS) within a PING period plus slack; after
//	    CONFIG SET requirepass on the nodes they recover as in (a).
//
// No monitor ever reports s_down or o_down, and no failover happens (same
// master address, config-epoch 0, the nodes keep their roles).
func TestAuthRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	master, replica := tp.Master.Addr(), tp.Replicas[0].Addr()
	g := testenv.StartGroup(t, dir, 3, nil, master, 10*time.Second)
	sentinels := g.Addrs()
	testenv.WaitReady(t, sentinels, master, 1, 2)

	// Every view seen must be free of s_down, o_down and failovers.
	var badMu sync.Mutex
	var bad []string
	check := func(s string, v linkView) {
		for _, f := range []string{v.masterFlags, v.replicaFlags} {
			if strings.Contains(f, "s_down") || strings.Contains(f, "o_down") || strings.Contains(f, "failover") {
				badMu.Lock()
				bad = append(bad, fmt.Sprintf("%s: master %q replica %q", s, v.masterFlags, v.replicaFlags))
				badMu.Unlock()
			}
		}
		if v.epoch != "0" || v.failoverState != "" {
			badMu.Lock()
			bad = append(bad, fmt.Sprintf("%s: config-epoch %s failover-state %q", s, v.epoch, v.failoverState))
			badMu.Unlock()
		}
	}
	all := func(cond func(linkView) error) func() error {
		return func() error {
			for _, s := range sentinels {
				v, err := viewLinks(ctx, s)
				if err != nil {
					return err
				}
				check(s, v)
				if err := cond(v); err != nil {
					return fmt.Errorf("%s: %w (master %q, replica %q)", s, err, v.masterFlags, v.replicaFlags)
				}
			}
			return nil
		}
	}
	disconnected := all(func(v linkView) error {
		if !strings.Contains(v.masterFlags, "disconnected") || !strings.Contains(v.replicaFlags, "disconnected") {
			return fmt.Errorf("not flagged disconnected")
		}
		return nil
	})
	recovered := all(func(v linkView) error {
		if v.masterFlags != "master" || v.replicaFlags != "slave" {
			return fmt.Errorf("not recovered")
		}
		if v.masterLastOK > 500 || v.replicaLastOK > 500 {
			return fmt.Errorf("last-ok-ping-reply %d / %d ms", v.masterLastOK, v.replicaLastOK)
		}
		return nil
	})
	// A PING period plus slack for the commit, a monitor tick and a busy
	// machine.
	bound := probe.DefaultPingPeriod + 2*time.Second
	setAuthPass := func(pw string) {
		t.Helper()
		sc := redis.NewSentinelClient(&redis.Options{Addr: sentinels[0]})
		defer sc.Close()
		if err := sc.Set(ctx, testenv.MasterName, "auth-pass", pw).Err(); err != nil {
			t.Fatalf("SENTINEL SET auth-pass: %v", err)
		}
	}
	rotateNodes := func(from, to string) {
		t.Helper()
		for _, a := range []string{master, replica} {
			if err := rotatePassword(ctx, a, from, to); err != nil {
				t.Fatal(err)
			}
		}
	}

	// (a) the nodes first, then the monitors.
	rotateNodes("", "first")
	took := testenv.Eventually(t, 5*time.Second, "(a) nodes requiring a password flagged disconnected", disconnected)
	t.Logf("(a) requirepass -> disconnected on every monitor after %v", took)
	setAuthPass("first")
	took = testenv.Eventually(t, bound, "(a) probes recovered after SENTINEL SET auth-pass", recovered)
	t.Logf("(a) SENTINEL SET auth-pass -> recovered on every monitor after %v", took)

	// (b) the monitors first, then the nodes.
	setAuthPass("second")
	took = testenv.Eventually(t, bound, "(b) nodes refusing the new password flagged disconnected", disconnected)
	t.Logf("(b) SENTINEL SET auth-pass -> disconnected on every monitor after %v", took)
	rotateNodes("first", "second")
	took = testenv.Eventually(t, bound, "(b) probes recovered after requirepass", recovered)
	t.Logf("(b) requirepass -> recovered on every monitor after %v", took)

	// No failover: same master everywhere, the nodes kept their roles.
	if err := testenv.AllAnswer(ctx, sentinels, master); err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]string{master: "master", replica: "slave"} {
		c := redis.NewClient(&redis.Options{Addr: a, Password: "second", Protocol: 2})
		info, err := c.Info(ctx, "replication").Result()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(info, "role:"+want+"\r\n") {
			t.Fatalf("%s: role changed:\n%s", a, info)
		}
	}
	badMu.Lock()
	defer badMu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("down flags or a failover seen:\n%s", strings.Join(bad, "\n"))
	}
}
