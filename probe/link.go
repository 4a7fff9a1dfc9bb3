package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// link is a short-lived go-redis client toward one node for one command
// sequence (Promote, ReplicaOf, Role, FAILOVER, CLIENT PAUSE), owned by
// exactly one goroutine (not safe for concurrent use). The periodic probes
// do not use it: they have their own connection per node (pconn).
//
// The link dials the TCP connection itself and hands it to a fresh go-redis
// client. Three reasons: a dead node's dial errors then never reach the
// go-redis pool, which would otherwise log every failed dial and, after
// PoolSize failures, latch into a background re-dial loop that retries
// only once per second (slow recovery, and a goroutine that outlives
// Close by up to a second); dial time counts against the same deadline as
// the command; and after any error the link is dropped and the next use
// starts from a new connection.
type link struct {
	addr    string
	name    string        // CLIENT SETNAME, "" = none
	timeout time.Duration // go-redis socket timeouts (the ctx deadline wins)

	auth Auth
	gen  uint64 // auth generation the client was built with

	cl     *redis.Client
	pre    *preDialed
	dialer *dialer
}

// dialer opens a connection to a node: TCP through dial (nil: a
// net.Dialer), then the TLS handshake when tls is set.
type dialer struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	tls  *tls.Config
}

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	dial := d.dial
	if dial == nil {
		var nd net.Dialer
		dial = nd.DialContext
	}
	conn, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if d.tls == nil {
		return conn, nil
	}
	cfg := d.tls
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// preDialed holds a connection dialed by the link until go-redis asks for
// it. Later dials (go-redis replacing a connection it found dead while
// idle, e.g. after CLIENT KILL) go to the network as usual, and a failure
// is handed over as a failedConn.
type preDialed struct {
	mu   sync.Mutex
	conn net.Conn
}

func (p *preDialed) take() net.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.conn
	p.conn = nil
	return c
}

// setAuth switches credentials; the next call to client reconnects.
func (l *link) setAuth(a Auth, gen uint64) {
	if gen != l.gen {
		l.reset()
		l.auth, l.gen = a, gen
	}
}

// client returns the go-redis client, dialing first if there is none.
func (l *link) client(ctx context.Context) (*redis.Client, error) {
	if l.cl != nil {
		return l.cl, nil
	}
	dl := l.dialer
	if dl == nil {
		dl = &dialer{}
	}
	conn, err := dl.DialContext(ctx, "tcp", l.addr)
	if err != nil {
		return nil, err
	}
	pre := &preDialed{conn: conn}
	l.pre = pre
	opt := &redis.Options{
		Addr: l.addr,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if c := pre.take(); c != nil {
				return c, nil
			}
			c, err := dl.DialContext(ctx, network, addr)
			if err != nil {
				return failedConn{fmt.Errorf("probe: dial %s: %w", addr, err)}, nil
			}
			return c, nil
		},
		ClientName:               l.name,
		Username:                 l.auth.User,
		Password:                 l.auth.Pass,
		Protocol:                 2, // what Sentinel speaks; works on every Redis version
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		PoolSize:                 2,
		MaxRetries:               -1,
		DialerRetries:            1,
		DialerRetryTimeout:       time.Millisecond,
		DialTimeout:              l.timeout,
		ReadTimeout:              l.timeout,
		WriteTimeout:             l.timeout,
		PoolTimeout:              l.timeout,
		ContextTimeoutEnabled:    true,
	}
	applyRenames(opt, l.auth)
	l.cl = redis.NewClient(opt)
	return l.cl, nil
}

// applyRenames makes the connection setup of opt send the renamed AUTH
// and CLIENT of a (go-redis sends those names as they are): when AUTH is
// renamed, go-redis gets no credentials and the renamed AUTH is sent
// first on each new connection (its refusal fails the connection, as
// go-redis' own AUTH does); in both cases CLIENT SETNAME is sent here,
// with the renamed CLIENT, after any AUTH, and an error reply to it is
// ignored, as Sentinel ignores it. HELLO is not renamed (Sentinel never sends it):
// without credentials it may be refused, and go-redis then goes on in
// RESP2, which is what the links speak.
func applyRenames(opt *redis.Options, a Auth) {
	renamedAuth := a.renamed("AUTH") && a.Pass != ""
	renamedClient := a.renamed("CLIENT") && opt.ClientName != ""
	if !renamedAuth && !renamedClient {
		return
	}
	// go-redis' CLIENT SETNAME would precede the AUTH: the name is always
	// set here.
	name := opt.ClientName
	opt.ClientName = ""
	if renamedAuth {
		opt.Username, opt.Password = "", ""
	}
	opt.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
		if renamedAuth {
			args := []any{a.Cmd("AUTH"), a.Pass}
			if a.User != "" {
				args = []any{a.Cmd("AUTH"), a.User, a.Pass}
			}
			if err := cn.Do(ctx, args...).Err(); err != nil {
				return err
			}
		}
		if name != "" {
			if err := cn.Do(ctx, a.Cmd("CLIENT"), "SETNAME", name).Err(); err != nil && !isReply(err) {
				return err
			}
		}
		return nil
	}
}

// do runs fn with the client (dialing if needed) and drops the link after
// any error except the given acceptable replies, so the next call starts
// from a fresh connection.
func (l *link) do(ctx context.Context, fn func(*redis.Client) error) error {
	cl, err := l.client(ctx)
	if err != nil {
		return err
	}
	err = fn(cl)
	if err != nil && !keepLinkAfter(err) {
		l.reset()
	}
	return err
}

// keepLinkAfter reports whether the connection is certainly still usable
// after err: a plain error reply to the command itself.
func keepLinkAfter(err error) bool {
	return redis.HasErrorPrefix(err, "LOADING") || redis.HasErrorPrefix(err, "MASTERDOWN")
}

// reset closes the client (and a connection it never claimed).
func (l *link) reset() {
	if l.cl != nil {
		_ = l.cl.Close()
		l.cl = nil
	}
	if l.pre != nil {
		if c := l.pre.take(); c != nil {
			_ = c.Close()
		}
		l.pre = nil
	}
}

// failedConn stands for a connection go-redis asked for but that could not
// be dialed: every operation fails with the dial error. Handing go-redis
// this instead of the error keeps a dead node out of its pool's dial-error
// accounting and logging; the command fails with the dial error and the
// link is dropped.
type failedConn struct{ err error }

func (c failedConn) Read([]byte) (int, error)         { return 0, c.err }
func (c failedConn) Write([]byte) (int, error)        { return 0, c.err }
func (c failedConn) Close() error                     { return nil }
func (c failedConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c failedConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c failedConn) SetDeadline(time.Time) error      { return nil }
func (c failedConn) SetReadDeadline(time.Time) error  { return nil }
func (c failedConn) SetWriteDeadline(time.Time) error { return nil }

// isReply reports whether err is an error reply from Redis (the node
// answered), as opposed to a network error, a timeout or a cancellation.
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}
