package sentinel

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/acl"
	"github.com/raftsentinel/raftsentinel/resp"
)

// TestACLKnowsEveryCommand keeps package acl's command list in step with
// the command table: every leaf (a command without subcommands, or
// "cmd|sub") has categories, and acl knows no command the table lacks.
func TestACLKnowsEveryCommand(t *testing.T) {
	var leaves []string
	for name, spec := range commandTable {
		// A command that parses its own subcommands (COMMAND) is a leaf
		// too: the rules name it and each of its subcommands.
		if spec.subs == nil || spec.parsesSubs {
			leaves = append(leaves, name)
		}
		for s := range spec.subs {
			leaves = append(leaves, name+"|"+s)
		}
	}
	slices.Sort(leaves)
	if got := acl.Commands(); !slices.Equal(got, leaves) {
		t.Fatalf("acl.Commands() = %v\ncommand table leaves = %v", got, leaves)
	}
}

func mustRules(t *testing.T, s string) *acl.Rules {
	t.Helper()
	r, err := acl.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func noperm(cmd string) string {
	return "-NOPERM this user has no permissions to run the '" + cmd + "' command\r\n"
}

// TestPermissions checks the rules of a restricted user, in Redis' order
// (unknown command, arity, authentication, then permissions), with the
// exact replies of redis-sentinel 7.0.15.
func TestPermissions(t *testing.T) {
	opt := HandlerOptions{RequirePass: "s3cret",
		Users: map[string]string{"app": "apppw", "ops": "opspw", "free": "freepw"},
		Permissions: map[string]*acl.Rules{
			"app": mustRules(t, "-@all +ping +sentinel|get-master-addr-by-name +sentinel|sentinels +@pubsub &+* &__sentinel__:hello"),
			"ops": mustRules(t, "+@all -sentinel|remove -sentinel|monitor -@connection allchannels"),
		}}
	_, addr := startSentinel(t, newFakeBackend(), opt)
	c := dialRaw(t, addr)
	for _, s := range []struct {
		args []string
		want string
	}{
		{[]string{"SENTINEL", "MASTERS"}, "-NOAUTH Authentication required.\r\n"},
		{[]string{"AUTH", "app", "apppw"}, "+OK\r\n"},
		{[]string{"PING"}, "+PONG\r\n"},
		{[]string{"SENTINEL", "get-master-addr-by-name", "mymaster"}, "*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n"},
		{[]string{"SENTINEL", "MASTERS"}, noperm("sentinel|masters")},
		{[]string{"sentinel", "Failover", "mymaster"}, noperm("sentinel|failover")},
		{[]string{"INFO"}, noperm("info")},
		{[]string{"CLIENT", "ID"}, noperm("client|id")},
		{[]string{"COMMAND", "COUNT"}, noperm("command|count")},
		{[]string{"COMMAND"}, noperm("command")},
		// Channels: only those the rules allow (none without & rules).
		{[]string{"PUBLISH", "__sentinel__:hello", "x"}, ":1\r\n"},
		{[]string{"PUBLISH", "other", "x"}, "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"},
		{[]string{"SUBSCRIBE", "+switch-master", "nope"}, "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"},
		{[]string{"PSUBSCRIBE", "*"}, "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"},
		{[]string{"PSUBSCRIBE", "+*"}, "*3\r\n$10\r\npsubscribe\r\n$2\r\n+*\r\n:1\r\n"},
		{[]string{"SUBSCRIBE", "+switch-master"}, "*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:2\r\n"},
		{[]string{"PUNSUBSCRIBE"}, "*3\r\n$12\r\npunsubscribe\r\n$2\r\n+*\r\n:1\r\n"},
		{[]string{"UNSUBSCRIBE"}, "*3\r\n$11\r\nunsubscribe\r\n$14\r\n+switch-master\r\n:0\r\n"},
		// Unknown commands and arity come first.
		{[]string{"SENTINEL", "MASTERS", "x"}, "-ERR wrong number of arguments for 'sentinel|masters' command\r\n"},
		{[]string{"SENTINEL", "NOSUCH"}, "-ERR unknown subcommand 'NOSUCH'. Try SENTINEL HELP.\r\n"},
		{[]string{"NOSUCH"}, "-ERR unknown command 'NOSUCH', with args beginning with: \r\n"},
		// No-auth commands are never subject to rules.
		{[]string{"HELLO", "2"}, "*12\r\n"},
	} {
		c.do(s.args...)
		c.expect(s.want)
	}
	c.rd.Reset(c.nc) // discard the rest of HELLO's reply
	// Switching user switches rules; a failed AUTH keeps the current user.
	c2 := dialRaw(t, addr)
	for _, s := range []struct {
		args []string
		want string
	}{
		{[]string{"AUTH", "ops", "opspw"}, "+OK\r\n"},
		{[]string{"SENTINEL", "MYID"}, "$40\r\n" + selfRunID + "\r\n"},
		{[]string{"SENTINEL", "REMOVE", "mymaster"}, noperm("sentinel|remove")},
		{[]string{"SENTINEL", "MONITOR", "x", "127.0.0.1", "6379", "1"}, noperm("sentinel|monitor")},
		{[]string{"PING"}, noperm("ping")},
		{[]string{"SUBSCRIBE", "+switch-master"}, "*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n"},
		{[]string{"UNSUBSCRIBE"}, "*3\r\n$11\r\nunsubscribe\r\n$14\r\n+switch-master\r\n:0\r\n"},
		{[]string{"AUTH", "app", "wrong"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"SENTINEL", "REMOVE", "mymaster"}, noperm("sentinel|remove")},
		{[]string{"AUTH", "free", "freepw"}, "+OK\r\n"}, // a user without rules: everything
		{[]string{"CLIENT", "ID"}, ":2\r\n"},
		{[]string{"AUTH", "app", "apppw"}, "+OK\r\n"},
		{[]string{"CLIENT", "ID"}, noperm("client|id")},
		{[]string{"AUTH", "s3cret"}, "+OK\r\n"}, // the default user: everything
		{[]string{"CLIENT", "ID"}, ":2\r\n"},
	} {
		c2.do(s.args...)
		c2.expect(s.want)
	}
	// HELLO ... AUTH switches user too.
	c2.do("HELLO", "2", "AUTH", "app", "apppw")
	if err := readReply(c2.rd, 0); err != nil {
		t.Fatal(err)
	}
	c2.do("INFO")
	c2.expect(noperm("info"))
}

// TestPermissionsGoRedis drives a restricted user through go-redis, a
// real Sentinel client: discovery works, the admin commands it may not
// run fail with NOPERM.
func TestPermissionsGoRedis(t *testing.T) {
	opt := HandlerOptions{RequirePass: "s3cret", Users: map[string]string{"app": "apppw"},
		Permissions: map[string]*acl.Rules{"app": mustRules(t,
			"-@all +@connection +sentinel|get-master-addr-by-name +sentinel|replicas +sentinel|sentinels +@pubsub allchannels")}}
	_, addr := startSentinel(t, newFakeBackend(), opt)
	ctx := testCtx(t)
	for _, proto := range []int{2, 3} {
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr, Username: "app", Password: "apppw", Protocol: proto})
		rdb := redis.NewClient(&redis.Options{Addr: addr, Username: "app", Password: "apppw", Protocol: proto})
		got, err := sc.GetMasterAddrByName(ctx, "mymaster").Result()
		if err != nil || strings.Join(got, ":") != "127.0.0.1:6379" {
			t.Fatalf("RESP%d GetMasterAddrByName = %v, %v", proto, got, err)
		}
		if _, err := sc.Replicas(ctx, "mymaster").Result(); err != nil {
			t.Fatalf("RESP%d Replicas: %v", proto, err)
		}
		for _, tc := range []struct {
			name string
			err  error
		}{
			{"sentinel|masters", sc.Masters(ctx).Err()},
			{"sentinel|remove", sc.Remove(ctx, "mymaster").Err()},
			{"sentinel|failover", sc.Failover(ctx, "mymaster").Err()},
			{"sentinel|set", sc.Set(ctx, "mymaster", "quorum", "1").Err()},
			{"info", rdb.Info(ctx).Err()},
		} {
			want := "NOPERM this user has no permissions to run the '" + tc.name + "' command"
			if tc.err == nil || tc.err.Error() != want {
				t.Errorf("RESP%d %s: err %v, want %q", proto, tc.name, tc.err, want)
			}
		}
		sub := sc.Subscribe(ctx, "+switch-master")
		if _, err := sub.Receive(ctx); err != nil {
			t.Fatalf("RESP%d subscribe: %v", proto, err)
		}
		_ = sub.Close()
		_ = sc.Close()
		_ = rdb.Close()
	}
}

// TestPermissionsForgetClosedConnections checks that the per-connection
// user record goes away once a connection is closed and collected.
func TestPermissionsForgetClosedConnections(t *testing.T) {
	h := NewHandler(newFakeBackend(), HandlerOptions{Now: func() time.Time { return testNow },
		Users: map[string]string{"app": "pw"}, Permissions: map[string]*acl.Rules{"app": mustRules(t, "+ping")}}).(*handler)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := resp.NewServer(h, resp.Options{Logger: slog.New(slog.DiscardHandler)})
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	defer func() { _ = s.Close(); <-done }()
	for i := 0; i < 5; i++ {
		c := dialRaw(t, l.Addr().String())
		c.do("AUTH", "app", "pw")
		c.expect("+OK\r\n")
		c.do("INFO")
		c.expect(noperm("info"))
		c.nc.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for h.users.len() != 0 {
		if ctx.Err() != nil {
			t.Fatalf("%d connection records left after the connections closed", h.users.len())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkPipelinedPing measures what command rules cost per command:
// 100 pipelined PINGs per round trip from a user with rules (checked on
// every command) and from one without.
func BenchmarkPipelinedPing(b *testing.B) {
	rules, err := acl.Parse("-@all +ping +sentinel|get-master-addr-by-name")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		perms map[string]*acl.Rules
	}{{"no-rules", nil}, {"rules", map[string]*acl.Rules{"app": rules}}} {
		b.Run(bc.name, func(b *testing.B) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			s := resp.NewServer(NewHandler(newFakeBackend(), HandlerOptions{Users: map[string]string{"app": "pw"},
				Permissions: bc.perms}), resp.Options{Logger: slog.New(slog.DiscardHandler)})
			done := make(chan error, 1)
			go func() { done <- s.Serve(l) }()
			defer func() { _ = s.Close(); <-done }()
			nc, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			rd := bufio.NewReader(nc)
			if _, err := nc.Write([]byte("AUTH app pw\r\n")); err != nil {
				b.Fatal(err)
			}
			if line, _ := rd.ReadString('\n'); line != "+OK\r\n" {
				b.Fatalf("AUTH: %q", line)
			}
			batch := []byte(strings.Repeat("*1\r\n$4\r\nPING\r\n", 100))
			b.ResetTimer()
			for range b.N {
				if _, err := nc.Write(batch); err != nil {
					b.Fatal(err)
				}
				for range 100 {
					if line, err := rd.ReadString('\n'); err != nil || line != "+PONG\r\n" {
						b.Fatalf("%q %v", line, err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/cmd")
		})
	}
}
