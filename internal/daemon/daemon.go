// Package daemon assembles one raftsentinel monitor from its configuration:
// the Raft store, the prober, the brain, the Sentinel-protocol server and
// the internal HTTP server. The command line, the demo and the integration
// tests all use this one assembly.
package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/raftsentinel/raftsentinel/sentinel"
	"github.com/raftsentinel/raftsentinel/sentinel/resp"
)

// Version is reported as redis_version by the Sentinel-protocol server (the
// Redis Sentinel release whose protocol we follow).
const Version = "7.0.15"

// Listeners are optional pre-opened listeners; nil ones are opened from the
// configured addresses. Tests pass 127.0.0.1:0 listeners.
type Listeners struct {
	RESP, Raft, HTTP net.Listener
}

// Options are the non-configuration inputs of a Daemon.
type Options struct {
	Listeners Listeners
	Logger    *slog.Logger
	// Registry receives the monitor's metrics; nil: a new registry (served
	// on /metrics either way).
	Registry *prometheus.Registry
	// Level, if set, is the log level variable Reload adjusts.
	Level *slog.LevelVar
	// Tick overrides the brain's decision period (tests); 0 = default.
	Tick time.Duration
}

// ErrSimulatedCrash is returned by Run when a SENTINEL SIMULATE-FAILURE
// point stopped the monitor; the command exits 99, as Sentinel does.
var ErrSimulatedCrash = errors.New("simulated crash (SENTINEL SIMULATE-FAILURE)")

// Daemon is one running monitor.
type Daemon struct {
	nodeID    string     // fixed at start (Reload refuses to change it)
	joinAddrs []string   // fixed at start
	cfgMu     sync.Mutex // guards cfg against Reload
	level     *slog.LevelVar
	reloads   *reloadMetrics
	crash     chan struct{}
	crashOnce sync.Once
	cfg       config.Config
	log       *slog.Logger
	store     *quorum.Store
	prober    *probe.Prober
	mon       *sentinel.Monitor
	resp      *resp.Server
	http      *http.Server
	lnRESP    net.Listener
	lnHTTP    net.Listener
	runID     string

	closeOnce sync.Once
}

// New opens the data directory, the Raft store and the listeners. Nothing
// runs until Run.
func New(cfg config.Config, opt Options) (d *Daemon, err error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("monitor", cfg.NodeID)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data-dir %s: %w", cfg.DataDir, err)
	}
	runID, err := loadRunID(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	d = &Daemon{cfg: cfg, nodeID: cfg.NodeID, joinAddrs: cfg.Join, log: log, runID: runID, crash: make(chan struct{}), level: opt.Level}
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()
	listen := func(l net.Listener, addr, what string) (net.Listener, error) {
		if l != nil {
			return l, nil
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s: listen %s: %w", what, addr, err)
		}
		return l, nil
	}
	if d.lnRESP, err = listen(opt.Listeners.RESP, cfg.Listen, "listen"); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { d.lnRESP.Close() })
	if d.lnHTTP, err = listen(opt.Listeners.HTTP, cfg.HTTPAddr, "http-addr"); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { d.lnHTTP.Close() })

	peers := make([]quorum.Peer, 0, len(cfg.Peers))
	for _, p := range cfg.Peers {
		peers = append(peers, quorum.Peer{ID: p.ID, RaftAddr: p.RaftAddr})
	}
	d.store, err = quorum.Open(quorum.Options{
		ID: cfg.NodeID, RaftAddr: cfg.RaftAddr, Listener: opt.Listeners.Raft, DataDir: filepath.Join(cfg.DataDir, "raft"),
		Peers: peers, HeartbeatTimeout: cfg.Raft.HeartbeatTimeout, ElectionTimeout: cfg.Raft.ElectionTimeout,
		LeaderLeaseTimeout: cfg.Raft.LeaderLeaseTimeout, CommitTimeout: cfg.Raft.CommitTimeout,
		SnapshotInterval: cfg.Raft.SnapshotInterval, SnapshotThreshold: cfg.Raft.SnapshotThreshold,
		ApplyTimeout: cfg.Raft.ApplyTimeout, Forward: quorum.HTTPForwarder(&http.Client{Timeout: 2 * time.Second}),
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { d.store.Close() })

	reg := opt.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	pm := newProbeMetrics(reg)
	d.reloads = newReloadMetrics(reg)
	d.prober = probe.New(probe.Options{PingPeriod: cfg.Probe.PingPeriod, InfoPeriod: cfg.Probe.InfoPeriod,
		Timeout: cfg.Probe.Timeout, ClientName: "raftsentinel-" + runID[:8] + "-cmd", Logger: log, OnPing: pm.observe})

	announce, err := quorum.ParseAddr(cfg.Announce)
	if err != nil {
		return nil, fmt.Errorf("announce %q: %w", cfg.Announce, err)
	}
	masters := make([]quorum.Master, 0, len(cfg.Masters))
	for _, m := range cfg.Masters {
		a, err := quorum.ParseAddr(m.Addr)
		if err != nil {
			return nil, fmt.Errorf("masters: %s: addr %q: %w", m.Name, m.Addr, err)
		}
		masters = append(masters, quorum.Master{Name: m.Name, Addr: a, Quorum: m.Quorum, DownAfter: m.DownAfter,
			FailoverTimeout: m.FailoverTimeout, ParallelSyncs: m.ParallelSyncs, AuthUser: m.AuthUser, AuthPass: m.AuthPass})
	}
	self := quorum.Monitor{ID: cfg.NodeID, RunID: runID, RaftAddr: d.store.RaftAddr(),
		HTTPAddr: d.lnHTTP.Addr().String(), Announce: announce}
	dm := config.DefaultMaster()
	defaults := quorum.Master{DownAfter: dm.DownAfter, FailoverTimeout: dm.FailoverTimeout, ParallelSyncs: dm.ParallelSyncs}
	users := map[string]string{}
	for _, u := range cfg.Users {
		users[u.Name] = u.Password
	}
	pub := &hubPublisher{}
	d.mon = sentinel.New(d.store, d.prober, sentinel.Options{
		Self: self, Masters: masters, Tick: opt.Tick,
		OpinionRefresh: cfg.Opinion.Refresh, OpinionTTL: cfg.Opinion.TTL,
		PingPeriod: cfg.Probe.PingPeriod, InfoPeriod: cfg.Probe.InfoPeriod,
		Defaults: defaults, ElectionTimeout: cfg.Raft.ElectionTimeout,
		LocalRedis: cfg.LocalRedis, FenceAfter: cfg.FenceAfter, StaleAfter: cfg.StaleAfter,
		Publisher: pub, Logger: log, Metrics: sentinel.NewMetrics(reg),
		OnCrash: func() { d.crashOnce.Do(func() { close(d.crash) }) },
	})
	handler := sentinel.NewHandler(d.mon, sentinel.HandlerOptions{Version: Version, MasterDefaults: defaults,
		RequirePass: cfg.RequirePass, Users: users})
	d.resp = resp.NewServer(handler,
		resp.Options{Logger: log.With("component", "resp"), MaxClients: cfg.MaxClients})
	pub.hub = d.resp.Hub()

	reg.MustRegister(d.store.Collector(), d.mon.Collector(), respCollector{d.resp, handler},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.http = &http.Server{Handler: d.routes(reg), ReadHeaderTimeout: 5 * time.Second}
	return d, nil
}

// RESPAddr is the address the Sentinel-protocol server listens on.
func (d *Daemon) RESPAddr() string { return d.lnRESP.Addr().String() }

// HTTPAddr is the internal HTTP server's address.
func (d *Daemon) HTTPAddr() string { return d.lnHTTP.Addr().String() }

// RaftAddr is the Raft transport's address.
func (d *Daemon) RaftAddr() string { return d.store.RaftAddr() }

// Store exposes the Raft store (status and tests).
func (d *Daemon) Store() *quorum.Store { return d.store }

// RunID is this monitor's Sentinel id (SENTINEL MYID).
func (d *Daemon) RunID() string { return d.runID }

// Run serves until ctx is done, then stops everything it started: on the
// way out a leader first hands leadership to another monitor.
func (d *Daemon) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() {
		if err := d.resp.Serve(d.lnRESP); err != nil {
			errc <- fmt.Errorf("sentinel server: %w", err)
		}
	}()
	go func() {
		if err := d.http.Serve(d.lnHTTP); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	}()
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		_ = d.mon.Run(mctx)
		close(done)
	}()
	d.log.Info("monitor running", "sentinel", d.RESPAddr(), "raft", d.RaftAddr(), "http", d.HTTPAddr(), "myid", d.runID)
	joined := make(chan struct{})
	if len(d.joinAddrs) > 0 {
		go func() {
			defer close(joined)
			d.join(mctx)
		}()
	} else {
		close(joined)
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	case <-d.crash:
		err = ErrSimulatedCrash
	}
	if d.store.IsLeader() && err != ErrSimulatedCrash {
		tctx, tcancel := context.WithTimeout(context.Background(), 2*time.Second)
		if terr := d.store.TransferLeadership(tctx); terr != nil {
			d.log.Warn("could not hand leadership over before stopping", "err", terr)
		} else {
			id, _ := d.store.Leader()
			d.log.Info("leadership handed over before stopping", "to", id)
		}
		tcancel()
	}
	cancel()
	<-done
	<-joined
	d.Close()
	return err
}

// join asks the monitors of cfg.Join, in turn, to add this one as a voter,
// until one has (or this one already is a member) or ctx ends.
func (d *Daemon) join(ctx context.Context) {
	fwd := quorum.HTTPForwarder(&http.Client{Timeout: 3 * time.Second})
	self := &quorum.Monitor{ID: d.nodeID, RaftAddr: d.RaftAddr()}
	for {
		if servers, err := d.store.Servers(); err == nil {
			if _, ok := servers[d.nodeID]; ok {
				return // a member already (e.g. restarted after joining)
			}
		}
		for _, a := range d.joinAddrs {
			jctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, err := fwd(jctx, quorum.Monitor{ID: a, HTTPAddr: a}, quorum.Command{Op: quorum.OpJoin, Monitor: self})
			cancel()
			if err == nil {
				d.log.Info("joined the monitor group", "via", a)
				return
			}
			d.log.Warn("join failed; retrying", "via", a, "err", err)
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Close releases everything; Run calls it. Idempotent.
func (d *Daemon) Close() error {
	var err error
	d.closeOnce.Do(func() {
		d.resp.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		d.http.Shutdown(sctx)
		cancel()
		d.prober.Close()
		err = d.store.Close()
	})
	return err
}

// hubPublisher lets the brain, built before the server whose handler reads
// it, publish to that server's hub. hub is set before anything runs.
type hubPublisher struct{ hub *resp.Hub }

func (p *hubPublisher) Publish(channel, message string) int { return p.hub.Publish(channel, message) }

// loadRunID reads the 40-hex Sentinel id from dir/myid, creating it once.
func loadRunID(dir string) (string, error) {
	p := filepath.Join(dir, "myid")
	b, err := os.ReadFile(p)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if len(id) == 40 {
			if _, herr := hex.DecodeString(id); herr == nil {
				return id, nil
			}
		}
		return "", fmt.Errorf("%s: not a 40-hex id (delete it to generate a new one)", p)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	raw := make([]byte, 20)
	_, _ = rand.Read(raw)
	id := hex.EncodeToString(raw)
	if err := os.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	return id, nil
}
