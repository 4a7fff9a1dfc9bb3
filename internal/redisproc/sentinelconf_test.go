package redisproc

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// render joins each line's words with spaces.
func render(lines [][]string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.Join(l, " ") + "\n")
	}
	return b.String()
}

func TestSentinelMasterLinesOne(t *testing.T) {
	lines, err := sentinelMasterLines(SentinelOptions{MasterAddr: "127.0.0.1:6379"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := render(lines), "sentinel monitor mymaster 127.0.0.1 6379 1\n"; got != want {
		t.Errorf("defaults:\n%s\nwant\n%s", got, want)
	}
}

func TestSentinelMasterLinesMany(t *testing.T) {
	opt := SentinelOptions{
		MasterName: "ignored", MasterAddr: "not an address",
		Quorum: 2, DownAfter: 5 * time.Second, FailoverTimeout: time.Minute, ParallelSyncs: 1, AuthPass: "pw",
		Masters: []SentinelMaster{{Name: "m1", Addr: "127.0.0.1:7001"}, {Name: "m2", Addr: "127.0.0.1:7002"}, {Name: "m3", Addr: "[::1]:7003"}},
	}
	lines, err := sentinelMasterLines(opt)
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, m := range []struct{ name, host, port string }{{"m1", "127.0.0.1", "7001"}, {"m2", "127.0.0.1", "7002"}, {"m3", "::1", "7003"}} {
		want += "sentinel monitor " + m.name + " " + m.host + " " + m.port + " 2\n" +
			"sentinel down-after-milliseconds " + m.name + " 5000\n" +
			"sentinel failover-timeout " + m.name + " 60000\n" +
			"sentinel parallel-syncs " + m.name + " 1\n" +
			"sentinel auth-pass " + m.name + " pw\n"
	}
	if got := render(lines); got != want {
		t.Errorf("three masters:\n%s\nwant\n%s", got, want)
	}
	if n := len(lines); n != 15 || !slices.Equal(lines[5][:3], []string{"sentinel", "monitor", "m2"}) {
		t.Errorf("%d lines, line 6 %q", n, lines[5])
	}
}

func TestSentinelMasterLinesErrors(t *testing.T) {
	for _, tc := range []struct {
		opt  SentinelOptions
		want string
	}{
		{SentinelOptions{MasterAddr: "nope"}, `master address "nope"`},
		{SentinelOptions{Masters: []SentinelMaster{{Addr: "127.0.0.1:1"}}}, "empty name"},
		{SentinelOptions{Masters: []SentinelMaster{{"a", "127.0.0.1:1"}, {"a", "127.0.0.1:2"}}}, `"a" given twice`},
	} {
		if _, err := sentinelMasterLines(tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.opt, err, tc.want)
		}
	}
}
