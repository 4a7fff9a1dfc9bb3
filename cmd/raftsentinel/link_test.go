//go:build integration

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testcerts"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// The admin commands reach a group that runs tls-cluster with a cluster
// secret when given the monitor's own configuration file (--config): status
// over https, and leave as a signed proposal that the leader judges (here:
// refuses, "not a member"). Without the file they are turned away.
func TestAdminCommandsWithTLSClusterAndSecret(t *testing.T) {
	dir := t.TempDir()
	master := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "redis")})
	ca, pairs := testcerts.MustCA(t, dir, "node")
	pair := pairs[0]
	const secret = "0123456789abcdef-cli-secret"
	lns, err := demo.OpenListeners(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := demo.MonitorConfig(dir, 0, lns, master.Addr(), time.Second)
	cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSCACertFile = pair.CertFile, pair.KeyFile, ca.CertFile
	cfg.TLSCluster, cfg.ClusterSecret, cfg.AdminToken = "yes", secret, "admin-token-1"
	testenv.RunMonitor(t, cfg, lns[0])

	// The monitor's file, as an operator would have it on that host.
	file := filepath.Join(dir, "m1.yaml")
	yaml := fmt.Sprintf(`node-id: m1
raft-addr: %q
http-addr: %q
data-dir: %q
peers:
  - {id: m1, raft-addr: %q}
masters:
  - {name: mymaster, addr: %q, quorum: 1}
tls-cert-file: %q
tls-key-file: %q
tls-ca-cert-file: %q
tls-cluster: "yes"
cluster-secret: %q
admin-token: admin-token-1
`, cfg.RaftAddr, cfg.HTTPAddr, cfg.DataDir, cfg.RaftAddr, master.Addr(), pair.CertFile, pair.KeyFile, ca.CertFile, secret)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	testenv.Eventually(t, 15*time.Second, "status over https with --config", func() error {
		out, err := run(t, "status", "--config", file)
		if err != nil {
			return err
		}
		if !strings.Contains(out, "mymaster") || !strings.Contains(out, "leader") {
			return fmt.Errorf("status output lacks the master or the leader:\n%s", out)
		}
		return nil
	})

	// A signed proposal reaches the leader, which judges it.
	_, err = run(t, "leave", "m9", "--config", file)
	if err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("leave of a non-member with the secret: want the leader's \"not a member\" verdict, got %v", err)
	}

	// Without the file: plain http to a TLS server, and no secret.
	if out, err := run(t, "status", "--via", cfg.HTTPAddr); err == nil {
		t.Fatalf("status over plain http to a tls-cluster monitor succeeded:\n%s", out)
	}
	wrong := filepath.Join(dir, "wrong.yaml")
	if err := os.WriteFile(wrong, []byte(strings.Replace(yaml, secret, "another-secret-0123456789", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "leave", "m9", "--config", wrong)
	if err == nil || !strings.Contains(err.Error(), "cluster secret") {
		t.Fatalf("leave signed with the wrong secret: want a cluster-secret refusal, got %v", err)
	}
}
