package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/quorum"
)

// netSecurity is the TLS material and cluster secret of one monitor, built
// from the tls-* and cluster-secret keys. Nil configs mean plain TCP.
type netSecurity struct {
	resp          *tls.Config // tls-port (server)
	clusterServer *tls.Config // raft listener: mutual TLS
	clusterClient *tls.Config // raft dials, forwarding, join
	httpServer    *tls.Config // the HTTP server: verifies a client certificate when one is given
	probe         *tls.Config // tls-replication: toward Redis nodes
	secret        []byte
}

func buildSecurity(cfg config.Config) (netSecurity, error) {
	var ns netSecurity
	secret, err := cfg.Secret()
	if err != nil {
		return ns, err
	}
	ns.secret = secret
	var certs []tls.Certificate
	if cfg.TLSCertFile != "" {
		kp, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return ns, fmt.Errorf("tls-cert-file, tls-key-file: %w", err)
		}
		certs = []tls.Certificate{kp}
	}
	var pool *x509.CertPool // nil: the system roots (tls-replication only)
	if cfg.TLSCACertFile != "" {
		if pool, err = config.LoadCertPool(cfg.TLSCACertFile); err != nil {
			return ns, err
		}
	}
	if cfg.TLSPort > 0 {
		ns.resp = &tls.Config{Certificates: certs, ClientCAs: pool, MinVersion: tls.VersionTLS12}
		switch cfg.TLSAuthClientsMode() {
		case "yes":
			ns.resp.ClientAuth = tls.RequireAndVerifyClientCert
		case "optional":
			ns.resp.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	if cfg.TLSClusterOn() {
		ns.clusterServer = &tls.Config{Certificates: certs, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
			MinVersion: tls.VersionTLS12}
		ns.clusterClient = &tls.Config{Certificates: certs, RootCAs: pool, MinVersion: tls.VersionTLS12}
		ns.httpServer = ns.clusterServer.Clone()
		ns.httpServer.ClientAuth = tls.VerifyClientCertIfGiven
	}
	if cfg.TLSReplicationOn() {
		ns.probe = &tls.Config{Certificates: certs, RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return ns, nil
}

func (ns netSecurity) quorum() quorum.Security {
	return quorum.Security{ServerTLS: ns.clusterServer, ClientTLS: ns.clusterClient, Secret: ns.secret}
}

// requireClusterCert guards the internal endpoints under tls-cluster: the
// HTTP server verifies client certificates only when given (so /metrics and
// the admin API work without one), the monitor-to-monitor paths need one.
func (ns netSecurity) requireClusterCert(h http.Handler) http.Handler {
	if ns.httpServer == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, "a client certificate signed by tls-ca-cert-file is required (tls-cluster)", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
