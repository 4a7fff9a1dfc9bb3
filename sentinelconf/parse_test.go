package sentinelconf

import (
	"bufio"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestParseTyped: each directive lands in its typed field, Sentinel's
// defaults fill what the file leaves out, per-master lines may come before
// their monitor line, and skipped lines get a note naming them.
func TestParseTyped(t *testing.T) {
	f, err := Parse(strings.NewReader("sentinel auth-user m \"u 1\"\nsentinel notification-script m ./n.sh\n" +
		"sentinel known-sentinel m 10.0.0.6 26379 ABCD\nsentinel config-epoch m 4\n" +
		"sentinel monitor m 10.0.0.1 6379 2\nsentinel monitor n ::1 6380 1\nsentinel failover-timeout n 1000\n" +
		"requirepass pw\nuser default on >other +@all allchannels\nuser app on >a +ping\nprotected-mode no\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Master{
		{Name: "m", Addr: "10.0.0.1:6379", Quorum: 2, DownAfter: DefaultDownAfter, FailoverTimeout: DefaultFailoverTimeout,
			ParallelSyncs: DefaultParallelSyncs, AuthUser: "u 1", Scripts: map[string]string{NotificationScript: "./n.sh"}},
		{Name: "n", Addr: "[::1]:6380", Quorum: 1, DownAfter: DefaultDownAfter, FailoverTimeout: time.Second,
			ParallelSyncs: DefaultParallelSyncs},
	}
	if !reflect.DeepEqual(f.Masters, want) {
		t.Fatalf("masters %+v\nwant %+v", f.Masters, want)
	}
	if f.Port != DefaultPort || !f.DenyScriptsReconfig || f.RequirePass != "other" ||
		!reflect.DeepEqual(f.Users, []User{{Name: "app", Password: "a", Commands: "+ping"}}) {
		t.Fatalf("server settings: %+v", f)
	}
	if _, ok := f.Level(); ok {
		t.Fatal("a file without loglevel has a level")
	}
	if !reflect.DeepEqual(f.State.KnownSentinels, []KnownSentinel{{Master: "m", Addr: "10.0.0.6:26379", RunID: "ABCD"}}) ||
		f.State.ConfigEpochs["m"] != 4 {
		t.Fatalf("state %+v", f.State)
	}
	notes := strings.Join(f.Notes, "\n")
	for _, w := range []string{"line 2: sentinel notification-script m ./n.sh: scripts run in drop-in mode only",
		"line 3: sentinel known-sentinel m 10.0.0.6 26379 ABCD: Sentinel state",
		"line 11: protected-mode no: server setting without a raftsentinel equivalent; ignored"} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
	f, err = Parse(strings.NewReader("loglevel Verbose\n"))
	if lvl, ok := f.Level(); err != nil || !ok || lvl != slog.LevelDebug || f.LogLevel != "verbose" {
		t.Fatalf("loglevel verbose: %v %v %v", lvl, ok, err)
	}
}

// TestParseErrors: a refused line is a *LineError with its number and
// arguments; a line that does not split has no arguments; a read error is
// not a LineError.
func TestParseErrors(t *testing.T) {
	_, err := Parse(strings.NewReader("port 1\nsentinel parallel-syncs nosuch 2\n"))
	le, ok := errors.AsType[*LineError](err)
	if !ok || le.Line != 2 || len(le.Args) != 4 || err.Error() != "line 2 (sentinel parallel-syncs nosuch 2): no `sentinel monitor nosuch` line" {
		t.Fatalf("unknown master: %#v %v", le, err)
	}
	_, err = Parse(strings.NewReader("\n\nrequirepass \"x\n"))
	if le, ok := errors.AsType[*LineError](err); !ok || le.Args != nil || err.Error() != "line 3: unbalanced quotes" {
		t.Fatalf("unbalanced quotes: %v", err)
	}
	_, err = Parse(strings.NewReader(strings.Repeat("x", 2<<20)))
	if _, ok := errors.AsType[*LineError](err); ok || !errors.Is(err, bufio.ErrTooLong) {
		t.Fatalf("a line over 1 MiB: %v", err)
	}
}
