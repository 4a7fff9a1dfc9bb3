// Package netfault is the test harness for network faults on loopback:
// Proxy, a TCP proxy in front of one address that can be cut (a
// partition of that node), and Links, a switchboard that cuts chosen pairs of monitors apart. The fault suites
// (internal/faults and others) use them; the shipped binary does not.
package netfault

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy is a TCP proxy on a free 127.0.0.1 port in front of one target
// address. Cut simulates a network partition of the target: every proxied
// connection is closed and new ones are closed as soon as they are
// accepted, until Heal. All methods are safe for concurrent use; Close
// stops every goroutine the proxy started before it returns.
type Proxy struct {
	ln     net.Listener
	target string
	ctx    context.Context // cancelled by Close: aborts dials in flight
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and one per client connection

	mu     sync.Mutex
	cut    bool
	closed bool
	conns  map[net.Conn]struct{} // both ends of every proxied connection
}

// NewProxy listens on 127.0.0.1:0 and forwards every accepted connection to
// target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{ln: ln, target: target, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's listening address, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the proxy's listening port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Cut closes every proxied connection and makes the proxy close new ones
// at once, until Heal.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.closeConnsLocked()
}

// Heal lets new connections through again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Conns is the number of open proxied connections.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

// Close stops listening, closes every connection and waits for every
// goroutine of the proxy. Idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.closeConnsLocked()
	p.mu.Unlock()
	if already {
		p.wg.Wait()
		return nil
	}
	p.cancel()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) closeConnsLocked() {
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept error (e.g. out of file descriptors):
			// keep serving unless the proxy is closing.
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed {
				return
			}
			continue
		}
		p.mu.Lock()
		if p.closed || p.cut {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.wg.Add(1) // under mu while not closed: Close's Wait cannot have returned
		p.mu.Unlock()
		go p.handle(c)
	}
}

// handle dials the target for one client connection and copies both ways
// until either side ends or the proxy cuts or closes the pair.
func (p *Proxy) handle(client net.Conn) {
	defer p.wg.Done()
	dctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	var d net.Dialer
	server, err := d.DialContext(dctx, "tcp", p.target)
	cancel()
	if err != nil {
		_ = client.Close()
		return
	}
	p.mu.Lock()
	if p.closed || p.cut {
		p.mu.Unlock()
		_ = client.Close()
		_ = server.Close()
		return
	}
	p.conns[client] = struct{}{}
	p.conns[server] = struct{}{}
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	// One direction ended: end the pair (Redis connections have no use
	// for a half-closed socket), which ends the other copy too.
	_ = client.Close()
	_ = server.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}
