package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// MinClusterSecret is the shortest cluster secret accepted.
const MinClusterSecret = 16

// TLSListen is the address of the Sentinel-protocol server over TLS: the
// host of listen (0.0.0.0 when listen is "") and tls-port; "" when
// tls-port is 0.
func (c Config) TLSListen() string {
	if c.TLSPort == 0 {
		return ""
	}
	host := "0.0.0.0"
	if h, _, err := net.SplitHostPort(c.Listen); err == nil && h != "" {
		host = h
	}
	return net.JoinHostPort(host, strconv.Itoa(c.TLSPort))
}

// TLSClusterOn reports whether tls-cluster is yes.
func (c Config) TLSClusterOn() bool { return c.TLSCluster == "yes" }

// TLSReplicationOn reports whether tls-replication is yes.
func (c Config) TLSReplicationOn() bool { return c.TLSReplication == "yes" }

// TLSAuthClientsMode is tls-auth-clients with "" read as yes.
func (c Config) TLSAuthClientsMode() string {
	if c.TLSAuthClients == "" {
		return "yes"
	}
	return c.TLSAuthClients
}

// Secret returns the cluster secret from cluster-secret or
// cluster-secret-file (nil when neither is set).
func (c Config) Secret() ([]byte, error) {
	if c.ClusterSecretFile == "" {
		if c.ClusterSecret == "" {
			return nil, nil
		}
		return []byte(c.ClusterSecret), nil
	}
	b, err := os.ReadFile(c.ClusterSecretFile)
	if err != nil {
		return nil, fmt.Errorf("cluster-secret-file: %w", err)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

// validateTLS checks the tls-* and cluster-secret keys, reading the files
// they name: each must exist and parse, and the certificate and key must
// be a pair.
func (c *Config) validateTLS(p *problems) {
	if c.TLSPort < 0 || c.TLSPort > 65535 {
		p.addf("tls-port: must be 0 (off) or a port 1-65535, got %d", c.TLSPort)
	}
	yesNo := func(key, v string) {
		if v != "yes" && v != "no" && v != "" {
			p.addf("%s: must be yes or no, got %q", key, v)
		}
	}
	yesNo("tls-replication", c.TLSReplication)
	yesNo("tls-cluster", c.TLSCluster)
	switch c.TLSAuthClients {
	case "", "yes", "no", "optional":
	default:
		p.addf("tls-auth-clients: must be yes, no or optional, got %q", c.TLSAuthClients)
	}

	var needCert []string
	if c.TLSPort > 0 {
		needCert = append(needCert, "tls-port")
	}
	if c.TLSClusterOn() {
		needCert = append(needCert, "tls-cluster yes")
	}
	switch {
	case c.TLSCertFile == "" && c.TLSKeyFile == "":
		if len(needCert) > 0 {
			p.addf("tls-cert-file, tls-key-file: must be set for %s", strings.Join(needCert, " and "))
		}
	case c.TLSCertFile == "":
		p.addf("tls-cert-file: must be set with tls-key-file")
	case c.TLSKeyFile == "":
		p.addf("tls-key-file: must be set with tls-cert-file")
	default:
		p.add(checkKeyPair(c.TLSCertFile, c.TLSKeyFile))
	}

	var needCA []string
	if c.TLSPort > 0 && c.TLSAuthClientsMode() != "no" {
		needCA = append(needCA, "tls-auth-clients "+c.TLSAuthClientsMode())
	}
	if c.TLSClusterOn() {
		needCA = append(needCA, "tls-cluster yes")
	}
	if c.TLSCACertFile == "" {
		if len(needCA) > 0 {
			p.addf("tls-ca-cert-file: must be set for %s", strings.Join(needCA, " and "))
		}
	} else if _, err := LoadCertPool(c.TLSCACertFile); err != nil {
		p.add(err)
	}

	if c.ClusterSecret != "" && c.ClusterSecretFile != "" {
		p.addf("cluster-secret, cluster-secret-file: set one, not both")
		return
	}
	secret, err := c.Secret()
	switch {
	case err != nil:
		p.add(err)
	case c.ClusterSecretFile != "" && len(secret) == 0:
		p.addf("cluster-secret-file: %s is empty", c.ClusterSecretFile)
	case secret != nil && len(secret) < MinClusterSecret:
		key := "cluster-secret"
		if c.ClusterSecretFile != "" {
			key = "cluster-secret-file"
		}
		p.addf("%s: the secret must be at least %d characters, got %d", key, MinClusterSecret, len(secret))
	}
}

// checkKeyPair loads a certificate and its key as tls.LoadX509KeyPair does,
// naming the key at fault.
func checkKeyPair(certFile, keyFile string) error {
	if _, err := os.Stat(certFile); err != nil {
		return fmt.Errorf("tls-cert-file: %w", err)
	}
	if _, err := os.Stat(keyFile); err != nil {
		return fmt.Errorf("tls-key-file: %w", err)
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		return fmt.Errorf("tls-cert-file, tls-key-file: %s and %s are not a certificate and its key: %w", certFile, keyFile, err)
	}
	return nil
}

// LoadCertPool reads a PEM CA bundle (tls-ca-cert-file).
func LoadCertPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls-ca-cert-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls-ca-cert-file: %s holds no PEM certificate", file)
	}
	return pool, nil
}
