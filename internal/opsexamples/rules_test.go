//go:build integration

package opsexamples

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// promtool runs promtool with args in dir and fails the test with its
// output when it does not succeed.
func promtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tool(t, "promtool", promInstallHint), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAlertRulesPromtool: promtool accepts the rule file and the example
// Prometheus configuration, and the rules' unit tests (alerts_test.yml:
// which alert fires, when, with which labels and text) pass.
func TestAlertRulesPromtool(t *testing.T) {
	dir := repoPath(t, "examples/prometheus")
	t.Log(strings.TrimSpace(promtool(t, dir, "check", "rules", "alerts.yml")))
	t.Log(strings.TrimSpace(promtool(t, dir, "test", "rules", "alerts_test.yml")))
	t.Log(strings.TrimSpace(promtool(t, dir, "check", "config", "prometheus.yml")))
}

// TestAlertRulesShape: the alerts the operations guide promises exist, and
// every alert has a severity, a summary and a description.
func TestAlertRulesShape(t *testing.T) {
	rules := alertRules(t)
	byName := map[string]alertRule{}
	for _, r := range rules {
		if r.Alert == "" {
			t.Errorf("a rule without an alert name: %q", r.Expr)
			continue
		}
		if _, dup := byName[r.Alert]; dup {
			t.Errorf("alert %s defined twice", r.Alert)
		}
		byName[r.Alert] = r
		switch r.Labels["severity"] {
		case "critical", "warning", "info":
		default:
			t.Errorf("alert %s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("alert %s: needs a summary and a description", r.Alert)
		}
	}
	for name, uses := range map[string]string{
		"RaftsentinelMasterUnreachable": "raftsentinel_master_reachable",
		"RaftsentinelMasterODown":       "raftsentinel_master_odown",
		"RaftsentinelFailoverBlocked":   "increase(raftsentinel_failover_blocked_total",
		"RaftsentinelFailoverHappened":  "raftsentinel_master_config_epoch",
		"RaftsentinelNoRaftLeader":      "raftsentinel_raft_leader",
		"RaftsentinelMonitorStale":      "raftsentinel_stale",
		"RaftsentinelQuorumUnreachable": "raftsentinel_master_quorum_reachable",
		"RaftsentinelReplicaLagHigh":    "raftsentinel_replica_lag_bytes",
		"RaftsentinelProbeErrorsHigh":   "raftsentinel_probe_errors_total",
	} {
		r, ok := byName[name]
		if !ok {
			t.Errorf("alert %s is missing", name)
			continue
		}
		if !strings.Contains(r.Expr, uses) {
			t.Errorf("alert %s: expression %q does not use %s", name, r.Expr, uses)
		}
	}
}

// grafanaVars replaces the dashboard's variables by values Prometheus
// accepts, so that its expressions can be checked by promtool.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "1m", "$__range", "1h", "$__interval", "1m",
	"$job", ".+", "$master", ".+", "$instance", ".+",
)

// TestDashboardShape: the dashboard is importable (unique panel ids,
// panels inside the 24-column grid and not overlapping, every query on the
// $datasource variable) and every expression is valid PromQL (promtool
// checks them as recording rules, Grafana's variables substituted).
func TestDashboardShape(t *testing.T) {
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			GridPos struct{ X, Y, W, H int } `json:"gridPos"`
			Targets []struct {
				RefID      string `json:"refId"`
				Datasource struct {
					UID string `json:"uid"`
				} `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(readRepoFile(t, "examples/grafana/raftsentinel-dashboard.json"), &dash); err != nil {
		t.Fatal(err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	ids := map[int]bool{}
	cells := map[[2]int]string{} // occupied grid cells
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, taken := cells[[2]int{x, y}]; taken {
					t.Errorf("panel %q overlaps panel %q at (%d,%d)", p.Title, other, x, y)
					x, y = g.X+g.W, g.Y+g.H // once per pair
				} else {
					cells[[2]int{x, y}] = p.Title
				}
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource uid %q, want ${datasource}", p.Title, p.Datasource.UID)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if refs[tg.RefID] || tg.RefID == "" {
				t.Errorf("panel %q: refId %q empty or used twice", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: target datasource uid %q, want ${datasource}", p.Title, tg.Datasource.UID)
			}
		}
	}

	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, x := range dashboardExprs(t) {
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:expr_%d", i+1), Expr: grafanaVars.Replace(x)})
	}
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard-rules.yml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log(strings.TrimSpace(promtool(t, dir, "check", "rules", "dashboard-rules.yml")))
}
