//go:build integration

package probe

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/wait"
)

// fakeInfo is an INFO text as a fake node sends it for any sections.
func fakeInfo(version, runID string, loading int) string {
	return crlf("# Server", "redis_version:"+version, "run_id:"+runID,
		"# Persistence", fmt.Sprintf("loading:%d", loading),
		"# Replication", "role:master", "connected_slaves:0", "master_repl_offset:7")
}

// infoArgs returns the sections asked by each INFO.
func infoArgs(cmds []fakeCmd) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = strings.Join(c.args, " ")
	}
	return out
}

// TestInfoFullAndReplication: the first INFO on a connection is a full
// one, then INFO replication every INFO period and a full INFO again
// every FullInfoPeriod; RefreshInfo sends one at once.
func TestInfoFullAndReplication(t *testing.T) {
	opt := testOptions()
	opt.PingPeriod, opt.InfoPeriod, opt.FullInfoPeriod = 50*time.Millisecond, 20*time.Millisecond, 300*time.Millisecond
	f := newFakeRedis(t, "+PONG")
	f.setInfoBody(fakeInfo("7.0.15", "aaaa", 0))
	p := newProber(t, opt)
	p.Watch(f.addr(), Auth{})
	o, _ := waitObs(t, p, f.addr(), 5*time.Second, "a full INFO", func(o Observation) bool { return o.RunID == "aaaa" })
	if o.RedisVersion != "7.0.15" || o.InfoText == "" || o.InfoTextAt.IsZero() || o.Role != "master" {
		t.Fatalf("after the first INFO: %+v", o)
	}

	var fulls []fakeCmd
	wait.Until(t, 10*time.Second, "three full INFOs", func() error {
		fulls = fulls[:0]
		for _, c := range f.commands("INFO") {
			if len(c.args) == 0 {
				fulls = append(fulls, c)
			}
		}
		if len(fulls) >= 3 {
			return nil
		}
		return fmt.Errorf("%d", len(fulls))
	})
	args := infoArgs(f.commands("INFO"))
	if args[0] != "" {
		t.Fatalf("the first INFO asked %q, want a full INFO", args[0])
	}
	for _, a := range args {
		if a != "" && a != "replication" {
			t.Fatalf("INFO %q sent; want INFO or INFO replication", a)
		}
	}
	if gap := minGap(fulls); gap < 200*time.Millisecond {
		t.Fatalf("full INFOs %v apart, FullInfoPeriod %v", gap, opt.FullInfoPeriod)
	}
	if n := strings.Count(strings.Join(args, ","), "replication"); n < 2*len(fulls) {
		t.Fatalf("%d INFO replication for %d full INFOs: %q", n, len(fulls), args)
	}

	// RefreshInfo: one at once, whatever the period.
	p.SetPeriods(0, time.Hour)
	mark := time.Now()
	p.RefreshInfo(f.addr())
	waitCmds(t, f, "INFO", mark, 1, 2*time.Second)
}

// TestInfoRunIDAfterReconnect: INFO replication leaves RunID, the version
// and InfoText alone; a new connection (the node restarted) starts with a
// full INFO, so a new run id shows at once, not after FullInfoPeriod.
func TestInfoRunIDAfterReconnect(t *testing.T) {
	opt := testOptions()
	opt.PingPeriod, opt.InfoPeriod, opt.FullInfoPeriod = 50*time.Millisecond, 20*time.Millisecond, time.Hour
	f := newFakeRedis(t, "+PONG")
	f.setInfoBody(fakeInfo("7.0.15", "aaaa", 0))
	p := newProber(t, opt)
	p.Watch(f.addr(), Auth{})
	first, _ := waitObs(t, p, f.addr(), 5*time.Second, "a full INFO", func(o Observation) bool { return o.RunID == "aaaa" })

	f.setInfoBody(fakeInfo("7.2.4", "bbbb", 0))
	mark := time.Now()
	waitCmds(t, f, "INFO", mark, 3, 5*time.Second)
	o, _ := p.Observe(f.addr())
	if !o.InfoAt.After(first.InfoAt) || o.RunID != "aaaa" || o.RedisVersion != "7.0.15" ||
		o.InfoText != first.InfoText || !o.InfoTextAt.Equal(first.InfoTextAt) {
		t.Fatalf("INFO replication changed the full INFO's fields: %+v", o)
	}
	if args := infoArgs(f.commands("INFO")); slices.Index(args[1:], "") >= 0 {
		t.Fatalf("a second full INFO on the same connection: %q", args)
	}

	f.dropConns()
	o, took := waitObs(t, p, f.addr(), 5*time.Second, "the new run id", func(o Observation) bool { return o.RunID == "bbbb" })
	t.Logf("connection closed -> new run id after %v (FullInfoPeriod %v)", took, opt.FullInfoPeriod)
	if o.RedisVersion != "7.2.4" || !strings.Contains(o.InfoText, "bbbb") {
		t.Fatalf("after the reconnection: %+v", o)
	}
}

// TestInfoLoading: while a node is loading (PING answers -LOADING, INFO
// says loading:1) the periodic INFO asks for the persistence section too,
// so loading:0 shows within an INFO period; Redis < 7, which takes one
// section per INFO, gets the full INFO instead.
func TestInfoLoading(t *testing.T) {
	for _, c := range []struct{ version, want string }{{"7.0.15", "replication persistence"}, {"6.2.6", ""}} {
		t.Run(c.version, func(t *testing.T) {
			opt := testOptions()
			opt.PingPeriod, opt.InfoPeriod, opt.FullInfoPeriod = 20*time.Millisecond, 20*time.Millisecond, time.Hour
			f := newFakeRedis(t, "+PONG")
			f.setInfoBody(fakeInfo(c.version, "aaaa", 0))
			p := newProber(t, opt)
			p.Watch(f.addr(), Auth{})
			waitObs(t, p, f.addr(), 5*time.Second, "a full INFO", func(o Observation) bool { return o.RunID == "aaaa" })
			mark := time.Now()
			if args := infoArgs(waitCmds(t, f, "INFO", mark, 2, 5*time.Second)); !slices.Equal(args[:2], []string{"replication", "replication"}) {
				t.Fatalf("INFOs of a node not loading: %q", args)
			}

			f.setInfoBody(fakeInfo(c.version, "aaaa", 1))
			f.setPingReply("-LOADING Redis is loading the dataset in memory")
			waitObs(t, p, f.addr(), 5*time.Second, "loading", func(o Observation) bool { return o.Loading && o.Connected })
			mark = time.Now()
			for _, a := range infoArgs(waitCmds(t, f, "INFO", mark, 3, 5*time.Second)) {
				if a != c.want {
					t.Fatalf("INFO %q while loading, want %q", a, c.want)
				}
			}

			f.setInfoBody(fakeInfo(c.version, "aaaa", 0))
			f.setPingReply("+PONG")
			waitObs(t, p, f.addr(), 5*time.Second, "loaded", func(o Observation) bool { return !o.Loading })
			args := infoArgs(waitCmds(t, f, "INFO", time.Now(), 3, 5*time.Second))
			if args[len(args)-1] != "replication" {
				t.Fatalf("INFOs after loading: %q", args)
			}
		})
	}
}

// replFields are the Info fields INFO replication carries.
type replFields struct {
	Role             string
	MasterHost       string
	MasterPort       int
	MasterLinkUp     bool
	MasterLinkDownMs int64
	ReplOffset       int64
	Priority         int
	ReplicaAnnounced bool
	Replicas         []ReplicaEntry
}

func replOf(in Info) replFields {
	return replFields{in.Role, in.MasterHost, in.MasterPort, in.MasterLinkUp, in.MasterLinkDownMs,
		in.ReplOffset, in.Priority, in.ReplicaAnnounced, in.Replicas}
}

func replOfObs(o Observation) replFields {
	return replFields{o.Role, o.MasterHost, o.MasterPort, o.MasterLinkUp, o.MasterLinkDownMs,
		o.ReplOffset, o.Priority, o.ReplicaAnnounced, o.Replicas}
}

func parseInfoCmd(ctx context.Context, addr string, sections ...string) (Info, string, error) {
	text, err := redisproc.Command(ctx, addr, append([]string{"INFO"}, sections...)...)
	if err != nil {
		return Info{}, "", err
	}
	in, err := ParseInfo(text)
	return in, text, err
}

// TestInfoReplicationMatchesFull: on a real master and replica, INFO
// replication (and INFO replication persistence, several sections being
// one INFO in Redis 7) gives every field the brain reads exactly as the
// full INFO does, and the prober's Observation, refreshed by INFO
// replication, matches them too.
func TestInfoReplicationMatchesFull(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	dir := t.TempDir()
	master := startRedis(t, ctx, redisproc.Options{Dir: filepath.Join(dir, "m")})
	replica := startRedis(t, ctx, redisproc.Options{Dir: filepath.Join(dir, "r"), ReplicaOf: master.Addr(), Priority: 50})
	if _, err := redisproc.Command(ctx, master.Addr(), "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	opt := testOptions()
	opt.InfoPeriod, opt.FullInfoPeriod = 20*time.Millisecond, time.Hour
	p := newProber(t, opt)
	for _, s := range []*redisproc.Server{master, replica} {
		p.Watch(s.Addr(), Auth{})
	}
	waitObs(t, p, master.Addr(), 10*time.Second, "the replica online and in sync", func(o Observation) bool {
		return len(o.Replicas) == 1 && o.Replicas[0].State == "online" && o.Replicas[0].Offset == o.ReplOffset && o.ReplOffset > 0
	})
	for _, s := range []*redisproc.Server{master, replica} {
		var full Info
		wait.Until(t, 10*time.Second, s.Addr()+": INFO replication = INFO", func() error {
			var err error
			full, _, err = parseInfoCmd(ctx, s.Addr())
			if err != nil {
				return err
			}
			repl, _, err := parseInfoCmd(ctx, s.Addr(), "replication")
			if err != nil {
				return err
			}
			both, text, err := parseInfoCmd(ctx, s.Addr(), "replication", "persistence")
			if err != nil {
				return err
			}
			if !strings.Contains(text, "# Persistence") || !strings.Contains(text, "loading:0") || strings.Contains(text, "# Server") {
				return fmt.Errorf("INFO replication persistence: %q", text)
			}
			if !reflect.DeepEqual(replOf(repl), replOf(full)) || !reflect.DeepEqual(replOf(both), replOf(full)) {
				return fmt.Errorf("full %+v\nreplication %+v\nreplication persistence %+v", replOf(full), replOf(repl), replOf(both))
			}
			if o, _ := p.Observe(s.Addr()); !reflect.DeepEqual(replOfObs(o), replOf(full)) || o.RunID != full.RunID ||
				o.RedisVersion != full.RedisVersion || o.Loading {
				return fmt.Errorf("observation %+v\nfull INFO %+v", replOfObs(o), replOf(full))
			}
			return nil
		})
		t.Logf("%s (%s): %+v", s.Addr(), full.Role, replOf(full))
	}
}
