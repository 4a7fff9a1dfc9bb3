package sentinel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/raftsentinel/raftsentinel/internal/testing/wait"
	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/raftsentinel/raftsentinel/resp"
	"github.com/raftsentinel/raftsentinel/state"
)

// TestMain checks every test of the package for leaked goroutines.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeBackend is a Backend over fixed, mutable data.
type fakeBackend struct {
	mu        sync.Mutex
	proposed  []state.Command
	candidate state.Addr
	cutoff    time.Duration
	simulated []string
	st        *state.State
	self      state.Monitor
	obs       map[string]probe.Observation
	sdown     map[string]time.Time
	seen      map[string]time.Time
	loading   bool
	held      bool
	timers    []Timer // nil: INFO-PERIOD 1000, PING-PERIOD 100
}

func (f *fakeBackend) State() *state.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.Clone()
}

func (f *fakeBackend) Self() state.Monitor { return f.self }

func (f *fakeBackend) Announce(a state.Addr) state.Addr { return a }

func (f *fakeBackend) AnnounceMayWait() bool { return false }

func (f *fakeBackend) Observe(addr string) (probe.Observation, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.obs[addr]
	return o, ok
}

func (f *fakeBackend) SDown(addr string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.sdown[addr]
	return t, ok
}

func (f *fakeBackend) PeerSeen(id string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[id]
}

// Propose applies cmd with the real FSM to a copy of the fake's state
// (restored from a snapshot of it), as a one-node group would.
func (f *fakeBackend) Propose(_ context.Context, cmd state.Command) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proposed = append(f.proposed, cmd)
	b, err := json.Marshal(f.st)
	if err != nil {
		return err
	}
	fsm := quorum.NewFSM(nil)
	if err := fsm.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		return err
	}
	data, err := cmd.Encode()
	if err != nil {
		return err
	}
	if err, _ := fsm.Apply(&raft.Log{Type: raft.LogCommand, Data: data, AppendedAt: testNow, Index: uint64(len(f.proposed))}).(error); err != nil {
		return err
	}
	f.st = fsm.State()
	return nil
}

func (f *fakeBackend) Candidate(name string) (state.Addr, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.candidate, !f.candidate.IsZero()
}

func (f *fakeBackend) Tilt() (time.Time, bool) { return time.Time{}, false }

func (f *fakeBackend) SimulateFailure(points []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.simulated = points
	return nil
}

func (f *fakeBackend) Cutoff() (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cutoff, f.cutoff > 3*time.Second
}

func (f *fakeBackend) Loading() bool { return f.loading }

func (f *fakeBackend) Held() bool { return f.held }

func (f *fakeBackend) Timers() []Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timers == nil {
		return []Timer{{"INFO-PERIOD", 1000}, {"PING-PERIOD", 100}}
	}
	return append([]Timer(nil), f.timers...)
}

func (f *fakeBackend) SetTimer(name string, ms int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timers == nil {
		f.timers = []Timer{{"INFO-PERIOD", 1000}, {"PING-PERIOD", 100}}
	}
	for i := range f.timers {
		if strings.EqualFold(f.timers[i].Name, name) && ms > 0 {
			f.timers[i].Ms = ms
			return true
		}
	}
	return false
}

// setMasterAddr changes the committed address of a master.
func (f *fakeBackend) setMasterAddr(name string, a state.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Masters[name].Addr = a
}

const (
	selfRunID = "1111111111111111111111111111111111111111"
	m2RunID   = "2222222222222222222222222222222222222222"
	m3RunID   = "3333333333333333333333333333333333333333"
)

// testNow is the fixed clock of the command tests.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// newFakeBackend returns two masters ("mymaster" healthy with three known
// replicas, one of them hidden by replica-announced no; "other" ODOWN) and
// three monitors (self, m2 seen 1 s ago, m3 seen 30 s ago).
func newFakeBackend() *fakeBackend {
	st := state.NewState()
	st.Masters["mymaster"] = &state.Master{
		Name: "mymaster", Addr: state.Addr{Host: "127.0.0.1", Port: 6379},
		Quorum: 2, DownAfter: 5 * time.Second, FailoverTimeout: time.Minute, ParallelSyncs: 1, ConfigEpoch: 3,
		Replicas: []state.Addr{{Host: "127.0.0.1", Port: 6380}, {Host: "127.0.0.1", Port: 6381}, {Host: "127.0.0.1", Port: 6382}},
	}
	st.Masters["other"] = &state.Master{
		Name: "other", Addr: state.Addr{Host: "10.0.0.1", Port: 7000},
		Quorum: 3, DownAfter: 10 * time.Second, FailoverTimeout: time.Minute, ParallelSyncs: 2,
		ODown: true, ODownSince: testNow.Add(-4 * time.Second),
	}
	self := state.Monitor{ID: "m1", RunID: selfRunID, Announce: state.Addr{Host: "127.0.0.1", Port: 26379}}
	st.Monitors["m1"] = &self
	st.Monitors["m2"] = &state.Monitor{ID: "m2", RunID: m2RunID, Announce: state.Addr{Host: "127.0.0.1", Port: 26380}}
	st.Monitors["m3"] = &state.Monitor{ID: "m3", RunID: m3RunID, Announce: state.Addr{Host: "127.0.0.1", Port: 26381}}
	replica := func(port int, announced bool) probe.Observation {
		return probe.Observation{Addr: "127.0.0.1:" + strconv.Itoa(port), Connected: true,
			LastOKPing: testNow.Add(-100 * time.Millisecond), LastPingReply: testNow.Add(-100 * time.Millisecond),
			InfoAt: testNow.Add(-2 * time.Second), RunID: strings.Repeat(strconv.Itoa(port%10), 40), Role: "slave",
			MasterHost: "127.0.0.1", MasterPort: 6379, MasterLinkUp: true, Priority: 100, ReplicaAnnounced: announced}
	}
	return &fakeBackend{
		st: st, self: self,
		obs: map[string]probe.Observation{
			"127.0.0.1:6379": {Addr: "127.0.0.1:6379", Connected: true, LastOKPing: testNow.Add(-100 * time.Millisecond),
				LastPingReply: testNow.Add(-100 * time.Millisecond), InfoAt: testNow.Add(-time.Second),
				RunID: strings.Repeat("a", 40), Role: "master"},
			"127.0.0.1:6380": replica(6380, true),
			"127.0.0.1:6381": replica(6381, true),
			"127.0.0.1:6382": replica(6382, false),
		},
		sdown: map[string]time.Time{"10.0.0.1:7000": testNow.Add(-6 * time.Second)},
		seen:  map[string]time.Time{"m2": testNow.Add(-time.Second), "m3": testNow.Add(-30 * time.Second)},
	}
}

// startSentinel serves NewHandler(b, opt) on 127.0.0.1:0.
func startSentinel(t *testing.T, b Backend, opt HandlerOptions) (*resp.Server, string) {
	t.Helper()
	if opt.Now == nil {
		opt.Now = func() time.Time { return testNow }
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := resp.NewServer(NewHandler(b, opt), resp.Options{Logger: slog.New(slog.DiscardHandler)})
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, l.Addr().String()
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// masterKeys is the key order of a master map at rest.
var masterKeys = []string{"name", "ip", "port", "runid", "flags", "link-pending-commands", "link-refcount",
	"last-ping-sent", "last-ok-ping-reply", "last-ping-reply", "down-after-milliseconds", "info-refresh",
	"role-reported", "role-reported-time", "config-epoch", "num-slaves", "num-other-sentinels", "quorum",
	"failover-timeout", "parallel-syncs"}

func TestCommandGoRedisSentinelClient(t *testing.T) {
	_, addr := startSentinel(t, newFakeBackend(), HandlerOptions{})
	for _, proto := range []int{3, 2} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			ctx := testCtx(t)
			sc := redis.NewSentinelClient(&redis.Options{Addr: addr, Protocol: proto})
			defer sc.Close()

			got, err := sc.GetMasterAddrByName(ctx, "mymaster").Result()
			if err != nil || !reflect.DeepEqual(got, []string{"127.0.0.1", "6379"}) {
				t.Fatalf("GetMasterAddrByName = %q, %v", got, err)
			}
			if _, err := sc.GetMasterAddrByName(ctx, "nosuch").Result(); !errors.Is(err, redis.Nil) {
				t.Fatalf("unknown master: err %v, want redis.Nil", err)
			}

			sentinels, err := sc.Sentinels(ctx, "mymaster").Result()
			if err != nil || len(sentinels) != 2 {
				t.Fatalf("Sentinels = %v, %v", sentinels, err)
			}
			if s := sentinels[0]; s["name"] != m2RunID || s["ip"] != "127.0.0.1" || s["port"] != "26380" ||
				s["flags"] != "sentinel" || s["last-hello-message"] != "1000" {
				t.Errorf("sentinel m2 = %v", s)
			}
			if s := sentinels[1]; s["runid"] != m3RunID || s["flags"] != "s_down,sentinel,disconnected" || s["s-down-time"] != "25000" {
				t.Errorf("sentinel m3 = %v", s)
			}

			replicas, err := sc.Replicas(ctx, "mymaster").Result()
			if err != nil || len(replicas) != 2 {
				t.Fatalf("Replicas = %v, %v (the hidden replica must be omitted)", replicas, err)
			}
			if r := replicas[1]; r["name"] != "127.0.0.1:6381" || r["port"] != "6381" || r["flags"] != "slave" ||
				r["master-link-status"] != "ok" || r["replica-announced"] != "1" {
				t.Errorf("replica = %v", r)
			}

			m, err := sc.Master(ctx, "mymaster").Result()
			if err != nil || m["num-other-sentinels"] != "2" || m["num-slaves"] != "3" || m["flags"] != "master" || m["quorum"] != "2" {
				t.Errorf("Master = %v, %v", m, err)
			}
			if _, err := sc.Master(ctx, "nosuch").Result(); err == nil || err.Error() != "ERR No such master with that name" {
				t.Errorf("unknown master: %v", err)
			}

			if s, err := sc.CkQuorum(ctx, "mymaster").Result(); err != nil ||
				s != "OK 2 usable Sentinels. Quorum and failover authorization can be reached" {
				t.Errorf("CkQuorum = %q, %v", s, err)
			}
			if _, err := sc.CkQuorum(ctx, "other").Result(); err == nil || err.Error() !=
				"NOQUORUM 2 usable Sentinels. Not enough available Sentinels to reach the specified quorum for this master" {
				t.Errorf("CkQuorum(other) err = %v", err)
			}
			if s, err := sc.Ping(ctx).Result(); err != nil || s != "PONG" {
				t.Errorf("Ping = %q, %v", s, err)
			}

			// SENTINEL MASTERS through the raw interface: key order and the
			// flat RESP2 layout (element 33 = num-other-sentinels' value).
			rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto})
			defer rdb.Close()
			v, err := rdb.Do(ctx, "SENTINEL", "MASTERS").Result()
			if err != nil {
				t.Fatal(err)
			}
			list := v.([]any)
			if len(list) != 2 {
				t.Fatalf("%d masters", len(list))
			}
			if proto == 2 {
				flat := list[0].([]any)
				if len(flat) != 40 || flat[32] != "num-other-sentinels" || flat[33] != "2" {
					t.Fatalf("flat master (%d): %v", len(flat), flat)
				}
				var keys []string
				for i := 0; i < len(flat); i += 2 {
					keys = append(keys, flat[i].(string))
				}
				if !reflect.DeepEqual(keys, masterKeys) {
					t.Errorf("keys %v\nwant %v", keys, masterKeys)
				}
				other := list[1].([]any)
				if other[1] != "other" || other[9] != "s_down,o_down,master" {
					t.Errorf("other master: %v", other)
				}
			} else {
				mm := list[0].(map[any]any)
				if len(mm) != 20 || mm["num-other-sentinels"] != "2" || mm["port"] != "6379" {
					t.Fatalf("RESP3 master map: %v", mm)
				}
			}
		})
	}
}

// rawConn is a plain TCP client for exact-byte checks.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	rd *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, rd: bufio.NewReader(nc)}
}

func (r *rawConn) do(args ...string) {
	r.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(r.nc, b.String()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) expect(want string) {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r.rd, got); err != nil {
		r.t.Fatalf("want %q: got %q, %v", want, got, err)
	}
	if string(got) != want {
		r.t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// readBulk reads one bulk string reply.
func (r *rawConn) readBulk() string {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	hdr, err := r.rd.ReadString('\n')
	if err != nil || !strings.HasPrefix(hdr, "$") {
		r.t.Fatalf("bulk header %q, %v", hdr, err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(hdr[1:]))
	b := make([]byte, n+2)
	if _, err := io.ReadFull(r.rd, b); err != nil {
		r.t.Fatal(err)
	}
	return string(b[:n])
}

func TestCommandExactReplies(t *testing.T) {
	_, addr := startSentinel(t, newFakeBackend(), HandlerOptions{Version: "7.2.4"})
	c := dialRaw(t, addr)
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "+PONG\r\n"},
		{[]string{"ping", "hi"}, "$2\r\nhi\r\n"},
		{[]string{"PING", "a", "b"}, "-ERR wrong number of arguments for 'ping' command\r\n"},
		{[]string{"sentinel", "get-master-addr-by-name", "mymaster"}, "*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n"},
		{[]string{"SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nosuch"}, "*-1\r\n"},
		{[]string{"SENTINEL", "myid"}, "$40\r\n" + selfRunID + "\r\n"},
		{[]string{"ROLE"}, "*2\r\n$8\r\nsentinel\r\n*2\r\n$8\r\nmymaster\r\n$5\r\nother\r\n"},
		{[]string{"get", "foo"}, "-ERR unknown command 'get', with args beginning with: 'foo' \r\n"},
		{[]string{"FLUSHALL"}, "-ERR unknown command 'FLUSHALL', with args beginning with: \r\n"},
		{[]string{"select", "0"}, "-ERR unknown command 'select', with args beginning with: '0' \r\n"},
		{[]string{"SENTINEL", "foo"}, "-ERR unknown subcommand 'foo'. Try SENTINEL HELP.\r\n"},
		{[]string{"sentinel", "failovr", "mymaster"}, "-ERR unknown subcommand 'failovr'. Try SENTINEL HELP.\r\n"},
		{[]string{"SENTINEL"}, "-ERR wrong number of arguments for 'sentinel' command\r\n"},
		{[]string{"SENTINEL", "MASTERS", "x"}, "-ERR wrong number of arguments for 'sentinel|masters' command\r\n"},
		{[]string{"SENTINEL", "master"}, "-ERR wrong number of arguments for 'sentinel|master' command\r\n"},
		{[]string{"SENTINEL", "MASTER", "nosuch"}, "-ERR No such master with that name\r\n"},
		{[]string{"SENTINEL", "REPLICAS", "nosuch"}, "-ERR No such master with that name\r\n"},
		{[]string{"SENTINEL", "SLAVES", "nosuch"}, "-ERR No such master with that name\r\n"},
		{[]string{"SENTINEL", "SENTINELS", "nosuch"}, "-ERR No such master with that name\r\n"},
		{[]string{"SENTINEL", "CKQUORUM", "nosuch"}, "-ERR No such master with that name\r\n"},
		{[]string{"SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "10.0.0.1", "7000", "5", "*"}, "*3\r\n:1\r\n$1\r\n*\r\n:0\r\n"},
		{[]string{"SENTINEL", "is-master-down-by-addr", "127.0.0.1", "6379", "5", selfRunID}, "*3\r\n:0\r\n$1\r\n*\r\n:0\r\n"},
		{[]string{"SENTINEL", "is-master-down-by-addr", "127.0.0.1", "x", "5", "*"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"CLIENT", "GETNAME"}, "$-1\r\n"},
		{[]string{"CLIENT", "SETNAME", "probe-1"}, "+OK\r\n"},
		{[]string{"CLIENT", "GETNAME"}, "$7\r\nprobe-1\r\n"},
		{[]string{"CLIENT", "SETNAME", "bad name"}, "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
		{[]string{"CLIENT", "ID"}, ":1\r\n"},
		{[]string{"CLIENT", "SETINFO", "LIB-NAME", "go-redis(,go1.26)"}, "+OK\r\n"},
		{[]string{"CLIENT", "SETINFO", "lib-ver", "9.17.3"}, "+OK\r\n"},
		{[]string{"CLIENT", "SETINFO", "color", "red"}, "-ERR Unrecognized option 'color'\r\n"},
		{[]string{"CLIENT", "TRACKING", "on", "OPTIN"}, "+OK\r\n"},
		{[]string{"CLIENT", "TRACKING", "maybe"}, "-ERR syntax error\r\n"},
		{[]string{"CLIENT", "NO-TOUCH", "on"}, "-ERR unknown subcommand 'NO-TOUCH'. Try CLIENT HELP.\r\n"},
		{[]string{"PUBLISH", "+switch-master", "x"}, "-ERR Only HELLO messages are accepted by Sentinel instances.\r\n"},
		{[]string{"PUBLISH", "__sentinel__:hello", "1.2.3.4,26379,abc,0,m,1.2.3.4,6379,0"}, ":1\r\n"},
		{[]string{"AUTH", "secret"}, "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"},
		{[]string{"AUTH", "default", "anything"}, "+OK\r\n"},
		{[]string{"AUTH", "bob", "anything"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"AUTH", "a", "b", "c"}, "-ERR syntax error\r\n"},
		{[]string{"HELLO", "4"}, "-NOPROTO unsupported protocol version\r\n"},
		{[]string{"HELLO", "three"}, "-ERR Protocol version is not an integer or out of range\r\n"},
		{[]string{"HELLO", "3", "SETNAME"}, "-ERR Syntax error in HELLO option 'SETNAME'\r\n"},
		{[]string{"HELLO", "2"}, "*12\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n" +
			"$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$8\r\nsentinel\r\n$7\r\nmodules\r\n*0\r\n"},
		{[]string{"HELLO", "3", "setname", "n3"}, "%6\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n" +
			"$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$8\r\nsentinel\r\n$7\r\nmodules\r\n*0\r\n"},
		{[]string{"CLIENT", "GETNAME"}, "$2\r\nn3\r\n"},
		// RESP3 from here on
		{[]string{"SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nosuch"}, "_\r\n"},
		{[]string{"CLIENT", "GETNAME", "x"}, "-ERR wrong number of arguments for 'client|getname' command\r\n"},
		{[]string{"SENTINEL", "SENTINELS", "mymaster"}, "*2\r\n%14\r\n$4\r\nname\r\n$40\r\n" + m2RunID + "\r\n"},
	}
	for _, s := range steps {
		c.do(s.args...)
		c.expect(s.want)
	}
}

func TestCommandHelp(t *testing.T) {
	_, addr := startSentinel(t, newFakeBackend(), HandlerOptions{})
	ctx := testCtx(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for _, cmd := range []string{"SENTINEL", "CLIENT"} {
		v, err := rdb.Do(ctx, cmd, "help").StringSlice()
		if err != nil || len(v) < 3 || v[0] != cmd+" <subcommand> [<arg> [value] [opt] ...]. Subcommands are:" ||
			v[len(v)-2] != "HELP" || v[len(v)-1] != "    Print this help." {
			t.Errorf("%s HELP = %q, %v", cmd, v, err)
		}
	}
}

func TestCommandInfo(t *testing.T) {
	s, addr := startSentinel(t, newFakeBackend(), HandlerOptions{Version: "7.0.15"})
	_, port, _ := net.SplitHostPort(addr)
	for _, proto := range []int{2, 3} {
		ctx := testCtx(t)
		rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto})
		all, err := rdb.Info(ctx).Result() // a bulk string in RESP3 too
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"# Server\r\nredis_version:7.0.15\r\n", "\r\nredis_mode:sentinel\r\n", "\r\nrun_id:" + selfRunID + "\r\n",
			"\r\ntcp_port:" + port + "\r\n", "\r\n\r\n# Clients\r\nconnected_clients:", "\r\n\r\n# Stats\r\n",
			"\r\n\r\n# CPU\r\nused_cpu_sys:",
			"\r\n\r\n# Sentinel\r\nsentinel_masters:2\r\nsentinel_tilt:0\r\nsentinel_tilt_since_seconds:-1\r\n" +
				"sentinel_running_scripts:0\r\nsentinel_scripts_queue_length:0\r\nsentinel_simulate_failure_flags:0\r\n" +
				"master0:name=mymaster,status=ok,address=127.0.0.1:6379,slaves=3,sentinels=3\r\n" +
				"master1:name=other,status=odown,address=10.0.0.1:7000,slaves=0,sentinels=3\r\n",
		} {
			if !strings.Contains(all, want) {
				t.Errorf("RESP%d INFO lacks %q:\n%s", proto, want, all)
			}
		}
		if !strings.HasSuffix(all, "sentinels=3\r\n") || strings.Contains(all, "# Memory") || strings.Contains(all, "# Replication") {
			t.Errorf("RESP%d INFO layout:\n%s", proto, all)
		}
		sent, err := rdb.Info(ctx, "SENTINEL").Result()
		if err != nil || !strings.HasPrefix(sent, "# Sentinel\r\n") {
			t.Errorf("INFO sentinel = %q, %v", sent, err)
		}
		two, err := rdb.Info(ctx, "clients", "server").Result()
		if err != nil || !strings.HasPrefix(two, "# Server\r\n") || !strings.Contains(two, "\r\n\r\n# Clients\r\n") ||
			strings.Contains(two, "# Sentinel") {
			t.Errorf("INFO clients server = %q, %v", two, err)
		}
		if v, err := rdb.Info(ctx, "replication").Result(); err != nil || v != "" {
			t.Errorf("INFO replication = %q, %v", v, err)
		}
		if v, err := rdb.Info(ctx, "everything").Result(); err != nil || !strings.Contains(v, "# Sentinel") {
			t.Errorf("INFO everything = %q, %v", v, err)
		}
		rdb.Close()
	}
	// the stats count this server's traffic
	if st := s.Stats(); st.ConnectionsReceived < 2 || st.CommandsProcessed < 10 {
		t.Errorf("stats %+v", st)
	}
}

func TestCommandAuthRequired(t *testing.T) {
	_, addr := startSentinel(t, newFakeBackend(), HandlerOptions{RequirePass: "s3cret"})
	c := dialRaw(t, addr)
	for _, s := range []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "-NOAUTH Authentication required.\r\n"},
		{[]string{"SUBSCRIBE", "+switch-master"}, "-NOAUTH Authentication required.\r\n"},
		{[]string{"SENTINEL", "MASTERS"}, "-NOAUTH Authentication required.\r\n"},
		// unknown commands and arity are checked first, as in Redis
		{[]string{"nosuch"}, "-ERR unknown command 'nosuch', with args beginning with: \r\n"},
		{[]string{"SENTINEL", "masters", "x"}, "-ERR wrong number of arguments for 'sentinel|masters' command\r\n"},
		{[]string{"HELLO", "3"}, "-NOAUTH HELLO must be called with the client already authenticated, otherwise the " +
			"HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP " +
			"protocol version at the same time\r\n"},
		{[]string{"AUTH", "wrong"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"AUTH", "admin", "s3cret"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"HELLO", "3", "AUTH", "default", "nope"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"AUTH", "s3cret"}, "+OK\r\n"},
		{[]string{"PING"}, "+PONG\r\n"},
	} {
		c.do(s.args...)
		c.expect(s.want)
	}
	c2 := dialRaw(t, addr)
	c2.do("HELLO", "3", "AUTH", "default", "s3cret")
	c2.expect("%6\r\n$6\r\nserver\r\n")
	c3 := dialRaw(t, addr)
	c3.do("QUIT")
	c3.expect("+OK\r\n")

	// go-redis authenticates through HELLO 3 AUTH (and AUTH after HELLO 2 fallback)
	ctx := testCtx(t)
	for _, proto := range []int{3, 2} {
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr, Password: "s3cret", Protocol: proto})
		if got, err := sc.GetMasterAddrByName(ctx, "mymaster").Result(); err != nil || got[1] != "6379" {
			t.Errorf("RESP%d authenticated client: %v, %v", proto, got, err)
		}
		sc.Close()
		bad := redis.NewSentinelClient(&redis.Options{Addr: addr, Password: "wrong", Protocol: proto})
		if _, err := bad.GetMasterAddrByName(ctx, "mymaster").Result(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Errorf("RESP%d wrong password: %v", proto, err)
		}
		bad.Close()
	}
}

func TestCommandPubSub(t *testing.T) {
	s, addr := startSentinel(t, newFakeBackend(), HandlerOptions{})
	for _, proto := range []int{3, 2} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			ctx := testCtx(t)
			sc := redis.NewSentinelClient(&redis.Options{Addr: addr, Protocol: proto})
			defer sc.Close()
			ps := sc.Subscribe(ctx, "+switch-master")
			defer ps.Close()
			if _, err := ps.Receive(ctx); err != nil {
				t.Fatal(err)
			}
			if err := ps.PSubscribe(ctx, "[-+]sdown"); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "subscriptions", func() bool { ch, pat := s.Hub().Counts(); return ch == 1 && pat == 1 })
			payload := "mymaster 127.0.0.1 6379 127.0.0.1 6380"
			if n := s.Hub().Publish("+switch-master", payload); n != 1 {
				t.Fatalf("Publish = %d", n)
			}
			s.Hub().Publish("+sdown", "slave 127.0.0.1:6381 127.0.0.1 6381 @ mymaster 127.0.0.1 6379")
			want := []string{"+switch-master " + payload, "+sdown slave 127.0.0.1:6381 127.0.0.1 6381 @ mymaster 127.0.0.1 6379"}
			for _, w := range want {
				msg, err := ps.ReceiveMessage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if got := msg.Channel + " " + msg.Payload; got != w {
					t.Fatalf("got %q, want %q", got, w)
				}
			}
			parts := strings.Split(payload, " ") // what go-redis' failover client parses
			if parts[3]+":"+parts[4] != "127.0.0.1:6380" {
				t.Fatal("payload shape")
			}
			ps.Close()
			waitUntil(t, "unsubscribed", func() bool { ch, pat := s.Hub().Counts(); return ch == 0 && pat == 0 })
		})
	}

	// RESP3: commands on the subscribed connection itself still work.
	c := dialRaw(t, addr)
	c.do("HELLO", "3")
	c.readMap()
	c.do("SUBSCRIBE", "+switch-master")
	c.expect(">3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n")
	c.do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
	c.expect("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n")
	s.Hub().Publish("+switch-master", "m 1 2 3 4")
	c.expect(">3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$9\r\nm 1 2 3 4\r\n")

	// RESP2: a subscribed connection may not run SENTINEL.
	c2 := dialRaw(t, addr)
	c2.do("SUBSCRIBE", "+switch-master")
	c2.expect("*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n")
	c2.do("SENTINEL", "MASTERS")
	c2.expect("-ERR Can't execute 'sentinel|masters': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n")
	c2.do("PING")
	c2.expect("*2\r\n$4\r\npong\r\n$0\r\n\r\n")
	// but an unknown command is reported as such first
	c2.do("nosuch")
	c2.expect("-ERR unknown command 'nosuch', with args beginning with: \r\n")
}

// readMap reads and discards a RESP3 map reply of bulk/int values (HELLO's).
func (r *rawConn) readMap() {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	hdr, err := r.rd.ReadString('\n')
	if err != nil || hdr[0] != '%' {
		r.t.Fatalf("map header %q, %v", hdr, err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(hdr[1:]))
	for i := 0; i < 2*n; i++ {
		line, err := r.rd.ReadString('\n')
		if err != nil {
			r.t.Fatal(err)
		}
		if line[0] == '$' {
			if _, err := r.rd.ReadString('\n'); err != nil {
				r.t.Fatal(err)
			}
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.True(t, 10*time.Second, what, cond)
}

func TestCommandMalformedInputIsolated(t *testing.T) {
	_, addr := startSentinel(t, newFakeBackend(), HandlerOptions{})
	ctx := testCtx(t)
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer sc.Close()
	if _, err := sc.GetMasterAddrByName(ctx, "mymaster").Result(); err != nil {
		t.Fatal(err)
	}
	bad := dialRaw(t, addr)
	if _, err := io.WriteString(bad.nc, "*2\r\n$8\r\nSENTINEL\r\n:1\r\n"); err != nil {
		t.Fatal(err)
	}
	bad.expect("-ERR Protocol error: expected '$', got ':'\r\n")
	_ = bad.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := bad.rd.ReadByte(); err == nil {
		t.Fatal("connection not closed after a protocol error")
	}
	// the established client is unaffected
	if got, err := sc.GetMasterAddrByName(ctx, "mymaster").Result(); err != nil || got[0] != "127.0.0.1" {
		t.Fatalf("after another client's protocol error: %v, %v", got, err)
	}
	// inline (telnet-style) commands work
	tel := dialRaw(t, addr)
	if _, err := io.WriteString(tel.nc, "sentinel get-master-addr-by-name mymaster\r\n"); err != nil {
		t.Fatal(err)
	}
	tel.expect("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n")
}

func TestCommandManyConcurrentClients(t *testing.T) {
	fb := newFakeBackend()
	_, addr := startSentinel(t, fb, HandlerOptions{})
	ctx := testCtx(t)
	const clients, rounds = 100, 20
	a1, a2 := state.Addr{Host: "127.0.0.1", Port: 6379}, state.Addr{Host: "127.0.0.1", Port: 6380}
	stop := make(chan struct{})
	var flipper sync.WaitGroup
	flipper.Add(1)
	go func() { // keep changing the committed address while clients read it
		defer flipper.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				fb.setMasterAddr("mymaster", a1)
				return
			default:
			}
			if i%2 == 0 {
				fb.setMasterAddr("mymaster", a2)
			} else {
				fb.setMasterAddr("mymaster", a1)
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sc := redis.NewSentinelClient(&redis.Options{Addr: addr, Protocol: 2 + i%2, PoolSize: 1})
			defer sc.Close()
			for j := 0; j < rounds; j++ {
				got, err := sc.GetMasterAddrByName(ctx, "mymaster").Result()
				if err != nil || len(got) != 2 || (got[1] != "6379" && got[1] != "6380") {
					errs <- fmt.Errorf("client %d: %v, %v", i, got, err)
					return
				}
				if _, err := sc.Master(ctx, "mymaster").Result(); err != nil {
					errs <- fmt.Errorf("client %d master: %v", i, err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(stop)
	flipper.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// dataNode is a stand-in Redis data node that tells who it is.
type dataNode string

func (n dataNode) ServeRESP(c *resp.Conn, args [][]byte) {
	switch strings.ToLower(string(args[0])) {
	case "hello":
		c.WriteError("ERR unknown command 'HELLO', with args beginning with: ")
	case "ping":
		c.WriteStatus("PONG")
	case "client":
		c.WriteStatus("OK")
	case "get":
		c.WriteBulkString(string(n))
	default:
		c.WriteError("ERR unknown command")
	}
}

// TestCommandGoRedisFailoverClientFollowsSwitch runs go-redis'
// NewFailoverClient against the handler: it finds the master with
// GET-MASTER-ADDR-BY-NAME, and after the committed address changes and
// +switch-master is published it moves to the new master.
func TestCommandGoRedisFailoverClientFollowsSwitch(t *testing.T) {
	startNode := func(name string) state.Addr {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := resp.NewServer(dataNode(name), resp.Options{Logger: slog.New(slog.DiscardHandler)})
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		t.Cleanup(func() { s.Close(); <-done })
		a, err := state.ParseAddr(l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a, b := startNode("A"), startNode("B")
	fb := newFakeBackend()
	fb.setMasterAddr("mymaster", a)
	s, addr := startSentinel(t, fb, HandlerOptions{})
	ctx := testCtx(t)
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "mymaster", SentinelAddrs: []string{addr}})
	defer rdb.Close()
	if got, err := rdb.Get(ctx, "whoami").Result(); err != nil || got != "A" {
		t.Fatalf("before the switch: %q, %v", got, err)
	}
	// The client subscribes to +switch-master in the background.
	waitUntil(t, "+switch-master subscription", func() bool { ch, _ := s.Hub().Counts(); return ch > 0 })
	fb.setMasterAddr("mymaster", b)
	s.Hub().Publish("+switch-master", fmt.Sprintf("mymaster %s %d %s %d", a.Host, a.Port, b.Host, b.Port))
	waitUntil(t, "client on the new master", func() bool {
		got, err := rdb.Get(ctx, "whoami").Result()
		return err == nil && got == "B"
	})
}
