//go:build integration

package oracle

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file is the comparison engine: a case is a sequence of commands
// sent on one fresh connection to each system (after HELLO 3 for the RESP3
// run); every reply is normalized and the renders (type tree, keys, values)
// must be equal.

// norm rewrites a reply in place so that legitimately differing values
// compare equal. It is applied to a clone of both systems' replies.
type norm func(r *Reply)

// cmpFunc compares two (raw, not normalized) replies itself; it returns a
// mismatch description ("" when equal) and notes to log either way.
type cmpFunc func(sn, rs *Reply) (mismatch string, notes []string)

// step is one command of a case.
type step struct {
	args   []string // may hold placeholders ({masterip}, ...)
	frames int      // replies to read (0 means 1); SUBSCRIBE a b has 2
	norm   norm     // overrides the case's normalizer when set
	cmp    cmpFunc  // overrides rendering comparison when set
	// until, when set, re-sends the command (each system independently,
	// up to untilWait) until it holds, so that a comparison does not race
	// a system's asynchronous discovery. Its failure is a mismatch too.
	until     func(r *Reply) bool
	untilWait time.Duration
	// want pins the oracle's reply ("+OK", "-ERR ...", ":1"), as verified
	// against Redis Sentinel 7.0.15; a different oracle reply fails the
	// case as an oracle change, whatever raftsentinel answers.
	want string
}

// diffCase is one row of a table.
type diffCase struct {
	name   string
	steps  []step
	norm   norm  // for every step without its own
	protos []int // default: 2 and 3
	// accepted, when set, documents a known divergence: a mismatch is
	// logged as ACCEPTED with this reason instead of failing.
	accepted string
}

// cmd is a one-step case step.
func cmd(args ...string) step { return step{args: args} }

// frames is a step reading n replies.
func frames(n int, args ...string) step { return step{args: args, frames: n} }

// with sets a step's normalizer.
func (s step) with(n norm) step { s.norm = n; return s }

// mismatch is one difference found, kept for the summary.
type mismatch struct {
	test, caseName string
	proto          int
	cmd            string
	detail         string
	accepted       string
}

// recorder collects mismatches across subtests for a final summary.
type recorder struct {
	mu   sync.Mutex
	list []mismatch
}

func (r *recorder) add(m mismatch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, m)
}

// summary logs every mismatch, one line each.
func (r *recorder) summary(t *testing.T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.list) == 0 {
		t.Logf("SUMMARY: no mismatches")
		final.add(t.Name(), "no mismatches")
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SUMMARY: %d mismatches\n", len(r.list))
	for _, m := range r.list {
		tag := "FAIL"
		if m.accepted != "" {
			tag = "ACCEPTED"
		}
		fmt.Fprintf(&b, "  [%s] %s RESP%d `%s`: %s\n", tag, m.caseName, m.proto, m.cmd, firstLine(m.detail))
		final.add(t.Name(), fmt.Sprintf("[%s] %s | RESP%d | `%s` | %s", tag, m.caseName, m.proto, clipCmd(m.cmd), firstLine(m.detail)))
	}
	t.Log(b.String())
}

// clipCmd shortens a command with long arguments for the report.
func clipCmd(s string) string {
	if len(s) > 60 {
		return s[:60] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// session is one connection per system.
type session struct {
	sys  *system
	conn *Conn
	dead error // set once the connection is out of step
}

func openSession(t *testing.T, s *system, proto int) *session {
	t.Helper()
	c, err := Dial(s.addr())
	if err != nil {
		t.Fatalf("%s: dial %s: %v", s.name, s.addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	ss := &session{sys: s, conn: c}
	if proto == 3 {
		r, err := c.Do(3*time.Second, "HELLO", "3")
		if err != nil || r.Kind != KMap {
			t.Fatalf("%s: HELLO 3: %v %s", s.name, err, oneLine(r))
		}
	}
	return ss
}

// exchange sends a step and reads its replies (nil elements for those
// that did not come).
func (ss *session) exchange(st step) []*Reply {
	n := max(st.frames, 1)
	out := make([]*Reply, n)
	if ss.dead != nil {
		return out
	}
	args := ss.sys.expand(st.args)
	deadline := time.Now().Add(st.untilWait)
	for {
		if err := ss.conn.Send(args...); err != nil {
			ss.dead = err
			return out
		}
		for i := range n {
			r, err := ss.conn.Read(3 * time.Second)
			if err != nil {
				ss.dead = err
				out[i] = &Reply{Kind: KError, Str: fmt.Sprintf("<no reply: %v>", err)}
				return out
			}
			out[i] = r
		}
		if st.until == nil || st.until(out[0]) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runCases runs each case in each protocol as a subtest.
func runCases(t *testing.T, p *pair, rec *recorder, cases []diffCase) {
	for _, c := range cases {
		protos := c.protos
		if protos == nil {
			protos = []int{2, 3}
		}
		for _, proto := range protos {
			t.Run(fmt.Sprintf("%s/RESP%d", sanitize(c.name), proto), func(t *testing.T) {
				runCase(t, p, rec, c, proto)
			})
		}
	}
}

func sanitize(s string) string { return strings.ReplaceAll(s, " ", "_") }

func runCase(t *testing.T, p *pair, rec *recorder, c diffCase, proto int) {
	sn, rs := openSession(t, p.sn, proto), openSession(t, p.rs, proto)
	for i, st := range c.steps {
		var snR, rsR []*Reply
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); snR = sn.exchange(st) }()
		go func() { defer wg.Done(); rsR = rs.exchange(st) }()
		wg.Wait()
		cmdText := strings.Join(st.args, " ")
		if sn.dead != nil {
			t.Fatalf("step %d `%s`: the oracle (Redis Sentinel) did not answer: %v", i+1, cmdText, sn.dead)
		}
		if st.want != "" {
			if got := compact(snR[0]); got != st.want {
				t.Errorf("ORACLE CHANGED: `%s` (RESP%d): Redis Sentinel answered %q, the verified expectation is %q", cmdText, proto, got, st.want)
				final.add(t.Name(), fmt.Sprintf("[ORACLE CHANGED] `%s`: Redis Sentinel answered %q, expected %q", cmdText, got, st.want))
			}
		}
		for f := range snR {
			detail, notes := compareReplies(st, c.norm, snR[f], rsR[f])
			for _, n := range notes {
				t.Logf("NOTE %s, RESP%d, `%s`: %s", c.name, proto, cmdText, n)
			}
			if detail == "" {
				continue
			}
			if len(snR) > 1 {
				detail = fmt.Sprintf("(reply %d of %d) %s", f+1, len(snR), detail)
			}
			report(t, rec, c, proto, cmdText, detail)
		}
		if rs.dead != nil {
			return // out of step: the remaining steps cannot be compared
		}
	}
	// Neither side may send more than the oracle did.
	var snX, rsX *Reply
	var snOK, rsOK bool
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); snX, snOK = sn.conn.Pending(60 * time.Millisecond) }()
	go func() { defer wg.Done(); rsX, rsOK = rs.conn.Pending(60 * time.Millisecond) }()
	wg.Wait()
	if snOK != rsOK {
		report(t, rec, c, proto, "(after the last step)", fmt.Sprintf(
			"unsolicited data: sentinel %s, raftsentinel %s", pendingText(snX, snOK), pendingText(rsX, rsOK)))
	}
}

func pendingText(r *Reply, ok bool) string {
	if !ok {
		return "none"
	}
	return oneLine(r)
}

func report(t *testing.T, rec *recorder, c diffCase, proto int, cmdText, detail string) {
	t.Helper()
	rec.add(mismatch{test: t.Name(), caseName: c.name, proto: proto, cmd: cmdText, detail: detail, accepted: c.accepted})
	msg := fmt.Sprintf("MISMATCH %s, RESP%d, `%s`:\n%s", c.name, proto, cmdText, detail)
	if c.accepted != "" {
		t.Logf("ACCEPTED DIVERGENCE (%s)\n%s", c.accepted, msg)
		return
	}
	t.Error(msg)
}

// compareReplies returns "" when equal, else a description with the
// expected (Redis Sentinel) and actual (raftsentinel) renders and a diff;
// notes are observations to log either way.
func compareReplies(st step, caseNorm norm, sn, rs *Reply) (string, []string) {
	if rs == nil {
		rs = &Reply{Kind: KError, Str: "<no reply>"}
	}
	if st.cmp != nil {
		return st.cmp(sn, rs)
	}
	n := st.norm
	if n == nil {
		n = caseNorm
	}
	a, b := sn.Clone(), rs.Clone()
	if n != nil {
		n(a)
		n(b)
	}
	ra, rb := a.Render(), b.Render()
	if ra == rb {
		return "", nil
	}
	return describe(sn, rs, ra, rb), nil
}

func describe(sn, rs *Reply, ra, rb string) string {
	var b strings.Builder
	diff := lineDiff(ra, rb)
	firstOf := func(prefix string) string {
		for _, l := range strings.Split(diff, "\n") {
			if strings.HasPrefix(l, prefix) {
				return strings.TrimSpace(l[1:])
			}
		}
		return "(nothing)"
	}
	fmt.Fprintf(&b, "first difference: sentinel %s | raftsentinel %s\n", short(firstOf("-")), short(firstOf("+")))
	fmt.Fprintf(&b, "  type tree: sentinel %s | raftsentinel %s\n", short(sn.TypeTree()), short(rs.TypeTree()))
	fmt.Fprintf(&b, "  expected (Redis Sentinel, normalized):\n%s", indent(clipLines(ra), "    "))
	fmt.Fprintf(&b, "  actual (raftsentinel, normalized):\n%s", indent(clipLines(rb), "    "))
	fmt.Fprintf(&b, "  diff (-sentinel +raftsentinel):\n%s", indent(clipLines(diff), "    "))
	if sn.Kind != KBulk || len(sn.Str) < 400 {
		fmt.Fprintf(&b, "  raw sentinel: %s\n  raw raftsentinel: %s\n", oneLine(sn), oneLine(rs))
	}
	return b.String()
}

// clipLines shortens long lines (INFO texts) for display.
func clipLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if len(l) > 240 {
			lines[i] = l[:240] + fmt.Sprintf("...(%d bytes)", len(l))
		}
	}
	return strings.Join(lines, "\n")
}

func short(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = pre + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

// lineDiff is a small LCS line diff; unchanged lines are omitted except
// as context markers.
func lineDiff(a, b string) string {
	x := strings.Split(strings.TrimRight(a, "\n"), "\n")
	y := strings.Split(strings.TrimRight(b, "\n"), "\n")
	if len(x)*len(y) > 4_000_000 {
		return "(too large to diff)"
	}
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	prev := "" // the last unchanged line, shown once before a change
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			prev = x[i]
			i++
			j++
			continue
		case prev != "":
			out = append(out, "  "+prev)
			prev = ""
		}
		if j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]) {
			out = append(out, "+ "+y[j])
			j++
		} else {
			out = append(out, "- "+x[i])
			i++
		}
	}
	return strings.Join(out, "\n")
}

// --- normalizers ---

var (
	reHex40    = regexp.MustCompile(`^[0-9a-f]{40}$`)
	reInt      = regexp.MustCompile(`^-?[0-9]+$`)
	reHostPort = regexp.MustCompile(`^(\[[0-9a-fA-F:.]+\]|[0-9.]+):[0-9]+$`)
)

// classify maps a value to its class: "<runid>" (40 hex), "<ip>",
// "<ip:port>", "<int>"; anything else is kept as is. The empty string
// stays empty (so "runid not known" differs from a run id).
func classify(s string) string {
	switch {
	case s == "":
		return ""
	case reHex40.MatchString(s):
		return "<runid>"
	case net.ParseIP(s) != nil:
		return "<ip>"
	case reHostPort.MatchString(s):
		return "<ip:port>"
	case reInt.MatchString(s):
		return "<int>"
	}
	return s
}

// chain applies normalizers in order.
func chain(ns ...norm) norm {
	return func(r *Reply) {
		for _, n := range ns {
			if n != nil {
				n(r)
			}
		}
	}
}

// classifyAll classifies every scalar (keys included; keys are names and
// never match a class).
func classifyAll(r *Reply) {
	if r == nil {
		return
	}
	if r.Kind.aggregate() {
		for _, e := range r.Elems {
			classifyAll(e)
		}
		return
	}
	if r.Kind == KError || r.Kind == KSimple {
		r.Str = maskText(r.Str)
		return
	}
	r.Str = classify(r.Str)
}

// reTextTokens finds the variable tokens inside free text.
var reTextTokens = regexp.MustCompile(`\[[0-9a-fA-F:.]+\]:[0-9]+|[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?::[0-9]+)?|\b[0-9a-f]{40}\b|-?\b[0-9]+\b`)

// maskText replaces addresses, run ids and numbers inside free text.
func maskText(s string) string {
	return reTextTokens.ReplaceAllStringFunc(s, func(tok string) string {
		switch {
		case strings.Contains(tok, ":") || strings.Count(tok, ".") == 3:
			if strings.Contains(tok, ":") {
				return "<ip:port>"
			}
			return "<ip>"
		case len(tok) == 40:
			return "<runid>"
		}
		return "<n>"
	})
}

// maskKeys classifies the values of the given keys of a map or flat
// key/value reply.
func maskKeys(keys ...string) norm {
	set := toSet(keys)
	return func(r *Reply) {
		kv, ok := r.KV()
		if !ok {
			return
		}
		for _, p := range kv {
			if set[p[0].Str] {
				classifyAll(p[1])
			}
		}
	}
}

func toSet(keys []string) map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// instanceExact are the instance-map fields compared verbatim; every other
// value is classified (addresses, run ids, "ms ago" values, offsets).
var instanceExact = toSet([]string{
	"name", "flags", "link-refcount", "failover-state", "down-after-milliseconds", "role-reported",
	"config-epoch", "num-slaves", "num-other-sentinels", "quorum", "failover-timeout", "parallel-syncs",
	"master-link-down-time", "master-link-status", "slave-priority", "replica-announced",
	"voted-leader", "voted-leader-epoch", "notification-script", "client-reconfig-script",
})

// instanceMap normalizes one instance map (SENTINEL MASTER).
func instanceMap(r *Reply) {
	kv, ok := r.KV()
	if !ok {
		return
	}
	for _, p := range kv {
		if !instanceExact[p[0].Str] || classify(p[1].Str) == "<ip:port>" || classify(p[1].Str) == "<runid>" {
			classifyAll(p[1])
		}
	}
}

// instanceList normalizes an array of instance maps (MASTERS, REPLICAS,
// SENTINELS); the order of the elements is not significant.
func instanceList(r *Reply) {
	if r.Kind != KArray {
		return
	}
	for _, e := range r.Elems {
		instanceMap(e)
	}
	sortElems(r)
}

// sortElems orders an aggregate's elements by their render.
func sortElems(r *Reply) {
	sort.SliceStable(r.Elems, func(i, j int) bool { return r.Elems[i].Render() < r.Elems[j].Render() })
}

// onlyFirst keeps the first element of an array and replaces the others
// by one simple string saying whether they were all of the first's kind.
func onlyFirst(r *Reply) {
	if r.Kind != KArray || len(r.Elems) == 0 {
		return
	}
	same := true
	for _, e := range r.Elems {
		same = same && e.Kind == r.Elems[0].Kind
	}
	r.Elems = []*Reply{r.Elems[0], {Kind: KSimple, Str: fmt.Sprintf("<every line is %s: %v>", r.Elems[0].Kind, same)}}
}

// maskElem classifies element i of an array (e.g. a channel name whose
// order is unspecified).
func maskElem(i int, as string) norm {
	return func(r *Reply) {
		if r.Kind.aggregate() && i < len(r.Elems) && !r.Elems[i].Kind.aggregate() && r.Elems[i].Kind != KNullBulk && r.Elems[i].Kind != KNull {
			r.Elems[i].Str = as
		}
	}
}

// textMask masks numbers, addresses and run ids in error and status texts.
func textMask(r *Reply) {
	if r.Kind == KError || r.Kind == KSimple {
		r.Str = maskText(r.Str)
	}
}

// sortNested sorts the elements of the aggregate at index i (ROLE's
// master names come in dict order).
func sortNested(i int) norm {
	return func(r *Reply) {
		if r.Kind.aggregate() && i < len(r.Elems) && r.Elems[i].Kind.aggregate() {
			sortElems(r.Elems[i])
		}
	}
}

// withCmp sets a step's comparison function.
func (s step) withCmp(c cmpFunc) step { s.cmp = c; return s }

// expect pins the oracle's reply of a step.
func (s step) expect(want string) step { s.want = want; return s }

// waitUntil makes a step poll until ok holds (each system on its own).
func (s step) waitUntil(d time.Duration, ok func(*Reply) bool) step {
	s.until, s.untilWait = ok, d
	return s
}

// compact is the RESP-like one-line form of a scalar reply: "+OK",
// "-ERR ...", ":1"; aggregates and others render as oneLine.
func compact(r *Reply) string {
	switch r.Kind {
	case KSimple:
		return "+" + r.Str
	case KError:
		return "-" + r.Str
	case KInt:
		return ":" + r.Str
	}
	return oneLine(r)
}
