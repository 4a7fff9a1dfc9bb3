//go:build linux

package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
)

func TestParseRPS(t *testing.T) {
	out := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SENTINEL get-master-addr-by-name mymaster","15590.89","2.071","0.168","1.071","5.823","14.639","56.319"
`
	got, err := parseRPS([]byte(out))
	if err != nil || got != 15590.89 {
		t.Fatalf("parseRPS = %v, %v; want 15590.89", got, err)
	}
	for _, bad := range []string{
		"",
		`"test","rps"` + "\n",
		`"test","avg"` + "\n" + `"PING","1"` + "\n",
		`"test","rps"` + "\n" + `"PING","0"` + "\n",
		`"test","rps"` + "\n" + `"PING","1"` + "\n" + `"PING","2"` + "\n",
	} {
		if _, err := parseRPS([]byte(bad)); err == nil {
			t.Errorf("parseRPS(%q): no error", bad)
		}
	}
}

func TestBenchStderr(t *testing.T) {
	if got := benchStderr([]byte("WARNING: Could not fetch server CONFIG\n\n")); got != "" {
		t.Errorf("only the CONFIG warning: got %q, want empty", got)
	}
	got := benchStderr([]byte("WARNING: Could not fetch server CONFIG\nError from server: ERR unknown command\n"))
	if got != "Error from server: ERR unknown command" {
		t.Errorf("got %q", got)
	}
}

func TestLastLeader(t *testing.T) {
	dir := t.TempDir()
	log := strings.Join([]string{
		`{"time":"t","level":"INFO","msg":"monitor running","monitor":"m1"}`,
		`{"time":"t","level":"INFO","msg":"raft leader changed","monitor":"m1","leader":"m3","term":2}`,
		`{"time":"t","level":"INFO","msg":"raft leader changed","monitor":"m1","leader":"","term":3}`,
		`{"time":"t","level":"INFO","msg":"raft leader changed","monitor":"m1","leader":"m2","term":3}`,
		`not json, mentioning raft leader changed`,
	}, "\n") + "\n"
	p := filepath.Join(dir, "a.log")
	if err := os.WriteFile(p, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := lastLeader(p); err != nil || got != "m2" {
		t.Fatalf("lastLeader = %q, %v; want m2", got, err)
	}
	lost := filepath.Join(dir, "b.log")
	if err := os.WriteFile(lost, []byte(`{"msg":"raft leader changed","leader":""}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := lastLeader(lost); err == nil {
		t.Fatal("lastLeader with the leader lost: no error")
	}
}

func TestProcReaders(t *testing.T) {
	if _, err := cpuTime(os.Getpid()); err != nil {
		t.Fatalf("cpuTime(self): %v", err)
	}
}

func TestSpread(t *testing.T) {
	if s := spread([]float64{90, 100, 110}); s < 0.199 || s > 0.201 {
		t.Errorf("spread = %v, want 0.2", s)
	}
	if s := spread(nil); s != 0 {
		t.Errorf("spread empty = %v", s)
	}
}

func TestReportTarget(t *testing.T) {
	mon := func(name string) *benchutil.Monitor { return &benchutil.Monitor{Name: name} }
	targets := []target{{label: labelFollower, sys: benchutil.Raftsentinel, mon: mon("m2")}, {label: labelSentinel, sys: benchutil.Sentinel, mon: mon("sentinel1")}}
	samples := map[sampleKey][]sample{}
	for _, c := range cases {
		samples[sampleKey{c.String(), labelFollower}] = []sample{{rps: 110, cpuUS: 1, clientCPU: 0.5}}
		samples[sampleKey{c.String(), labelSentinel}] = []sample{{rps: 100, cpuUS: 2, clientCPU: 0.98}}
	}
	in := reportInput{opt: options{runs: 1, requests: 1000, clients: 50}, targets: targets, leader: "m1", follower: "m2", samples: samples,
		rss: [3]map[string]benchutil.Memory{{}, {}, {}}}
	text := strings.Join(reportLines(in), "\n")
	if !strings.Contains(text, "| PING | 16 | 110 | 100 | 1.10 |") || !strings.Contains(text, "): holds.") ||
		!strings.Contains(text, "| PING | 16 | 1.00 | 2.00 | 0.50 | 50 / 98 |") || strings.Contains(text, "Client-bound") ||
		!strings.Contains(text, "every row (follower vs Sentinel, medians): yes.") {
		t.Fatalf("report:\n%s", text)
	}
	// Client at ≥ 90% of a core against both systems: named as client-bound.
	samples[sampleKey{cases[2].String(), labelFollower}] = []sample{{rps: 110, cpuUS: 1, clientCPU: 0.95}}
	text = strings.Join(reportLines(in), "\n")
	if !strings.Contains(text, "at ≥ 90% of its 1 thread(s) against both systems): PING -P 1. ") {
		t.Fatalf("report:\n%s", text)
	}
	if strings.Contains(text, "Idle cost") {
		t.Fatalf("idle table without idle measurements:\n%s", text)
	}
	in.opt.idle = 10 * time.Second
	in.idle = []idleCPU{
		{sys: benchutil.Raftsentinel, name: "m1", role: "leader", core: 0.03},
		{sys: benchutil.Raftsentinel, name: "m2", role: "follower", core: 0.016},
		{sys: benchutil.Raftsentinel, name: "m3", role: "follower", core: 0.018},
		{sys: benchutil.Sentinel, name: "sentinel1", core: 0.002},
		{sys: benchutil.Sentinel, name: "sentinel2", core: 0.004},
		{sys: benchutil.Sentinel, name: "sentinel3", core: 0.002},
	}
	text = strings.Join(reportLines(in), "\n")
	for _, want := range []string{"over 10s", "| m1 (raftsentinel leader) | 3.00 |", "| sentinel2 (Redis Sentinel) | 0.40 |",
		"| ratio raftsentinel leader / Sentinel (median) | 15.00 |", "| ratio raftsentinel follower (median) / Sentinel (median) | 8.50 |"} {
		if !strings.Contains(text, want) {
			t.Fatalf("report lacks %q:\n%s", want, text)
		}
	}
	samples[sampleKey{cases[3].String(), labelFollower}] = []sample{{rps: 90, cpuUS: 3}}
	text = strings.Join(reportLines(in), "\n")
	if !strings.Contains(text, "DOES NOT hold (below: PING -P 16 (0.90))") || !strings.Contains(text, "medians): no (more on: PING -P 16 (1.50)).") {
		t.Fatalf("report:\n%s", text)
	}
}

func TestThreads(t *testing.T) {
	opt, err := parseFlags([]string{"-threads", "3"}, io.Discard)
	if err != nil || opt.threads != 3 {
		t.Fatalf("-threads 3: %+v, %v", opt, err)
	}
	if opt, err = parseFlags(nil, io.Discard); err != nil || opt.threads != 1 {
		t.Fatalf("default threads: %d, %v", opt.threads, err)
	}
	if _, err := parseFlags([]string{"-threads", "0"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-threads 0") {
		t.Fatalf("-threads 0: %v", err)
	}
}
