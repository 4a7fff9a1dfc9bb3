//go:build linux

package main

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
)

func TestParseFlags(t *testing.T) {
	opt, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(opt.sizes, []int{1, 10, 100}) || opt.monitors != 3 || opt.quorum != 2 || opt.replicas != 1 ||
		opt.downAfter != 5*time.Second || opt.window != 30*time.Second || opt.kill != 0 || opt.killTimeout != time.Minute ||
		!slices.Equal(opt.systems, []benchutil.System{benchutil.Raftsentinel, benchutil.Sentinel}) {
		t.Errorf("defaults = %+v", opt)
	}
	opt, err = parseFlags([]string{"-sizes", "2, 300", "-window", "3s", "-kill", "1", "-system", "sentinel"}, io.Discard)
	if err != nil || !slices.Equal(opt.sizes, []int{2, 300}) || opt.window != 3*time.Second || opt.kill != 1 ||
		!slices.Equal(opt.systems, []benchutil.System{benchutil.Sentinel}) {
		t.Errorf("explicit = %+v, %v", opt, err)
	}
	for _, bad := range [][]string{
		{"-sizes", ""}, {"-sizes", "1,0"}, {"-sizes", "a"}, {"-quorum", "4"}, {"-replicas", "0"},
		{"-down-after", "1500us"}, {"-window", "0s"}, {"-kill", "-1"}, {"-concurrency", "0"}, {"-system", "x"}, {"extra"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q): no error", bad)
		}
	}
	if o := opt.group("/bin/rs", "/d", []benchutil.MasterSpec{{Name: "a", Addr: "h:1"}}); o.Size != 3 || o.Quorum != 2 || len(o.MasterList()) != 1 || o.Bin != "/bin/rs" {
		t.Errorf("group = %+v", o)
	}
}

// mastersReply is a SENTINEL MASTERS reply of masters with the given
// num-slaves, num-other-sentinels and flags.
func mastersReply(names []string, slaves, others, flags string) []any {
	var out []any
	for _, n := range names {
		out = append(out, []any{"name", n, "flags", flags, "num-slaves", slaves, "num-other-sentinels", others})
	}
	return out
}

func TestCheckMasters(t *testing.T) {
	names := []string{shardName(0), shardName(1), shardName(2)}
	if names[2] != "master003" {
		t.Fatalf("shardName(2) = %q", names[2])
	}
	if err := checkMasters(mastersReply(names, "1", "2", "master"), names, 1, 2); err != nil {
		t.Errorf("complete: %v", err)
	}
	for _, tc := range []struct {
		reply any
		want  string
	}{
		{mastersReply(names[:2], "1", "2", "master"), "2/3 masters complete (first missing master003: not listed)"},
		{mastersReply(names, "0", "2", "master"), `0/3 masters complete (first missing master001: num-slaves "0", num-other-sentinels "2")`},
		{mastersReply(names, "1", "1", "master"), `num-other-sentinels "1"`},
		{mastersReply(names, "1", "2", "master,s_down"), `flags "master,s_down"`},
		{"OK", "want an array"},
		{[]any{[]any{"name"}}, "not a flat key/value array"},
	} {
		if err := checkMasters(tc.reply, names, 1, 2); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("checkMasters: %v, want %q", err, tc.want)
		}
	}
}

func TestMetricValue(t *testing.T) {
	text := `# HELP raftsentinel_raft_leader 1 if this monitor is the Raft leader.
# TYPE raftsentinel_raft_leader gauge
raftsentinel_raft_leader 1
raftsentinel_raft_commit_index 1.234e+06
raftsentinel_raft_commit_index_other 7
raftsentinel_cluster_refused_total{via="raft"} 0
`
	if v, err := metricValue(text, metricLeader); err != nil || v != 1 {
		t.Errorf("leader = %v, %v", v, err)
	}
	if v, err := metricValue(text, metricCommit); err != nil || v != 1234000 {
		t.Errorf("commit = %v, %v", v, err)
	}
	if _, err := metricValue(text, "raftsentinel_raft_term"); err == nil || !strings.Contains(err.Error(), "not exported") {
		t.Errorf("missing: %v", err)
	}
	if _, err := metricValue("raftsentinel_raft_term x\n", "raftsentinel_raft_term"); err == nil {
		t.Error("unparsable: no error")
	}
}

func TestReplication(t *testing.T) {
	replica := parseReplication("# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:7001\r\nmaster_link_status:up\r\nmaster_sync_in_progress:0\r\n")
	if want := (replicationInfo{role: "slave", masterAddr: "127.0.0.1:7001", linkUp: true}); replica != want {
		t.Fatalf("parseReplication = %+v, want %+v", replica, want)
	}
	if err := replica.inSyncWith("127.0.0.1:7001"); err != nil {
		t.Errorf("in sync: %v", err)
	}
	if err := replica.inSyncWith("127.0.0.1:7002"); err == nil || !strings.Contains(err.Error(), "replicates 127.0.0.1:7001") {
		t.Errorf("other master: %v", err)
	}
	syncing := replica
	syncing.syncing = true
	if err := syncing.inSyncWith("127.0.0.1:7001"); err == nil {
		t.Error("sync in progress: no error")
	}
	master := parseReplication("role:master\r\nconnected_slaves:1\r\n")
	if err := master.inSyncWith("127.0.0.1:7001"); master.role != "master" || err == nil {
		t.Errorf("master: %+v, %v", master, err)
	}
}

func TestPickMaster(t *testing.T) {
	m, s := replicationInfo{role: "master"}, replicationInfo{role: "slave"}
	for _, tc := range []struct {
		roles []replicationInfo
		prev  int
		want  int
	}{
		{[]replicationInfo{m, s}, 0, 0},    // nothing happened
		{[]replicationInfo{s, m}, 0, 1},    // failed over, old master demoted
		{[]replicationInfo{m, m}, 0, 1},    // failed over, old master restarted empty
		{[]replicationInfo{m, s, m}, 0, 2}, // two replicas, the second promoted
		{[]replicationInfo{m, m, s}, 1, 0}, // the previous master moved
		{[]replicationInfo{{}}, 0, 0},      // no master: an error
	} {
		got, err := pickMaster(tc.roles, tc.prev)
		if tc.roles[0].role == "" {
			if err == nil {
				t.Errorf("no master: got %d, no error", got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("pickMaster(%v, %d) = %d, %v; want %d", tc.roles, tc.prev, got, err, tc.want)
		}
	}
}

func TestCombineAndSummarize(t *testing.T) {
	s1, s2, s3 := &shard{name: "master001"}, &shard{name: "master002"}, &shard{name: "master003"}
	victims := []*victim{{s: s1, old: "h:1"}, {s: s2, old: "h:3"}, {s: s3, old: "h:5"}}
	answers := [][]answer{
		{{"h:2", 6 * time.Second}, {"h:4", 40 * time.Second}, {}},
		{{"h:2", 7 * time.Second}, {"h:4", 35 * time.Second}, {"h:6", time.Second}},
	}
	out, err := combine(victims, answers)
	if err != nil {
		t.Fatal(err)
	}
	want := []killOutcome{
		{name: "master001", old: "h:1", now: "h:2", took: 7 * time.Second, ok: true},
		{name: "master002", old: "h:3", now: "h:4", took: 40 * time.Second, ok: true},
		{name: "master003", old: "h:5"}, // the first monitor never answered
	}
	if !slices.Equal(out, want) {
		t.Fatalf("combine =\n%+v\nwant\n%+v", out, want)
	}
	st := summarize(out)
	if want := (killStats{killed: 3, failedOver: 2, median: 23500 * time.Millisecond, max: 40 * time.Second, within: 1}); st != want {
		t.Errorf("summarize = %+v, want %+v", st, want)
	}
	if st := summarize(nil); st != (killStats{}) {
		t.Errorf("summarize(nil) = %+v", st)
	}

	answers[1][0].addr = "h:9"
	if _, err := combine(victims, answers); err == nil || !strings.Contains(err.Error(), "master001: the monitors answer different replicas [h:2 h:9]") {
		t.Errorf("disagreement: %v", err)
	}
	if killPollEvery(0) != killPollBase || killPollEvery(100) != killPollBase+20*time.Millisecond {
		t.Errorf("killPollEvery: %s, %s", killPollEvery(0), killPollEvery(100))
	}
}

func TestPerMonitor(t *testing.T) {
	cell := func(u monitorUsage) string { return pct(u.core) }
	rs := []monitorUsage{{name: "m1", role: roleFollower, core: 0.005}, {name: "m2", role: roleLeader, core: 0.0123}, {name: "m3", role: roleFollower, core: 0.004}}
	if got := perMonitor(rs, cell); got != "leader 1.23; followers 0.50, 0.40" {
		t.Errorf("raftsentinel: %q", got)
	}
	sn := []monitorUsage{{name: "sentinel1", core: 0.01}, {name: "sentinel2", core: 0.02}}
	if got := perMonitor(sn, cell); got != "1.00, 2.00" {
		t.Errorf("Sentinel: %q", got)
	}
}

// testSizes is a sweep of one size with both systems' runs measured and
// killed, and a second size whose Sentinel run failed.
func testSizes() []sizeResult {
	rs := runResult{size: 10, sys: benchutil.Raftsentinel, discovery: 3200 * time.Millisecond, leader: "m1", commitsPerSec: 4.1,
		usage: []monitorUsage{
			{name: "m1", role: roleLeader, core: 0.012, rssKiB: 30 * 1024},
			{name: "m2", role: roleFollower, core: 0.005, rssKiB: 20 * 1024},
			{name: "m3", role: roleFollower, core: 0.007, rssKiB: 22 * 1024},
		},
		fleetCore: 0.03, notes: []string{"the Raft leader changed during the window (m1, then m2)"},
		kills: []killOutcome{{name: "master001", ok: true, took: 6 * time.Second}, {name: "master002", ok: true, took: 8 * time.Second}},
	}
	sn := runResult{size: 10, sys: benchutil.Sentinel, discovery: 10400 * time.Millisecond,
		usage:     []monitorUsage{{name: "sentinel1", core: 0.008, rssKiB: 4 * 1024}, {name: "sentinel2", core: 0.010, rssKiB: 4 * 1024}, {name: "sentinel3", core: 0.009, rssKiB: 4 * 1024}},
		fleetCore: 0.02,
		kills:     []killOutcome{{name: "master001", ok: true, took: 31 * time.Second}, {name: "master002"}},
	}
	failed := runResult{size: 20, sys: benchutil.Sentinel, err: errors.New("discovery not complete\nmore")}
	return []sizeResult{
		{size: 10, nodes: 20, startup: 1500 * time.Millisecond, baseline: 0.01, runs: []runResult{rs, sn}},
		{size: 20, nodes: 40, startup: 2 * time.Second, baseline: 0.02, runs: []runResult{{size: 20, sys: benchutil.Raftsentinel, usage: rs.usage, fleetCore: 0.05}, failed}},
	}
}

func TestReportLines(t *testing.T) {
	opt, err := parseFlags([]string{"-sizes", "10,20", "-kill", "2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(reportLines(reportInput{machine: []string{"nproc: 2"}, loadEnd: "0.1 0.2 0.3", opt: opt, sizes: testSizes()}), "\n")
	for _, want := range []string{
		"## Scale benchmark: raftsentinel vs Redis Sentinel with many masters\n\n- nproc: 2\n- load average at end: 0.1 0.2 0.3\n- setup: per size N masters with 1 replica(s) each",
		"(raftsentinel, then Redis Sentinel)",
		"| 10 | 20 | 1.50 | 1.00 |",
		"| 10 | raftsentinel | 3.2 | leader 1.20; followers 0.50, 0.70 | 2.40 | leader 30.0; followers 20.0, 22.0 | 72.0 | 2.00 | 4.10 |",
		"| 10 | Redis Sentinel | 10.4 | 0.80, 1.00, 0.90 | 2.70 | 4.0, 4.0, 4.0 | 12.0 | 1.00 | n/a |",
		"| 20 | Redis Sentinel | n/a | FAILED | | | | | |",
		// CPU 2.40/2.70, leader 1.20/0.90, followers 0.60/0.90, fleet 2.00/1.00, RSS 72/12, follower RSS 21/4.
		"| 10 | 0.89 | 1.33 | 0.67 | 2.00 | 6.00 | 5.25 |",
		"### Kill: 2 master(s) at once (SIGKILL)",
		"| 10 | 2 | raftsentinel | 7.000 | 8.000 | 2/2 | 0 |",
		"| 10 | 2 | Redis Sentinel | 31.000 | 31.000 | 0/2 | 1 |",
		"- note, 10 masters, raftsentinel: the Raft leader changed during the window (m1, then m2)",
		"- FAILED, 20 masters, Redis Sentinel: discovery not complete",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "| 20 | 0.") || strings.Contains(text, "more") {
		t.Errorf("a ratio row for the size without a Sentinel measurement, or a multi-line error:\n%s", text)
	}
	opt.kill = 0
	if text := strings.Join(reportLines(reportInput{opt: opt, sizes: testSizes()}), "\n"); strings.Contains(text, "### Kill") {
		t.Errorf("kill table without -kill:\n%s", text)
	}
	if sizes := testSizes(); sizes[0].failed() != 0 || sizes[1].failed() != 1 {
		t.Error("sizeResult.failed")
	}
}

func TestCells(t *testing.T) {
	if secs(0, 1) != "n/a" || secs(1500*time.Millisecond, 3) != "1.500" || ratio(1, 0) != "n/a" || ratio(-1, 2) != "n/a" || ratio(1, 4) != "0.25" {
		t.Error("cells")
	}
	if got := systemList([]benchutil.System{benchutil.Sentinel}); got != "Redis Sentinel" {
		t.Errorf("systemList = %q", got)
	}
}
