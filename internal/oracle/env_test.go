//go:build integration

// Package oracle holds differential tests: the same commands are sent to a
// raftsentinel monitor and to a real Redis Sentinel (Debian's
// redis-sentinel 7.0.15), and the replies are compared type by type, key by
// key, text by text, after normalizing what legitimately differs
// (addresses, ports, run ids, epochs, "ms ago" values, counters).
//
// Each system gets its own master and two replicas, so that a failover in
// one never disturbs the other; both use down-after 1000 ms, quorum 2,
// failover-timeout 30 s and parallel-syncs 1.
package oracle

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// TestMain checks for leaked goroutines and, after every test, prints the
// final report (one line per mismatch and per event finding) so that it is
// the tail of the output.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		final.print(os.Stdout)
		os.Exit(code)
	}))
}

// finalReport collects the lines printed after all tests.
type finalReport struct {
	mu    sync.Mutex
	lines []string
}

var final = &finalReport{}

func (f *finalReport) add(section, line string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(line) > 600 {
		line = line[:600] + "..."
	}
	f.lines = append(f.lines, section+": "+line)
}

func (f *finalReport) print(w io.Writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.lines) == 0 {
		return
	}
	fmt.Fprintf(w, "\n==== differential report (Redis Sentinel 7.0.15 = expected, raftsentinel = actual) ====\n")
	for _, l := range f.lines {
		fmt.Fprintln(w, l)
	}
}

// downAfter is both systems' down-after-milliseconds.
const downAfter = time.Second

// system is one side of the comparison.
type system struct {
	name      string   // "sentinel" or "raftsentinel"
	addrs     []string // every monitor's Sentinel-protocol address
	topo      *testenv.Topology
	group     *testenv.Group      // raftsentinel only
	sentinels []*redisproc.Server // Redis Sentinel only
	extra     *redisproc.Server   // a standalone redis-server for SENTINEL MONITOR cases
	vars      map[string]string   // placeholders substituted in case arguments
}

// addr is the monitor the comparison talks to.
func (s *system) addr() string { return s.addrs[0] }

// pair is the oracle (Redis Sentinel) and the system under test.
type pair struct {
	sn, rs *system
}

// startPair starts both topologies and both monitor groups and waits until
// every monitor of each knows the master, its two replicas (healthy) and
// the two other monitors. withExtra also starts one standalone redis-server
// per system (for SENTINEL MONITOR).
func startPair(t *testing.T, withExtra bool) *pair {
	t.Helper()
	dir := t.TempDir()
	snTopo := testenv.StartTopology(t, filepath.Join(dir, "sn-data"), 2)
	rsTopo := testenv.StartTopology(t, filepath.Join(dir, "rs-data"), 2)
	sents := testenv.StartSentinels(t, filepath.Join(dir, "sn"), 3, snTopo.Master.Addr(), downAfter)
	g := testenv.StartGroup(t, filepath.Join(dir, "rs"), 3, nil, rsTopo.Master.Addr(), downAfter)
	p := &pair{
		sn: &system{name: "sentinel", topo: snTopo, sentinels: sents},
		rs: &system{name: "raftsentinel", topo: rsTopo, group: g, addrs: g.Addrs()},
	}
	for _, s := range sents {
		p.sn.addrs = append(p.sn.addrs, s.Addr())
	}
	for _, s := range []*system{p.sn, p.rs} {
		if withExtra {
			s.extra = testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, s.name+"-extra")})
		}
		s.vars = map[string]string{}
		setHostPort := func(prefix, addr string) {
			h, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatal(err)
			}
			s.vars["{"+prefix+"ip}"], s.vars["{"+prefix+"port}"] = h, port
		}
		setHostPort("master", s.topo.Master.Addr())
		if s.extra != nil {
			setHostPort("extra", s.extra.Addr())
		}
	}
	testenv.WaitReady(t, p.sn.addrs, snTopo.Master.Addr(), 2, 2)
	testenv.WaitReady(t, p.rs.addrs, rsTopo.Master.Addr(), 2, 2)
	for _, s := range []*system{p.sn, p.rs} {
		waitSettled(t, s)
	}
	return p
}

// waitSettled waits until every monitor of s reports the master with a run
// id and plain "master" flags, both replicas as healthy ("slave" flags,
// link ok, run id known) and both other monitors as healthy ("sentinel"
// flags), so that the first comparisons do not race discovery.
func waitSettled(t *testing.T, s *system) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, s.name+" settled", func() error {
		for _, a := range s.addrs {
			if err := settledAt(a); err != nil {
				return fmt.Errorf("%s %s: %w", s.name, a, err)
			}
		}
		return nil
	})
}

func settledAt(addr string) error {
	c, err := Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	m, err := c.Do(2*time.Second, "SENTINEL", "MASTER", testenv.MasterName)
	if err != nil {
		return err
	}
	if f, _ := m.Field("flags"); f == nil || f.Str != "master" {
		return fmt.Errorf("master flags %v", fieldText(m, "flags"))
	}
	if f, _ := m.Field("runid"); f == nil || f.Str == "" {
		return fmt.Errorf("master runid not known yet")
	}
	reps, err := c.Do(2*time.Second, "SENTINEL", "REPLICAS", testenv.MasterName)
	if err != nil {
		return err
	}
	if reps.Kind != KArray || len(reps.Elems) != 2 {
		return fmt.Errorf("replicas: %s", oneLine(reps))
	}
	for _, r := range reps.Elems {
		if fieldText(r, "flags") != "slave" || fieldText(r, "master-link-status") != "ok" || fieldText(r, "runid") == "" {
			return fmt.Errorf("replica %s: flags %q link %q", fieldText(r, "name"), fieldText(r, "flags"), fieldText(r, "master-link-status"))
		}
	}
	sents, err := c.Do(2*time.Second, "SENTINEL", "SENTINELS", testenv.MasterName)
	if err != nil {
		return err
	}
	if sents.Kind != KArray || len(sents.Elems) != 2 {
		return fmt.Errorf("sentinels: %s", oneLine(sents))
	}
	for _, r := range sents.Elems {
		if fieldText(r, "flags") != "sentinel" {
			return fmt.Errorf("sentinel %s: flags %q", fieldText(r, "name"), fieldText(r, "flags"))
		}
	}
	return nil
}

func fieldText(r *Reply, key string) string {
	if v, ok := r.Field(key); ok {
		return v.Str
	}
	return "<absent>"
}

// oneLine compacts a render for error messages.
func oneLine(r *Reply) string {
	if r == nil {
		return "<nil>"
	}
	s := strings.Join(strings.Fields(r.Render()), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// expand substitutes s's placeholders in args.
func (s *system) expand(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		for k, v := range s.vars {
			a = strings.ReplaceAll(a, k, v)
		}
		out[i] = a
	}
	return out
}
