//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

func httpDo(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOperationsAPI: /metrics names what an operator needs, /readyz and
// /v1/status describe the group, and the token-guarded admin API pauses
// automatic failover and performs a lossless switchover.
func TestOperationsAPI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tp := testenv.StartTopology(t, dir, 1)
	lns, err := demo.OpenListeners(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ds []*daemon.Daemon
	for i := range lns {
		cfg := demo.MonitorConfig(dir, i, lns, tp.Master.Addr(), time.Second)
		cfg.AdminToken = "t0ken"
		d, err := daemon.New(cfg, daemon.Options{Listeners: lns[i]})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	var addrs []string
	for _, d := range ds {
		r := run(t, d)
		defer r.stop()
		addrs = append(addrs, d.RESPAddr())
	}
	testenv.WaitReady(t, addrs, tp.Master.Addr(), 1, 2)
	base := "http://" + ds[1].HTTPAddr()

	testenv.Eventually(t, 10*time.Second, "ready", func() error {
		if code, body := httpDo(t, "GET", base+"/readyz", ""); code != 200 {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	want := []string{
		`raftsentinel_master_info{addr="` + tp.Master.Addr() + `",master="mymaster"} 1`,
		`raftsentinel_master_config_epoch{master="mymaster"} 0`,
		`raftsentinel_master_reachable{master="mymaster"} 1`,
		`raftsentinel_master_quorum_reachable{master="mymaster"} 1`,
		"raftsentinel_raft_voters 3", "raftsentinel_raft_leader ", "raftsentinel_raft_term ",
		"raftsentinel_probe_ping_duration_seconds_bucket", "raftsentinel_resp_connected_clients",
		`raftsentinel_master_reported_role{master="mymaster",role="master"} 1`,
		`raftsentinel_resp_command_calls_total{command="sentinel|get-master-addr-by-name"}`,
		`raftsentinel_replica_lag_bytes{master="mymaster",replica="` + tp.Replicas[0].Addr() + `"}`,
	}
	testenv.Eventually(t, 10*time.Second, "metrics", func() error {
		code, body := httpDo(t, "GET", base+"/metrics", "")
		if code != 200 {
			return fmt.Errorf("/metrics %d", code)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				return fmt.Errorf("/metrics lacks %q", w)
			}
		}
		return nil
	})
	var st daemon.Status
	code, body := httpDo(t, "GET", base+"/v1/status", "")
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("/v1/status %d %v: %s", code, err, body)
	}
	if len(st.Masters) != 1 || st.Masters[0].Addr != tp.Master.Addr() || len(st.Monitors) != 3 || st.Leader == "" ||
		len(st.Masters[0].Replicas) != 1 || st.Masters[0].Replicas[0].Role != "slave" {
		t.Fatalf("status: %+v", st)
	}

	// Admin API: token required.
	if code, _ := httpDo(t, "POST", base+"/v1/masters/mymaster/pause", ""); code != http.StatusUnauthorized {
		t.Fatalf("pause without token: %d", code)
	}
	if code, _ := httpDo(t, "POST", base+"/v1/masters/nosuch/pause", "t0ken"); code != http.StatusNotFound {
		t.Fatalf("pause of an unknown master: %d", code)
	}
	if code, body := httpDo(t, "POST", base+"/v1/masters/mymaster/pause", "t0ken"); code != 200 {
		t.Fatalf("pause: %d %s", code, body)
	}
	if m, err := testenv.MasterField(ctx, addrs[2], "flags"); err != nil || m != "master" {
		t.Fatalf("flags %q %v", m, err)
	}
	if code, body := httpDo(t, "POST", base+"/v1/masters/mymaster/switchover", "t0ken"); code != 200 {
		t.Fatalf("switchover: %d %s", code, body)
	}
	testenv.Eventually(t, 15*time.Second, "switchover done", func() error {
		return testenv.AllAnswer(ctx, addrs, tp.Replicas[0].Addr())
	})
	if code, body := httpDo(t, "POST", base+"/v1/masters/mymaster/resume", "t0ken"); code != 200 {
		t.Fatalf("resume: %d %s", code, body)
	}
	testenv.Eventually(t, 10*time.Second, "failover counted", func() error {
		_, body := httpDo(t, "GET", base+"/metrics", "")
		for _, want := range []string{`raftsentinel_failovers_total{master="mymaster",result="completed"} 1`,
			`raftsentinel_master_config_epoch{master="mymaster"} 1`, `raftsentinel_failover_duration_seconds_count{master="mymaster"} 1`} {
			if !strings.Contains(body, want) {
				return fmt.Errorf("/metrics lacks %q", want)
			}
		}
		return nil
	})
}
