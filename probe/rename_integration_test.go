//go:build integration

package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/wait"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// cmdstatCalls returns calls= of cmdstat_<name> in an INFO commandstats
// text, -1 when the line is missing.
func cmdstatCalls(text, name string) int {
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+name+":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		v, err := strconv.Atoi(n)
		if err != nil {
			return -1
		}
		return v
	}
	return -1
}

// TestRenamedProbes: against a real node with PING, INFO, ROLE, AUTH and
// CLIENT renamed and CONFIG disabled, probes sent by their own names get
// "unknown command" (no valid PING, no INFO); once the prober is given the
// renames (Watch again), PING, INFO, ROLE and the connection setup's AUTH
// and CLIENT SETNAME use the new names and the node is healthy. Redis
// counts a renamed command under its original name in INFO commandstats.
func TestRenamedProbes(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	renames := map[string]string{"ping": "renamed-ping", "info": "renamed-info", "role": "renamed-role", "auth": "renamed-auth", "client": "renamed-client"}
	srv := map[string]string{"PING": "renamed-ping", "INFO": "renamed-info", "ROLE": "renamed-role", "AUTH": "renamed-auth", "CLIENT": "renamed-client", "CONFIG": ""}
	node := startRedis(t, ctx, redisproc.Options{Dir: filepath.Join(t.TempDir(), "n"), RenameCommands: srv, Extra: []string{"requirepass secret"}})
	addr := node.Addr()
	p := newProber(t, testOptions())

	p.Watch(addr, Auth{Pass: "secret"})
	o, _ := waitObs(t, p, addr, 10*time.Second, "PING refused as unknown", func(o Observation) bool {
		return strings.Contains(o.LastError, "unknown command") && o.InfoError != ""
	})
	if !o.LastOKPing.IsZero() || !o.InfoAt.IsZero() {
		t.Fatalf("a node that renames PING and INFO answered them: %+v", o)
	}
	if _, err := p.Role(ctx, addr, Auth{Pass: "secret"}); err == nil {
		t.Fatal("ROLE by its own name succeeded on a node that renames it")
	}

	auth := Auth{Pass: "secret", Renames: renames}
	p.Watch(addr, auth)
	o, _ = waitObs(t, p, addr, 10*time.Second, "healthy with the renames", func(o Observation) bool {
		return healthy(o) && o.Role == "master" && o.LastError == "" && o.InfoError == ""
	})
	r, err := p.Role(ctx, addr, auth)
	if err != nil || r.Role != "master" {
		t.Fatalf("renamed ROLE = %+v, %v", r, err)
	}

	// The node's side: plain PING is unknown; the probes show under the
	// original names in commandstats; the links were named with the
	// renamed CLIENT SETNAME.
	if _, err := redisproc.Command(ctx, addr, "PING"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("plain PING on the node: %v, want unknown command", err)
	}
	// HELLO's AUTH authenticates this client (HELLO is not renamed).
	rdb := redis.NewClient(&redis.Options{Addr: addr, Password: "secret", Protocol: 2, DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	defer rdb.Close()
	stats := func() string {
		t.Helper()
		text, err := rdb.Do(ctx, "renamed-info", "commandstats").Text()
		if err != nil {
			t.Fatal(err)
		}
		return text
	}
	first := stats()
	for _, name := range []string{"ping", "info", "role", "auth"} {
		if cmdstatCalls(first, name) <= 0 {
			t.Errorf("cmdstat_%s missing or zero: Redis counts renamed commands by their original name", name)
		}
	}
	if cmdstatCalls(first, "renamed-ping") != -1 {
		t.Errorf("commandstats has a line for the new name renamed-ping")
	}
	waitObs(t, p, addr, 5*time.Second, "more PINGs", func(Observation) bool {
		return cmdstatCalls(stats(), "ping") > cmdstatCalls(first, "ping")
	})
	list, err := rdb.Do(ctx, "renamed-client", "LIST").Text()
	if err != nil {
		t.Fatal(err)
	}
	// (The watch connection sends no AUTH: with requirepass its SETNAME is
	// refused, as before.)
	if !strings.Contains(list, "name="+testClientName+" ") {
		t.Errorf("CLIENT LIST lacks the names set with the renamed CLIENT SETNAME:\n%s", list)
	}
}

// TestRenamedReconfigure: on nodes that rename REPLICAOF, CONFIG, CLIENT,
// MULTI, EXEC, INFO, ROLE and FAILOVER and disable SLAVEOF, Promote sent
// with the original names fails (CLIENT SETNAME, or MULTI, is unknown)
// and changes nothing;
// with the renames, Promote, ReplicaOf (its CONFIG REWRITE reaching the
// file), CLIENT PAUSE/UNPAUSE and FAILOVER all go through.
func TestRenamedReconfigure(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	srv := map[string]string{"REPLICAOF": "renamed-replicaof", "SLAVEOF": "", "CONFIG": "renamed-config",
		"CLIENT": "renamed-client", "MULTI": "renamed-multi", "EXEC": "renamed-exec", "INFO": "renamed-info",
		"ROLE": "renamed-role", "FAILOVER": "renamed-failover"}
	renames := map[string]string{}
	for k, v := range srv {
		if v != "" {
			renames[strings.ToLower(k)] = v
		}
	}
	auth := Auth{Renames: renames}
	dir := t.TempDir()
	master := startRedis(t, ctx, redisproc.Options{Dir: filepath.Join(dir, "m"), RenameCommands: srv})
	replica := startRedis(t, ctx, redisproc.Options{Dir: filepath.Join(dir, "r"), ReplicaOf: master.Addr(), RenameCommands: srv})
	p := newProber(t, testOptions())
	role := func(addr string) Role {
		t.Helper()
		r, err := p.Role(ctx, addr, auth)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	err := p.Promote(ctx, replica.Addr(), Auth{})
	// (Refused at the connection's CLIENT SETNAME already, which go-redis
	// sends by its own name.)
	if err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("Promote with the original names: %v, want unknown command", err)
	}
	// Only MULTI unknown: the transaction is not started at all.
	onlyClient := Auth{Renames: map[string]string{"client": "renamed-client", "info": "renamed-info"}}
	if err := p.Promote(ctx, replica.Addr(), onlyClient); !errors.Is(err, ErrReplicaOf) || !strings.Contains(err.Error(), "unknown command 'MULTI'") {
		t.Fatalf("Promote with MULTI by its own name: %v, want ErrReplicaOf (unknown MULTI)", err)
	}
	if r := role(replica.Addr()); r.Role != "slave" {
		t.Fatalf("a refused Promote changed the role: %+v", r)
	}

	if err := p.Promote(ctx, replica.Addr(), auth); err != nil {
		t.Fatalf("Promote with the renames: %v", err)
	}
	if r := role(replica.Addr()); r.Role != "master" {
		t.Fatalf("ROLE after Promote = %+v", r)
	}
	host, port := splitAddr(t, replica.Addr())
	if err := p.ReplicaOf(ctx, master.Addr(), auth, host, port); err != nil {
		t.Fatalf("ReplicaOf with the renames: %v", err)
	}
	conf, err := os.ReadFile(master.ConfigFile())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "replicaof "+host+" "+strconv.Itoa(port)) {
		t.Fatalf("the renamed CONFIG REWRITE did not write the new master into %s:\n%s", master.ConfigFile(), conf)
	}
	if err := p.PauseWrites(ctx, replica.Addr(), auth, time.Second); err != nil {
		t.Fatalf("renamed CLIENT PAUSE: %v", err)
	}
	if err := p.UnpauseWrites(ctx, replica.Addr(), auth); err != nil {
		t.Fatalf("renamed CLIENT UNPAUSE: %v", err)
	}

	// Hand back with the renamed FAILOVER once the old master has synced.
	wait.Until(t, 20*time.Second, "the old master synced from the new one", func() error {
		if r := role(master.Addr()); r.Role != "slave" || r.LinkState != "connected" {
			return fmt.Errorf("%+v", r)
		}
		return nil
	})
	mh, mp := splitAddr(t, master.Addr())
	if err := p.CoordinatedFailover(ctx, replica.Addr(), auth, mh, mp, 5*time.Second); err != nil {
		t.Fatalf("renamed FAILOVER: %v", err)
	}
	wait.Until(t, 20*time.Second, "FAILOVER promoted the old master", func() error {
		if r := role(master.Addr()); r.Role != "master" {
			return fmt.Errorf("%+v", r)
		}
		return nil
	})
}
