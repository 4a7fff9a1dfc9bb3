package sentinel

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/state"
)

func TestAdminCommands(t *testing.T) {
	b := newFakeBackend()
	_, addr := startSentinel(t, b, HandlerOptions{MasterDefaults: state.Master{DownAfter: 5 * time.Second,
		FailoverTimeout: 3 * time.Minute, ParallelSyncs: 1}})
	c := dialRaw(t, addr)
	steps := []struct {
		args []string
		want string
	}{
		// MONITOR: Redis' validation order and texts.
		{[]string{"SENTINEL", "MONITOR", "new", "127.0.0.1", "7001", "x"}, "-ERR Invalid quorum\r\n"},
		{[]string{"SENTINEL", "MONITOR", "new", "127.0.0.1", "p", "2"}, "-ERR Invalid port\r\n"},
		{[]string{"SENTINEL", "MONITOR", "new", "127.0.0.1", "7001", "0"}, "-ERR Quorum must be 1 or greater.\r\n"},
		{[]string{"SENTINEL", "MONITOR", "new", "not-an-ip", "7001", "2"}, "-ERR Invalid IP address or hostname specified\r\n"},
		{[]string{"SENTINEL", "MONITOR", "new", "127.0.0.1", "70000", "2"}, "-ERR Invalid port number.\r\n"},
		{[]string{"SENTINEL", "MONITOR", "mymaster", "127.0.0.1", "7001", "2"}, "-ERR Duplicate master name.\r\n"},
		{[]string{"SENTINEL", "MONITOR", "new", "127.0.0.1", "7001", "2"}, "+OK\r\n"},
		{[]string{"SENTINEL", "GET-MASTER-ADDR-BY-NAME", "new"}, "*2\r\n$9\r\n127.0.0.1\r\n$4\r\n7001\r\n"},
		// SET: validated all before any applies.
		{[]string{"SENTINEL", "SET", "nosuch", "quorum", "2"}, "-ERR No such master with that name\r\n"},
		{[]string{"SENTINEL", "SET", "new", "quorum", "0"}, "-ERR Invalid argument '0' for SENTINEL SET 'quorum'\r\n"},
		{[]string{"SENTINEL", "SET", "new", "bogus", "1"}, "-ERR Unknown option or number of arguments for SENTINEL SET 'bogus'\r\n"},
		{[]string{"SENTINEL", "SET", "new", "quorum", "3", "down-after-milliseconds"}, "-ERR Unknown option or number of arguments for SENTINEL SET 'down-after-milliseconds'\r\n"},
		{[]string{"SENTINEL", "SET", "new", "notification-script", "/bin/true"}, "-ERR Reconfiguration of scripts path is denied for security reasons. Check the deny-scripts-reconfig configuration directive in your Sentinel configuration\r\n"},
		{[]string{"SENTINEL", "SET", "new", "quorum", "3", "down-after-milliseconds", "1500", "rename-command", "CONFIG", "XCONFIG"}, "+OK\r\n"},
		// CONFIG
		{[]string{"SENTINEL", "CONFIG", "SET", "announce-ip"}, "-ERR Only SENTINEL CONFIG GET <option> / SET <option> <value> are supported.\r\n"},
		{[]string{"SENTINEL", "CONFIG", "SET", "announce-ip", "1.2.3.4", "loglevel"}, "-ERR Missing argument 'loglevel' value\r\n"},
		{[]string{"SENTINEL", "CONFIG", "SET", "bogus", "1"}, "-ERR Invalid argument 'bogus' to SENTINEL CONFIG SET\r\n"},
		{[]string{"SENTINEL", "CONFIG", "SET", "resolve-hostnames", "maybe"}, "-ERR Invalid value 'maybe' to SENTINEL CONFIG SET 'resolve-hostnames'\r\n"},
		{[]string{"SENTINEL", "CONFIG", "SET", "loglevel", "debug", "loglevel", "notice"}, "-ERR Duplicate argument 'loglevel' to SENTINEL CONFIG SET\r\n"},
		{[]string{"SENTINEL", "CONFIG", "SET", "announce-ip", "10.1.2.3", "resolve-hostnames", "yes"}, "+OK\r\n"},
		{[]string{"SENTINEL", "CONFIG", "GET", "announce-*"}, "*6\r\n$18\r\nannounce-hostnames\r\n$2\r\nno\r\n$11\r\nannounce-ip\r\n$8\r\n10.1.2.3\r\n$13\r\nannounce-port\r\n$1\r\n0\r\n"},
		{[]string{"SENTINEL", "CONFIG", "GET", "resolve-hostnames", "*hostnames"}, "*4\r\n$17\r\nresolve-hostnames\r\n$3\r\nyes\r\n$18\r\nannounce-hostnames\r\n$2\r\nno\r\n"},
		{[]string{"SENTINEL", "CONFIG", "FROB"}, "-ERR Only SENTINEL CONFIG GET <option> / SET <option> <value> are supported.\r\n"},
		// With resolve-hostnames, a hostname is accepted.
		{[]string{"SENTINEL", "MONITOR", "named", "redis.internal", "6379", "1"}, "+OK\r\n"},
		// FAILOVER
		{[]string{"SENTINEL", "FAILOVER", "nosuch"}, "-ERR No such master with that name\r\n"},
		{[]string{"SENTINEL", "FAILOVER", "mymaster"}, "-NOGOODSLAVE No suitable replica to promote\r\n"},
		// RESET and REMOVE
		{[]string{"SENTINEL", "RESET", "nomatch*"}, ":0\r\n"},
		{[]string{"SENTINEL", "RESET", "*"}, ":4\r\n"},
		{[]string{"SENTINEL", "REMOVE", "nosuch"}, "-ERR No such master with that name\r\n"},
		{[]string{"SENTINEL", "REMOVE", "named"}, "+OK\r\n"},
		{[]string{"SENTINEL", "GET-MASTER-ADDR-BY-NAME", "named"}, "*-1\r\n"},
		// The rest of the surface.
		{[]string{"SENTINEL", "FLUSHCONFIG"}, "+OK\r\n"},
		{[]string{"SENTINEL", "PENDING-SCRIPTS"}, "*0\r\n"},
		{[]string{"SENTINEL", "SIMULATE-FAILURE", "HELP"}, "*3\r\n$20\r\ncrash-after-election\r\n$21\r\ncrash-after-promotion\r\n$18\r\ncrash-after-switch\r\n"},
		{[]string{"SENTINEL", "SIMULATE-FAILURE", "crash-after-election", "CRASH-AFTER-SWITCH"}, "+OK\r\n"},
		{[]string{"SENTINEL", "SIMULATE-FAILURE", "bogus"}, "-ERR Unknown failure simulation specified\r\n"},
		{[]string{"SENTINEL", "DEBUG"}, "*4\r\n$11\r\nINFO-PERIOD\r\n$4\r\n1000\r\n$11\r\nPING-PERIOD\r\n$3\r\n100\r\n"},
		{[]string{"SENTINEL", "INFO-CACHE", "nosuch"}, "*0\r\n"},
	}
	for _, s := range steps {
		c.do(s.args...)
		c.expect(s.want)
	}
	st := b.State()
	m := st.Masters["new"]
	if m.Quorum != 3 || m.DownAfter != 1500*time.Millisecond || m.RenameCommands["config"] != "XCONFIG" ||
		m.FailoverTimeout != 3*time.Minute {
		t.Fatalf("SET not applied: %+v", m)
	}
	if len(st.Masters["mymaster"].Replicas) != 0 {
		t.Fatalf("RESET kept replicas: %v", st.Masters["mymaster"].Replicas)
	}
	if st.Monitors["m1"].Announced().Host != "10.1.2.3" {
		t.Fatalf("announce-ip not applied: %+v", st.Monitors["m1"])
	}

	// A manual failover goes through Raft with the locally chosen replica;
	// a second one is refused while it is in progress.
	b.mu.Lock()
	b.candidate = state.Addr{Host: "127.0.0.1", Port: 6381}
	b.mu.Unlock()
	c.do("SENTINEL", "FAILOVER", "mymaster")
	c.expect("+OK\r\n")
	c.do("SENTINEL", "FAILOVER", "mymaster")
	c.expect("-INPROG Failover already in progress\r\n")
	f := b.State().Masters["mymaster"].Failover
	if f == nil || f.To.Port != 6381 || f.Reason != "manual" || f.Stage != state.StageStarted {
		t.Fatalf("failover record %+v", f)
	}
}

// TestStaleMonitorRefusesDiscovery: a monitor in a minority refuses only
// master discovery (GET-MASTER-ADDR-BY-NAME); introspection answers its last
// committed view with the stale_view flag last; stale-after 0
// (AnswerStale) answers discovery too, as Sentinel does.
func TestStaleMonitorRefusesDiscovery(t *testing.T) {
	b := newFakeBackend()
	b.cutoff = 5 * time.Second
	_, addr := startSentinel(t, b, HandlerOptions{})
	c := dialRaw(t, addr)
	c.do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
	c.expect("-NOQUORUM this monitor has been cut off from the monitor majority for 5.0s; its view may be outdated: ask another monitor\r\n")
	c.do("SENTINEL", "MYID")
	c.expect("$40\r\n" + selfRunID + "\r\n")
	ctx := context.Background()
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer sc.Close()
	m, err := sc.Master(ctx, "mymaster").Result()
	if err != nil || !strings.HasSuffix(m["flags"], ","+FlagStaleView) || m["ip"] != "127.0.0.1" {
		t.Fatalf("SENTINEL MASTER in a minority: %v %v", m, err)
	}
	ms, err := sc.Masters(ctx).Result()
	if err != nil || len(ms) != 2 || !strings.Contains(fmt.Sprint(ms[1]), "flags:s_down,o_down,master,"+FlagStaleView) {
		t.Fatalf("SENTINEL MASTERS in a minority: %v %v", ms, err)
	}
	reps, err := sc.Replicas(ctx, "mymaster").Result()
	if err != nil || len(reps) == 0 || !strings.HasSuffix(reps[0]["flags"], ","+FlagStaleView) {
		t.Fatalf("SENTINEL REPLICAS in a minority: %v %v", reps, err)
	}
	b.mu.Lock()
	b.cutoff = 0
	b.mu.Unlock()
	if m, err := sc.Master(ctx, "mymaster").Result(); err != nil || strings.Contains(m["flags"], FlagStaleView) {
		t.Fatalf("SENTINEL MASTER in the majority: %v %v", m, err)
	}

	b2 := newFakeBackend()
	b2.cutoff = 5 * time.Second
	_, addr2 := startSentinel(t, b2, HandlerOptions{AnswerStale: true})
	sc2 := redis.NewSentinelClient(&redis.Options{Addr: addr2})
	defer sc2.Close()
	if got, err := sc2.GetMasterAddrByName(ctx, "mymaster").Result(); err != nil || fmt.Sprint(got) != "[127.0.0.1 6379]" {
		t.Fatalf("stale-after 0, cut off: GET-MASTER-ADDR-BY-NAME %v %v", got, err)
	}
}

func TestAuthUsers(t *testing.T) {
	_, addr := startSentinel(t, newFakeBackend(), HandlerOptions{RequirePass: "s3cret", Users: map[string]string{"app": "apppw"}})
	c := dialRaw(t, addr)
	for _, s := range []struct {
		args []string
		want string
	}{
		{[]string{"SENTINEL", "MYID"}, "-NOAUTH Authentication required.\r\n"},
		{[]string{"AUTH", "app", "wrong"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"AUTH", "nobody", "apppw"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"AUTH", "app", "apppw"}, "+OK\r\n"},
		{[]string{"SENTINEL", "MYID"}, "$40\r\n" + selfRunID + "\r\n"},
	} {
		c.do(s.args...)
		c.expect(s.want)
	}
	h := dialRaw(t, addr)
	h.do("HELLO", "3", "AUTH", "app", "apppw")
	h.expect("%6\r\n")
}

func TestCommandAndClientIntrospection(t *testing.T) {
	_, addr := startSentinel(t, newFakeBackend(), HandlerOptions{})
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	a.do("CLIENT", "SETNAME", "alpha")
	a.expect("+OK\r\n")
	b.do("SUBSCRIBE", "+switch-master")
	b.expect("*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n")
	a.do("CLIENT", "LIST", "TYPE", "pubsub")
	list := a.readBulk()
	if !strings.Contains(list, "id=2 ") || !strings.Contains(list, "flags=P") || strings.Contains(list, "alpha") {
		t.Fatalf("CLIENT LIST TYPE pubsub = %q", list)
	}
	a.do("CLIENT", "LIST", "TYPE", "bogus")
	a.expect("-ERR Unknown client type 'bogus'\r\n")
	a.do("COMMAND", "COUNT")
	a.expect(fmt.Sprintf(":%d\r\n", len(commandTable)))
	info := dialRaw(t, addr) // the reply is only read in part
	info.do("COMMAND", "INFO", "ping", "get")
	info.expect("*2\r\n*10\r\n$4\r\nping\r\n:-1\r\n")
	a.do("CLIENT", "KILL", "TYPE", "pubsub")
	a.expect(":1\r\n")
	_ = b.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := b.rd.ReadByte(); err == nil {
		t.Fatal("killed pubsub client still readable")
	}
	a.do("CLIENT", "KILL", "127.0.0.1:1")
	a.expect("-ERR No such client\r\n")
}

// TestCKQuorumBeforeGroup: a monitor that serves its held configuration (no
// group yet) never says a failover can be authorized.
func TestCKQuorumBeforeGroup(t *testing.T) {
	b := newFakeBackend()
	b.held = true
	_, addr := startSentinel(t, b, HandlerOptions{})
	c := dialRaw(t, addr)
	c.do("SENTINEL", "CKQUORUM", "mymaster")
	c.expect("-NOQUORUM no monitor group has formed yet: this monitor holds its configuration until it finds the other monitors (hellos on the master); no failover can be authorized before\r\n")
}

// ManualFailover is the brain's rule in short: toward the candidate the
// test set, refused while a failover is in progress.
func (f *fakeBackend) ManualFailover(name string, coordinated bool) (state.Command, error) {
	m, ok := f.State().Masters[name]
	switch to, found := f.Candidate(name); {
	case !ok:
		return state.Command{}, state.ErrNoSuchMaster
	case m.Failover.InProgress():
		return state.Command{}, state.ErrFailoverInProg
	case !found:
		return state.Command{}, state.ErrNoGoodReplica
	default:
		return state.Command{Op: state.OpFailoverStart, Master: name, Addr: m.Addr, To: to, FailoverID: "f1",
			MonitorID: f.Self().ID, Force: true, Coordinated: coordinated}, nil
	}
}

// TestInfoCacheAge: SENTINEL INFO-CACHE gives each node's cached INFO text
// with the age of that text (the last full INFO), not of the latest,
// smaller INFO replication.
func TestInfoCacheAge(t *testing.T) {
	b := newFakeBackend()
	o := b.obs["127.0.0.1:6379"]
	o.InfoText, o.InfoTextAt, o.InfoAt = "# Server\r\nrun_id:x\r\n", testNow.Add(-7*time.Second), testNow.Add(-time.Second)
	b.obs["127.0.0.1:6379"] = o
	_, addr := startSentinel(t, b, HandlerOptions{})
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	v, err := c.Do(testCtx(t), "SENTINEL", "INFO-CACHE", "mymaster").Slice()
	if err != nil || len(v) != 2 {
		t.Fatalf("INFO-CACHE: %v %v", v, err)
	}
	first := v[1].([]any)[0].([]any)
	if first[0] != int64(7000) || first[1] != o.InfoText {
		t.Fatalf("the master's entry is %v, want age 7000 ms and its full INFO text", first)
	}
}
