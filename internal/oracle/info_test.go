//go:build integration

package oracle

import (
	"fmt"
	"slices"
	"strings"
)

// INFO comparison. The reply must be a bulk string in both protocols. The
// Sentinel section is compared line by line (keys, order, values with
// addresses masked). For the other sections the policy is:
//
//   - section titles and their order must match;
//   - raftsentinel may omit keys (build and allocator details such as
//     gcc_version, multiplexing_api, lru_clock, keyspace/eviction/defrag
//     counters have no meaning for it): omissions are logged, except for
//     infoRequired keys, whose absence fails;
//   - raftsentinel must not invent keys Sentinel does not have, and the
//     keys it has must keep Sentinel's relative order;
//   - for shared keys the value class must match (integer, ip, run id,
//     decimal), and infoExactKeys must match verbatim; differences in the
//     infoFreeText values (os, executable, config_file) are logged.

// infoRequired are the keys clients and tools read.
var infoRequired = map[string][]string{
	"Server":  {"redis_version", "redis_mode", "process_id", "run_id", "tcp_port", "uptime_in_seconds", "uptime_in_days", "hz", "configured_hz", "executable", "config_file"},
	"Clients": {"connected_clients", "blocked_clients"},
	"Stats":   {"total_connections_received", "total_commands_processed", "pubsub_channels", "pubsub_patterns"},
	"CPU":     {"used_cpu_sys", "used_cpu_user"},
}

// infoExactKeys are compared verbatim.
var infoExactKeys = toSet([]string{"redis_version", "redis_git_sha1", "redis_git_dirty", "redis_mode", "process_supervised",
	"arch_bits", "configured_hz", "maxclients", "cluster_connections", "blocked_clients", "tracking_clients", "rejected_connections"})

// infoFreeText are free-text values that describe the process (its
// platform string, binary, config file: raftsentinel in tests runs
// in-process without a config file); differences are logged.
var infoFreeText = toSet([]string{"os", "executable", "config_file"})

type infoSection struct {
	title string
	keys  []string
	vals  map[string]string
	lines []string // raw lines, without CRLF
}

// parseInfo splits an INFO text into sections; problems with the framing
// (LF-only lines, missing final CRLF) are returned as notes.
func parseInfo(s string) ([]*infoSection, []string) {
	var notes []string
	if s != "" && !strings.HasSuffix(s, "\r\n") {
		notes = append(notes, "does not end with CRLF")
	}
	var out []*infoSection
	var cur *infoSection
	for _, line := range strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n") {
		if strings.Contains(line, "\n") {
			notes = append(notes, fmt.Sprintf("line with a bare LF: %q", line))
		}
		switch {
		case line == "":
			cur = nil
		case strings.HasPrefix(line, "# "):
			cur = &infoSection{title: line[2:], vals: map[string]string{}}
			out = append(out, cur)
		default:
			if cur == nil {
				cur = &infoSection{title: "<untitled>", vals: map[string]string{}}
				out = append(out, cur)
			}
			k, v, _ := strings.Cut(line, ":")
			cur.keys = append(cur.keys, k)
			cur.vals[k] = v
			cur.lines = append(cur.lines, line)
		}
	}
	return out, notes
}

func titles(ss []*infoSection) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.title)
	}
	return out
}

// normSentinelLine masks the values of an INFO sentinel line: the masterN
// lines keep their field names and order, with the address masked.
func normSentinelLine(line string) string {
	k, v, _ := strings.Cut(line, ":")
	if !strings.HasPrefix(k, "master") || !strings.Contains(v, "=") {
		return line
	}
	var parts []string
	for _, kv := range strings.Split(v, ",") {
		fk, fv, _ := strings.Cut(kv, "=")
		if fk == "address" {
			fv = classify(fv)
		}
		parts = append(parts, fk+"="+fv)
	}
	return k + ":" + strings.Join(parts, ",")
}

// cmpInfo compares two INFO replies by the policy above.
func cmpInfo(sn, rs *Reply) (string, []string) {
	if sn.Kind != rs.Kind {
		return describe(sn, rs, sn.Kind.String()+"\n", rs.Kind.String()+"\n"), nil
	}
	if sn.Kind != KBulk {
		return cmpExact(sn, rs)
	}
	snS, snNotes := parseInfo(sn.Str)
	rsS, rsNotes := parseInfo(rs.Str)
	var problems, notes []string
	for _, n := range snNotes {
		notes = append(notes, "sentinel's INFO "+n)
	}
	for _, n := range rsNotes {
		problems = append(problems, "raftsentinel's INFO "+n)
	}
	if a, b := titles(snS), titles(rsS); !slices.Equal(a, b) {
		problems = append(problems, fmt.Sprintf("sections: sentinel %q, raftsentinel %q", a, b))
	}
	for _, s := range snS {
		i := slices.IndexFunc(rsS, func(x *infoSection) bool { return x.title == s.title })
		if i < 0 {
			continue
		}
		r := rsS[i]
		if s.title == "Sentinel" {
			var a, b []string
			for _, l := range s.lines {
				a = append(a, normSentinelLine(l))
			}
			for _, l := range r.lines {
				b = append(b, normSentinelLine(l))
			}
			if !slices.Equal(a, b) {
				problems = append(problems, "# Sentinel lines differ:\n"+indent(lineDiff(strings.Join(a, "\n"), strings.Join(b, "\n")), "    "))
			}
			continue
		}
		var missing, extra []string
		for _, k := range s.keys {
			if _, ok := r.vals[k]; !ok {
				missing = append(missing, k)
			}
		}
		for _, k := range r.keys {
			if _, ok := s.vals[k]; !ok {
				extra = append(extra, k)
			}
		}
		for _, k := range infoRequired[s.title] {
			if _, ok := r.vals[k]; !ok && slices.Contains(missing, k) {
				problems = append(problems, fmt.Sprintf("# %s: required key %s missing", s.title, k))
			}
		}
		if len(missing) > 0 {
			notes = append(notes, fmt.Sprintf("# %s: keys Sentinel has and raftsentinel omits: %s", s.title, strings.Join(missing, " ")))
		}
		if len(extra) > 0 {
			problems = append(problems, fmt.Sprintf("# %s: keys raftsentinel has and Sentinel does not: %s", s.title, strings.Join(extra, " ")))
		}
		// Relative order of the shared keys.
		var so, ro []string
		for _, k := range s.keys {
			if _, ok := r.vals[k]; ok {
				so = append(so, k)
			}
		}
		for _, k := range r.keys {
			if _, ok := s.vals[k]; ok {
				ro = append(ro, k)
			}
		}
		if !slices.Equal(so, ro) {
			problems = append(problems, fmt.Sprintf("# %s: order of shared keys: sentinel %v, raftsentinel %v", s.title, so, ro))
		}
		for _, k := range so {
			a, b := s.vals[k], r.vals[k]
			switch {
			case infoExactKeys[k]:
				if a != b {
					problems = append(problems, fmt.Sprintf("# %s: %s: sentinel %q, raftsentinel %q", s.title, k, a, b))
				}
			case infoFreeText[k]:
				if a != b {
					notes = append(notes, fmt.Sprintf("# %s: %s: sentinel %q, raftsentinel %q", s.title, k, a, b))
				}
			case valueClass(a) != valueClass(b):
				problems = append(problems, fmt.Sprintf("# %s: %s value class: sentinel %q (%s), raftsentinel %q (%s)",
					s.title, k, a, valueClass(a), b, valueClass(b)))
			case valueClass(a) == "text" && a != b:
				notes = append(notes, fmt.Sprintf("# %s: %s: sentinel %q, raftsentinel %q", s.title, k, a, b))
			}
		}
	}
	if len(problems) == 0 {
		return "", notes
	}
	return "INFO differs: " + strings.Join(problems, "\n  ") + "\n", notes
}

// valueClass is classify, plus "decimal" for x.y numbers and "text".
func valueClass(v string) string {
	c := classify(v)
	switch {
	case c != v || v == "":
		return c
	case strings.Count(v, ".") == 1 && reInt.MatchString(strings.Replace(v, ".", "", 1)):
		return "<decimal>"
	}
	return "text"
}

// cmpExact compares renders without normalization.
func cmpExact(sn, rs *Reply) (string, []string) {
	a, b := sn.Render(), rs.Render()
	if a == b {
		return "", nil
	}
	return describe(sn, rs, a, b), nil
}

// cmpTypeOnly compares the type trees and logs differing values (COMMAND
// COUNT: raftsentinel implements a different command set, the count is
// informational).
func cmpTypeOnly(sn, rs *Reply) (string, []string) {
	if a, b := sn.TypeTree(), rs.TypeTree(); a != b {
		return describe(sn, rs, a+"\n", b+"\n"), nil
	}
	if a, b := sn.Render(), rs.Render(); a != b {
		return "", []string{fmt.Sprintf("same type, different value: sentinel %s, raftsentinel %s", oneLine(sn), oneLine(rs))}
	}
	return "", nil
}
