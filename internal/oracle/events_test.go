//go:build integration

package oracle

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// TestDifferentialFailoverEvents subscribes (PSUBSCRIBE *) to every
// monitor of both systems, SIGKILLs both masters at the same moment,
// collects the events until both systems ended the failover (or a
// deadline), restarts both old masters and collects until both were
// converted to replicas (or a deadline), then compares the events.
//
// Events are keyed by channel plus the instance type of the payload
// (master/slave/sentinel), and their payloads reduced to shapes
// (addresses, ports, run ids and numbers masked; the quorum of "#quorum
// n/q" kept). Asserted: for every key both systems emit, the sets of
// shapes are equal; raftsentinel emits +sdown, +odown and +failover-end,
// and +switch-master on every monitor; each system's +switch-master names
// its own old and new master. Reported (logged): keys only one system
// emits, and on which monitors (failover leader or observer) each key
// appeared.
func TestDifferentialFailoverEvents(t *testing.T) {
	p := startPair(t, false)
	sn := subscribeAll(t, p.sn)
	rs := subscribeAll(t, p.rs)

	oldSN, oldRS := p.sn.topo.Master.Addr(), p.rs.topo.Master.Addr()
	var wg sync.WaitGroup
	for _, m := range []*redisproc.Server{p.sn.topo.Master, p.rs.topo.Master} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Kill(); err != nil {
				t.Errorf("kill %s: %v", m.Addr(), err)
			}
		}()
	}
	wg.Wait()
	killedAt := time.Now()
	sn.mark(killedAt)
	rs.mark(killedAt)

	failoverDone := func(c *collector) bool {
		return c.anyEmitted("+failover-end") && c.allEmitted("+switch-master")
	}
	waitBoth(45*time.Second, func() bool { return failoverDone(sn) && failoverDone(rs) })
	for _, c := range []*collector{sn, rs} {
		if !failoverDone(c) {
			t.Logf("%s: failover not complete (+failover-end on one monitor and +switch-master on all) within the deadline", c.sys.name)
			final.add(t.Name(), c.sys.name+": failover not complete within the deadline")
		}
	}

	// Restart the old masters: each system should demote its own.
	restartedAt := time.Now()
	for _, m := range []*redisproc.Server{p.sn.topo.Master, p.rs.topo.Master} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := m.Restart(ctx); err != nil {
				t.Errorf("restart %s: %v", m.Addr(), err)
			}
		}()
	}
	wg.Wait()
	waitBoth(30*time.Second, func() bool {
		return sn.anyEmitted("+convert-to-slave") && rs.anyEmitted("+convert-to-slave")
	})
	// A little longer, for trailing events (+slave, -sdown, ...).
	time.Sleep(time.Second)
	sn.stop()
	rs.stop()
	t.Logf("old masters restarted %.1f s after the kill", restartedAt.Sub(killedAt).Seconds())

	snRoles, rsRoles := sn.roles(nil), rs.roles(p.rs)
	for _, c := range []*collector{sn, rs} {
		t.Logf("%s events (monitor role, seconds after the kill):\n%s", c.sys.name, c.timeline(map[*collector][]string{sn: snRoles, rs: rsRoles}[c]))
	}

	snShapes, rsShapes := sn.shapes(sn.portRoles(oldSN)), rs.shapes(rs.portRoles(oldRS))
	keys := map[string]bool{}
	for k := range snShapes {
		keys[k] = true
	}
	for k := range rsShapes {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var onlySN, onlyRS, table, same []string
	for _, k := range sorted {
		a, b := snShapes[k], rsShapes[k]
		table = append(table, fmt.Sprintf("  %-40s sentinel[%s] raftsentinel[%s]", k,
			sn.whereEmitted(k, snRoles), rs.whereEmitted(k, rsRoles)))
		switch {
		case a == nil:
			onlyRS = append(onlyRS, k)
		case b == nil:
			onlySN = append(onlySN, k)
		default:
			as, bs := setList(a), setList(b)
			// Every shape raftsentinel publishes must be one Sentinel
			// publishes. Sentinel may publish more: under load it sometimes
			// does extra work in the same window (a second failover, an
			// observer converting the new master back), which adds shapes
			// that are its own timing, not the protocol; those are logged.
			if extra := setMinus(bs, as); len(extra) > 0 {
				t.Errorf("MISMATCH event payload shapes of %s:\n  sentinel (expected):\n    %s\n  raftsentinel (actual):\n    %s\n  examples: sentinel %q, raftsentinel %q",
					k, strings.Join(as, "\n    "), strings.Join(bs, "\n    "), sn.example(k), rs.example(k))
				final.add(t.Name(), fmt.Sprintf("[FAIL] payload shapes of %s: sentinel {%s} | raftsentinel {%s}", k, strings.Join(as, " | "), strings.Join(bs, " | ")))
			} else {
				if missing := setMinus(as, bs); len(missing) > 0 {
					t.Logf("Sentinel also published for %s: %s", k, strings.Join(missing, " | "))
				}
				t.Logf("same payload shapes for %s: %s", k, strings.Join(bs, " | "))
				same = append(same, k)
			}
		}
	}
	t.Logf("event keys and where they were emitted (L = failover leader, O = observer; count per role):\n%s", strings.Join(table, "\n"))
	report := func(format string, args ...any) {
		t.Logf("REPORT: "+format, args...)
		final.add(t.Name(), "[REPORT] "+fmt.Sprintf(format, args...))
	}
	report("same payload shapes (channel + instance type) in both: %s", orNone(same))
	report("emitted by Redis Sentinel only: %s", orNone(onlySN))
	report("emitted by raftsentinel only: %s", orNone(onlyRS))
	for _, role := range []string{"L", "O"} {
		var snOnly, rsOnly []string
		for _, k := range sorted {
			a, b := sn.emittedBy(k, snRoles, role), rs.emittedBy(k, rsRoles, role)
			if a && !b {
				snOnly = append(snOnly, k)
			}
			if b && !a {
				rsOnly = append(rsOnly, k)
			}
		}
		name := map[string]string{"L": "failover leader", "O": "observers"}[role]
		report("(%s) Sentinel emits, raftsentinel does not: %s", name, orNone(snOnly))
		report("(%s) raftsentinel emits, Sentinel does not: %s", name, orNone(rsOnly))
	}

	// raftsentinel's minimum.
	for _, k := range []string{"+sdown master", "+odown master", "+switch-master", "+failover-end master"} {
		if rsShapes[k] == nil {
			t.Errorf("raftsentinel emitted no %s event (Redis Sentinel: %s)", k, sn.example(k))
			final.add(t.Name(), fmt.Sprintf("[FAIL] raftsentinel emitted no %s event", k))
		}
	}
	for i := range rs.sys.addrs {
		if !rs.emittedOn("+switch-master", i) {
			t.Errorf("raftsentinel monitor %d (%s) published no +switch-master (clients subscribe to any one monitor)", i+1, rs.sys.addrs[i])
			final.add(t.Name(), fmt.Sprintf("[FAIL] raftsentinel monitor %d published no +switch-master", i+1))
		}
	}
	// Each system's +switch-master names its own old master and one of
	// its replicas.
	for _, c := range []*collector{sn, rs} {
		old := map[*collector]string{sn: oldSN, rs: oldRS}[c]
		var news []string
		for _, r := range c.sys.topo.Replicas {
			news = append(news, r.Addr())
		}
		for _, ev := range c.events {
			if ev.channel != "+switch-master" {
				continue
			}
			f := strings.Fields(ev.payload)
			if len(f) != 5 || f[0] != "mymaster" || net.JoinHostPort(f[1], f[2]) != old || !slices.Contains(news, net.JoinHostPort(f[3], f[4])) {
				t.Errorf("%s monitor %d: +switch-master %q: want mymaster %s -> one of %v", c.sys.name, ev.mon+1, ev.payload, old, news)
				final.add(t.Name(), fmt.Sprintf("[FAIL] %s monitor %d: +switch-master %q names the wrong addresses", c.sys.name, ev.mon+1, ev.payload))
			}
		}
	}
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "(none)"
	}
	return strings.Join(l, ", ")
}

func waitBoth(d time.Duration, done func() bool) {
	deadline := time.Now().Add(d)
	for !done() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

type event struct {
	at               time.Time
	mon              int
	channel, payload string
}

// collector reads the events of every monitor of one system.
type collector struct {
	sys   *system
	conns []*Conn
	wg    sync.WaitGroup
	once  sync.Once

	mu     sync.Mutex
	events []event
	t0     time.Time
}

func subscribeAll(t *testing.T, s *system) *collector {
	t.Helper()
	c := &collector{sys: s, t0: time.Now()}
	t.Cleanup(c.stop)
	for i, a := range s.addrs {
		conn, err := Dial(a)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		c.conns = append(c.conns, conn)
		r, err := conn.Do(3*time.Second, "PSUBSCRIBE", "*")
		if err != nil || r.Kind != KArray || len(r.Elems) != 3 || r.Elems[0].Str != "psubscribe" {
			t.Fatalf("%s %s: PSUBSCRIBE *: %v %s", s.name, a, err, oneLine(r))
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for {
				r, err := conn.Read(time.Hour) // unblocked by stop's Close
				if err != nil {
					return
				}
				if r.Kind == KArray && len(r.Elems) == 4 && r.Elems[0].Str == "pmessage" {
					ch := r.Elems[2].Str
					if ch == "__sentinel__:hello" {
						continue
					}
					c.mu.Lock()
					c.events = append(c.events, event{at: time.Now(), mon: i, channel: ch, payload: r.Elems[3].Str})
					c.mu.Unlock()
				}
			}
		}()
	}
	return c
}

func (c *collector) mark(t0 time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t0 = t0
}

// stop closes the connections and waits for the readers. Idempotent.
func (c *collector) stop() {
	c.once.Do(func() {
		for _, conn := range c.conns {
			conn.Close()
		}
		c.wg.Wait()
	})
}

func (c *collector) snapshot() []event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

func (c *collector) emittedOn(channel string, mon int) bool {
	for _, e := range c.snapshot() {
		if e.channel == channel && e.mon == mon {
			return true
		}
	}
	return false
}

func (c *collector) anyEmitted(channel string) bool {
	for i := range c.sys.addrs {
		if c.emittedOn(channel, i) {
			return true
		}
	}
	return false
}

func (c *collector) allEmitted(channel string) bool {
	for i := range c.sys.addrs {
		if !c.emittedOn(channel, i) {
			return false
		}
	}
	return true
}

// roles labels each monitor "L" (failover leader: it published
// +elected-leader or +try-failover, or, for raftsentinel without those,
// it is the Raft leader) or "O" (observer).
func (c *collector) roles(rs *system) []string {
	out := make([]string, len(c.sys.addrs))
	for i := range out {
		out[i] = "O"
	}
	found := false
	for _, ch := range []string{"+elected-leader", "+try-failover"} {
		for i := range out {
			if c.emittedOn(ch, i) {
				out[i], found = "L", true
			}
		}
		if found {
			return out
		}
	}
	if rs != nil && rs.group != nil {
		for i, d := range rs.group.Daemons {
			if d.Store().IsLeader() {
				out[i] = "L"
			}
		}
	}
	return out
}

var (
	reQuorum = regexp.MustCompile(`^[0-9]+/([0-9]+)$`)
)

// shapeOf reduces a payload to its shape: ports of known nodes become
// their role (OLD: the killed master, NEW: the promoted replica, REPLICA:
// the other replica, MONITOR: a monitor), other numbers and addresses are
// classified, and "#quorum n/q" keeps q.
func shapeOf(payload string, roles map[string]string) string {
	f := strings.Fields(payload)
	for i, tok := range f {
		if m := reQuorum.FindStringSubmatch(tok); m != nil {
			f[i] = "<n>/" + m[1]
			continue
		}
		if h, port, err := net.SplitHostPort(tok); err == nil && net.ParseIP(h) != nil {
			if r, ok := roles[port]; ok {
				f[i] = "<ip>:" + r
				continue
			}
		}
		// A port right after an address (already rewritten to "<ip>").
		if r, ok := roles[tok]; ok && i > 0 && f[i-1] == "<ip>" {
			f[i] = r
			continue
		}
		if c := classify(tok); c != tok {
			f[i] = c
		}
	}
	return strings.Join(f, " ")
}

// portRoles names the ports of c's system (see shapeOf). NEW is the
// address +switch-master announced.
func (c *collector) portRoles(oldMaster string) map[string]string {
	roles := map[string]string{}
	port := func(addr string) string {
		_, p, _ := net.SplitHostPort(addr)
		return p
	}
	for _, a := range c.sys.addrs {
		roles[port(a)] = "MONITOR"
	}
	newAddr := ""
	for _, e := range c.snapshot() {
		if f := strings.Fields(e.payload); e.channel == "+switch-master" && len(f) == 5 {
			newAddr = net.JoinHostPort(f[3], f[4])
			break
		}
	}
	for _, r := range c.sys.topo.Replicas {
		if r.Addr() == newAddr {
			roles[port(r.Addr())] = "NEW"
		} else {
			roles[port(r.Addr())] = "REPLICA"
		}
	}
	roles[port(oldMaster)] = "OLD"
	return roles
}

// keyOf is the channel plus the payload's instance type, if any.
func keyOf(e event) string {
	f := strings.Fields(e.payload)
	if len(f) > 0 && (f[0] == "master" || f[0] == "slave" || f[0] == "sentinel") {
		return e.channel + " " + f[0]
	}
	return e.channel
}

func (c *collector) shapes(roles map[string]string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, e := range c.snapshot() {
		k := keyOf(e)
		if out[k] == nil {
			out[k] = map[string]bool{}
		}
		out[k][shapeOf(e.payload, roles)] = true
	}
	return out
}

func (c *collector) example(key string) string {
	for _, e := range c.snapshot() {
		if keyOf(e) == key {
			return e.payload
		}
	}
	return "(not emitted)"
}

// whereEmitted counts the monitors that emitted key, by role.
func (c *collector) whereEmitted(key string, roles []string) string {
	n := map[string]int{}
	seen := map[int]bool{}
	for _, e := range c.snapshot() {
		if keyOf(e) == key && !seen[e.mon] {
			seen[e.mon] = true
			n[roles[e.mon]]++
		}
	}
	return fmt.Sprintf("L:%d O:%d", n["L"], n["O"])
}

func (c *collector) emittedBy(key string, roles []string, role string) bool {
	for _, e := range c.snapshot() {
		if keyOf(e) == key && roles[e.mon] == role {
			return true
		}
	}
	return false
}

func (c *collector) timeline(roles []string) string {
	c.mu.Lock()
	t0 := c.t0
	c.mu.Unlock()
	var b strings.Builder
	for _, e := range c.snapshot() {
		fmt.Fprintf(&b, "  %7.3f m%d(%s) %s %s\n", e.at.Sub(t0).Seconds(), e.mon+1, roles[e.mon], e.channel, e.payload)
	}
	return b.String()
}

func setList(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// setMinus returns the elements of a (sorted) not in b.
func setMinus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
