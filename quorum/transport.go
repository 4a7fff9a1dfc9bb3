package quorum

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// ErrClusterSecret is returned (wrapped) when the other end of a
// monitor-to-monitor connection or request does not prove the cluster
// secret.
var ErrClusterSecret = errors.New("quorum: peer did not prove the cluster secret")

// DialFunc dials a monitor-to-monitor connection. Tests inject one to cut
// links between chosen monitors (a partition).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Security is how monitor-to-monitor connections are protected. The zero
// value is plain TCP with no secret.
type Security struct {
	// ServerTLS, when set, makes the raft listener speak TLS with it (set
	// ClientAuth to tls.RequireAndVerifyClientCert and ClientCAs for mutual
	// TLS).
	ServerTLS *tls.Config
	// ClientTLS, when set, makes raft dials speak TLS with it (RootCAs, and
	// Certificates for mutual TLS). An empty ServerName is taken from the
	// dialed host.
	ClientTLS *tls.Config
	// Secret, when not empty, is the cluster secret: every raft connection
	// starts with a challenge-response handshake in both directions
	// (HMAC-SHA256 over fresh nonces, compared in constant time; the secret
	// itself never crosses the wire), and a peer that fails it is
	// disconnected before raft sees a byte. Forwarded proposals carry an
	// HMAC of their body (see SignRequest).
	Secret []byte
	// HandshakeTimeout bounds the TLS and secret handshakes of one
	// connection; default 5s.
	HandshakeTimeout time.Duration
}

func (s Security) handshakeTimeout() time.Duration {
	if s.HandshakeTimeout > 0 {
		return s.HandshakeTimeout
	}
	return 5 * time.Second
}

// clientTLSFor returns ClientTLS with ServerName set for addr (nil when TLS
// is off).
func (s Security) clientTLSFor(addr string) *tls.Config {
	if s.ClientTLS == nil {
		return nil
	}
	c := s.ClientTLS.Clone()
	if c.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			c.ServerName = host
		}
	}
	return c
}

// The secret handshake, after TLS when TLS is on:
//
//	dialer   → acceptor: "RSC1" nonceD[32]
//	acceptor → dialer:   nonceA[32] HMAC(secret, "accept" nonceD nonceA)
//	dialer   → acceptor: HMAC(secret, "dial" nonceA nonceD)
//	acceptor → dialer:   0x01
//
// Distinct labels keep one side's proof from being replayed as the other's;
// fresh nonces on both sides keep a recorded exchange from being replayed.
const (
	handshakeMagic = "RSC1"
	nonceLen       = 32
	macLen         = sha256.Size
)

func handshakeMAC(secret []byte, label string, a, b []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("raftsentinel-cluster-" + label))
	m.Write(a)
	m.Write(b)
	return m.Sum(nil)
}

// proveDialer runs the dialer's side of the secret handshake on c.
func proveDialer(c net.Conn, secret []byte) error {
	nonceD := make([]byte, nonceLen)
	_, _ = rand.Read(nonceD)
	if _, err := c.Write(append([]byte(handshakeMagic), nonceD...)); err != nil {
		return fmt.Errorf("quorum: cluster handshake: %w", err)
	}
	buf := make([]byte, nonceLen+macLen)
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("%w: handshake: %w", ErrClusterSecret, err)
	}
	nonceA, macA := buf[:nonceLen], buf[nonceLen:]
	if !hmac.Equal(macA, handshakeMAC(secret, "accept", nonceD, nonceA)) {
		return fmt.Errorf("%w: the listener's proof is wrong", ErrClusterSecret)
	}
	if _, err := c.Write(handshakeMAC(secret, "dial", nonceA, nonceD)); err != nil {
		return fmt.Errorf("quorum: cluster handshake: %w", err)
	}
	ok := make([]byte, 1)
	if _, err := io.ReadFull(c, ok); err != nil || ok[0] != 1 {
		return fmt.Errorf("%w: the listener refused our proof", ErrClusterSecret)
	}
	return nil
}

// proveAcceptor runs the acceptor's side of the secret handshake on c.
func proveAcceptor(c net.Conn, secret []byte) error {
	buf := make([]byte, len(handshakeMagic)+nonceLen)
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("%w: handshake: %w", ErrClusterSecret, err)
	}
	if string(buf[:len(handshakeMagic)]) != handshakeMagic {
		return fmt.Errorf("%w: no handshake (a peer without cluster-secret?)", ErrClusterSecret)
	}
	nonceD := buf[len(handshakeMagic):]
	nonceA := make([]byte, nonceLen)
	_, _ = rand.Read(nonceA)
	if _, err := c.Write(append(nonceA, handshakeMAC(secret, "accept", nonceD, nonceA)...)); err != nil {
		return fmt.Errorf("quorum: cluster handshake: %w", err)
	}
	macD := make([]byte, macLen)
	if _, err := io.ReadFull(c, macD); err != nil {
		return fmt.Errorf("%w: handshake: %w", ErrClusterSecret, err)
	}
	if !hmac.Equal(macD, handshakeMAC(secret, "dial", nonceA, nonceD)) {
		return fmt.Errorf("%w: the dialer's proof is wrong", ErrClusterSecret)
	}
	if _, err := c.Write([]byte{1}); err != nil {
		return fmt.Errorf("quorum: cluster handshake: %w", err)
	}
	return nil
}

// secureServer runs the server side of TLS and the secret handshake on a
// freshly accepted connection.
func (s Security) secureServer(c net.Conn) (net.Conn, error) {
	_ = c.SetDeadline(time.Now().Add(s.handshakeTimeout()))
	if s.ServerTLS != nil {
		tc := tls.Server(c, s.ServerTLS)
		if err := tc.Handshake(); err != nil {
			return nil, fmt.Errorf("quorum: tls handshake from %s: %w", c.RemoteAddr(), err)
		}
		c = tc
	}
	if len(s.Secret) > 0 {
		if err := proveAcceptor(c, s.Secret); err != nil {
			return nil, err
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// secureClient runs the client side of TLS and the secret handshake on a
// freshly dialed connection to addr, bounded by deadline.
func (s Security) secureClient(ctx context.Context, c net.Conn, addr string) (net.Conn, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	if cfg := s.clientTLSFor(addr); cfg != nil {
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("quorum: tls handshake with %s: %w", addr, err)
		}
		c = tc
	}
	if len(s.Secret) > 0 {
		if err := proveDialer(c, s.Secret); err != nil {
			return nil, fmt.Errorf("%s: %w", addr, err)
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// streamLayer is raft's StreamLayer over a listener we opened ourselves, so
// port 0 works and the advertised address is the bound one. It adds TLS
// and the cluster-secret handshake (Security) in both directions and dials
// through an injectable DialFunc.
//
// Handshakes of accepted connections run in their own goroutines (a slow or
// hostile peer does not hold up the others); Accept returns only
// connections that passed. Close also closes every accepted connection:
// raft's NetworkTransport leaves its inbound connection handlers blocked on
// reads otherwise.
type streamLayer struct {
	ln   net.Listener
	adv  net.Addr
	sec  Security
	dial DialFunc
	// refused is told of every inbound connection that failed the
	// handshakes.
	refused func(err error)
	log     *slog.Logger

	ready chan net.Conn
	done  chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newStreamLayer(ln net.Listener, adv net.Addr, sec Security, dial DialFunc, refused func(error), log *slog.Logger) *streamLayer {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	l := &streamLayer{ln: ln, adv: adv, sec: sec, dial: dial, refused: refused, log: log,
		ready: make(chan net.Conn), done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

func (l *streamLayer) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *streamLayer) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

func (l *streamLayer) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("raft accept failed", "err", err)
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-l.done:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		if !l.track(c) {
			c.Close()
			return
		}
		l.wg.Add(1)
		go l.handshake(c)
	}
}

func (l *streamLayer) handshake(raw net.Conn) {
	defer l.wg.Done()
	c, err := l.sec.secureServer(raw)
	if err != nil {
		l.refused(fmt.Errorf("from %s: %w", raw.RemoteAddr(), err))
		l.untrack(raw)
		raw.Close()
		return
	}
	tc := &trackedConn{Conn: c, raw: raw, l: l}
	select {
	case l.ready <- tc:
	case <-l.done:
		tc.Close()
	}
}

// Accept returns the next inbound connection that passed the handshakes.
func (l *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting, closes every accepted connection and waits for the
// handshakes in flight. Idempotent.
func (l *streamLayer) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	for c := range l.conns {
		c.Close()
	}
	l.conns = nil
	l.mu.Unlock()
	err := l.ln.Close()
	l.wg.Wait()
	return err
}

func (l *streamLayer) Addr() net.Addr { return l.adv }

// Dial connects to a peer's raft address and runs the client handshakes.
func (l *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	raw, err := l.dial(ctx, "tcp", string(addr))
	if err != nil {
		return nil, err
	}
	c, err := l.sec.secureClient(ctx, raw, string(addr))
	if err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// trackedConn is an accepted connection; closing it forgets it.
type trackedConn struct {
	net.Conn
	raw net.Conn
	l   *streamLayer
}

func (c *trackedConn) Close() error {
	c.l.untrack(c.raw)
	return c.Conn.Close()
}
