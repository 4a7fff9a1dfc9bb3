//go:build integration

package oracle

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// aclRuleSets are the users' command rules compared below, one user each.
var aclRuleSets = []string{
	"-@all +ping",
	"+@all -@dangerous",
	"+@all -@admin allchannels",
	"-@all +@connection",
	"-@all +@pubsub",
	"-@all +@pubsub &x* &some-channel",
	"-@all +@pubsub allchannels resetchannels &x",
	"-@all +@fast &*",
	"-@all +@slow",
	"+@all -sentinel|masters -client allchannels",
	"-@all +sentinel",
	"-@all +sentinel -sentinel|failover -sentinel|set",
	"-@all +client|id +info +sentinel|get-master-addr-by-name",
	"nocommands +command +role",
	"+@all -command|count",
}

// aclProbes are commands with arguments of the right arity that change
// nothing whether allowed or not (unknown master names, a bogus failure).
var aclProbes = [][]string{
	{"PING"}, {"INFO"}, {"ROLE"}, {"PUBLISH", "some-channel", "x"}, {"PUBLISH", "other", "x"},
	{"SUBSCRIBE", "x"}, {"SUBSCRIBE", "xy"}, {"SUBSCRIBE", "x", "y"}, {"PSUBSCRIBE", "x*"}, {"PSUBSCRIBE", "x"},
	{"UNSUBSCRIBE"}, {"PUNSUBSCRIBE"},
	{"CLIENT", "ID"}, {"CLIENT", "GETNAME"}, {"CLIENT", "SETNAME", "x"}, {"CLIENT", "INFO"},
	{"CLIENT", "LIST"}, {"CLIENT", "KILL", "ID", "999999999"}, {"CLIENT", "HELP"},
	{"COMMAND", "COUNT"}, {"COMMAND"}, {"COMMAND", "INFO", "ping"}, {"COMMAND", "DOCS", "ping"},
	{"SENTINEL", "MASTERS"}, {"SENTINEL", "MASTER", "mymaster"}, {"SENTINEL", "REPLICAS", "mymaster"},
	{"SENTINEL", "SLAVES", "mymaster"}, {"SENTINEL", "SENTINELS", "mymaster"},
	{"SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"}, {"SENTINEL", "MYID"},
	{"SENTINEL", "CKQUORUM", "mymaster"}, {"SENTINEL", "HELP"},
	{"SENTINEL", "MONITOR", "mymaster", "127.0.0.1", "1", "1"}, {"SENTINEL", "REMOVE", "nosuch"},
	{"SENTINEL", "SET", "nosuch", "quorum", "1"}, {"SENTINEL", "RESET", "nosuch-*"},
	{"SENTINEL", "CONFIG", "GET", "nosuch"}, {"SENTINEL", "FAILOVER", "nosuch"},
	{"SENTINEL", "PENDING-SCRIPTS"}, {"SENTINEL", "INFO-CACHE", "nosuch"},
	{"SENTINEL", "SIMULATE-FAILURE", "bogus"},
}

// aclDenied sends AUTH user pw and args on a fresh connection and reports
// whether the command got NOPERM (the exact text is returned as well).
func aclDenied(addr, user string, args []string) (bool, string, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false, "", err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for _, cmd := range [][]string{{"AUTH", user, "pw"}, args} {
		fmt.Fprintf(&b, "*%d\r\n", len(cmd))
		for _, a := range cmd {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if _, err := nc.Write([]byte(b.String())); err != nil {
		return false, "", err
	}
	rd := bufio.NewReader(nc)
	if line, err := rd.ReadString('\n'); err != nil || line != "+OK\r\n" {
		return false, "", fmt.Errorf("AUTH %s: %q %v", user, line, err)
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		return false, "", err
	}
	line = strings.TrimSpace(line)
	return strings.HasPrefix(line, "-NOPERM"), line, nil
}

// TestDifferentialACL gives the same users the same command rules on a
// real redis-sentinel 7.0.15 and on a raftsentinel monitor, and checks
// that every probe command is denied, with the same NOPERM text, or
// allowed on both: the categories and the rule semantics match Redis'.
func TestDifferentialACL(t *testing.T) {
	dir := t.TempDir()
	tp := testenv.StartTopology(t, filepath.Join(dir, "data"), 0)
	var extra []string
	var users []config.User
	for i, rules := range aclRuleSets {
		name := fmt.Sprintf("u%d", i)
		extra = append(extra, fmt.Sprintf("user %s on >pw %s", name, rules))
		users = append(users, config.User{Name: name, Password: "pw", Commands: rules})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	sn, err := redisproc.StartSentinel(ctx, redisproc.SentinelOptions{Dir: filepath.Join(dir, "sentinel"),
		MasterAddr: tp.Master.Addr(), Extra: extra})
	cancel()
	if err != nil {
		t.Fatalf("redis-sentinel: %v", err)
	}
	t.Cleanup(func() { sn.Close() })

	lns, err := demo.OpenListeners(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := demo.MonitorConfig(dir, 0, lns, tp.Master.Addr(), time.Second)
	cfg.Users = users
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(cfg, daemon.Options{Listeners: lns[0]})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("monitor: %v", err)
		}
	}()
	testenv.WaitReady(t, []string{d.RESPAddr()}, tp.Master.Addr(), 0, 0)

	denials := 0
	for i, rules := range aclRuleSets {
		user := fmt.Sprintf("u%d", i)
		for _, args := range aclProbes {
			snDenied, snLine, err := aclDenied(sn.Addr(), user, args)
			if err != nil {
				t.Fatalf("redis-sentinel %q %v: %v", rules, args, err)
			}
			rsDenied, rsLine, err := aclDenied(d.RESPAddr(), user, args)
			if err != nil {
				t.Fatalf("raftsentinel %q %v: %v", rules, args, err)
			}
			switch {
			case snDenied != rsDenied:
				t.Errorf("rules %q, %v: redis-sentinel %q, raftsentinel %q", rules, args, snLine, rsLine)
			case snDenied && snLine != rsLine:
				t.Errorf("rules %q, %v: NOPERM texts differ: %q vs %q", rules, args, snLine, rsLine)
			case snDenied:
				denials++
			}
		}
	}
	// The comparison is only meaningful if both allowed and denied occur.
	if total := len(aclRuleSets) * len(aclProbes); denials == 0 || denials == total {
		t.Fatalf("%d of %d probes denied: the rule sets do not exercise both outcomes", denials, total)
	}
	t.Logf("%d rule sets × %d commands: %d denied, all matching redis-sentinel", len(aclRuleSets), len(aclProbes), denials)
}
