package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftsentinel/raftsentinel/internal/testing/testcerts"
)

func TestValidateTLS(t *testing.T) {
	dir := t.TempDir()
	ca, pairs := testcerts.MustCA(t, dir, "a", "b")
	a, b := pairs[0], pairs[1]
	notPEM := filepath.Join(dir, "junk.pem")
	secretFile := filepath.Join(dir, "secret")
	emptyFile := filepath.Join(dir, "empty")
	for f, content := range map[string]string{notPEM: "not a certificate", secretFile: "  0123456789abcdef0123\n", emptyFile: "\n"} {
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	full := func(c *Config) {
		c.TLSPort = 26380
		c.TLSCertFile, c.TLSKeyFile, c.TLSCACertFile = a.CertFile, a.KeyFile, ca.CertFile
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string // "" = valid
	}{
		{"tls-port with cert, key and CA", full, ""},
		{"plain port off", func(c *Config) { full(c); c.Listen = "" }, ""},
		{"whole TLS with secret file", func(c *Config) {
			full(c)
			c.TLSCluster, c.TLSReplication, c.TLSAuthClients, c.ClusterSecretFile = "yes", "yes", "optional", secretFile
		}, ""},
		{"no client auth needs no CA", func(c *Config) { full(c); c.TLSCACertFile, c.TLSAuthClients = "", "no" }, ""},
		{"tls-replication alone (system roots)", func(c *Config) { c.TLSReplication = "yes" }, ""},
		{"listen off without tls-port", func(c *Config) { c.Listen = "" }, "listen: must be set"},
		{"tls-port without certificate", func(c *Config) { c.TLSPort = 26380 }, "tls-cert-file, tls-key-file: must be set for tls-port"},
		{"tls-cluster without certificate", func(c *Config) { c.TLSCluster = "yes" }, "must be set for tls-cluster yes"},
		{"tls-cluster without CA", func(c *Config) {
			c.TLSCluster, c.TLSCertFile, c.TLSKeyFile = "yes", a.CertFile, a.KeyFile
		}, "tls-ca-cert-file: must be set for tls-cluster yes"},
		{"tls-port without CA", func(c *Config) { full(c); c.TLSCACertFile = "" }, "tls-ca-cert-file: must be set for tls-auth-clients yes"},
		{"key without certificate", func(c *Config) { c.TLSKeyFile = a.KeyFile }, "tls-cert-file: must be set with tls-key-file"},
		{"missing certificate file", func(c *Config) { full(c); c.TLSCertFile = filepath.Join(dir, "nope.crt") }, "tls-cert-file: stat"},
		{"missing key file", func(c *Config) { full(c); c.TLSKeyFile = filepath.Join(dir, "nope.key") }, "tls-key-file: stat"},
		{"certificate and key mismatch", func(c *Config) { full(c); c.TLSKeyFile = b.KeyFile }, "are not a certificate and its key"},
		{"CA not PEM", func(c *Config) { full(c); c.TLSCACertFile = notPEM }, "tls-ca-cert-file: " + notPEM + " holds no PEM certificate"},
		{"missing CA file", func(c *Config) { full(c); c.TLSCACertFile = filepath.Join(dir, "nope") }, "tls-ca-cert-file: open"},
		{"bad tls-auth-clients", func(c *Config) { c.TLSAuthClients = "maybe" }, "tls-auth-clients: must be yes, no or optional"},
		{"bad tls-cluster", func(c *Config) { c.TLSCluster = "true" }, `tls-cluster: must be yes or no, got "true"`},
		{"bad tls-replication", func(c *Config) { c.TLSReplication = "1" }, "tls-replication: must be yes or no"},
		{"bad tls-port", func(c *Config) { c.TLSPort = 70000 }, "tls-port: must be 0 (off) or a port 1-65535"},
		{"both secrets", func(c *Config) { c.ClusterSecret, c.ClusterSecretFile = "0123456789abcdef", secretFile }, "set one, not both"},
		{"short secret", func(c *Config) { c.ClusterSecret = "short" }, "cluster-secret: the secret must be at least 16 characters, got 5"},
		{"missing secret file", func(c *Config) { c.ClusterSecretFile = filepath.Join(dir, "nope") }, "cluster-secret-file: open"},
		{"empty secret file", func(c *Config) { c.ClusterSecretFile = emptyFile }, "cluster-secret-file: " + emptyFile + " is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := validConfig()
			c.edit(&cfg)
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			case err != nil && !errors.Is(err, ErrInvalid):
				t.Fatalf("%v does not wrap ErrInvalid", err)
			}
		})
	}
}

// With the plain port off, announce follows tls-port; the secret file's
// content is the secret, white space trimmed.
func TestLoadTLS(t *testing.T) {
	dir := t.TempDir()
	ca, pairs := testcerts.MustCA(t, dir, "a")
	a := pairs[0]
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, minimalYAML+`listen: ""
tls-port: 26380
tls-cert-file: `+a.CertFile+`
tls-key-file: `+a.KeyFile+`
tls-ca-cert-file: `+ca.CertFile+`
tls-cluster: "yes"
cluster-secret-file: `+secretFile+"\n")
	cfg, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Announce != "127.0.0.1:26380" || cfg.TLSListen() != "0.0.0.0:26380" || !cfg.TLSClusterOn() {
		t.Fatalf("announce %q, tls listen %q, cluster %v", cfg.Announce, cfg.TLSListen(), cfg.TLSClusterOn())
	}
	s, err := cfg.Secret()
	if err != nil || string(s) != "0123456789abcdef0123" {
		t.Fatalf("secret %q, %v", s, err)
	}
}
