package sentinel

import (
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

var (
	instStart = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	instNow   = instStart.Add(100 * time.Second)
	instClk   = instClock{now: instNow, start: instStart}
)

func ago(d time.Duration) time.Time { return instNow.Add(-d) }

// render writes fields as "key=value" lines for readable comparisons.
func render(fs []instField) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.key + "=" + f.val + "\n")
	}
	return b.String()
}

func lines(s ...string) string { return strings.Join(s, "\n") + "\n" }

func testMaster() *state.Master {
	return &state.Master{
		Name: "mymaster", Addr: state.Addr{Host: "127.0.0.1", Port: 6379},
		Quorum: 2, DownAfter: 5 * time.Second, FailoverTimeout: time.Minute, ParallelSyncs: 1,
		ConfigEpoch: 7,
		Replicas:    []state.Addr{{Host: "127.0.0.1", Port: 6380}, {Host: "127.0.0.1", Port: 6381}},
	}
}

func healthyObs() probe.Observation {
	return probe.Observation{Connected: true, LastOKPing: ago(200 * time.Millisecond),
		LastPingReply: ago(150 * time.Millisecond), InfoAt: ago(3 * time.Second),
		RunID: "0123456789abcdef0123456789abcdef01234567", Role: "master", RoleChangedAt: ago(50 * time.Second),
		Priority: 100, ReplicaAnnounced: true}
}

func TestMasterMap(t *testing.T) {
	inFailover := testMaster()
	inFailover.ODown, inFailover.ODownSince = true, ago(2*time.Second)
	inFailover.Failover = &state.Failover{Stage: state.StageStarted, Reason: "manual",
		To: state.Addr{Host: "127.0.0.1", Port: 6380}}
	promoted := testMaster()
	promoted.Failover = &state.Failover{Stage: state.StagePromoted}
	finished := testMaster()
	finished.Failover = &state.Failover{Stage: state.StageCompleted}
	down := healthyObs()
	down.Connected = false
	down.LastPingSent = ago(6 * time.Second)

	tests := []struct {
		name string
		v    masterView
		want string
	}{
		{"at rest", masterView{M: testMaster(), Obs: healthyObs(), Observed: true, Replicas: 2, Others: 2}, lines(
			"name=mymaster", "ip=127.0.0.1", "port=6379", "runid=0123456789abcdef0123456789abcdef01234567",
			"flags=master", "link-pending-commands=0", "link-refcount=1",
			"last-ping-sent=0", "last-ok-ping-reply=200", "last-ping-reply=150",
			"down-after-milliseconds=5000", "info-refresh=3000", "role-reported=master", "role-reported-time=50000",
			"config-epoch=7", "num-slaves=2", "num-other-sentinels=2", "quorum=2", "failover-timeout=60000",
			"parallel-syncs=1")},
		{"never probed", masterView{M: testMaster(), Replicas: 2, Others: 0}, lines(
			"name=mymaster", "ip=127.0.0.1", "port=6379", "runid=",
			"flags=master", "link-pending-commands=0", "link-refcount=1",
			"last-ping-sent=0", "last-ok-ping-reply=100000", "last-ping-reply=100000",
			"down-after-milliseconds=5000", "info-refresh=0", "role-reported=master", "role-reported-time=100000",
			"config-epoch=7", "num-slaves=2", "num-other-sentinels=0", "quorum=2", "failover-timeout=60000",
			"parallel-syncs=1")},
		// A ping timeout 200 ms after the last reply is not yet a lost link
		// (Sentinel's "disconnected"); see TestLinkDown.
		{"down, manual failover started", masterView{M: inFailover, Obs: down, Observed: true, SDown: true,
			SDownSince: ago(time.Second), Replicas: 2, Others: 2}, lines(
			"name=mymaster", "ip=127.0.0.1", "port=6379", "runid=0123456789abcdef0123456789abcdef01234567",
			"flags=s_down,o_down,master,failover_in_progress,force_failover",
			"link-pending-commands=0", "link-refcount=1", "failover-state=send_slaveof_noone",
			"last-ping-sent=6000", "last-ok-ping-reply=200", "last-ping-reply=150",
			"s-down-time=1000", "o-down-time=2000",
			"down-after-milliseconds=5000", "info-refresh=3000", "role-reported=master", "role-reported-time=50000",
			"config-epoch=7", "num-slaves=2", "num-other-sentinels=2", "quorum=2", "failover-timeout=60000",
			"parallel-syncs=1")},
	}
	for _, tt := range tests {
		if got := render(masterMap(tt.v, instClk)); got != tt.want {
			t.Errorf("%s:\n got:\n%s\nwant:\n%s", tt.name, got, tt.want)
		}
	}

	fs := masterMap(masterView{M: promoted, Obs: healthyObs(), Observed: true}, instClk)
	if fs[4].val != "master,failover_in_progress" || fs[7] != (instField{"failover-state", "reconf_slaves"}) {
		t.Errorf("promoted stage: flags %q, field 8 %v", fs[4].val, fs[7])
	}
	fs = masterMap(masterView{M: finished, Obs: healthyObs(), Observed: true}, instClk)
	if fs[4].val != "master" || len(fs) != 20 {
		t.Errorf("finished failover: flags %q, %d fields", fs[4].val, len(fs))
	}
}

// TestMasterMapFlatIndex checks the position Redis' own test (11-port-0)
// relies on: in the flat RESP2 array, element 33 (0-based) is the value of
// num-other-sentinels.
func TestMasterMapFlatIndex(t *testing.T) {
	var flat []string
	for _, f := range masterMap(masterView{M: testMaster(), Obs: healthyObs(), Observed: true, Others: 4}, instClk) {
		flat = append(flat, f.key, f.val)
	}
	if len(flat) != 40 || flat[32] != "num-other-sentinels" || flat[33] != "4" {
		t.Fatalf("flat array (%d): [32]=%q [33]=%q", len(flat), flat[32], flat[33])
	}
}

func TestReplicaMap(t *testing.T) {
	m := testMaster()
	a := state.Addr{Host: "127.0.0.1", Port: 6380}
	obs := healthyObs()
	obs.Role, obs.MasterHost, obs.MasterPort, obs.MasterLinkUp = "slave", "127.0.0.1", 6379, true
	obs.ReplOffset, obs.Priority = 12345, 50
	hidden := obs
	hidden.ReplicaAnnounced, hidden.MasterLinkUp, hidden.MasterLinkDownMs = false, false, 4000
	inFailover := testMaster()
	inFailover.Failover = &state.Failover{Stage: state.StageStarted, To: a}

	tests := []struct {
		name string
		v    replicaView
		want string
	}{
		{"healthy", replicaView{Master: m, Addr: a, Obs: obs, Observed: true}, lines(
			"name=127.0.0.1:6380", "ip=127.0.0.1", "port=6380", "runid=0123456789abcdef0123456789abcdef01234567",
			"flags=slave", "link-pending-commands=0", "link-refcount=1",
			"last-ping-sent=0", "last-ok-ping-reply=200", "last-ping-reply=150",
			"down-after-milliseconds=5000", "info-refresh=3000", "role-reported=slave", "role-reported-time=50000",
			"master-link-down-time=0", "master-link-status=ok", "master-host=127.0.0.1", "master-port=6379",
			"slave-priority=50", "slave-repl-offset=12345", "replica-announced=1")},
		{"unobserved and down", replicaView{Master: m, Addr: a, SDown: true, SDownSince: ago(9 * time.Second)}, lines(
			"name=127.0.0.1:6380", "ip=127.0.0.1", "port=6380", "runid=",
			"flags=s_down,slave,disconnected", "link-pending-commands=0", "link-refcount=1",
			"last-ping-sent=0", "last-ok-ping-reply=100000", "last-ping-reply=100000", "s-down-time=9000",
			"down-after-milliseconds=5000", "info-refresh=0", "role-reported=slave", "role-reported-time=100000",
			"master-link-down-time=0", "master-link-status=err", "master-host=?", "master-port=0",
			"slave-priority=100", "slave-repl-offset=0", "replica-announced=1")},
		{"hidden, link down", replicaView{Master: m, Addr: a, Obs: hidden, Observed: true}, lines(
			"name=127.0.0.1:6380", "ip=127.0.0.1", "port=6380", "runid=0123456789abcdef0123456789abcdef01234567",
			"flags=slave", "link-pending-commands=0", "link-refcount=1",
			"last-ping-sent=0", "last-ok-ping-reply=200", "last-ping-reply=150",
			"down-after-milliseconds=5000", "info-refresh=3000", "role-reported=slave", "role-reported-time=50000",
			"master-link-down-time=4000", "master-link-status=err", "master-host=127.0.0.1", "master-port=6379",
			"slave-priority=50", "slave-repl-offset=12345", "replica-announced=0")},
	}
	for _, tt := range tests {
		if got := render(replicaMap(tt.v, instClk)); got != tt.want {
			t.Errorf("%s:\n got:\n%s\nwant:\n%s", tt.name, got, tt.want)
		}
	}
	fs := replicaMap(replicaView{Master: inFailover, Addr: a, Obs: obs, Observed: true}, instClk)
	if fs[4].val != "slave,promoted" {
		t.Errorf("candidate flags = %q", fs[4].val)
	}
	v6 := replicaMap(replicaView{Master: m, Addr: state.Addr{Host: "::1", Port: 6390}}, instClk)
	if v6[0].val != "[::1]:6390" || v6[1].val != "::1" {
		t.Errorf("IPv6 name/ip = %q/%q", v6[0].val, v6[1].val)
	}
	if len(replicaMap(replicaView{Master: m, Addr: a, Obs: obs, Observed: true}, instClk)) != 21 {
		t.Error("replica map must have 21 fields at rest")
	}
}

func TestSentinelMap(t *testing.T) {
	mon := &state.Monitor{ID: "m2", RunID: "fedcba9876543210fedcba9876543210fedcba98",
		Announce: state.Addr{Host: "10.0.0.2", Port: 26379}}
	tests := []struct {
		name string
		v    sentinelView
		want string
	}{
		{"fresh", sentinelView{Mon: mon, Seen: ago(700 * time.Millisecond), DownAfter: 5 * time.Second}, lines(
			"name=fedcba9876543210fedcba9876543210fedcba98", "ip=10.0.0.2", "port=26379",
			"runid=fedcba9876543210fedcba9876543210fedcba98", "flags=sentinel",
			"link-pending-commands=0", "link-refcount=1", "last-ping-sent=0",
			"last-ok-ping-reply=700", "last-ping-reply=700", "down-after-milliseconds=5000",
			"last-hello-message=700", "voted-leader=?", "voted-leader-epoch=0")},
		{"stale", sentinelView{Mon: mon, Seen: ago(8 * time.Second), DownAfter: 5 * time.Second}, lines(
			"name=fedcba9876543210fedcba9876543210fedcba98", "ip=10.0.0.2", "port=26379",
			"runid=fedcba9876543210fedcba9876543210fedcba98", "flags=s_down,sentinel,disconnected",
			"link-pending-commands=0", "link-refcount=1", "last-ping-sent=0",
			"last-ok-ping-reply=8000", "last-ping-reply=8000", "s-down-time=3000", "down-after-milliseconds=5000",
			"last-hello-message=8000", "voted-leader=?", "voted-leader-epoch=0")},
		{"never seen", sentinelView{Mon: mon, DownAfter: 5 * time.Second}, lines(
			"name=fedcba9876543210fedcba9876543210fedcba98", "ip=10.0.0.2", "port=26379",
			"runid=fedcba9876543210fedcba9876543210fedcba98", "flags=s_down,sentinel,disconnected",
			"link-pending-commands=0", "link-refcount=1", "last-ping-sent=0",
			"last-ok-ping-reply=100000", "last-ping-reply=100000", "s-down-time=100000", "down-after-milliseconds=5000",
			"last-hello-message=100000", "voted-leader=?", "voted-leader-epoch=0")},
	}
	for _, tt := range tests {
		if got := render(sentinelMap(tt.v, instClk)); got != tt.want {
			t.Errorf("%s:\n got:\n%s\nwant:\n%s", tt.name, got, tt.want)
		}
	}
}

func TestInstClock(t *testing.T) {
	if got := instClk.ago(instNow.Add(time.Second)); got != "0" {
		t.Errorf("future time gave %s, want 0", got)
	}
	if got := instClk.agoOrZero(time.Time{}); got != "0" {
		t.Errorf("agoOrZero(zero) = %s", got)
	}
}

func TestLinkDown(t *testing.T) {
	now := time.Now()
	cases := []struct {
		o    probe.Observation
		want bool
	}{
		{probe.Observation{Connected: true, LastOKPing: now.Add(-time.Minute)}, false},
		{probe.Observation{Connected: false, LastOKPing: now.Add(-200 * time.Millisecond)}, false},
		{probe.Observation{Connected: false, LastOKPing: now.Add(-1500 * time.Millisecond)}, true},
		{probe.Observation{Connected: false}, true},
		{probe.Observation{Connected: false, LinkBroken: true, LastOKPing: now.Add(-50 * time.Millisecond)}, true},
		// The node refuses the credentials: disconnected at once.
		{probe.Observation{Connected: false, AuthRefused: true, LastOKPing: now.Add(-50 * time.Millisecond)}, true},
	}
	for i, c := range cases {
		if got := linkDown(c.o, now); got != c.want {
			t.Errorf("case %d: linkDown = %v, want %v", i, got, c.want)
		}
	}
}

// TestAuthRefusedShowsDisconnected: a node that refuses the credentials is
// flagged disconnected in SENTINEL MASTER and REPLICAS, though it replies.
func TestAuthRefusedShowsDisconnected(t *testing.T) {
	addrA, addrB := state.Addr{Host: "10.0.0.1", Port: 6379}, state.Addr{Host: "10.0.0.2", Port: 6379}
	now := time.Now()
	ms := &state.Master{Name: "mymaster", Addr: addrA, DownAfter: 5 * time.Second}
	refused := probe.Observation{Connected: false, AuthRefused: true, LastOKPing: now.Add(-100 * time.Millisecond),
		LastPingReply: now, LastPingSent: now.Add(-100 * time.Millisecond), Role: "master"}
	k := instClock{now: now, start: now.Add(-time.Minute)}
	field := func(f []instField, key string) string {
		for _, x := range f {
			if x.key == key {
				return x.val
			}
		}
		return ""
	}
	if got := field(masterMap(masterView{M: ms, Obs: refused, Observed: true}, k), "flags"); got != "master,disconnected" {
		t.Errorf("master flags %q, want master,disconnected", got)
	}
	refused.Role = "slave"
	if got := field(replicaMap(replicaView{Master: ms, Addr: addrB, Obs: refused, Observed: true}, k), "flags"); got != "slave,disconnected" {
		t.Errorf("replica flags %q, want slave,disconnected", got)
	}
}
