//go:build integration

package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/wait"
)

// No goroutine is ignored: the probe hands go-redis pre-dialed connections,
// so go-redis never starts its background re-dial loop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testClientName = "raftsentinel-test0001-cmd"

func testOptions() Options {
	var h slog.Handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn + 10})
	if os.Getenv("PROBE_TEST_LOG") != "" {
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	return Options{
		PingPeriod: 50 * time.Millisecond,
		InfoPeriod: 100 * time.Millisecond,
		Timeout:    40 * time.Millisecond,
		ClientName: testClientName,
		Logger:     slog.New(h),
	}
}

func newProber(t *testing.T, opt Options) *Prober {
	t.Helper()
	p := New(opt)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// startRedis starts a redis-server; it fails (never skips) when Redis is
// not installed.
func startRedis(t *testing.T, ctx context.Context, opt redisproc.Options) *redisproc.Server {
	t.Helper()
	if opt.Dir == "" {
		opt.Dir = t.TempDir()
	}
	s, err := redisproc.Start(ctx, opt)
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitObs polls p.Observe(addr) every 5ms until cond holds; it returns the
// observation and how long it took.
func waitObs(t *testing.T, p *Prober, addr string, d time.Duration, what string, cond func(Observation) bool) (Observation, time.Duration) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	for {
		o, ok := p.Observe(addr)
		if ok && cond(o) {
			return o, time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s on %s; last observation %+v", d, what, addr, o)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not a wait
	}
}

func healthy(o Observation) bool {
	return o.Connected && !o.LastOKPing.IsZero() && !o.InfoAt.IsZero()
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, ps, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		t.Fatal(err)
	}
	return h, port
}

func TestDiscoverMasterAndReplica(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	dir := t.TempDir()
	master := startRedis(t, ctx, redisproc.Options{Dir: filepath.Join(dir, "m")})
	replica := startRedis(t, ctx, redisproc.Options{Dir: filepath.Join(dir, "r"), ReplicaOf: master.Addr(), Priority: 50})

	p := newProber(t, testOptions())
	p.Watch(master.Addr(), Auth{})
	p.Watch(replica.Addr(), Auth{})
	p.Watch(master.Addr(), Auth{}) // idempotent
	if got := p.Watched(); len(got) != 2 {
		t.Fatalf("Watched = %v", got)
	}

	_, took := waitObs(t, p, master.Addr(), 10*time.Second, "master lists an online replica", func(o Observation) bool {
		return healthy(o) && o.Role == "master" && len(o.Replicas) == 1 && o.Replicas[0].State == "online"
	})
	t.Logf("replica discovered online after %v", took)
	// A write once the replica is attached moves the offsets.
	if _, err := redisproc.Command(ctx, master.Addr(), "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	mo, _ := waitObs(t, p, master.Addr(), 10*time.Second, "master offset moves", func(o Observation) bool {
		return len(o.Replicas) == 1 && o.ReplOffset > 0 && o.Replicas[0].Offset == o.ReplOffset
	})
	if r := mo.Replicas[0]; r.Host != "127.0.0.1" || r.Port != replica.Port() {
		t.Fatalf("master replica entry = %+v, want port %d", r, replica.Port())
	}
	if len(mo.RunID) != 40 || !strings.HasPrefix(mo.RedisVersion, "7.") || mo.RoleChangedAt.IsZero() {
		t.Fatalf("master observation: run id %q version %q role changed %v", mo.RunID, mo.RedisVersion, mo.RoleChangedAt)
	}

	ro, _ := waitObs(t, p, replica.Addr(), 10*time.Second, "replica link up with the master's offset", func(o Observation) bool {
		return healthy(o) && o.Role == "slave" && o.MasterLinkUp && o.ReplOffset >= mo.ReplOffset
	})
	if ro.MasterHost != "127.0.0.1" || ro.MasterPort != master.Port() || ro.Priority != 50 ||
		!ro.ReplicaAnnounced || ro.MasterLinkDownMs != 0 || ro.Addr != replica.Addr() {
		t.Fatalf("replica observation = %+v", ro)
	}
	if ro.PingLatency <= 0 || ro.PingLatency > time.Second {
		t.Fatalf("PingLatency = %v", ro.PingLatency)
	}
	if !ro.LastPingSent.IsZero() && ro.LastPingSent.Before(ro.LastOKPing) {
		t.Fatalf("pending PING %v older than the last valid reply %v", ro.LastPingSent, ro.LastOKPing)
	}

	// Our connections carry the client name.
	list, err := redisproc.Command(ctx, master.Addr(), "CLIENT", "LIST")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list, "name="+testClientName) {
		t.Fatalf("CLIENT LIST lacks our name:\n%s", list)
	}

	// Observe returns a copy.
	mo.Replicas[0].Port = 1
	if again, _ := p.Observe(master.Addr()); again.Replicas[0].Port != replica.Port() {
		t.Fatalf("Observe shares its Replicas slice")
	}

	p.Unwatch(replica.Addr())
	if _, ok := p.Observe(replica.Addr()); ok {
		t.Fatalf("Observe after Unwatch reported the node")
	}
	if got := p.Watched(); len(got) != 1 || got[0] != master.Addr() {
		t.Fatalf("Watched after Unwatch = %v", got)
	}
	p.Unwatch("127.0.0.1:1") // unknown: no-op
}

func TestKillShowsDisconnected(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	opt := testOptions()
	s := startRedis(t, ctx, redisproc.Options{})
	p := newProber(t, opt)
	p.Watch(s.Addr(), Auth{})
	before, _ := waitObs(t, p, s.Addr(), 5*time.Second, "healthy", healthy)

	killed := time.Now()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	o, took := waitObs(t, p, s.Addr(), 5*time.Second, "disconnected after SIGKILL", func(o Observation) bool {
		return !o.Connected && !o.LastPingSent.IsZero()
	})
	t.Logf("SIGKILL -> Connected=false after %v (PingPeriod %v, Timeout %v); error %q", took, opt.PingPeriod, opt.Timeout, o.LastError)
	if o.LastError == "" {
		t.Fatalf("no LastError after SIGKILL")
	}
	if o.LastPingSent.Before(killed.Add(-opt.PingPeriod - opt.Timeout)) {
		t.Fatalf("LastPingSent %v is older than the kill %v", o.LastPingSent, killed)
	}

	// While the node stays down the oldest unanswered PING keeps its time
	// and no valid reply is recorded.
	lastOK := o.LastOKPing
	pending := o.LastPingSent
	o, _ = waitObs(t, p, s.Addr(), 5*time.Second, "ten PING periods down", func(o Observation) bool {
		return time.Since(o.LastPingSent) > 10*opt.PingPeriod
	})
	if !o.LastOKPing.Equal(lastOK) || !o.LastPingSent.Equal(pending) || o.Connected {
		t.Fatalf("while down: LastOKPing %v (was %v), LastPingSent %v (was %v), Connected %v",
			o.LastOKPing, lastOK, o.LastPingSent, pending, o.Connected)
	}

	// Restart: the link comes back and the run id changes.
	restarted := time.Now()
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	o, took = waitObs(t, p, s.Addr(), 5*time.Second, "reconnected with a new run id", func(o Observation) bool {
		return o.Connected && o.LastOKPing.After(restarted) && o.RunID != "" && o.RunID != before.RunID
	})
	t.Logf("restart -> valid PING and new run id after %v", took)
	if o.LastError != "" {
		t.Fatalf("LastError after recovery = %q", o.LastError)
	}
}

func TestPauseShowsDisconnected(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	opt := testOptions()
	s := startRedis(t, ctx, redisproc.Options{})
	p := newProber(t, opt)
	p.Watch(s.Addr(), Auth{})
	waitObs(t, p, s.Addr(), 5*time.Second, "healthy", healthy)

	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Resume() })
	o, took := waitObs(t, p, s.Addr(), 5*time.Second, "disconnected after SIGSTOP", func(o Observation) bool {
		return !o.Connected && !o.LastPingSent.IsZero()
	})
	t.Logf("SIGSTOP -> Connected=false after %v (PingPeriod %v, Timeout %v); error %q", took, opt.PingPeriod, opt.Timeout, o.LastError)
	lastOK := o.LastOKPing
	pending := o.LastPingSent
	o, _ = waitObs(t, p, s.Addr(), 5*time.Second, "ten PING periods hung", func(o Observation) bool {
		return time.Since(o.LastPingSent) > 10*opt.PingPeriod
	})
	if !o.LastOKPing.Equal(lastOK) || !o.LastPingSent.Equal(pending) || o.Connected {
		t.Fatalf("while hung: LastOKPing %v (was %v), LastPingSent %v (was %v), Connected %v",
			o.LastOKPing, lastOK, o.LastPingSent, pending, o.Connected)
	}

	resumed := time.Now()
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	_, took = waitObs(t, p, s.Addr(), 5*time.Second, "valid PING after SIGCONT", func(o Observation) bool {
		return o.Connected && o.LastOKPing.After(resumed)
	})
	t.Logf("SIGCONT -> valid PING after %v", took)
}

func TestPingSemanticsFake(t *testing.T) {
	opt := testOptions()
	opt.PingPeriod = 10 * time.Millisecond
	opt.Timeout = 60 * time.Millisecond // longer than the period on purpose
	f := newFakeRedis(t, "+PONG")
	p := newProber(t, opt)
	p.Watch(f.addr(), Auth{})
	waitObs(t, p, f.addr(), 5*time.Second, "PONG", func(o Observation) bool { return o.Connected && !o.LastOKPing.IsZero() })

	// -LOADING and -MASTERDOWN are valid replies.
	for _, reply := range []string{"-LOADING Redis is loading the dataset in memory", "-MASTERDOWN Link with MASTER is down"} {
		f.setPingReply(reply)
		mark := time.Now()
		o, _ := waitObs(t, p, f.addr(), 5*time.Second, reply, func(o Observation) bool { return o.LastOKPing.After(mark.Add(opt.PingPeriod)) })
		if !o.Connected || o.LastError != "" {
			t.Fatalf("%s: %+v", reply, o)
		}
	}

	// -BUSY is a reply (connected) but not a valid one: the PING stays
	// pending and LastOKPing stops.
	f.setPingReply("-BUSY Redis is busy running a script")
	o, _ := waitObs(t, p, f.addr(), 5*time.Second, "BUSY", func(o Observation) bool {
		return strings.HasPrefix(o.LastError, "BUSY") && !o.LastPingSent.IsZero()
	})
	pending, lastOK := o.LastPingSent, o.LastOKPing
	o, _ = waitObs(t, p, f.addr(), 5*time.Second, "BUSY for 5 periods", func(o Observation) bool {
		return time.Since(o.LastPingSent) > 5*opt.PingPeriod && o.LastPingReply.After(pending.Add(2*opt.PingPeriod))
	})
	if !o.Connected || !o.LastPingSent.Equal(pending) || !o.LastOKPing.Equal(lastOK) {
		t.Fatalf("BUSY: %+v (pending was %v, last ok %v)", o, pending, lastOK)
	}

	// Authentication errors are replies too, but the link is unusable:
	// AuthRefused and not Connected (Sentinel's "disconnected"), the PING
	// stays pending and LastPingReply keeps advancing.
	for _, reply := range []string{
		"-NOAUTH Authentication required.",
		"-WRONGPASS invalid username-password pair or user is disabled.",
		"-ERR invalid password",
	} {
		f.setPingReply(reply)
		mark := time.Now()
		o, _ = waitObs(t, p, f.addr(), 5*time.Second, reply, func(o Observation) bool {
			return o.AuthRefused && o.LastPingReply.After(mark.Add(opt.PingPeriod))
		})
		if o.Connected || o.LinkBroken || !o.LastPingSent.Equal(pending) || !o.LastOKPing.Equal(lastOK) || !strings.Contains(reply, o.LastError) {
			t.Fatalf("%s: %+v (pending was %v, last ok %v)", reply, o, pending, lastOK)
		}
	}
	f.setPingReply("-BUSY Redis is busy running a script")
	waitObs(t, p, f.addr(), 5*time.Second, "BUSY again clears AuthRefused", func(o Observation) bool {
		return o.Connected && !o.AuthRefused && strings.HasPrefix(o.LastError, "BUSY")
	})

	// A PING that is never answered times out: disconnected, and only one
	// PING is in flight at a time although Timeout > PingPeriod.
	f.setPingReply("")
	mark := time.Now()
	waitObs(t, p, f.addr(), 5*time.Second, "no reply", func(o Observation) bool { return !o.Connected })
	waitObs(t, p, f.addr(), 5*time.Second, "hung for a while", func(o Observation) bool {
		return time.Since(mark) > 10*opt.Timeout
	})
	var n int
	var prev time.Time
	for _, at := range f.pingTimes() {
		if at.Before(mark) {
			continue
		}
		// Back to back PINGs are about Timeout apart; one per tick would
		// be PingPeriod apart. Timeout/2 leaves room for scheduling noise.
		if !prev.IsZero() && at.Sub(prev) < opt.Timeout/2 {
			t.Fatalf("two PINGs %v apart while unanswered (Timeout %v)", at.Sub(prev), opt.Timeout)
		}
		prev = at
		n++
	}
	if n < 3 {
		t.Fatalf("only %d PINGs while hung", n)
	}
	if o, _ := p.Observe(f.addr()); !o.LastPingSent.Equal(pending) {
		t.Fatalf("LastPingSent moved from %v to %v while no valid reply came", pending, o.LastPingSent)
	}

	f.setPingReply("+PONG")
	o, _ = waitObs(t, p, f.addr(), 5*time.Second, "PONG again", func(o Observation) bool { return o.Connected && o.LastOKPing.After(lastOK) })
	if o.LastError != "" {
		t.Fatalf("LastError after PONG = %q", o.LastError)
	}
}

func TestNowOption(t *testing.T) {
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	opt := testOptions()
	opt.Now = func() time.Time { return fixed }
	f := newFakeRedis(t, "+PONG")
	p := newProber(t, opt)
	p.Watch(f.addr(), Auth{})
	o, _ := waitObs(t, p, f.addr(), 5*time.Second, "PONG and INFO", func(o Observation) bool { return !o.LastOKPing.IsZero() && !o.InfoAt.IsZero() })
	if !o.LastOKPing.Equal(fixed) || !o.InfoAt.Equal(fixed) || !o.RoleChangedAt.Equal(fixed) || o.ReplOffset != 7 {
		t.Fatalf("observation with a fixed clock: %+v", o)
	}
}

func TestPromoteAndReplicaOf(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	dir := t.TempDir()
	master := startRedis(t, ctx, redisproc.Options{Dir: filepath.Join(dir, "m")})
	replica := startRedis(t, ctx, redisproc.Options{Dir: filepath.Join(dir, "r"), ReplicaOf: master.Addr()})
	p := newProber(t, testOptions())
	p.Watch(master.Addr(), Auth{})
	p.Watch(replica.Addr(), Auth{})
	waitObs(t, p, replica.Addr(), 10*time.Second, "replica link up", func(o Observation) bool {
		return healthy(o) && o.Role == "slave" && o.MasterLinkUp
	})

	r, err := p.Role(ctx, replica.Addr(), Auth{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Role != "slave" || r.MasterPort != master.Port() || r.LinkState != "connected" {
		t.Fatalf("ROLE before promotion = %+v", r)
	}
	waitObs(t, p, master.Addr(), 10*time.Second, "master lists the replica online", func(o Observation) bool {
		return len(o.Replicas) == 1 && o.Replicas[0].State == "online"
	})
	r, err = p.Role(ctx, master.Addr(), Auth{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Role != "master" || len(r.Replicas) != 1 || r.Replicas[0].Port != replica.Port() {
		t.Fatalf("master ROLE = %+v", r)
	}

	// A normal client of the replica is disconnected by the promotion.
	victim, err := net.Dial("tcp", replica.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	if _, err := victim.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := victim.Read(buf); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := p.Promote(ctx, replica.Addr(), Auth{}); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	t.Logf("Promote took %v", time.Since(start))
	r, err = p.Role(ctx, replica.Addr(), Auth{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Role != "master" {
		t.Fatalf("ROLE after Promote = %+v", r)
	}
	_ = victim.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := victim.Read(buf); err == nil {
		t.Fatalf("client of the promoted node was not killed")
	}
	conf, err := os.ReadFile(filepath.Join(dir, "r", "redis.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(conf), "replicaof") {
		t.Fatalf("CONFIG REWRITE did not drop replicaof:\n%s", conf)
	}
	// The prober sees it (RefreshInfo was kicked) and its own links,
	// killed by CLIENT KILL, recover.
	o, took := waitObs(t, p, replica.Addr(), 5*time.Second, "role master", func(o Observation) bool {
		return o.Role == "master" && o.Connected && o.LastOKPing.After(start)
	})
	t.Logf("promotion visible in Observation after %v (role changed at +%v)", took, o.RoleChangedAt.Sub(start))

	// The old master follows the new one.
	host, port := splitAddr(t, replica.Addr())
	if err := p.ReplicaOf(ctx, master.Addr(), Auth{}, host, port); err != nil {
		t.Fatalf("ReplicaOf: %v", err)
	}
	r, err = p.Role(ctx, master.Addr(), Auth{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Role != "slave" || r.MasterHost != host || r.MasterPort != port {
		t.Fatalf("ROLE after ReplicaOf = %+v", r)
	}
	conf, err = os.ReadFile(filepath.Join(dir, "m", "redis.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "replicaof 127.0.0.1 "+strconv.Itoa(port)) {
		t.Fatalf("CONFIG REWRITE did not persist replicaof:\n%s", conf)
	}
	waitObs(t, p, master.Addr(), 10*time.Second, "old master replicating from the new one", func(o Observation) bool {
		return o.Role == "slave" && o.MasterPort == port && o.MasterLinkUp
	})
	waitObs(t, p, replica.Addr(), 10*time.Second, "new master lists the old one", func(o Observation) bool {
		return len(o.Replicas) == 1 && o.Replicas[0].Port == master.Port()
	})

	if err := p.ReplicaOf(ctx, master.Addr(), Auth{}, "", 0); !errors.Is(err, ErrReplicaOf) {
		t.Fatalf("ReplicaOf with a bad address = %v", err)
	}
}

func TestPromoteWithoutConfigFile(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	dir := t.TempDir()
	master := startRedis(t, ctx, redisproc.Options{Dir: filepath.Join(dir, "m"), NoConfigFile: true})
	replica := startRedis(t, ctx, redisproc.Options{Dir: filepath.Join(dir, "r"), ReplicaOf: master.Addr(), NoConfigFile: true})
	p := newProber(t, testOptions()) // neither node watched: the version comes from INFO server
	if err := p.Promote(ctx, replica.Addr(), Auth{}); err != nil {
		t.Fatalf("Promote without a config file: %v", err)
	}
	r, err := p.Role(ctx, replica.Addr(), Auth{})
	if err != nil || r.Role != "master" {
		t.Fatalf("ROLE = %+v, %v", r, err)
	}
}

func TestCommandErrors(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	p := newProber(t, testOptions())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	if err := p.Promote(ctx, dead, Auth{}); err == nil {
		t.Fatalf("Promote of a dead node succeeded")
	}
	if _, err := p.Role(ctx, dead, Auth{}); err == nil {
		t.Fatalf("Role of a dead node succeeded")
	}
	// A deadline is honoured.
	f := newFakeRedis(t, "")
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Promote(short, f.addr(), Auth{}); err == nil {
		t.Fatalf("Promote against a fake node succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Promote ignored its deadline: %v", d)
	}
}

func TestAuth(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	s := startRedis(t, ctx, redisproc.Options{Extra: []string{
		"requirepass sekret",
		"user probe on >probepw ~* &* +@all",
	}})
	p := newProber(t, testOptions())

	p.Watch(s.Addr(), Auth{Pass: "wrong"})
	o, _ := waitObs(t, p, s.Addr(), 5*time.Second, "auth error", func(o Observation) bool {
		return o.AuthRefused && o.LastError != "" && o.InfoError != ""
	})
	if o.Connected || !o.LastOKPing.IsZero() || o.LastPingSent.IsZero() || !o.InfoAt.IsZero() || o.LastPingReply.IsZero() {
		t.Fatalf("with a wrong password: %+v", o)
	}
	if !strings.Contains(o.LastError, "WRONGPASS") && !strings.Contains(o.LastError, "invalid password") {
		t.Fatalf("LastError = %q", o.LastError)
	}

	p.Watch(s.Addr(), Auth{Pass: "sekret"}) // new credentials replace the client
	waitObs(t, p, s.Addr(), 5*time.Second, "healthy with requirepass", func(o Observation) bool {
		return healthy(o) && o.LastError == "" && o.InfoError == "" && o.LastPingSent.IsZero()
	})

	p.Watch(s.Addr(), Auth{User: "probe", Pass: "probepw"}) // ACL user
	mark := time.Now()
	waitObs(t, p, s.Addr(), 5*time.Second, "healthy as ACL user", func(o Observation) bool {
		return healthy(o) && o.LastOKPing.After(mark) && o.InfoAt.After(mark)
	})
	list, err := p.Role(ctx, s.Addr(), Auth{User: "probe", Pass: "probepw"})
	if err != nil || list.Role != "master" {
		t.Fatalf("Role with ACL user = %+v, %v", list, err)
	}
	if _, err := p.Role(ctx, s.Addr(), Auth{}); err == nil {
		t.Fatalf("Role without auth succeeded")
	}
}

// TestAuthChangeReconnects: new credentials given to Watch replace the
// probe connections at once, even though the node would have kept the old,
// authenticated ones (Redis keeps a connection authenticated after
// CONFIG SET requirepass): a wrong new password shows as AuthRefused within
// a PING period, and once the node takes it the node is healthy again
// within a PING period.
func TestAuthChangeReconnects(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	opt := testOptions()
	s := startRedis(t, ctx, redisproc.Options{Extra: []string{"requirepass old"}})
	p := newProber(t, opt)
	p.Watch(s.Addr(), Auth{Pass: "old"})
	waitObs(t, p, s.Addr(), 5*time.Second, "healthy with the old password", healthy)
	// A PING period, a probe's timeout and scheduling slack on a busy machine.
	bound := opt.PingPeriod + opt.Timeout + time.Second

	// The node still takes "old": only a new connection sees "new" refused.
	mark := time.Now()
	p.Watch(s.Addr(), Auth{Pass: "new"})
	o, took := waitObs(t, p, s.Addr(), bound, "the new password refused", func(o Observation) bool {
		return o.AuthRefused && o.LastPingReply.After(mark)
	})
	t.Logf("Watch(new password) -> refused after %v", took)
	if o.Connected || !strings.Contains(o.LastError, "WRONGPASS") {
		t.Fatalf("refused: %+v", o)
	}

	admin := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: "old", Protocol: 2})
	defer admin.Close()
	if err := admin.ConfigSet(ctx, "requirepass", "new").Err(); err != nil {
		t.Fatal(err)
	}
	mark = time.Now()
	o, took = waitObs(t, p, s.Addr(), bound, "healthy with the new password", func(o Observation) bool {
		return o.Connected && o.LastOKPing.After(mark)
	})
	t.Logf("node takes the new password -> valid PING after %v", took)
	if o.AuthRefused || o.LastError != "" || !o.LastPingSent.IsZero() {
		t.Fatalf("recovered: %+v", o)
	}
	mark = time.Now()
	waitObs(t, p, s.Addr(), opt.InfoPeriod+bound, "INFO with the new password", func(o Observation) bool {
		return o.InfoAt.After(mark) && o.InfoError == ""
	})

	// No credentials at all: NOAUTH, the same refusal.
	mark = time.Now()
	p.Watch(s.Addr(), Auth{})
	o, _ = waitObs(t, p, s.Addr(), bound, "no password refused", func(o Observation) bool {
		return o.AuthRefused && o.LastPingReply.After(mark)
	})
	if o.Connected || !strings.Contains(o.LastError, "NOAUTH") {
		t.Fatalf("without a password: %+v", o)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	f := newFakeRedis(t, "+PONG")
	p := New(testOptions())
	p.Watch(f.addr(), Auth{})
	waitObs(t, p, f.addr(), 5*time.Second, "PONG", func(o Observation) bool { return o.Connected })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p.Watch(f.addr(), Auth{})
	if got := p.Watched(); len(got) != 0 {
		t.Fatalf("Watched after Close = %v", got)
	}
	if _, ok := p.Observe(f.addr()); ok {
		t.Fatalf("Observe after Close reported a node")
	}
	p.RefreshInfo(f.addr()) // no-op, no panic
}

// TestDefaultTimings measures, with the default options, how long a crash
// (SIGKILL) and a hang (SIGSTOP) take to show as Connected=false.
func TestDefaultTimings(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	opt := testOptions()
	opt.PingPeriod, opt.InfoPeriod, opt.Timeout = 0, 0, 0 // defaults
	bound := DefaultPingPeriod + DefaultTimeout + 500*time.Millisecond
	for _, fault := range []string{"SIGKILL", "SIGSTOP"} {
		t.Run(fault, func(t *testing.T) {
			s := startRedis(t, ctx, redisproc.Options{})
			p := newProber(t, opt)
			p.Watch(s.Addr(), Auth{})
			waitObs(t, p, s.Addr(), 5*time.Second, "healthy", healthy)
			var err error
			if fault == "SIGKILL" {
				err = s.Kill()
			} else {
				err = s.Pause()
				t.Cleanup(func() { _ = s.Resume() })
			}
			if err != nil {
				t.Fatal(err)
			}
			_, took := waitObs(t, p, s.Addr(), 5*time.Second, "disconnected", func(o Observation) bool { return !o.Connected })
			t.Logf("%s -> Connected=false after %v (defaults: PING every %v, timeout %v)", fault, took, DefaultPingPeriod, DefaultTimeout)
			if took > bound {
				t.Fatalf("%s took %v to show, want <= %v", fault, took, bound)
			}
		})
	}
}

// A node that dies is seen as disconnected (link broken, as a refused
// connection) at once, not at the next PING period: the watch connection
// closes and triggers a PING. Clients that read SENTINEL MASTER right
// after the kill depend on it (node-redis skips a master flagged
// disconnected); Redis Sentinel sees its own links close the same way.
func TestKillSeenBeforeNextPing(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	opt := testOptions()
	opt.PingPeriod = 10 * time.Second // only the watch connection can notice in time
	s := startRedis(t, ctx, redisproc.Options{})
	p := newProber(t, opt)
	p.Watch(s.Addr(), Auth{})
	waitObs(t, p, s.Addr(), 5*time.Second, "healthy", healthy)
	waitWatched(t, s.Addr())

	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	o, took := waitObs(t, p, s.Addr(), 5*time.Second, "link broken after SIGKILL", func(o Observation) bool {
		return !o.Connected && o.LinkBroken
	})
	t.Logf("SIGKILL -> link broken after %v (PING period %v); error %q", took, opt.PingPeriod, o.LastError)
	if took > opt.PingPeriod/4 {
		t.Fatalf("a killed node was noticed after %v: that is the PING period, not the watch connection", took)
	}
}

// waitWatched waits until addr lists the prober's probe connection (the
// one whose close reveals a dead node) in CLIENT LIST.
func waitWatched(t *testing.T, addr string) {
	t.Helper()
	wait.Until(t, 5*time.Second, addr+": the prober's connection in CLIENT LIST", func() error {
		list, err := redisproc.Command(context.Background(), addr, "CLIENT", "LIST")
		if err == nil && strings.Contains(list, "name="+testClientName+" ") {
			return nil
		}
		return fmt.Errorf("%q %v", list, err)
	})
}

// TestSetPeriodsChangesPingRate: after SetPeriods the PING loop of an
// already watched node probes at the new period (counted on the server).
func TestSetPeriodsChangesPingRate(t *testing.T) {
	opt := testOptions()
	opt.PingPeriod = time.Second
	f := newFakeRedis(t, "+PONG")
	p := newProber(t, opt)
	p.Watch(f.addr(), Auth{})
	waitObs(t, p, f.addr(), 5*time.Second, "PONG", func(o Observation) bool { return o.Connected })
	p.SetPeriods(10*time.Millisecond, 0)
	if ping, info := p.Periods(); ping != 10*time.Millisecond || info != opt.InfoPeriod {
		t.Fatalf("Periods() = %v, %v", ping, info)
	}
	mark := time.Now()
	deadline := mark.Add(5 * time.Second)
	for {
		n := 0
		for _, at := range f.pingTimes() {
			if at.After(mark) {
				n++
			}
		}
		if n >= 20 {
			break // 20 PINGs where a 1 s period allows at most 6
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d PINGs in 5 s after SetPeriods(10ms)", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if el := time.Since(mark); el > 2*time.Second {
		t.Fatalf("20 PINGs took %v at a 10 ms period", el)
	}
}
