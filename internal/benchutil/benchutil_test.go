package benchutil

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/config"
)

func TestMedian(t *testing.T) {
	if m := Median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("odd = %v, want 2", m)
	}
	if m := Median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("even = %v, want 2.5", m)
	}
	if m := Median[float64](nil); m != 0 {
		t.Errorf("empty = %v, want 0", m)
	}
	ds := []time.Duration{3 * time.Second, time.Second, 2 * time.Second, 4 * time.Second}
	if m := Median(ds); m != 2500*time.Millisecond {
		t.Errorf("durations = %v, want 2.5s", m)
	}
	if want := []time.Duration{3 * time.Second, time.Second, 2 * time.Second, 4 * time.Second}; !slices.Equal(ds, want) {
		t.Errorf("Median reordered its argument: %v", ds)
	}
	if m := Median([]int{1, 2}); m != 1 {
		t.Errorf("ints = %v, want 1 (truncated)", m)
	}
}

func testNodes(dir string) []Node {
	var nodes []Node
	for i := range 3 {
		id := fmt.Sprintf("m%d", i+1)
		nodes = append(nodes, Node{
			ID:     id,
			Listen: fmt.Sprintf("127.0.0.1:%d", 26380+i),
			Raft:   fmt.Sprintf("127.0.0.1:%d", 27380+i),
			HTTP:   fmt.Sprintf("127.0.0.1:%d", 28380+i),
			Dir:    filepath.Join(dir, id),
		})
	}
	return nodes
}

func TestMonitorYAML(t *testing.T) {
	nodes := testNodes("/w")
	opt := GroupOptions{MasterName: "mymaster", MasterAddr: "127.0.0.1:6379", DownAfter: time.Second, FailoverTimeout: 30 * time.Second}
	want := `node-id: m2
listen: "127.0.0.1:26381"
announce: "127.0.0.1:26381"
raft-addr: "127.0.0.1:27381"
http-addr: "127.0.0.1:28381"
data-dir: "/w/m2/data"
peers:
  - id: m1
    raft-addr: "127.0.0.1:27380"
  - id: m2
    raft-addr: "127.0.0.1:27381"
  - id: m3
    raft-addr: "127.0.0.1:27382"
masters:
  - name: mymaster
    addr: "127.0.0.1:6379"
    quorum: 2
    down-after: 1s
    failover-timeout: 30s
    parallel-syncs: 1
raft:
  heartbeat-timeout: 500ms
  election-timeout: 500ms
  leader-lease-timeout: 250ms
log:
  level: warn
  format: text
`
	if got := MonitorYAML(nodes, 1, opt); got != want {
		t.Errorf("MonitorYAML (defaults) =\n%s\nwant\n%s", got, want)
	}

	opt.Quorum, opt.ParallelSyncs, opt.LogLevel, opt.LogFormat = 3, 2, "info", "json"
	got := MonitorYAML(nodes, 0, opt)
	for _, line := range []string{"node-id: m1\n", "    quorum: 3\n", "    parallel-syncs: 2\n", "  level: info\n  format: json\n"} {
		if !strings.Contains(got, line) {
			t.Errorf("MonitorYAML (explicit) lacks %q:\n%s", line, got)
		}
	}
}

// TestMonitorYAMLLoads checks the rendered file against raftsentinel's own
// configuration loader.
func TestMonitorYAMLLoads(t *testing.T) {
	dir := t.TempDir()
	nodes := testNodes(dir)
	opt := GroupOptions{MasterName: "mymaster", MasterAddr: "127.0.0.1:6379", DownAfter: 1500 * time.Millisecond, FailoverTimeout: 5 * time.Second,
		LogLevel: "info", LogFormat: "json"}
	for i, n := range nodes {
		path := filepath.Join(dir, n.ID+".yaml")
		if err := os.WriteFile(path, []byte(MonitorYAML(nodes, i, opt)), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, nil)
		if err != nil {
			t.Fatalf("config.Load(%s): %v", n.ID, err)
		}
		if cfg.NodeID != n.ID || cfg.Listen != n.Listen || len(cfg.Peers) != 3 || len(cfg.Masters) != 1 {
			t.Fatalf("config.Load(%s) = %+v", n.ID, cfg)
		}
		m := cfg.Masters[0]
		if m.Name != "mymaster" || m.Quorum != 2 || m.DownAfter != opt.DownAfter || m.FailoverTimeout != opt.FailoverTimeout {
			t.Fatalf("config.Load(%s): master %+v", n.ID, m)
		}
	}
}

func TestGroupDefaults(t *testing.T) {
	o := GroupOptions{}.withDefaults()
	if o.Size != 3 || o.Quorum != 2 || o.ParallelSyncs != 1 || o.LogLevel != "warn" || o.LogFormat != "text" {
		t.Errorf("defaults = %+v", o)
	}
	if o := (GroupOptions{Size: 5}).withDefaults(); o.Quorum != 3 {
		t.Errorf("quorum of 5 = %d, want 3", o.Quorum)
	}
	for v, want := range map[string][]System{"both": {Raftsentinel, Sentinel}, "raftsentinel": {Raftsentinel}, "sentinel": {Sentinel}} {
		if got, err := Systems(v); err != nil || !slices.Equal(got, want) {
			t.Errorf("Systems(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	if _, err := Systems("redis"); err == nil || err.Error() != `-system "redis": want both, raftsentinel or sentinel` {
		t.Errorf("Systems(redis): %v", err)
	}
	if Sentinel.Title() != "Redis Sentinel" || Raftsentinel.Title() != "raftsentinel" {
		t.Errorf("titles %q, %q", Sentinel.Title(), Raftsentinel.Title())
	}
}

func TestPoll(t *testing.T) {
	ctx := context.Background()
	calls := 0
	err := Poll(ctx, time.Second, time.Millisecond, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("until success: %v after %d calls", err, calls)
	}

	calls = 0
	final := errors.New("final")
	err = Poll(ctx, time.Minute, time.Millisecond, func() error { calls++; return Permanent(final) })
	if !errors.Is(err, final) || calls != 1 || err.Error() != "final" {
		t.Errorf("permanent: %v after %d calls", err, calls)
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}

	calls = 0
	err = Poll(ctx, 0, time.Millisecond, func() error { calls++; return fmt.Errorf("try %d", calls) })
	if err == nil || err.Error() != "try 1" {
		t.Errorf("timeout 0: %v after %d calls, want one try", err, calls)
	}

	err = Poll(ctx, 30*time.Millisecond, time.Millisecond, func() error { return errors.New("never") })
	if err == nil || err.Error() != "never" {
		t.Errorf("timeout: %v, want the last error unwrapped", err)
	}

	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	err = Poll(cctx, Forever, time.Millisecond, func() error { return errors.New("never") })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "(last: never)") {
		t.Errorf("ctx end: %v", err)
	}
}

func TestLogTail(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.log")
	if err := os.WriteFile(p, []byte("1\n2\n3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := LogTail("m1", p, 2), "    [m1: "+p+"]\n      2\n      3\n"; got != want {
		t.Errorf("LogTail = %q, want %q", got, want)
	}
	if got := LogTail("m2", filepath.Join(dir, "none"), 2); !strings.HasPrefix(got, "    [m2] log unreadable: ") {
		t.Errorf("LogTail of a missing file = %q", got)
	}
}

func TestProgramHelpers(t *testing.T) {
	var stderr bytes.Buffer
	fs := NewFlagSet("bench-x", &stderr)
	n := fs.Int("n", 1, "a number")
	if err := ParseFlags(fs, []string{"-n", "2"}); err != nil || *n != 2 {
		t.Errorf("ParseFlags: %v, n=%d", err, *n)
	}
	if err := ParseFlags(NewFlagSet("bench-x", &stderr), []string{"extra"}); err == nil || err.Error() != `unexpected arguments ["extra"]` {
		t.Errorf("positional argument: %v", err)
	}

	stderr.Reset()
	if code := FlagExit(&stderr, "bench-x", flag.ErrHelp); code != 0 || stderr.Len() != 0 {
		t.Errorf("FlagExit(help) = %d, %q", code, stderr.String())
	}
	if code := FlagExit(&stderr, "bench-x", errors.New("bad")); code != 2 || stderr.String() != "bench-x: bad\n" {
		t.Errorf("FlagExit(bad) = %d, %q", code, stderr.String())
	}

	for _, tc := range []struct {
		failed int
		err    error
		keep   bool
		code   int
		out    string
	}{
		{0, nil, false, 0, ""},
		{0, errors.New("no redis"), false, 1, "bench-x: no redis\n"},
		{2, nil, false, 1, "bench-x: 2 drill(s) failed (rerun with -keep to keep the monitors' configs and logs)\n"},
		{1, nil, true, 1, "bench-x: 1 drill(s) failed\n"},
	} {
		stderr.Reset()
		if code := ExitCode(&stderr, "bench-x", "drill", tc.failed, tc.err, tc.keep); code != tc.code || stderr.String() != tc.out {
			t.Errorf("ExitCode(%d, %v, %t) = %d, %q; want %d, %q", tc.failed, tc.err, tc.keep, code, stderr.String(), tc.code, tc.out)
		}
	}
}

func TestWriteReport(t *testing.T) {
	var w bytes.Buffer
	out := filepath.Join(t.TempDir(), "report.md")
	if err := WriteReport(&w, []string{"# r", "x"}, out); err != nil {
		t.Fatal(err)
	}
	if want := "\n# r\nx\n\nreport written to " + out + "\n"; w.String() != want {
		t.Errorf("printed %q, want %q", w.String(), want)
	}
	if data, err := os.ReadFile(out); err != nil || string(data) != "# r\nx\n" {
		t.Errorf("file: %q, %v", data, err)
	}
	w.Reset()
	if err := WriteReport(&w, []string{"x"}, ""); err != nil || w.String() != "\nx\n" {
		t.Errorf("without -out: %q, %v", w.String(), err)
	}
}

// TestMonitorYAMLMasters renders N masters, each with the group's
// parameters, and checks them against raftsentinel's configuration loader.
func TestMonitorYAMLMasters(t *testing.T) {
	dir := t.TempDir()
	nodes := testNodes(dir)
	opt := GroupOptions{MasterName: "ignored", MasterAddr: "127.0.0.1:1", DownAfter: 5 * time.Second, FailoverTimeout: time.Minute}
	for i := range 3 {
		opt.Masters = append(opt.Masters, MasterSpec{Name: fmt.Sprintf("master-%03d", i+1), Addr: fmt.Sprintf("127.0.0.1:%d", 7001+i)})
	}
	if got := opt.MasterList(); !slices.Equal(got, opt.Masters) {
		t.Fatalf("MasterList = %v", got)
	}
	text := MonitorYAML(nodes, 0, opt)
	want := `masters:
  - name: master-001
    addr: "127.0.0.1:7001"
    quorum: 2
    down-after: 5s
    failover-timeout: 1m0s
    parallel-syncs: 1
  - name: master-002
    addr: "127.0.0.1:7002"
`
	if !strings.Contains(text, want) || strings.Contains(text, "ignored") || strings.Count(text, "  - name: ") != 3 {
		t.Fatalf("MonitorYAML with 3 masters:\n%s", text)
	}
	path := filepath.Join(dir, "m1.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	if len(cfg.Masters) != 3 {
		t.Fatalf("config.Load: %d masters", len(cfg.Masters))
	}
	for i, m := range cfg.Masters {
		if m.Name != opt.Masters[i].Name || m.Addr != opt.Masters[i].Addr || m.Quorum != 2 || m.DownAfter != 5*time.Second {
			t.Errorf("master %d: %+v", i, m)
		}
	}
	if got := (GroupOptions{MasterName: "a", MasterAddr: "h:1"}).MasterList(); !slices.Equal(got, []MasterSpec{{"a", "h:1"}}) {
		t.Errorf("MasterList of one = %v", got)
	}
}

func TestSourceVersionAndLoad(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if v := SourceVersion(context.Background(), root); !strings.HasPrefix(v, "commit ") && !strings.HasPrefix(v, "unknown commit (git: ") {
		t.Errorf("SourceVersion = %q", v)
	}
	if v := SourceVersion(context.Background(), t.TempDir()); !strings.HasPrefix(v, "unknown commit (git: ") {
		t.Errorf("SourceVersion outside a repository = %q", v)
	}
	if l := LoadAverage(); l == "" {
		t.Error("LoadAverage is empty")
	}
}

func TestFieldMap(t *testing.T) {
	f, err := FieldMap([]any{"name", "m", "num-slaves", "1", "odd", int64(3)})
	if err != nil || f["name"] != "m" || f["num-slaves"] != "1" || f["odd"] != "" || len(f) != 3 {
		t.Errorf("FieldMap = %v, %v", f, err)
	}
	for _, bad := range []any{nil, "x", []any{"k"}} {
		if _, err := FieldMap(bad); err == nil {
			t.Errorf("FieldMap(%#v): no error", bad)
		}
	}
}
