//go:build integration

package opsexamples

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

const adminToken = "opsexamples-token"

// metricsScenario drives a real group through the states whose metrics
// only exist once something happened, and returns every scrape of every
// monitor along the way:
//
//  1. steady state: a master, a replica, three monitors;
//  2. after a switchover through the admin API (failover counters, the
//     duration histogram, the last-failover timestamp; the old master back
//     as a replica, with its lag);
//  3. with automatic failover paused and the new master killed (probe
//     errors, SDOWN, ODOWN, a failover blocked by maintenance).
func metricsScenario(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	master, replica := tp.Master.Addr(), tp.Replicas[0].Addr()
	ds := monitors(t, dir, master, adminToken, time.Second)
	var addrs []string
	for _, d := range ds {
		addrs = append(addrs, d.RESPAddr())
	}
	testenv.WaitReady(t, addrs, master, 1, 2)

	var bodies []string
	// scrapeAll waits until one monitor's /metrics contains every string of
	// want, then keeps one scrape of every monitor.
	scrapeAll := func(what string, want ...string) {
		t.Helper()
		testenv.Eventually(t, 20*time.Second, what, func() error {
			var missing []string
			for _, d := range ds {
				body, err := scrape(d.HTTPAddr())
				if err != nil {
					return err
				}
				missing = missing[:0]
				for _, w := range want {
					if !strings.Contains(body, w) {
						missing = append(missing, w)
					}
				}
				if len(missing) == 0 {
					return nil
				}
			}
			return fmt.Errorf("no monitor serves %q yet", missing)
		})
		for _, d := range ds {
			body, err := scrape(d.HTTPAddr())
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, body)
		}
	}
	// admin calls the admin API until it accepts; 409 (e.g. no replica
	// qualifies yet: its first INFO is not in) is retried.
	admin := func(action string) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, "POST "+action, func() error {
			code, body, err := httpDo(ctx, http.MethodPost, "http://"+ds[0].HTTPAddr()+"/v1/masters/mymaster/"+action, adminToken)
			switch {
			case err != nil:
				return err
			case code == http.StatusConflict:
				return fmt.Errorf("%d %s", code, body)
			case code != http.StatusOK:
				t.Fatalf("POST %s: %d %s", action, code, body)
			}
			return nil
		})
	}

	scrapeAll("steady state", `raftsentinel_replica_lag_bytes{master="mymaster",replica="`+replica+`"}`,
		"raftsentinel_probe_ping_duration_seconds_bucket", "raftsentinel_raft_leader 1")

	admin("switchover")
	testenv.WaitReady(t, addrs, replica, 1, 2) // the old master is a replica again
	scrapeAll("after the switchover", `raftsentinel_failovers_total{master="mymaster",result="completed"} 1`,
		`raftsentinel_failover_duration_seconds_count{master="mymaster"} 1`,
		`raftsentinel_replica_lag_bytes{master="mymaster",replica="`+master+`"}`,
		"raftsentinel_last_failover_timestamp_seconds")

	admin("pause")
	if err := tp.Replicas[0].Kill(); err != nil { // the master now
		t.Fatal(err)
	}
	scrapeAll("the paused master down", `raftsentinel_master_odown{master="mymaster"} 1`,
		`raftsentinel_master_sdown{master="mymaster"} 1`,
		`raftsentinel_failover_blocked_total{master="mymaster",reason="maintenance"}`,
		`raftsentinel_probe_errors_total{reason=`)
	return bodies
}

// TestExamplesMatchRealMetrics: every metric (and every label matched on)
// in the Grafana dashboard and the Prometheus alert rules is served by a
// real monitor, so neither can drift from the code; and promtool's linter
// finds nothing to say about the metrics themselves.
func TestExamplesMatchRealMetrics(t *testing.T) {
	promtool := tool(t, "promtool", promInstallHint)
	bodies := metricsScenario(t)
	served := exposition{}
	for _, b := range bodies {
		if err := served.add(b); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("dashboard", func(t *testing.T) {
		exprs := dashboardExprs(t)
		checkServed(t, served, exprs)
		t.Logf("the dashboard uses %d metrics: %s", len(metricNames(t, exprs)), strings.Join(metricNames(t, exprs), " "))
	})
	t.Run("alerts", func(t *testing.T) {
		var exprs []string
		for _, r := range alertRules(t) {
			exprs = append(exprs, r.Expr)
		}
		checkServed(t, served, exprs)
	})
	t.Run("promtool check metrics", func(t *testing.T) {
		findings := map[string]bool{}
		for _, b := range bodies {
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = strings.NewReader(b)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if err == nil {
				continue
			}
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("promtool check metrics: %v", err)
			}
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				findings[l] = true
			}
		}
		if len(findings) > 0 {
			var lines []string
			for l := range findings {
				lines = append(lines, l)
			}
			sort.Strings(lines)
			t.Errorf("promtool check metrics on a monitor's /metrics:\n%s", strings.Join(lines, "\n"))
		}
	})
}

// checkServed fails for every problem of exprs against what is served.
func checkServed(t *testing.T, served exposition, exprs []string) {
	t.Helper()
	if len(exprs) == 0 {
		t.Fatal("no expressions found")
	}
	for _, x := range exprs {
		for _, p := range served.checkExpr(x) {
			t.Error(p)
		}
	}
}

// dashboardExprs returns every PromQL expression of the Grafana dashboard:
// the panels' targets and the metric of every label_values() variable.
func dashboardExprs(t testing.TB) []string {
	t.Helper()
	var dash struct {
		Panels      []dashPanel `json:"panels"`
		Annotations struct {
			List []struct {
				Name string `json:"name"`
				Expr string `json:"expr"`
			} `json:"list"`
		} `json:"annotations"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(readRepoFile(t, "examples/grafana/raftsentinel-dashboard.json"), &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var exprs []string
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q: a target without an expression", p.Title)
				}
				exprs = append(exprs, tg.Expr)
			}
			if p.Type != "row" && p.Type != "text" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, a := range dash.Annotations.List {
		if a.Expr != "" {
			exprs = append(exprs, a.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				t.Fatalf("variable %s: query: %v", v.Name, err)
			}
			q = obj.Query
		}
		metric, ok := strings.CutPrefix(q, "label_values(")
		if !ok {
			t.Fatalf("variable %s: only label_values(metric, label) queries are checked, got %q", v.Name, q)
		}
		metric, label, ok := strings.Cut(strings.TrimSuffix(metric, ")"), ",")
		if !ok {
			t.Fatalf("variable %s: %q is not label_values(metric, label)", v.Name, q)
		}
		// The label must exist on the metric: check it as a matcher.
		metric, label = strings.TrimSpace(metric), strings.TrimSpace(label)
		if m, ok := strings.CutSuffix(metric, "}"); ok {
			exprs = append(exprs, fmt.Sprintf("%s, %s=~\".+\"}", m, label))
		} else {
			exprs = append(exprs, fmt.Sprintf("%s{%s=~\".+\"}", metric, label))
		}
	}
	return exprs
}

type dashPanel struct {
	Title   string      `json:"title"`
	Type    string      `json:"type"`
	Panels  []dashPanel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// alertRule is one rule of a Prometheus rule file.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// alertRules returns the rules of examples/prometheus/alerts.yml.
func alertRules(t testing.TB) []alertRule {
	t.Helper()
	var f struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "examples/prometheus/alerts.yml"), &f); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	var out []alertRule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatal("alerts.yml has no rules")
	}
	return out
}
