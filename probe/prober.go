// Package probe owns every connection from a monitor to the Redis data
// nodes: periodic PING and INFO, replica discovery from INFO, ROLE, and the
// commands that change a node (REPLICAOF with CONFIG REWRITE and CLIENT
// KILL, as Sentinel sends them).
//
// Probe results are monitor-local soft state (Observation); nothing here
// knows about Raft or failover decisions.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Default option values.
const (
	DefaultPingPeriod     = 100 * time.Millisecond
	DefaultInfoPeriod     = time.Second
	DefaultTimeout        = 80 * time.Millisecond
	DefaultCommandTimeout = 2 * time.Second
)

// Options configure a Prober. Zero values take the defaults.
type Options struct {
	PingPeriod time.Duration // PING period; default 100ms
	InfoPeriod time.Duration // INFO period; default 1s
	// Timeout bounds one probe (dial, connection setup and the command)
	// for PING and INFO; default 80ms. Keep it below PingPeriod: a hung
	// node is seen as disconnected after at most PingPeriod+Timeout.
	Timeout time.Duration
	// CommandTimeout bounds Promote, ReplicaOf and Role when their ctx has
	// no deadline; default 2s.
	CommandTimeout time.Duration
	ClientName     string           // CLIENT SETNAME on every connection (e.g. "raftsentinel-ab12cd34-cmd"); "" = none
	Logger         *slog.Logger     // nil = discard
	Now            func() time.Time // clock for Observation timestamps; nil = time.Now
	// OnPing, if set, is called after every PING with its round trip and
	// error (metrics). It must not block.
	OnPing func(addr string, rtt time.Duration, err error)
	// TLSConfig, when set, makes every connection to a node TLS (Sentinel's
	// tls-replication yes): RootCAs verify the node, Certificates are the
	// client certificate. An empty ServerName is taken from the node's host.
	// The TLS handshake counts against the probe's deadline.
	TLSConfig *tls.Config
	// Dial, when set, opens the TCP connections to nodes (tests inject one
	// to cut links); nil: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultOptions are the prober's defaults; config builds its probe.*
// defaults from them.
func DefaultOptions() Options {
	return Options{PingPeriod: DefaultPingPeriod, InfoPeriod: DefaultInfoPeriod, Timeout: DefaultTimeout,
		CommandTimeout: DefaultCommandTimeout}
}

// Validate reports options no prober can run with (zero values are
// defaults, not errors).
func (o Options) Validate() error {
	o = o.withDefaults()
	if o.Timeout >= o.PingPeriod {
		return fmt.Errorf("probe: Timeout (%v) must be shorter than PingPeriod (%v)", o.Timeout, o.PingPeriod)
	}
	return nil
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.PingPeriod <= 0 {
		o.PingPeriod = d.PingPeriod
	}
	if o.InfoPeriod <= 0 {
		o.InfoPeriod = d.InfoPeriod
	}
	if o.Timeout <= 0 {
		o.Timeout = d.Timeout
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = d.CommandTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Prober probes a set of Redis nodes. Each watched node has three
// goroutines: one sending PING every PingPeriod (never more than one in
// flight) and one sending INFO every InfoPeriod, each over its own small
// go-redis client, and one holding an idle watch connection whose closing
// (the node died or restarted) triggers a PING at once — so a dead node is
// seen as disconnected within a round trip, as Sentinel sees its links
// close, not at the next PingPeriod.
//
// All methods are safe for concurrent use. Observe never blocks on the
// network. Unwatch and Close wait for the node's goroutines to stop, which
// takes at most about Timeout (an in-flight probe is abandoned at its
// deadline).
type Prober struct {
	opt Options
	log *slog.Logger

	mu     sync.Mutex
	nodes  map[string]*node
	closed bool

	// The current periods (SetPeriods); changed is closed and replaced
	// when they change, waking the loops to reset their tickers.
	pmu        sync.Mutex
	pingPeriod time.Duration
	infoPeriod time.Duration
	changed    chan struct{}
}

// node is the probing state of one address.
type node struct {
	addr   string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // RefreshInfo: run INFO now
	ping   chan struct{} // the watch connection closed: PING now

	mu      sync.Mutex
	auth    Auth
	authGen uint64
	obs     Observation
	wasUp   bool // for logging link transitions
}

// New returns a Prober that watches nothing yet.
func New(opt Options) *Prober {
	opt = opt.withDefaults()
	return &Prober{
		opt:        opt,
		log:        opt.Logger.With("component", "probe"),
		nodes:      make(map[string]*node),
		pingPeriod: opt.PingPeriod,
		infoPeriod: opt.InfoPeriod,
		changed:    make(chan struct{}),
	}
}

// SetPeriods changes the PING and INFO periods of every watched node (and
// of nodes watched later) at run time (SENTINEL DEBUG PING-PERIOD and
// INFO-PERIOD); a period <= 0 keeps that one. Each loop sends its next
// probe at once and then probes at the new period. The watch connection is
// redialed at most once per the new PING period.
func (p *Prober) SetPeriods(ping, info time.Duration) {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	if ping <= 0 {
		ping = p.pingPeriod
	}
	if info <= 0 {
		info = p.infoPeriod
	}
	if ping == p.pingPeriod && info == p.infoPeriod {
		return
	}
	p.pingPeriod, p.infoPeriod = ping, info
	close(p.changed)
	p.changed = make(chan struct{})
}

// Periods returns the current PING and INFO periods.
func (p *Prober) Periods() (ping, info time.Duration) {
	ping, info, _ = p.periods()
	return ping, info
}

func (p *Prober) periods() (ping, info time.Duration, changed <-chan struct{}) {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	return p.pingPeriod, p.infoPeriod, p.changed
}

// Watch starts probing addr (host:port) with the given link settings
// (credentials and command renames). It is idempotent; calling it again
// with different settings (Auth.Equal) makes both probe loops drop their
// connections and reconnect (and AUTH) with the new ones at once, without
// waiting for the next period (the Observation is kept); every later
// command uses the new renames. After Close it is a no-op.
func (p *Prober) Watch(addr string, auth Auth) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if n, ok := p.nodes[addr]; ok {
		n.mu.Lock()
		changed := !n.auth.Equal(auth)
		if changed {
			n.auth = auth
			n.authGen++
		}
		n.mu.Unlock()
		if changed {
			p.log.Info("credentials or renamed commands changed: reconnecting", "addr", addr, "user", auth.User)
			for _, ch := range []chan struct{}{n.ping, n.kick} {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{
		addr:    addr,
		ctx:     ctx,
		cancel:  cancel,
		kick:    make(chan struct{}, 1),
		ping:    make(chan struct{}, 1),
		auth:    auth,
		authGen: 1,
		obs:     Observation{Addr: addr, Priority: 100, ReplicaAnnounced: true},
	}
	p.nodes[addr] = n
	n.wg.Add(3)
	go p.pingLoop(n)
	go p.infoLoop(n)
	go p.watchLoop(n)
	p.log.Debug("watching node", "addr", addr)
}

// Unwatch stops probing addr, forgets its Observation and waits for its
// goroutines to end. Unknown addresses are ignored.
func (p *Prober) Unwatch(addr string) {
	p.mu.Lock()
	n, ok := p.nodes[addr]
	if ok {
		delete(p.nodes, addr)
	}
	p.mu.Unlock()
	if !ok {
		return
	}
	n.cancel()
	n.wg.Wait()
	p.log.Debug("stopped watching node", "addr", addr)
}

// Watched returns the watched addresses, sorted.
func (p *Prober) Watched() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.nodes))
	for a := range p.nodes {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Observe returns a copy of the latest Observation of addr, and false if
// addr is not watched.
func (p *Prober) Observe(addr string) (Observation, bool) {
	p.mu.Lock()
	n, ok := p.nodes[addr]
	p.mu.Unlock()
	if !ok {
		return Observation{}, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	o := n.obs
	o.Replicas = slices.Clone(n.obs.Replicas)
	return o, true
}

// RefreshInfo asks for an INFO of addr now instead of at the next period
// (e.g. while waiting for a promotion to show). It does not wait and is a
// no-op for unknown addresses.
func (p *Prober) RefreshInfo(addr string) {
	p.mu.Lock()
	n, ok := p.nodes[addr]
	p.mu.Unlock()
	if !ok {
		return
	}
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// Close stops every probe goroutine and closes every client, waiting for
// them. Later Watch calls are no-ops. Close is idempotent and always
// returns nil.
func (p *Prober) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	nodes := p.nodes
	p.nodes = map[string]*node{}
	p.mu.Unlock()
	for _, n := range nodes {
		n.cancel()
	}
	for _, n := range nodes {
		n.wg.Wait()
	}
	return nil
}

func (n *node) credentials() (Auth, uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.auth, n.authGen
}

func (p *Prober) newLink(addr string) *link {
	return &link{addr: addr, name: p.opt.ClientName, timeout: p.opt.Timeout, dialer: p.dialer()}
}

// dialer is the connection factory of every link: Options.Dial (or a
// net.Dialer), then TLS when Options.TLSConfig is set.
func (p *Prober) dialer() *dialer {
	return &dialer{dial: p.opt.Dial, tls: p.opt.TLSConfig}
}

// pingLoop sends one PING per period; because it waits for each reply (or
// its deadline) before the next tick is taken, at most one PING is in
// flight, and ticks that fire meanwhile are dropped.
func (p *Prober) pingLoop(n *node) {
	defer n.wg.Done()
	l := p.newLink(n.addr)
	defer l.reset()
	period, _, changed := p.periods()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		p.pingOnce(n, l)
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.ping:
		case <-changed:
			period, _, changed = p.periods()
			t.Reset(period)
		}
	}
}

// watchLoop keeps one idle connection to the node and waits for it to
// close: Redis sends nothing on a connection that sent nothing, so a read
// returns only when the node closes it (it died, restarted or dropped
// clients) or the network breaks it. Then it asks the PING loop to probe at
// once (the PING decides; a node that merely dropped idle clients answers
// it) and dials again, at most once per PingPeriod.
func (p *Prober) watchLoop(n *node) {
	defer n.wg.Done()
	d := p.dialer()
	period, _, changed := p.periods()
	t := time.NewTicker(period)
	defer t.Stop()
	buf := make([]byte, 512)
	for {
		auth, _ := n.credentials()
		ctx, cancel := context.WithTimeout(n.ctx, p.opt.Timeout)
		conn, err := d.DialContext(ctx, "tcp", n.addr)
		cancel()
		if err == nil {
			stop := context.AfterFunc(n.ctx, func() { conn.Close() })
			if p.opt.ClientName != "" {
				// Named like the other links (its reply is read and ignored
				// below; without AUTH it is -NOAUTH, which is fine too).
				name := p.opt.ClientName + "-watch"
				client := auth.Cmd("CLIENT")
				_, err = fmt.Fprintf(conn, "*3\r\n$%d\r\n%s\r\n$7\r\nSETNAME\r\n$%d\r\n%s\r\n", len(client), client, len(name), name)
			}
			for err == nil {
				_, err = conn.Read(buf)
			}
			stop()
			conn.Close()
			if n.ctx.Err() != nil {
				return
			}
			select {
			case n.ping <- struct{}{}:
			default:
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-changed:
			period, _, changed = p.periods()
			t.Reset(period)
		}
	}
}

// PING outcome classes (Sentinel §3.1).
const (
	pingValid       = iota // +PONG, -LOADING, -MASTERDOWN
	pingAuthRefused        // -WRONGPASS, -ERR invalid password, -NOAUTH: a reply, but the link is unusable
	pingInvalid            // any other reply (-BUSY, ...): the link is up, the PING stays unanswered
	pingNoReply            // network error, timeout: disconnected
)

func classifyPing(err error) int {
	switch {
	case err == nil, keepLinkAfter(err):
		return pingValid
	case isAuthRefused(err):
		return pingAuthRefused
	case isReply(err):
		return pingInvalid
	default:
		return pingNoReply
	}
}

// isAuthRefused reports whether err is the node refusing the credentials:
// a wrong password or user (WRONGPASS; "ERR invalid password" before Redis
// 6), or none given to a node that requires one (NOAUTH), whether it
// answered the AUTH (or HELLO) of the connection setup or the command.
func isAuthRefused(err error) bool {
	return redis.HasErrorPrefix(err, "WRONGPASS") || redis.HasErrorPrefix(err, "NOAUTH") ||
		redis.HasErrorPrefix(err, "invalid password")
}

func (p *Prober) pingOnce(n *node, l *link) {
	auth, gen := n.credentials()
	l.setAuth(auth, gen)

	sent := p.opt.Now()
	n.mu.Lock()
	if n.obs.LastPingSent.IsZero() {
		n.obs.LastPingSent = sent
	}
	n.mu.Unlock()

	ctx, cancel := context.WithTimeout(n.ctx, p.opt.Timeout)
	start := time.Now()
	err := l.do(ctx, func(c *redis.Client) error { return c.Do(ctx, auth.Cmd("PING")).Err() })
	rtt := time.Since(start)
	cancel()
	if n.ctx.Err() != nil {
		return // unwatched or closed: not an observation
	}

	at := p.opt.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	o := &n.obs
	prevErr := o.LastError
	switch classifyPing(err) {
	case pingValid:
		o.Connected, o.LinkBroken, o.AuthRefused = true, false, false
		o.LastPingSent = time.Time{}
		o.LastOKPing = at
		o.LastPingReply = at
		o.LastError = ""
		o.PingLatency = rtt
	case pingAuthRefused:
		o.Connected, o.LinkBroken, o.AuthRefused = false, false, true
		o.LastPingReply = at
		o.LastError = err.Error()
		if o.LastError != prevErr {
			p.log.Warn("the node refuses the credentials", "addr", n.addr, "user", auth.User, "err", err)
		}
	case pingInvalid:
		o.Connected, o.LinkBroken, o.AuthRefused = true, false, false
		o.LastPingReply = at
		o.LastError = err.Error()
		if o.LastError != prevErr {
			p.log.Warn("invalid PING reply", "addr", n.addr, "err", err)
		}
	default:
		o.Connected, o.AuthRefused = false, false
		o.LinkBroken = !isTimeout(err)
		o.LastError = err.Error()
	}
	if p.opt.OnPing != nil {
		p.opt.OnPing(n.addr, rtt, err)
	}
	switch {
	case o.Connected && !n.wasUp:
		p.log.Info("link up", "addr", n.addr, "rtt", rtt)
	case !o.Connected && n.wasUp:
		p.log.Warn("link down", "addr", n.addr, "err", err)
	}
	n.wasUp = o.Connected
}

// isTimeout tells a PING that got no answer in time (the link may be
// fine) from a broken or refused connection.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// infoLoop sends INFO every period, or at once after RefreshInfo.
func (p *Prober) infoLoop(n *node) {
	defer n.wg.Done()
	l := p.newLink(n.addr)
	defer l.reset()
	_, period, changed := p.periods()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		p.infoOnce(n, l)
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.kick:
		case <-changed:
			_, period, changed = p.periods()
			t.Reset(period)
		}
	}
}

func (p *Prober) infoOnce(n *node, l *link) {
	auth, gen := n.credentials()
	l.setAuth(auth, gen)

	ctx, cancel := context.WithTimeout(n.ctx, p.opt.Timeout)
	var text string
	err := l.do(ctx, func(c *redis.Client) error {
		var err error
		text, err = c.Do(ctx, auth.Cmd("INFO")).Text()
		return err
	})
	cancel()
	if n.ctx.Err() != nil {
		return
	}
	var in Info
	if err == nil {
		in, err = ParseInfo(text)
	}
	at := p.opt.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	o := &n.obs
	if err != nil {
		if o.InfoError == "" {
			p.log.Debug("INFO failed", "addr", n.addr, "err", err)
		}
		o.InfoError = err.Error()
		return
	}
	if o.Role != in.Role {
		if o.Role != "" {
			p.log.Info("role changed", "addr", n.addr, "from", o.Role, "to", in.Role)
		}
		o.RoleChangedAt = at
	}
	o.InfoAt = at
	o.InfoError = ""
	o.RunID = in.RunID
	o.Role = in.Role
	o.MasterHost = in.MasterHost
	o.MasterPort = in.MasterPort
	o.MasterLinkUp = in.MasterLinkUp
	o.MasterLinkDownMs = in.MasterLinkDownMs
	o.ReplOffset = in.ReplOffset
	o.Priority = in.Priority
	o.ReplicaAnnounced = in.ReplicaAnnounced
	o.Replicas = in.Replicas
	o.RedisVersion = in.RedisVersion
	o.Loading = in.Loading
	o.InfoText = text
}
