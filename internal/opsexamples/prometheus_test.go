//go:build integration

package opsexamples

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// promResponse is the envelope of Prometheus' HTTP API.
type promResponse struct {
	Status    string          `json:"status"`
	Error     string          `json:"error"`
	ErrorType string          `json:"errorType"`
	Data      json.RawMessage `json:"data"`
}

// promGet calls the Prometheus HTTP API and decodes its data into v.
func promGet(base, path string, v any) error {
	code, body, err := httpDo(context.Background(), http.MethodGet, base+path, "")
	if err != nil {
		return err
	}
	var r promResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return fmt.Errorf("GET %s: %d %q: %w", path, code, body, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("GET %s: %s: %s", path, r.ErrorType, r.Error)
	}
	return json.Unmarshal(r.Data, v)
}

// sample is one element of an instant vector.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// queryVector runs an instant query.
func queryVector(base, q string) ([]sample, error) {
	var data struct {
		ResultType string   `json:"resultType"`
		Result     []sample `json:"result"`
	}
	if err := promGet(base, "/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: result type %s", q, data.ResultType)
	}
	return data.Result, nil
}

var epochLine = regexp.MustCompile(`(?m)^raftsentinel_master_config_epoch\{master="mymaster"\} (\S+)$`)

// TestPrometheusScrapesMonitor: a real Prometheus server (Debian's) scrapes
// a real group every second and loads examples/prometheus/alerts.yml; the
// config epoch read back through its query API is the one the monitors
// serve, before and after a failover, and the failover raises
// RaftsentinelFailoverHappened.
func TestPrometheusScrapesMonitor(t *testing.T) {
	bin := tool(t, "prometheus", promInstallHint)
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	g := testenv.StartGroup(t, dir, 3, nil, tp.Master.Addr(), time.Second)
	testenv.WaitReady(t, g.Addrs(), tp.Master.Addr(), 1, 2)

	var targets []string
	for _, d := range g.Daemons {
		targets = append(targets, d.HTTPAddr())
	}
	promDir := filepath.Join(dir, "prometheus")
	if err := os.MkdirAll(promDir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: raftsentinel
    static_configs:
      - targets: ['%s']
`, repoPath(t, "examples/prometheus/alerts.yml"), strings.Join(targets, "', '"))
	confPath := filepath.Join(promDir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProcess(t, promDir, bin, "--config.file="+confPath, "--storage.tsdb.path="+filepath.Join(promDir, "data"),
		"--web.listen-address="+listen)
	base := "http://" + listen
	alive := func() {
		t.Helper()
		if p.exited() {
			t.Fatalf("prometheus exited:\n%s", p.output())
		}
	}

	// readBack waits until Prometheus returns, for every monitor, the config
	// epoch that the monitor itself serves, and that value is want.
	readBack := func(want string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, "prometheus reads back raftsentinel_master_config_epoch "+want, func() error {
			alive()
			for _, d := range g.Daemons {
				body, err := scrape(d.HTTPAddr())
				if err != nil {
					return err
				}
				m := epochLine.FindStringSubmatch(body)
				if m == nil || m[1] != want {
					return fmt.Errorf("monitor %s serves config epoch %v, want %s", d.HTTPAddr(), m, want)
				}
			}
			res, err := queryVector(base, "raftsentinel_master_config_epoch")
			if err != nil {
				return err
			}
			var got []string
			for _, s := range res {
				if s.Metric["job"] != "raftsentinel" || s.Metric["master"] != "mymaster" || s.Value[1] != want {
					return fmt.Errorf("unexpected sample %v", s)
				}
				got = append(got, s.Metric["instance"])
			}
			sort.Strings(got)
			wantInst := append([]string(nil), targets...)
			sort.Strings(wantInst)
			if strings.Join(got, " ") != strings.Join(wantInst, " ") {
				return fmt.Errorf("series for instances %v, want %v", got, wantInst)
			}
			return nil
		})
	}
	readBack("0")

	// The rule file loaded, and every group evaluates without error.
	testenv.Eventually(t, 15*time.Second, "alert rules evaluated", func() error {
		alive()
		var data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := promGet(base, "/api/v1/rules", &data); err != nil {
			return err
		}
		n := 0
		for _, gr := range data.Groups {
			for _, r := range gr.Rules {
				if r.Health != "ok" {
					return fmt.Errorf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
				}
				n++
			}
		}
		if want := len(alertRules(t)); n != want {
			return fmt.Errorf("%d rules loaded, want %d", n, want)
		}
		return nil
	})

	// A failover: the master dies, the replica is promoted.
	if err := tp.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "failover", func() error {
		err := testenv.AllAnswer(context.Background(), g.Addrs(), tp.Replicas[0].Addr())
		if err != nil {
			_, st, _ := httpDo(context.Background(), http.MethodGet, "http://"+g.Daemons[0].HTTPAddr()+"/v1/status", "")
			err = fmt.Errorf("%w; status of the first monitor: %s", err, st)
		}
		return err
	})
	readBack("1")
	testenv.Eventually(t, 30*time.Second, "RaftsentinelFailoverHappened firing", func() error {
		alive()
		var data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		}
		if err := promGet(base, "/api/v1/alerts", &data); err != nil {
			return err
		}
		for _, a := range data.Alerts {
			if a.Labels["alertname"] == "RaftsentinelFailoverHappened" && a.Labels["master"] == "mymaster" && a.State == "firing" {
				return nil
			}
		}
		return fmt.Errorf("alerts: %+v", data.Alerts)
	})
	p.stop()
}
