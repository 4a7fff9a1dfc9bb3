package daemon

import (
	"crypto/tls"
	"testing"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/internal/testing/testcerts"
)

// buildSecurity turns the tls-* keys into the TLS configurations each
// listener and dialer uses.
func TestBuildSecurity(t *testing.T) {
	ca, pairs := testcerts.MustCA(t, t.TempDir(), "m")
	p := pairs[0]
	base := config.Default()
	base.TLSCertFile, base.TLSKeyFile, base.TLSCACertFile = p.CertFile, p.KeyFile, ca.CertFile

	plain, err := buildSecurity(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	if plain.resp != nil || plain.clusterServer != nil || plain.probe != nil || plain.secret != nil {
		t.Fatalf("no tls-* keys, yet %+v", plain)
	}
	for mode, want := range map[string]tls.ClientAuthType{"": tls.RequireAndVerifyClientCert, "yes": tls.RequireAndVerifyClientCert,
		"optional": tls.VerifyClientCertIfGiven, "no": tls.NoClientCert} {
		c := base
		c.TLSPort, c.TLSAuthClients = 26380, mode
		ns, err := buildSecurity(c)
		if err != nil {
			t.Fatal(err)
		}
		if ns.resp == nil || ns.resp.ClientAuth != want || len(ns.resp.Certificates) != 1 {
			t.Fatalf("tls-auth-clients %q: %+v", mode, ns.resp)
		}
		if ns.clusterServer != nil || ns.probe != nil {
			t.Fatalf("tls-port alone turned on cluster or replication TLS")
		}
	}
	c := base
	c.TLSCluster, c.TLSReplication, c.ClusterSecret = "yes", "yes", "0123456789abcdef"
	ns, err := buildSecurity(c)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case ns.resp != nil:
		t.Fatal("tls-port is off, yet a RESP TLS config")
	case ns.clusterServer.ClientAuth != tls.RequireAndVerifyClientCert || ns.clusterClient.RootCAs == nil ||
		len(ns.clusterClient.Certificates) != 1:
		t.Fatal("cluster links are not mutual TLS")
	case ns.httpServer.ClientAuth != tls.VerifyClientCertIfGiven:
		t.Fatal("the HTTP server must verify a client certificate when given, not require one")
	case ns.probe == nil || ns.probe.RootCAs == nil || len(ns.probe.Certificates) != 1:
		t.Fatal("tls-replication: no CA or client certificate toward Redis")
	case string(ns.secret) != "0123456789abcdef" || string(ns.quorum().Secret) != "0123456789abcdef":
		t.Fatal("cluster secret not passed on")
	}
}
