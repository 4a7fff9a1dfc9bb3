//go:build integration

package daemon_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testcerts"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/raftsentinel/raftsentinel/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "0123456789abcdef-cluster"

// tlsRedis starts a redis-server with a TLS port (plain port kept for the
// harness' readiness check and ROLE probes) requiring client certificates;
// replicaOf, when set, is the TLS address of its master (tls-replication).
func tlsRedis(t *testing.T, dir string, ca *testcerts.CA, pair testcerts.Pair, replicaOf string) (*redisproc.Server, string) {
	t.Helper()
	port, err := redisproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	extra := []string{"tls-port " + strconv.Itoa(port), "tls-cert-file " + pair.CertFile, "tls-key-file " + pair.KeyFile,
		"tls-ca-cert-file " + ca.CertFile, "tls-auth-clients yes", "tls-replication yes"}
	if replicaOf != "" {
		h, p, _ := net.SplitHostPort(replicaOf)
		extra = append(extra, "replicaof "+h+" "+p)
	}
	s := testenv.StartRedis(t, redisproc.Options{Dir: dir, Extra: extra})
	return s, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// tlsGroup starts three monitors with the whole of TLS on (tls-port with
// client certificates, tls-replication, tls-cluster) and the cluster
// secret, monitoring master. m3 has its plain port off.
func tlsGroup(t *testing.T, dir string, ca *testcerts.CA, pair testcerts.Pair, master string) []*daemon.Daemon {
	t.Helper()
	lns, err := demo.OpenListeners(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ds []*daemon.Daemon
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 3)
	for i := range lns {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i].TLS = tl
		cfg := demo.MonitorConfig(dir, i, lns, master, time.Second)
		cfg.TLSPort = tl.Addr().(*net.TCPAddr).Port
		cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSCACertFile = pair.CertFile, pair.KeyFile, ca.CertFile
		cfg.TLSReplication, cfg.TLSCluster, cfg.ClusterSecret = "yes", "yes", secret
		if i == 2 {
			lns[i].RESP.Close()
			lns[i].RESP = nil
			cfg.Listen = ""
			cfg.Announce = tl.Addr().String()
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		d, err := daemon.New(cfg, daemon.Options{Listeners: lns[i]})
		if err != nil {
			t.Fatalf("m%d: %v", i+1, err)
		}
		ds = append(ds, d)
		go func() {
			if err := d.Run(ctx); err != nil {
				t.Errorf("m%d: %v", i+1, err)
			}
			done <- struct{}{}
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range ds {
			<-done
		}
	})
	return ds
}

// sentinelTLS asks a monitor's TLS port for the master's address.
func sentinelTLS(ctx context.Context, addr string, cfg *tls.Config) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr, TLSConfig: cfg, ReadTimeout: time.Second})
	defer sc.Close()
	got, err := sc.GetMasterAddrByName(ctx, testenv.MasterName).Result()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(got[0], got[1]), nil
}

// A monitor group with TLS everywhere: monitors talk Raft and forward over
// mutual TLS with the cluster secret, probe and command a Redis master and
// replica that accept TLS clients with certificates only, and serve the
// Sentinel protocol over TLS (go-redis and redis-cli --tls), refusing a
// client without a certificate. A forced failover over TLS switches the
// roles of the Redis nodes.
func TestTLSEverywhere(t *testing.T) {
	dir := t.TempDir()
	ca, pairs := testcerts.MustCA(t, dir, "node", "client")
	pair, client := pairs[0], pairs[1]
	master, masterTLS := tlsRedis(t, filepath.Join(dir, "master"), ca, pair, "")
	replica, replicaTLS := tlsRedis(t, filepath.Join(dir, "replica"), ca, pair, masterTLS)
	testenv.Eventually(t, 15*time.Second, "replication over TLS", func() error {
		info, err := redisproc.Command(context.Background(), replica.Addr(), "INFO", "replication")
		if err != nil {
			return err
		}
		if s := redisproc.InfoField(info, "master_link_status"); s != "up" {
			return fmt.Errorf("master_link_status %q", s)
		}
		return nil
	})
	ds := tlsGroup(t, filepath.Join(dir, "mon"), ca, pair, masterTLS)

	cliCfg, err := ca.ClientConfig(client)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	testenv.Eventually(t, 30*time.Second, "every monitor answers over TLS and sees the replica", func() error {
		for _, d := range ds {
			got, err := sentinelTLS(ctx, d.TLSAddr(), cliCfg)
			if err != nil {
				return fmt.Errorf("%s: %w", d.TLSAddr(), err)
			}
			if got != masterTLS {
				return fmt.Errorf("%s answers %s, want %s", d.TLSAddr(), got, masterTLS)
			}
			sc := redis.NewSentinelClient(&redis.Options{Addr: d.TLSAddr(), TLSConfig: cliCfg})
			m, err := sc.Master(ctx, testenv.MasterName).Result()
			sc.Close()
			if err != nil {
				return err
			}
			if m["num-slaves"] != "1" || strings.Contains(m["flags"], "down") {
				return fmt.Errorf("%s: num-slaves %s flags %s", d.TLSAddr(), m["num-slaves"], m["flags"])
			}
		}
		return nil
	})
	if ds[2].RESPAddr() != ds[2].TLSAddr() {
		t.Fatalf("m3 has its plain port off, yet RESPAddr %s != TLSAddr %s", ds[2].RESPAddr(), ds[2].TLSAddr())
	}

	// tls-auth-clients yes: a TLS client without a certificate is refused.
	noCert, _ := ca.ClientConfig(testcerts.Pair{})
	if _, err := sentinelTLS(ctx, ds[0].TLSAddr(), noCert); err == nil {
		t.Fatal("a client without a certificate was served")
	} else {
		t.Logf("client without certificate: %v", err)
	}
	// Plain RESP to the TLS port gets no answer.
	if _, err := testenv.MasterAddr(ctx, ds[0].TLSAddr()); err == nil {
		t.Fatal("plain RESP on the TLS port was answered")
	}

	// redis-cli --tls, as an operator would.
	out, err := exec.Command("redis-cli", "--tls", "--cacert", ca.CertFile, "--cert", client.CertFile, "--key", client.KeyFile,
		"-h", "127.0.0.1", "-p", port(ds[1].TLSAddr()), "SENTINEL", "get-master-addr-by-name", testenv.MasterName).CombinedOutput()
	if err != nil || !strings.Contains(string(out), port(masterTLS)) {
		t.Fatalf("redis-cli --tls: %v: %s", err, out)
	}

	// The HTTP server runs TLS; the internal endpoint wants a client
	// certificate and the secret.
	tr := &http.Transport{TLSClientConfig: noCert}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := hc.Get("https://" + ds[0].HTTPAddr() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over TLS: %v", err)
	}
	resp.Body.Close()
	fwd := quorum.NewHTTPForwarder(quorum.ForwardOptions{Client: hc, TLS: true, Secret: []byte(secret)})
	_, err = fwd(ctx, state.Monitor{ID: "m1", HTTPAddr: ds[0].HTTPAddr()}, state.Command{Op: state.OpSet, Master: testenv.MasterName,
		Options: []state.SetOption{{Name: "maintenance", Values: []string{"yes"}}}})
	if err == nil || !strings.Contains(err.Error(), "client certificate") {
		t.Fatalf("proposal without a client certificate: %v", err)
	}

	// A forced failover: the leader commands both nodes over TLS.
	sc := redis.NewSentinelClient(&redis.Options{Addr: ds[2].TLSAddr(), TLSConfig: cliCfg})
	err = sc.Failover(ctx, testenv.MasterName).Err()
	sc.Close()
	if err != nil {
		t.Fatalf("SENTINEL FAILOVER over TLS: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "the replica promoted, the old master following it, every monitor answering it", func() error {
		for _, d := range ds {
			got, err := sentinelTLS(ctx, d.TLSAddr(), cliCfg)
			if err != nil {
				return err
			}
			if got != replicaTLS {
				return fmt.Errorf("%s answers %s", d.TLSAddr(), got)
			}
		}
		rinfo, err := redisproc.Command(ctx, replica.Addr(), "INFO", "replication")
		if err != nil || redisproc.InfoField(rinfo, "role") != "master" {
			return fmt.Errorf("new master: role %q %v", redisproc.InfoField(rinfo, "role"), err)
		}
		info, err := redisproc.Command(ctx, master.Addr(), "INFO", "replication")
		if err != nil {
			return err
		}
		if redisproc.InfoField(info, "role") != "slave" || redisproc.InfoField(info, "master_port") != port(replicaTLS) ||
			redisproc.InfoField(info, "master_link_status") != "up" {
			return fmt.Errorf("old master: role %s master_port %s link %s", redisproc.InfoField(info, "role"),
				redisproc.InfoField(info, "master_port"), redisproc.InfoField(info, "master_link_status"))
		}
		return nil
	})
}

// A monitor with a wrong cluster secret cannot join a group (its join
// proposal is refused, it never becomes a member) and a proposal signed
// with the wrong secret is refused with ErrClusterSecret; the committed
// state is unchanged.
func TestWrongClusterSecretCannotJoin(t *testing.T) {
	dir := t.TempDir()
	master := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "master")})
	lns, err := demo.OpenListeners(4, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var ds []*daemon.Daemon
	done := make(chan struct{}, 4)
	t.Cleanup(func() {
		cancel()
		for range ds {
			<-done
		}
	})
	for i := range 4 {
		var cfg config.Config
		if i < 3 {
			cfg = demo.MonitorConfig(filepath.Join(dir, "mon"), i, lns[:3], master.Addr(), time.Second)
			cfg.ClusterSecret = secret
		} else {
			// m4 joins through m1 with the wrong secret.
			cfg = demo.MonitorConfig(filepath.Join(dir, "mon"), 3, lns, master.Addr(), time.Second)
			cfg.Peers = nil
			cfg.Join = []string{lns[0].HTTP.Addr().String()}
			cfg.ClusterSecret = "the-wrong-secret-1234"
			cfg.Masters[0].Quorum = 2
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		d, err := daemon.New(cfg, daemon.Options{Listeners: lns[i]})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
		go func() {
			if err := d.Run(ctx); err != nil {
				t.Errorf("m%d: %v", i+1, err)
			}
			done <- struct{}{}
		}()
	}
	testenv.WaitReady(t, []string{ds[0].RESPAddr(), ds[1].RESPAddr(), ds[2].RESPAddr()}, master.Addr(), 0, 2)
	before := ds[0].Store().State()

	fwd := quorum.NewHTTPForwarder(quorum.ForwardOptions{Secret: []byte("the-wrong-secret-1234")})
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = fwd(pctx, state.Monitor{ID: "m2", HTTPAddr: ds[1].HTTPAddr()}, state.Command{Op: state.OpJoin,
		Monitor: &state.Monitor{ID: "intruder", RaftAddr: ds[3].RaftAddr()}})
	pcancel()
	if !errors.Is(err, quorum.ErrClusterSecret) {
		t.Fatalf("join with the wrong secret: %v, want ErrClusterSecret", err)
	}
	// m4 keeps trying to join (every second); over this window it never
	// becomes a member and learns nothing.
	end := time.Now().Add(4 * time.Second)
	for time.Now().Before(end) {
		servers, err := ds[0].Store().Servers()
		if err != nil {
			t.Fatal(err)
		}
		if len(servers) != 3 {
			t.Fatalf("raft configuration changed: %v", servers)
		}
		// m4 serves only what its own file names (held until it has a
		// group): no member record, no replica, no epoch of the group.
		if ds[3].Store().HasGroup() {
			t.Fatal("m4 (wrong secret) is in a raft configuration")
		}
		if st := ds[3].Store().State(); len(st.Monitors) != 0 || st.CurrentEpoch != 0 || len(st.Masters) > 1 {
			t.Fatalf("m4 (wrong secret) learned from the group: %d monitors, epoch %d, %d masters", len(st.Monitors), st.CurrentEpoch, len(st.Masters))
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := ds[0].Store().State()
	if len(after.Monitors) != len(before.Monitors) || after.Masters[testenv.MasterName].Addr != before.Masters[testenv.MasterName].Addr {
		t.Fatalf("committed state changed: monitors %d -> %d", len(before.Monitors), len(after.Monitors))
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
