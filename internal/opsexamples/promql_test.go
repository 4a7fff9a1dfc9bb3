//go:build integration

package opsexamples

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for a process's writes and the
// test's reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// exposition is what a scrape told: every sample name (histograms give
// name_bucket, name_sum, name_count) with the label names seen on it.
type exposition map[string]map[string]bool

// add parses a Prometheus text exposition and merges its samples.
func (e exposition) add(body string) error {
	for n, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end <= 0 {
			return fmt.Errorf("line %d: no sample name: %q", n+1, line)
		}
		name := line[:end]
		labels := e[name]
		if labels == nil {
			labels = map[string]bool{}
			e[name] = labels
		}
		if line[end] != '{' {
			continue
		}
		names, err := labelNames(line[end:])
		if err != nil {
			return fmt.Errorf("line %d: %w: %q", n+1, err, line)
		}
		for _, l := range names {
			labels[l] = true
		}
	}
	return nil
}

// labelNames returns the label names of a {name="value",...} block (a
// sample's labels or a PromQL selector's matchers: =, !=, =~, !~).
func labelNames(s string) ([]string, error) {
	if !strings.HasPrefix(s, "{") {
		return nil, fmt.Errorf("label block does not start with {")
	}
	var out []string
	i := 1
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return nil, fmt.Errorf("unterminated label block")
		}
		if s[i] == '}' {
			return out, nil
		}
		start := i
		for i < len(s) && isIdentChar(s[i], i == start) {
			i++
		}
		if i == start {
			return nil, fmt.Errorf("bad label name at %d", i)
		}
		out = append(out, s[start:i])
		for i < len(s) && s[i] == ' ' {
			i++
		}
		for i < len(s) && strings.IndexByte("=!~", s[i]) >= 0 {
			i++
		}
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) || s[i] != '"' && s[i] != '\'' && s[i] != '`' {
			return nil, fmt.Errorf("label value is not quoted at %d", i)
		}
		j, err := skipString(s, i)
		if err != nil {
			return nil, err
		}
		i = j
	}
}

// skipString returns the index just past the quoted string starting at
// s[i] (", ' or `; backslash escapes in the first two).
func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string")
}

func isIdentChar(c byte, first bool) bool {
	switch {
	case c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return true
	case c >= '0' && c <= '9':
		return !first
	}
	return false
}

// selector is one vector selector of a PromQL expression: the metric name
// and the label names its matchers use.
type selector struct {
	Metric string
	Labels []string
}

// promqlKeywords are the identifiers of PromQL that are neither metric
// names nor functions called with parentheses right after them.
var promqlKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "offset": true, "and": true, "or": true, "unless": true, "atan2": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"inf": true, "nan": true, "Inf": true, "NaN": true,
}

// labelListKeywords are followed by a parenthesised list of label names.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// selectors returns the vector selectors of a PromQL expression. It is a
// lexer, not a parser: every identifier outside strings, label blocks,
// ranges and label lists that is not a keyword and not followed by "(" (a
// function) is a metric name. Grafana variables ($master, ${master},
// $__rate_interval) are skipped. A selector written as {__name__="x"} is
// reported as an error: the check needs literal names.
func selectors(expr string) ([]selector, error) {
	var out []selector
	s := expr
	lastEnd := 0 // where the last metric name ended
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(s, i)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", expr, err)
			}
			i = j
		case c == '{':
			names, err := labelNames(s[i:])
			if err != nil {
				return nil, fmt.Errorf("%q: %w", expr, err)
			}
			if slices.Contains(names, "__name__") {
				return nil, fmt.Errorf("%q: a selector by __name__ cannot be checked; name the metric", expr)
			}
			if len(out) == 0 || out[len(out)-1].Labels != nil || strings.TrimSpace(s[lastEnd:i]) != "" {
				return nil, fmt.Errorf("%q: a label block without a metric name cannot be checked", expr)
			}
			if names == nil {
				names = []string{}
			}
			out[len(out)-1].Labels = names
			j, err := skipBlock(s, i, '{', '}')
			if err != nil {
				return nil, fmt.Errorf("%q: %w", expr, err)
			}
			i = j
		case c == '[':
			j, err := skipBlock(s, i, '[', ']')
			if err != nil {
				return nil, fmt.Errorf("%q: %w", expr, err)
			}
			i = j
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				j, err := skipBlock(s, i, '{', '}')
				if err != nil {
					return nil, fmt.Errorf("%q: %w", expr, err)
				}
				i = j
				continue
			}
			for i < len(s) && isIdentChar(s[i], false) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			// numbers, durations (5m), exponents (1e3)
			for i < len(s) && (isIdentChar(s[i], false) || s[i] == '.') {
				i++
			}
		case isIdentChar(c, true):
			start := i
			for i < len(s) && isIdentChar(s[i], false) {
				i++
			}
			word := s[start:i]
			next := i
			for next < len(s) && (s[next] == ' ' || s[next] == '\n' || s[next] == '\t') {
				next++
			}
			paren := next < len(s) && s[next] == '('
			switch {
			case labelListKeywords[word] && paren:
				j, err := skipBlock(s, next, '(', ')')
				if err != nil {
					return nil, fmt.Errorf("%q: %w", expr, err)
				}
				i = j
			case promqlKeywords[word], paren:
				// an operator, an aggregation or a function
			default:
				out = append(out, selector{Metric: word})
				lastEnd = i
			}
		default:
			i++
		}
	}
	for i := range out {
		if out[i].Labels == nil {
			out[i].Labels = []string{}
		}
	}
	return out, nil
}

// skipBlock returns the index just past the block that opens at s[i] and
// closes with the matching close, strings inside included.
func skipBlock(s string, i int, open, close byte) (int, error) {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '"', '\'', '`':
			k, err := skipString(s, j)
			if err != nil {
				return 0, err
			}
			j = k - 1
		case open:
			depth++
		case close:
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("unbalanced %c", open)
}

// alwaysLabels are attached by Prometheus to every scraped series.
var alwaysLabels = map[string]bool{"instance": true, "job": true}

// checkExpr reports every metric of expr that the exposition lacks, and
// every label a selector matches on that the metric does not have.
func (e exposition) checkExpr(expr string) []string {
	sels, err := selectors(expr)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, sel := range sels {
		labels, ok := e[sel.Metric]
		if !ok {
			problems = append(problems, fmt.Sprintf("metric %s is not served by a monitor (in %q)", sel.Metric, expr))
			continue
		}
		for _, l := range sel.Labels {
			if !labels[l] && !alwaysLabels[l] {
				problems = append(problems, fmt.Sprintf("metric %s has no label %q (in %q)", sel.Metric, l, expr))
			}
		}
	}
	return problems
}

// metricNames returns the sorted metric names used by exprs.
func metricNames(t testing.TB, exprs []string) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, x := range exprs {
		sels, err := selectors(x)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sels {
			seen[s.Metric] = true
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestSelectors: the lexer that the drift checks rely on finds the metric
// names, and only them.
func TestSelectors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want string // metric{labels} ...
	}{
		{`raftsentinel_master_info{master=~"$master"}`, `raftsentinel_master_info{master}`},
		{`max by (master, addr) (raftsentinel_master_info{master=~"$master", instance=~"${instance}"})`,
			`raftsentinel_master_info{master,instance}`},
		{`histogram_quantile(0.99, sum by (le) (rate(raftsentinel_probe_ping_duration_seconds_bucket[$__rate_interval])))`,
			`raftsentinel_probe_ping_duration_seconds_bucket{}`},
		{`sum without (instance) (increase(raftsentinel_failovers_total{result="completed"}[10m])) > 0 or on (master) vector(0)`,
			`raftsentinel_failovers_total{result}`},
		{`raftsentinel_raft_commit_index - ignoring (x) group_left raftsentinel_raft_applied_index offset 5m`,
			`raftsentinel_raft_commit_index{} raftsentinel_raft_applied_index{}`},
		{`count(count by (addr) (raftsentinel_master_info{addr!="a}b"})) > bool 1e3`, `raftsentinel_master_info{addr}`},
		{`time() - max(raftsentinel_last_failover_timestamp_seconds)`, `raftsentinel_last_failover_timestamp_seconds{}`},
		{`label_replace(up, "x", "$1", "instance", "(.*)")`, `up{}`},
		{`raftsentinal_raft_term`, `raftsentinal_raft_term{}`}, // a typo is a name, and will be reported
	} {
		sels, err := selectors(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		var got []string
		for _, s := range sels {
			got = append(got, s.Metric+"{"+strings.Join(s.Labels, ",")+"}")
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("selectors(%s) = %s, want %s", tc.expr, strings.Join(got, " "), tc.want)
		}
	}
	for _, bad := range []string{
		`{__name__="raftsentinel_raft_term"}`,       // no literal name to check
		`raftsentinel_raft_term + {job="x"}`,        // a label block without a metric
		`raftsentinel_master_info{master="m"`,       // unterminated
		`rate(raftsentinel_resp_commands_total[5m)`, // unbalanced
	} {
		if sels, err := selectors(bad); err == nil {
			t.Errorf("selectors(%s) = %v, want an error", bad, sels)
		}
	}

	e := exposition{}
	if err := e.add("# HELP x y\nraftsentinel_raft_term 3\nraftsentinel_master_info{addr=\"127.0.0.1:1\",master=\"m\"} 1\n"); err != nil {
		t.Fatal(err)
	}
	if p := e.checkExpr(`raftsentinel_master_info{master="m", instance="i"} * on() raftsentinel_raft_term`); p != nil {
		t.Errorf("good expression: %v", p)
	}
	if p := e.checkExpr(`raftsentinal_raft_term + raftsentinel_raft_term{master="m"}`); len(p) != 2 {
		t.Errorf("bad expression: want 2 problems, got %v", p)
	}
}
