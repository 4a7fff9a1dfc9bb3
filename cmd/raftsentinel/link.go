package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/raftsentinel/raftsentinel/state"
)

// defaultVia is the http-addr the admin commands ask when neither --via nor
// --config says otherwise (the default http-addr).
const defaultVia = "127.0.0.1:17479"

// monitorLink is how an admin command (status, failover, join, leave)
// reaches a monitor's HTTP server. With --config it reads the monitor's own
// configuration file and talks to it as another monitor would: https with
// the monitor's certificate under tls-cluster, forwarded proposals signed
// with the cluster secret, the admin token from the file, and the file's
// http-addr unless --via is given.
type monitorLink struct {
	via        string
	configPath string
	token      string // admin token (flag); the file's admin-token when empty

	client *http.Client
	tls    bool
	secret []byte
}

// addFlags registers --via and --config on cmd.
func (l *monitorLink) addFlags(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&l.via, "via", "", "http-addr of "+what+" (default: http-addr of --config, else "+defaultVia+")")
	cmd.Flags().StringVar(&l.configPath, "config", "", "a monitor's configuration file: its http-addr, tls-cluster, tls-* files, "+
		"cluster secret and admin-token are used (needed when the group runs tls-cluster or a cluster-secret)")
}

// open prepares the HTTP client; call it once before the requests.
func (l *monitorLink) open() error {
	l.client = &http.Client{Timeout: 10 * time.Second}
	if l.configPath == "" {
		if l.via == "" {
			l.via = defaultVia
		}
		return nil
	}
	cfg, err := config.Load(l.configPath, nil)
	if err != nil {
		return err
	}
	if l.via == "" {
		l.via = cfg.HTTPAddr
	}
	if l.token == "" {
		l.token = cfg.AdminToken
	}
	if l.secret, err = cfg.Secret(); err != nil {
		return err
	}
	if cfg.TLSClusterOn() {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TLSCACertFile != "" {
			if tc.RootCAs, err = config.LoadCertPool(cfg.TLSCACertFile); err != nil {
				return err
			}
		}
		if cfg.TLSCertFile != "" {
			kp, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
			if err != nil {
				return fmt.Errorf("tls-cert-file, tls-key-file: %w", err)
			}
			tc.Certificates = []tls.Certificate{kp}
		}
		l.tls = true
		l.client.Transport = &http.Transport{TLSClientConfig: tc}
	}
	return nil
}

// close releases idle connections.
func (l *monitorLink) close() {
	if l.client != nil {
		l.client.CloseIdleConnections()
	}
}

// propose opens the link, commits cmd through the monitor (any member: it
// forwards to the leader) and closes the link.
func (l *monitorLink) propose(ctx context.Context, cmd state.Command) error {
	if err := l.open(); err != nil {
		return err
	}
	defer l.close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fwd := quorum.NewHTTPForwarder(quorum.ForwardOptions{Client: l.client, TLS: l.tls, Secret: l.secret})
	_, err := fwd(ctx, state.Monitor{ID: l.via, HTTPAddr: l.via}, cmd)
	return err
}

// getJSON calls the monitor's HTTP API and decodes the JSON answer; a
// non-2xx answer becomes an error carrying the server's message. The admin
// token is sent when set.
func (l *monitorLink) getJSON(ctx context.Context, method, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	scheme := "http://"
	if l.tls {
		scheme = "https://"
	}
	req, err := http.NewRequestWithContext(ctx, method, scheme+l.via+path, nil)
	if err != nil {
		return err
	}
	if l.token != "" {
		req.Header.Set("Authorization", "Bearer "+l.token)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var e map[string]string
		if json.Unmarshal(body, &e) == nil && e["error"] != "" {
			return fmt.Errorf("%s %s: %s", method, path, e["error"])
		}
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, v)
}
