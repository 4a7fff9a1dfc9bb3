//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// queryTimeout bounds one question to a monitor (SENTINEL MASTERS of
// hundreds of masters, a /metrics scrape).
const queryTimeout = 5 * time.Second

// discovered checks that the monitor at addr lists every master of names
// with the replicas it should know and the other monitors (see
// checkMasters).
func discovered(ctx context.Context, addr string, names []string, replicas, others int) error {
	cctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	reply, err := redisproc.Do(cctx, addr, "SENTINEL", "MASTERS")
	if err != nil {
		return fmt.Errorf("sentinel masters: %w", err)
	}
	return checkMasters(reply, names, replicas, others)
}

// checkMasters checks a SENTINEL MASTERS reply: every master of names is
// listed with num-slaves replicas and num-other-sentinels others, and
// flags that say neither down nor failover. The error counts the masters
// that are complete and names the first that is not.
func checkMasters(reply any, names []string, replicas, others int) error {
	arr, ok := reply.([]any)
	if !ok {
		return fmt.Errorf("sentinel masters: reply %T, want an array", reply)
	}
	byName := make(map[string]map[string]string, len(arr))
	for _, e := range arr {
		f, err := benchutil.FieldMap(e)
		if err != nil {
			return fmt.Errorf("sentinel masters: %w", err)
		}
		byName[f["name"]] = f
	}
	complete, first := 0, ""
	for _, n := range names {
		f, ok := byName[n]
		var why string
		switch {
		case !ok:
			why = "not listed"
		case f["num-slaves"] != strconv.Itoa(replicas) || f["num-other-sentinels"] != strconv.Itoa(others):
			why = fmt.Sprintf("num-slaves %q, num-other-sentinels %q", f["num-slaves"], f["num-other-sentinels"])
		case strings.Contains(f["flags"], "down") || strings.Contains(f["flags"], "failover"):
			why = fmt.Sprintf("flags %q", f["flags"])
		default:
			complete++
			continue
		}
		if first == "" {
			first = n + ": " + why
		}
	}
	if complete < len(names) {
		return fmt.Errorf("%d/%d masters complete (first missing %s)", complete, len(names), first)
	}
	return nil
}

// allDiscovered is nil once every monitor of mons passes [discovered].
func allDiscovered(ctx context.Context, mons []*benchutil.Monitor, names []string, replicas int) error {
	for _, m := range mons {
		if m.Pid() == 0 {
			return benchutil.Permanent(fmt.Errorf("monitor %s (%s) is not running", m.Name, m.Addr))
		}
		if err := discovered(ctx, m.Addr, names, replicas, len(mons)-1); err != nil {
			return fmt.Errorf("monitor %s: %w", m.Name, err)
		}
	}
	return nil
}

// Metrics of raftsentinel's /metrics (quorum/metrics.go) the bench reads.
const (
	metricLeader = "raftsentinel_raft_leader"
	metricCommit = "raftsentinel_raft_commit_index"
)

// scrape fetches the Prometheus text of a raftsentinel monitor's
// /metrics at its HTTP address.
func scrape(ctx context.Context, httpAddr string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	if err != nil {
		return "", fmt.Errorf("metrics of %s: %w", httpAddr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("metrics of %s: %w", httpAddr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("metrics of %s: %w", httpAddr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("metrics of %s: %s", httpAddr, resp.Status)
	}
	return string(body), nil
}

// metricValue is the value of the unlabelled sample name in the
// Prometheus text exposition text; missing or unparsable is an error.
func metricValue(text, name string) (float64, error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != name {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: %w", name, err)
		}
		return v, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("metric %s: %w", name, err)
	}
	return 0, fmt.Errorf("metric %s: not exported", name)
}

// raftView is what a raftsentinel group's metrics say at one moment.
type raftView struct {
	leader string  // node id of the one monitor reporting itself leader
	commit float64 // the leader's commit index
}

// readRaft scrapes every monitor of a raftsentinel group: exactly one must
// report itself the Raft leader.
func readRaft(ctx context.Context, mons []*benchutil.Monitor) (raftView, error) {
	var v raftView
	for _, m := range mons {
		text, err := scrape(ctx, m.HTTP)
		if err != nil {
			return v, fmt.Errorf("monitor %s: %w", m.Name, err)
		}
		lead, err := metricValue(text, metricLeader)
		if err != nil {
			return v, fmt.Errorf("monitor %s: %w", m.Name, err)
		}
		if lead != 1 {
			continue
		}
		if v.leader != "" {
			return v, fmt.Errorf("both %s and %s report themselves Raft leader", v.leader, m.Name)
		}
		if v.commit, err = metricValue(text, metricCommit); err != nil {
			return v, fmt.Errorf("monitor %s: %w", m.Name, err)
		}
		v.leader = m.Name
	}
	if v.leader == "" {
		return v, fmt.Errorf("no monitor reports itself Raft leader")
	}
	return v, nil
}
