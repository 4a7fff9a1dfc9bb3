//go:build integration

// Package clients holds real-client compatibility tests: unmodified
// Sentinel-aware client libraries (go-redis, rueidis, redis-py, ioredis,
// node-redis, redis-cli) connect to a raftsentinel group only through the
// monitors' addresses, write through a SIGKILL of the master and must land
// their writes on the promoted replica.
//
// Go clients run in-process; Python and Node.js clients run as subprocesses
// (python/*.py, node/*.mjs) that speak a small line protocol with the test:
// they print JSON lines on stdout ({"ev":"ack","n":7,"after":false}, ...)
// and read "killed" and "stop" on stdin.
//
// CLIENTS_BACKEND=redis-sentinel runs the same tests against three real
// redis-sentinel processes instead of raftsentinel: the oracle used to tell
// a raftsentinel incompatibility from a client quirk. CLIENTS_DEBUG=1
// echoes every line the subprocess clients print to stderr.
//
// Node.js packages are pinned by node/package-lock.json and installed with
// npm ci on first use; Python uses Debian's python3-redis.
package clients

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go-redis 9.17 NewFailoverClusterClient never closes its sentinel
		// client: ClusterClient.Close does not reach the sentinelFailover
		// (NewFailoverClient wires failover.Close into onClose, the cluster
		// variant does not), so its SUBSCRIBE +switch-master goroutines
		// outlive the client. These are the only ones ignored.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9.(*sentinelFailover).listen"),
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9.(*channel).initHealthCheck.func1"),
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9.(*channel).initMsgChan.func1"),
		goleak.Cleanup(func(code int) {
			printSummary()
			os.Exit(code)
		}))
}

// Bounds of every failover scenario.
const (
	// downAfter is the monitors' down-after-milliseconds.
	downAfter = time.Second
	// recoveryBound is the product's promise: a client writes again within
	// this long after the master was killed.
	recoveryBound = 30 * time.Second
	// warmupAcks writes must be acknowledged before the kill, and
	// afterAcks after the client recovered.
	warmupAcks = 20
	afterAcks  = 20
	// maxParallel bounds how many scenarios (each 3 redis-servers, 3
	// monitors and a client) run at once: the CI machine has 2 cores.
	maxParallel = 2
)

// backendEnv selects what the clients talk to.
const backendEnv = "CLIENTS_BACKEND"

func backend() string {
	if b := os.Getenv(backendEnv); b == "redis-sentinel" {
		return b
	}
	return "raftsentinel"
}

var slots = make(chan struct{}, maxParallel)

// parallel marks t parallel and holds one of maxParallel slots until t ends.
func parallel(t *testing.T) {
	t.Helper()
	t.Parallel()
	slots <- struct{}{}
	t.Cleanup(func() { <-slots })
}

// cluster is a master with two replicas and three Sentinel-protocol
// monitors, ready: every monitor knows both replicas and both other
// monitors.
type cluster struct {
	topo      *testenv.Topology
	sentinels []string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 2)
	var addrs []string
	if backend() == "redis-sentinel" {
		for _, s := range testenv.StartSentinels(t, dir, 3, tp.Master.Addr(), downAfter) {
			addrs = append(addrs, s.Addr())
		}
	} else {
		addrs = testenv.StartGroup(t, dir, 3, nil, tp.Master.Addr(), downAfter).Addrs()
	}
	testenv.WaitReady(t, addrs, tp.Master.Addr(), 2, 2)
	return &cluster{topo: tp, sentinels: addrs}
}

// replicaAddrs are the replicas' redis-server addresses.
func (c *cluster) replicaAddrs() []string {
	var out []string
	for _, r := range c.topo.Replicas {
		out = append(out, r.Addr())
	}
	return out
}

// seqKey is the key of write n; its value is n in decimal.
func seqKey(n int) string { return "seq:" + strconv.Itoa(n) }

// ack is one acknowledged write. After is true when the acknowledged
// attempt was issued after the client was told the master had been killed
// (so no one but a new master can have acknowledged it).
type ack struct {
	N     int
	After bool
	At    time.Time // when the test learnt of it
}

// replicaRead is a client's read through its replica-routing API.
type replicaRead struct {
	Phase string // "before" (the kill) or "after" (recovery)
	Addr  string // the redis-server that answered
	Role  string // its ROLE, when the client could ask
	Key   string
	OK    bool
	Msg   string
}

// progress is what a client under test reported so far. Safe for
// concurrent use.
type progress struct {
	mu       sync.Mutex
	acks     []ack
	errs     int
	lastErr  string
	firstErr string
	reads    []replicaRead
	logs     []string
}

func (p *progress) ack(n int, after bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.acks = append(p.acks, ack{N: n, After: after, At: time.Now()})
}

func (p *progress) fail(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs++
	p.lastErr = msg
	if p.firstErr == "" {
		p.firstErr = msg
	}
	p.logLocked("write failed: " + msg)
}

func (p *progress) read(r replicaRead) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reads = append(p.reads, r)
}

// maxLogs bounds the client log kept for failure reports (the newest).
const maxLogs = 300

func (p *progress) log(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.logLocked(s)
}

func (p *progress) logLocked(s string) {
	if len(p.logs) == maxLogs {
		p.logs = append(p.logs[:0], p.logs[1:]...)
	}
	p.logs = append(p.logs, time.Now().Format("15:04:05.000 ")+s)
}

// lastLogs returns the newest n log lines.
func (p *progress) lastLogs(n int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), lastN(p.logs, n)...)
}

// snapshot returns a copy of the acks, the error count and the last error.
func (p *progress) snapshot() ([]ack, int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ack(nil), p.acks...), p.errs, p.lastErr
}

func (p *progress) replicaReads() []replicaRead {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]replicaRead(nil), p.reads...)
}

func (p *progress) errorSummary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.errs == 0 {
		return "no failed writes"
	}
	return fmt.Sprintf("%d failed write attempts; first %q; last %q", p.errs, p.firstErr, p.lastErr)
}

// client is a client library under test, writing seq:1, seq:2, ... one at
// a time and retrying a failed write (same n) until it is acknowledged.
type client interface {
	// progress is where the client reports acks and errors.
	progress() *progress
	// killed tells the client that the master is dead: attempts issued
	// from now on are "after".
	killed() error
	// stop asks the client to stop writing (and to do its "after" replica
	// read, if it has one) and waits for it; the error is the client's
	// failure.
	stop() error
	// alive fails t when the client has died on its own.
	alive(t *testing.T)
	// readReplica asks an in-process client to read key through its
	// replica routing now; subprocess clients do their own replica reads
	// (after their first write, and when told to stop).
	readReplica(phase, key string)
}

// scenario describes one failover run.
type scenario struct {
	name     string // client and version, for the summary
	protocol string
	// replicaReads: the client must report a successful replica read
	// before the kill and one after recovery.
	replicaReads bool
}

// result is one scenario's outcome, for the log and the summary.
type result struct {
	scenario
	recovery         time.Duration // kill → first "after" write acknowledged
	before, after    int           // acknowledged writes before/after the kill
	lostUnreplicated int           // writes acknowledged by the old master that the new one lacks
	notes            string
}

// runFailover drives one scenario: warm-up writes through the monitors,
// SIGKILL of the master once the last warm-up write is on both replicas,
// the client's own recovery, then checks on the new master.
func runFailover(t *testing.T, c *cluster, sc scenario, cl client) {
	t.Helper()
	ctx := context.Background()
	p := cl.progress()
	res := result{scenario: sc}
	defer func() {
		res.notes = p.errorSummary()
		record(t, res)
		if t.Failed() {
			t.Logf("client log (newest %d lines):\n  %s", 150, strings.Join(p.lastLogs(150), "\n  "))
		}
	}()

	testenv.Eventually(t, 45*time.Second, "client writes through the monitors", func() error {
		cl.alive(t)
		acks, _, last := p.snapshot()
		if len(acks) < warmupAcks {
			return fmt.Errorf("%d of %d writes acknowledged (last error %q)", len(acks), warmupAcks, last)
		}
		return nil
	})
	// The last write known now must be on both replicas before the kill,
	// so the new master, whichever it is, must have it.
	acks, _, _ := p.snapshot()
	replicated := acks[len(acks)-1].N
	testenv.Eventually(t, 10*time.Second, "warm-up writes replicated", func() error {
		for _, r := range c.replicaAddrs() {
			v, err := redisproc.Command(ctx, r, "GET", seqKey(replicated))
			if err != nil || v != strconv.Itoa(replicated) {
				return fmt.Errorf("%s: GET %s = %q %v", r, seqKey(replicated), v, err)
			}
		}
		return nil
	})
	if sc.replicaReads {
		cl.readReplica("before", seqKey(replicated))
		waitReplicaRead(t, cl, "before")
	}

	killedAt := time.Now()
	if err := c.topo.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cl.killed(); err != nil {
		t.Fatal(err)
	}
	p.log("--- test: master " + c.topo.Master.Addr() + " killed")
	t.Logf("master %s killed; last replicated write before it: %s", c.topo.Master.Addr(), seqKey(replicated))

	testenv.Eventually(t, recoveryBound, "client writes to a new master after the kill", func() error {
		cl.alive(t)
		acks, _, last := p.snapshot()
		for _, a := range acks {
			if a.After {
				return nil
			}
		}
		return fmt.Errorf("no write acknowledged since the kill (last error %q)", last)
	})
	acks, _, _ = p.snapshot()
	for _, a := range acks {
		if a.After {
			res.recovery = a.At.Sub(killedAt)
			break
		}
	}
	testenv.Eventually(t, 20*time.Second, "client keeps writing after recovery", func() error {
		cl.alive(t)
		acks, _, last := p.snapshot()
		if n := countAfter(acks); n < afterAcks {
			return fmt.Errorf("%d of %d writes since recovery (last error %q)", n, afterAcks, last)
		}
		return nil
	})
	if err := cl.stop(); err != nil {
		t.Fatalf("client: %v", err)
	}
	if sc.replicaReads {
		acks, _, _ := p.snapshot()
		cl.readReplica("after", seqKey(acks[len(acks)-1].N))
		waitReplicaRead(t, cl, "after")
	}

	// The new master, as the monitors tell it, has every "after" write and
	// the last write replicated before the kill.
	var newMaster string
	testenv.Eventually(t, 10*time.Second, "every monitor answers the new master", func() error {
		m, err := testenv.MasterAddr(ctx, c.sentinels[0])
		if err != nil {
			return err
		}
		if m == c.topo.Master.Addr() {
			return fmt.Errorf("%s still answers the killed master", c.sentinels[0])
		}
		newMaster = m
		return testenv.AllAnswer(ctx, c.sentinels, m)
	})
	if role, err := redisproc.Do(ctx, newMaster, "ROLE"); err != nil {
		t.Fatalf("ROLE on %s: %v", newMaster, err)
	} else if r, ok := role.([]any); !ok || len(r) == 0 || r[0] != "master" {
		t.Fatalf("ROLE on new master %s = %v", newMaster, role)
	}
	acks, _, _ = p.snapshot()
	var afterKeys, beforeKeys []int
	for _, a := range acks {
		if a.After {
			afterKeys = append(afterKeys, a.N)
		} else if a.N > replicated {
			beforeKeys = append(beforeKeys, a.N)
		}
	}
	res.before, res.after = len(acks)-len(afterKeys), len(afterKeys)
	missing := missingKeys(t, newMaster, append([]int{replicated}, afterKeys...))
	if len(missing) > 0 {
		t.Errorf("new master %s lacks %d acknowledged writes that must be there: %v", newMaster, len(missing), firstN(missing, 10))
	}
	lost := missingKeys(t, newMaster, beforeKeys)
	res.lostUnreplicated = len(lost)
	t.Logf("%d writes acknowledged by the old master after %s; %d of them not on the new master (async replication): %v",
		len(beforeKeys), seqKey(replicated), len(lost), firstN(lost, 10))

	if sc.replicaReads {
		reads := cl.progress().replicaReads()
		checkReplicaReads(t, reads, c.replicaAddrs(), newMaster)
	}
}

func countAfter(acks []ack) int {
	n := 0
	for _, a := range acks {
		if a.After {
			n++
		}
	}
	return n
}

func firstN(xs []int, n int) []int {
	if len(xs) > n {
		return xs[:n]
	}
	return xs
}

// missingKeys returns the ns whose seq:n is not n on addr.
func missingKeys(t *testing.T, addr string, ns []int) []int {
	t.Helper()
	if len(ns) == 0 {
		return nil
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2})
	defer rdb.Close()
	var missing []int
	for start := 0; start < len(ns); start += 500 {
		batch := ns[start:min(start+500, len(ns))]
		keys := make([]string, len(batch))
		for i, n := range batch {
			keys[i] = seqKey(n)
		}
		vals, err := rdb.MGet(context.Background(), keys...).Result()
		if err != nil {
			t.Fatalf("MGET on %s: %v", addr, err)
		}
		for i, v := range vals {
			if s, _ := v.(string); s != strconv.Itoa(batch[i]) {
				missing = append(missing, batch[i])
			}
		}
	}
	return missing
}

// waitReplicaRead waits until the client reported its replica read of
// phase (successful or not).
func waitReplicaRead(t *testing.T, cl client, phase string) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, "replica read "+phase, func() error {
		cl.alive(t)
		for _, r := range cl.progress().replicaReads() {
			if r.Phase == phase {
				return nil
			}
		}
		return errors.New("not reported yet")
	})
}

// checkReplicaReads: the "before" read was answered by one of the
// original replicas, the "after" read by a replica that is neither the new
// master nor the killed one.
func checkReplicaReads(t *testing.T, reads []replicaRead, replicas []string, newMaster string) {
	t.Helper()
	for _, phase := range []string{"before", "after"} {
		var got *replicaRead
		for i := range reads {
			if reads[i].Phase == phase {
				got = &reads[i]
			}
		}
		switch {
		case got == nil:
			t.Errorf("no replica read %s the failover", phase)
		case !got.OK:
			t.Errorf("replica read %s the failover failed: %s", phase, got.Msg)
		case got.Role != "" && got.Role != "slave":
			t.Errorf("replica read %s the failover answered by %s with role %q", phase, got.Addr, got.Role)
		case !contains(replicas, got.Addr) || (phase == "after" && got.Addr == newMaster):
			t.Errorf("replica read %s the failover answered by %s, want a replica of %v other than the new master %s",
				phase, got.Addr, replicas, newMaster)
		default:
			t.Logf("replica read %s the failover: %s from %s (role %s)", phase, got.Key, got.Addr, got.Role)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// --- summary ---

var (
	summaryMu sync.Mutex
	summary   []string
)

func record(t *testing.T, r result) {
	status := "PASS"
	if t.Failed() {
		status = "FAIL"
	}
	line := fmt.Sprintf("%-52s %-7s %-4s recovery=%-8v", r.name, r.protocol, status, r.recovery.Round(time.Millisecond))
	if r.before+r.after > 0 {
		line += fmt.Sprintf(" acked before/after=%d/%d lost-unreplicated=%d", r.before, r.after, r.lostUnreplicated)
	}
	line += " (" + r.notes + ")"
	t.Log(line)
	summaryMu.Lock()
	summary = append(summary, line)
	summaryMu.Unlock()
}

func printSummary() {
	summaryMu.Lock()
	defer summaryMu.Unlock()
	if !testing.Verbose() || len(summary) == 0 {
		return
	}
	sort.Strings(summary)
	fmt.Printf("\nclient compatibility against %s (SIGKILL of the master, down-after %v):\n  %s\n",
		backend(), downAfter, strings.Join(summary, "\n  "))
}
