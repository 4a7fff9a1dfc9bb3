// Package daemon assembles one raftsentinel monitor from its configuration:
// the Raft store, the prober, the brain, the Sentinel-protocol server and
// the internal HTTP server. The command line, the demo and the integration
// tests all use this one assembly.
package daemon

import (
	"context"
	"crypto/rand"
	"crypto/tls"
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
	"golang.org/x/sync/errgroup"

	"github.com/raftsentinel/raftsentinel/acl"
	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/discovery"
	"github.com/raftsentinel/raftsentinel/failover"
	"github.com/raftsentinel/raftsentinel/internal/scripts"
	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/raftsentinel/raftsentinel/resp"
	"github.com/raftsentinel/raftsentinel/sentinel"
	"github.com/raftsentinel/raftsentinel/state"
)

// Version is reported as redis_version by the Sentinel-protocol server (the
// Redis Sentinel release whose protocol we follow).
const Version = "7.0.15"

// Listeners are optional pre-opened listeners; nil ones are opened from the
// configured addresses. Tests pass 127.0.0.1:0 listeners. TLS is the plain
// TCP listener of tls-port (the daemon adds TLS); it is used only when
// tls-port is set or it is given. RESP is opened only when listen is not
// "" or it is given.
type Listeners struct {
	RESP, Raft, HTTP, TLS net.Listener
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
	// Dial, when set, opens every monitor-to-monitor connection (Raft,
	// proposal forwarding, join); RedisDial every connection to a Redis
	// node. Fault-injection tests cut links with them; nil: net.Dialer.
	Dial      quorum.DialFunc
	RedisDial quorum.DialFunc
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
	// stopReq is closed by SHUTDOWN: Run returns nil, as on SIGTERM.
	stopReq  chan struct{}
	stopOnce sync.Once
	cfg      config.Config
	log      *slog.Logger
	store    *quorum.Store
	prober   *probe.Prober
	mon      *failover.Brain
	resp     *resp.Server
	http     *http.Server
	lnRESP   net.Listener // nil when the plain port is off
	lnTLS    net.Listener // tls-port, TLS already layered; nil when off
	lnHTTP   net.Listener // TLS already layered under tls-cluster
	sec      netSecurity
	httpTr   *http.Transport // forwarding and join
	runID    string
	disc     *discovery.Discoverer // drop-in mode only
	helloBus *probe.HelloBus       // drop-in mode only
	scripts  *scripts.Runner       // drop-in mode with scripts only
	confw    *confWriter           // drop-in mode only

	// events receives the brain's and discovery's events: the RESP hub,
	// through the scripts in drop-in mode. Set in New, read after it.
	events failover.Publisher
	// extra are further components Run runs beside the others (tests).
	extra []func(context.Context) error

	closeOnce sync.Once
}

// New opens the data directory, the Raft store and the listeners, and
// builds every component (store, prober, brain, drop-in parts, servers).
// Nothing runs until Run.
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
	d = &Daemon{cfg: cfg, nodeID: cfg.NodeID, joinAddrs: cfg.Join, log: log, runID: runID, crash: make(chan struct{}), stopReq: make(chan struct{}), level: opt.Level}
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()
	if d.sec, err = buildSecurity(cfg); err != nil {
		return nil, err
	}
	httpAddr, err := d.openListeners(cfg, opt.Listeners, &cleanup)
	if err != nil {
		return nil, err
	}
	d.httpTr = &http.Transport{TLSClientConfig: d.sec.clusterClient, DialContext: opt.Dial,
		MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
	if err := d.newStore(cfg, opt); err != nil {
		return nil, err
	}
	store := d.store
	cleanup = append(cleanup, func() { store.Close() })

	reg := opt.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	d.reloads = newReloadMetrics(reg)
	pm := newProbeMetrics(reg)
	d.prober = probe.New(probe.Options{PingPeriod: cfg.Probe.PingPeriod, InfoPeriod: cfg.Probe.InfoPeriod,
		Timeout: cfg.Probe.Timeout, ClientName: "raftsentinel-" + runID[:8] + "-cmd", Logger: log, OnPing: pm.observe,
		TLSConfig: d.sec.probe, Dial: opt.RedisDial})

	announce, err := state.ParseAddr(cfg.Announce)
	if err != nil {
		return nil, fmt.Errorf("announce %q: %w", cfg.Announce, err)
	}
	self := state.Monitor{ID: cfg.NodeID, RunID: runID, RaftAddr: d.store.RaftAddr(), HTTPAddr: httpAddr, Announce: announce}
	masters := make([]state.Master, 0, len(cfg.Masters))
	for _, m := range cfg.Masters {
		spec, err := masterSpec(cfg, m)
		if err != nil {
			return nil, err
		}
		masters = append(masters, spec)
	}
	hub := &hubPublisher{}
	d.events = hub
	var parts dropInParts
	if cfg.DropIn.Enabled {
		if parts, err = d.newDropIn(cfg, self, reg, hub); err != nil {
			return nil, err
		}
	}
	d.holdFileMasters(masters)
	d.newBrain(cfg, opt, self, masters, parts.refuse, reg)
	handler, err := d.newServer(cfg, parts)
	if err != nil {
		return nil, err
	}
	hub.hub = d.resp.Hub()
	reg.MustRegister(d.store.Collector(), sentinel.Collector(d.mon, nil), respCollector{d.resp, handler},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.http = &http.Server{Handler: d.routes(reg), ReadHeaderTimeout: 5 * time.Second}
	return d, nil
}

// openListeners opens (or takes from given) the Sentinel-protocol, TLS and
// HTTP listeners, registering their closing in cleanup, and returns the
// HTTP address as announced to the other monitors.
func (d *Daemon) openListeners(cfg config.Config, given Listeners, cleanup *[]func()) (httpAddr string, err error) {
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
	if given.RESP != nil || cfg.Listen != "" {
		ln, err := listen(given.RESP, cfg.Listen, "listen")
		if err != nil {
			return "", err
		}
		d.lnRESP = ln
		*cleanup = append(*cleanup, func() { ln.Close() })
	}
	if given.TLS != nil || cfg.TLSPort > 0 {
		if d.sec.resp == nil {
			return "", fmt.Errorf("tls-port: a TLS listener was given but tls-port, tls-cert-file and tls-key-file are not set")
		}
		ln, err := listen(given.TLS, cfg.TLSListen(), "tls-port")
		if err != nil {
			return "", err
		}
		*cleanup = append(*cleanup, func() { ln.Close() })
		d.lnTLS = tls.NewListener(ln, d.sec.resp)
	}
	if d.lnRESP == nil && d.lnTLS == nil {
		return "", fmt.Errorf("listen: the plain port is off and tls-port is not set")
	}
	ln, err := listen(given.HTTP, cfg.HTTPAddr, "http-addr")
	if err != nil {
		return "", err
	}
	*cleanup = append(*cleanup, func() { ln.Close() })
	d.lnHTTP = ln
	if d.sec.httpServer != nil {
		d.lnHTTP = tls.NewListener(ln, d.sec.httpServer)
	}
	return ln.Addr().String(), nil
}

// newStore opens the Raft store in <data-dir>/raft.
func (d *Daemon) newStore(cfg config.Config, opt Options) error {
	peers := make([]quorum.Peer, 0, len(cfg.Peers))
	for _, p := range cfg.Peers {
		peers = append(peers, quorum.Peer{ID: p.ID, RaftAddr: p.RaftAddr})
	}
	var err error
	d.store, err = quorum.Open(quorum.Options{
		ID: cfg.NodeID, RaftAddr: cfg.RaftAddr, Listener: opt.Listeners.Raft, DataDir: filepath.Join(cfg.DataDir, "raft"),
		Peers: peers, HeartbeatTimeout: cfg.Raft.HeartbeatTimeout, ElectionTimeout: cfg.Raft.ElectionTimeout,
		LeaderLeaseTimeout: cfg.Raft.LeaderLeaseTimeout, CommitTimeout: cfg.Raft.CommitTimeout,
		SnapshotInterval: cfg.Raft.SnapshotInterval, SnapshotThreshold: cfg.Raft.SnapshotThreshold,
		ApplyTimeout: cfg.Raft.ApplyTimeout, Forward: d.forwarder(2 * time.Second),
		Security: d.sec.quorum(), Dial: opt.Dial, Logger: d.log,
	})
	return err
}

// dropInParts are what drop-in mode adds to the brain and the server.
type dropInParts struct {
	refuse      func(master string) string // Redis Sentinels share the master
	scriptsOf   func(master string) (notify, reconf string)
	checkScript func(option, path string) (string, error)
	setScript   func(master, option, resolved string) error
}

// newDropIn builds drop-in mode's discovery, file rewriting and scripts;
// the brain's events then go through the scripts (d.events).
func (d *Daemon) newDropIn(cfg config.Config, self state.Monitor, reg prometheus.Registerer, hub *hubPublisher) (dropInParts, error) {
	var parts dropInParts
	// d.events is read when an event is published, after New returns.
	d.disc, d.helloBus = newDiscovery(d, cfg, self, reg, func(ch, msg string) { d.events.Publish(ch, msg) })
	parts.refuse = d.disc.Refused
	base, err := loadEpochBase(cfg.DataDir, cfg.DropIn.CurrentEpoch)
	if err != nil {
		return parts, err
	}
	paths, err := loadScriptPaths(filepath.Join(cfg.DataDir, "scripts.json"), filepath.Dir(cfg.DataDir),
		cfg.DropIn.NotificationScripts, cfg.DropIn.ReconfigScripts)
	if err != nil {
		return parts, err
	}
	d.confw = &confWriter{path: cfg.DropIn.ConfPath, selfID: cfg.NodeID, myID: d.runID, base: base, store: d.store, log: d.log, scripts: paths}
	if !cfg.DropIn.DenyScriptsReconfig || len(cfg.DropIn.NotificationScripts)+len(cfg.DropIn.ReconfigScripts) > 0 {
		d.scripts = scripts.New(scripts.Options{Logger: d.log})
		d.events = &scriptPublisher{next: hub, runner: d.scripts, paths: paths, selfID: cfg.NodeID, store: d.store}
	}
	parts.scriptsOf = paths.get
	if !cfg.DropIn.DenyScriptsReconfig {
		parts.checkScript, parts.setScript = paths.check, paths.set
	}
	return parts, nil
}

// holdFileMasters holds the configuration's masters at once when there is
// no group yet (quorum's held.go), so they are answered from the first
// request on, not only after the brain's first step.
func (d *Daemon) holdFileMasters(masters []state.Master) {
	if d.store.HasGroup() {
		return
	}
	st := d.store.State()
	for i := range masters {
		if _, ok := st.Masters[masters[i].Name]; ok || st.Seeded[masters[i].Name] {
			continue
		}
		spec := masters[i]
		if err := d.store.Propose(context.Background(), state.Command{Op: state.OpAddMaster, Spec: &spec}); err != nil {
			d.log.Warn("could not hold a master of the configuration before the group forms", "master", spec.Name, "err", err)
		}
	}
}

// masterDefaults are the settings of masters added with SENTINEL MONITOR.
func masterDefaults() state.Master {
	dm := config.DefaultMaster()
	return state.Master{DownAfter: dm.DownAfter, FailoverTimeout: dm.FailoverTimeout, ParallelSyncs: dm.ParallelSyncs}
}

// The brain is the Sentinel handler's backend.
var _ sentinel.Backend = (*failover.Brain)(nil)

// newBrain builds the brain (failover.Brain) over the store and prober.
func (d *Daemon) newBrain(cfg config.Config, opt Options, self state.Monitor, masters []state.Master, refuse func(string) string, reg prometheus.Registerer) {
	d.mon = failover.New(d.store, d.prober, failover.Options{
		Refuse: refuse,
		// No leader known yet: the next tick proposes again.
		Transient: func(err error) bool { return errors.Is(err, quorum.ErrNoLeader) },
		Self:      self, Masters: masters, Tick: opt.Tick,
		OpinionRefresh: cfg.Opinion.Refresh, OpinionTTL: cfg.Opinion.TTL,
		PingPeriod: cfg.Probe.PingPeriod, InfoPeriod: cfg.Probe.InfoPeriod,
		Defaults: masterDefaults(), ElectionTimeout: cfg.Raft.ElectionTimeout,
		LocalRedis: cfg.LocalRedis, FenceAfter: cfg.FenceAfter, StaleAfter: cfg.StaleAfter,
		Publisher: d.events, Logger: d.log, Metrics: failover.NewMetrics(reg),
		OnCrash: func() { d.crashOnce.Do(func() { close(d.crash) }) },
		OnTimer: func(name string, v time.Duration) {
			// SENTINEL DEBUG SCRIPT-*: the runner's limits (PING/INFO
			// periods reach the prober through the monitor).
			if d.scripts == nil {
				return
			}
			switch name {
			case failover.TimerScriptMaxRuntime:
				d.scripts.SetLimits(v, 0)
			case failover.TimerScriptRetryDelay:
				d.scripts.SetLimits(0, v)
			}
		},
	})
}

// newServer builds the Sentinel-protocol handler and its RESP server.
func (d *Daemon) newServer(cfg config.Config, parts dropInParts) (resp.Handler, error) {
	users := map[string]string{}
	perms := map[string]*acl.Rules{}
	for i, u := range cfg.Users {
		users[u.Name] = u.Password
		if u.Commands != "" {
			r, err := acl.Parse(u.Commands)
			if err != nil { // Validate catches this; a caller may skip it
				return nil, fmt.Errorf("daemon: users[%d].commands: %w", i, err)
			}
			perms[u.Name] = r
		}
	}
	var flush func() error
	if d.confw != nil {
		flush = d.confw.flush
	}
	var pending func() []sentinel.PendingScript
	if d.scripts != nil {
		pending = func() []sentinel.PendingScript { return pendingScripts(d.scripts) }
	}
	handler := sentinel.NewHandler(d.mon, sentinel.HandlerOptions{Version: Version, MasterDefaults: masterDefaults(),
		RequirePass: cfg.RequirePass, Users: users, Permissions: perms, FlushConfig: flush, PendingScripts: pending,
		AnswerStale: cfg.StaleAfter == 0,
		Shutdown:    func() { d.stopOnce.Do(func() { close(d.stopReq) }) },
		Logger:      d.log.With("component", "sentinel"), Scripts: parts.scriptsOf, SetScript: parts.setScript,
		CheckScript: parts.checkScript})
	d.resp = resp.NewServer(handler,
		resp.Options{Logger: d.log.With("component", "resp"), MaxClients: cfg.MaxClients,
			IdleTimeout: cfg.ClientIdleTimeout, WriteTimeout: cfg.ClientWriteTimeout})
	return handler, nil
}

// masterSpec is the replicated definition of a master of the
// configuration (at start and when SIGHUP adds one): the one conversion
// from config to state.
func masterSpec(cfg config.Config, m config.Master) (state.Master, error) {
	a, err := state.ParseAddr(m.Addr)
	if err != nil {
		return state.Master{}, fmt.Errorf("masters: %s: addr %q: %w", m.Name, m.Addr, err)
	}
	return state.Master{Name: m.Name, Addr: a, Quorum: m.Quorum, DownAfter: m.DownAfter,
		FailoverTimeout: m.FailoverTimeout, ParallelSyncs: m.ParallelSyncs, AuthUser: m.AuthUser, AuthPass: m.AuthPass,
		RebootDownAfter: cfg.DropIn.RebootDownAfter[m.Name], RenameCommands: cfg.DropIn.RenameCommands[m.Name]}, nil
}

// RESPAddr is the address the Sentinel-protocol server listens on: the
// plain port, or the TLS port when the plain one is off.
func (d *Daemon) RESPAddr() string {
	if d.lnRESP == nil {
		return d.lnTLS.Addr().String()
	}
	return d.lnRESP.Addr().String()
}

// TLSAddr is the address of the Sentinel-protocol server over TLS ("" when
// tls-port is off).
func (d *Daemon) TLSAddr() string {
	if d.lnTLS == nil {
		return ""
	}
	return d.lnTLS.Addr().String()
}

// forwarder posts proposals to other monitors with the cluster's TLS and
// secret.
func (d *Daemon) forwarder(timeout time.Duration) func(context.Context, state.Monitor, state.Command) (uint64, error) {
	return quorum.NewHTTPForwarder(quorum.ForwardOptions{Client: &http.Client{Timeout: timeout, Transport: d.httpTr},
		TLS: d.sec.clusterClient != nil, Secret: d.sec.secret})
}

// HTTPAddr is the internal HTTP server's address.
func (d *Daemon) HTTPAddr() string { return d.lnHTTP.Addr().String() }

// RaftAddr is the Raft transport's address.
func (d *Daemon) RaftAddr() string { return d.store.RaftAddr() }

// Store exposes the Raft store (status and tests).
func (d *Daemon) Store() *quorum.Store { return d.store }

// RunID is this monitor's Sentinel id (SENTINEL MYID).
func (d *Daemon) RunID() string { return d.runID }

// Run serves until ctx is done or a client sends SHUTDOWN (then it
// returns nil, as for a cancelled ctx), then stops everything it started:
// on the way out a leader first hands leadership to another monitor.
func (d *Daemon) Run(ctx context.Context) error {
	errc := make(chan error, 3)
	for _, ln := range []net.Listener{d.lnRESP, d.lnTLS} {
		if ln == nil {
			continue
		}
		go func() {
			if err := d.resp.Serve(ln); err != nil {
				errc <- fmt.Errorf("sentinel server: %w", err)
			}
		}()
	}
	go func() {
		if err := d.http.Serve(d.lnHTTP); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	}()
	// The components run until mctx ends; the first that fails stops the
	// monitor, and Run returns its error.
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(mctx)
	g.Go(func() error { return wrapRun("brain", d.mon.Run(gctx)) })
	d.log.Info("monitor running", "sentinel", d.RESPAddr(), "sentinel_tls", d.TLSAddr(), "raft", d.RaftAddr(), "http", d.HTTPAddr(), "myid", d.runID)
	if d.disc != nil {
		g.Go(func() error { return wrapRun("discovery", d.disc.Run(gctx)) })
	}
	if d.confw != nil {
		g.Go(func() error { d.confw.run(gctx, time.Second); return nil })
	}
	if d.scripts != nil {
		g.Go(func() error { d.scripts.Run(gctx); return nil })
	}
	if len(d.joinAddrs) > 0 {
		g.Go(func() error { d.join(gctx); return nil })
	}
	for _, run := range d.extra {
		g.Go(func() error { return wrapRun("component", run(gctx)) })
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	case <-d.stopReq:
		d.log.Info("stopping: SHUTDOWN asked by a client")
	case <-d.crash:
		err = ErrSimulatedCrash
	case <-gctx.Done():
		if ctx.Err() == nil {
			err = g.Wait() // a component failed
			d.log.Error("stopping: a component failed", "err", err)
		}
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
	if werr := g.Wait(); err == nil {
		err = werr
	}
	d.Close()
	return err
}

// wrapRun names the component whose Run failed (nil stays nil).
func wrapRun(name string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// join asks the monitors of cfg.Join, in turn, to add this one as a voter,
// until one has (or this one already is a member) or ctx ends.
func (d *Daemon) join(ctx context.Context) {
	fwd := d.forwarder(3 * time.Second)
	self := &state.Monitor{ID: d.nodeID, RaftAddr: d.RaftAddr()}
	for {
		if servers, err := d.store.Servers(); err == nil {
			if _, ok := servers[d.nodeID]; ok {
				return // a member already (e.g. restarted after joining)
			}
		}
		for _, a := range d.joinAddrs {
			jctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, err := fwd(jctx, state.Monitor{ID: a, HTTPAddr: a}, state.Command{Op: state.OpJoin, Monitor: self})
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
		if d.helloBus != nil {
			d.helloBus.Close()
		}
		err = d.store.Close()
		d.httpTr.CloseIdleConnections()
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
