package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// errNoRequest is the connection error when a node sends a reply to no
// request.
var errNoRequest = fmt.Errorf("%w: a reply to no request", errProtocol)

// pconn is a node's probe connection: a RESP2 connection that carries the
// connection setup (AUTH, CLIENT SETNAME) and then the probes, pipelined:
// at most one PING and one INFO await their replies at a time, and an INFO
// is never sent behind a PING awaiting its reply (an INFO tick sends INFO
// then PING in one write). Its link goroutine reads the replies; commands
// are written by whichever goroutine holds the node's mu (the scheduler,
// the link goroutine after a reply, an API call). Everything but br is
// guarded by the node's mu.
type pconn struct {
	nc        net.Conn
	br        *bufio.Reader // the link goroutine's
	dialStart time.Time     // the probe deadline of the first probe counts from here
	first     bool          // no probe sent yet
	wbuf      []byte        // commands not yet written (the setup, before the first probe)
	pending   []request     // sent, not answered yet, in order
	pingOut   bool          // a PING awaits its reply
	infoOut   bool          // an INFO awaits its reply
	drain     bool          // to be dropped once pending is empty; nothing more is sent
	healthy   bool          // a valid PING reply came on it
	fullSent  bool          // a full INFO was sent on it
	nameFails bool          // an error reply to CLIENT SETNAME fails the connection (see install)
}

type reqKind uint8

const (
	reqAuth reqKind = iota
	reqSetName
	reqPing
	reqInfo
)

// request is a command awaiting its reply.
type request struct {
	kind  reqKind
	info  infoKind
	start time.Time // RTT base and deadline origin: when it was sent (the dial's start for the first probes)
}

// awaiting reports whether a probe of kind k awaits its reply on c (false
// for a nil c).
func (c *pconn) awaiting(k reqKind) bool {
	return c != nil && (k == reqPing && c.pingOut || k == reqInfo && c.infoOut)
}

// link is a node's link goroutine: it connects, hands the connection to
// the node (which sends the setup and the wanted probes) and then reads
// replies until the connection fails or is replaced.
func (p *Prober) link(n *node) {
	defer n.wg.Done()
	nc, start, err := p.connect(n)
	n.mu.Lock()
	n.dialing = false
	if n.gone {
		n.mu.Unlock()
		if nc != nil {
			_ = nc.Close()
		}
		return
	}
	now := time.Now()
	if err != nil {
		p.failWanted(n, start, err, now)
		p.step(n, now)
		n.mu.Unlock()
		return
	}
	c := p.install(n, nc, start)
	p.step(n, now)
	alive := n.cn == c
	n.mu.Unlock()
	if alive {
		p.readLoop(n, c)
	}
}

// connect dials n (TCP, then TLS when configured) within Timeout, once a
// dial slot is free (at most MaxDials at a time).
func (p *Prober) connect(n *node) (net.Conn, time.Time, error) {
	select {
	case p.dials <- struct{}{}:
	case <-n.ctx.Done():
		return nil, time.Now(), n.ctx.Err()
	}
	defer func() { <-p.dials }()
	start := time.Now()
	ctx, cancel := context.WithDeadline(n.ctx, start.Add(p.opt.Timeout))
	defer cancel()
	nc, err := p.dialer().DialContext(ctx, "tcp", n.addr)
	return nc, start, err
}

// install makes nc n's probe connection, with the setup commands queued
// (AUTH when there is a password, CLIENT SETNAME when named; renamed as
// n's Auth says) and a full INFO wanted. The caller holds n.mu.
//
// A refused AUTH fails the connection: its probes get the refusal. So
// does an error reply to CLIENT SETNAME (e.g. CLIENT renamed on the node
// only), as it did when go-redis set up the probe connections, except
// when CLIENT or (with a password) AUTH is renamed: then the error is
// ignored, as Sentinel ignores it.
func (p *Prober) install(n *node, nc net.Conn, start time.Time) *pconn {
	a := n.auth
	c := &pconn{nc: nc, br: bufio.NewReaderSize(nc, 4096), dialStart: start, first: true,
		nameFails: !a.renamed("CLIENT") && !(a.renamed("AUTH") && a.Pass != "")}
	if a.Pass != "" {
		if a.User != "" {
			c.wbuf = appendCommand(c.wbuf, a.Cmd("AUTH"), a.User, a.Pass)
		} else {
			c.wbuf = appendCommand(c.wbuf, a.Cmd("AUTH"), a.Pass)
		}
		c.pending = append(c.pending, request{kind: reqAuth, start: start})
	}
	if p.opt.ClientName != "" {
		c.wbuf = appendCommand(c.wbuf, a.Cmd("CLIENT"), "SETNAME", p.opt.ClientName)
		c.pending = append(c.pending, request{kind: reqSetName, start: start})
	}
	n.cn = c
	n.wantInfo = true
	return c
}

// pump sends the wanted probes: INFO when none awaits its reply and no
// PING does (so a PING left unanswered cannot be taken for the INFO's
// reply), then PING when none awaits its reply — in one write. Each probe
// must be answered within Timeout of its sending. The caller holds n.mu.
func (p *Prober) pump(n *node, now time.Time) {
	c := n.cn
	if c.drain {
		return
	}
	start := now
	if c.first {
		start = c.dialStart
	}
	// Setting the deadline when the connection is new or nothing is
	// pending; otherwise that of the oldest pending request stands.
	setDeadline := c.first || len(c.pending) == 0
	sent := false
	if n.wantInfo && !c.infoOut && !c.pingOut {
		n.wantInfo = false
		p.appendInfo(n, c, start)
		sent = true
	}
	if n.wantPing && !c.pingOut {
		n.wantPing = false
		c.wbuf = appendCommand(c.wbuf, n.auth.Cmd("PING"))
		c.pending = append(c.pending, request{kind: reqPing, start: start})
		c.pingOut, sent = true, true
	}
	if !sent {
		return
	}
	c.first = false
	var err error
	if setDeadline {
		err = c.nc.SetDeadline(start.Add(p.opt.Timeout))
	}
	if err == nil {
		_, err = c.nc.Write(c.wbuf)
	}
	c.wbuf = c.wbuf[:0]
	if err != nil {
		p.connFailed(n, c, err, now)
	}
}

// appendInfo queues the INFO to send now (see infoKindFor) on c.
func (p *Prober) appendInfo(n *node, c *pconn, start time.Time) {
	kind := p.infoKindFor(n, c, start)
	cmd := n.auth.Cmd("INFO")
	switch kind {
	case infoFull:
		c.wbuf = appendCommand(c.wbuf, cmd)
		c.fullSent, n.lastFull = true, start
	case infoRepl:
		c.wbuf = appendCommand(c.wbuf, cmd, "replication")
	case infoReplPersist:
		c.wbuf = appendCommand(c.wbuf, cmd, "replication", "persistence")
	}
	c.pending = append(c.pending, request{kind: reqInfo, info: kind, start: start})
	c.infoOut = true
}

// readLoop reads c's replies until c fails or stops being n's connection.
func (p *Prober) readLoop(n *node, c *pconn) {
	for {
		rep, err := readReply(c.br)
		n.mu.Lock()
		if n.cn != c {
			// Replaced or unwatched: whoever did it closed c.
			n.mu.Unlock()
			return
		}
		now := time.Now()
		if err != nil {
			p.connFailed(n, c, err, now)
		} else {
			p.handleReply(n, c, rep, now)
		}
		p.step(n, now)
		alive := n.cn == c
		n.mu.Unlock()
		if !alive {
			return
		}
	}
}

// handleReply applies rep to the oldest pending request of c. An AUTH
// refusal fails the connection; after any other error reply to a probe
// but -LOADING and -MASTERDOWN the connection is dropped once the probes
// pending on it are answered, so the next probe starts afresh. The caller
// holds n.mu.
func (p *Prober) handleReply(n *node, c *pconn, rep reply, now time.Time) {
	if len(c.pending) == 0 {
		p.connFailed(n, c, errNoRequest, now)
		return
	}
	r := c.pending[0]
	c.pending = append(c.pending[:0], c.pending[1:]...)
	switch r.kind {
	case reqAuth, reqSetName:
		if rep.err != nil && (r.kind == reqAuth || c.nameFails) {
			// Every command behind it fails as the setup did.
			p.connFailed(n, c, rep.err, now)
			return
		}
	case reqPing:
		c.pingOut = false
		if p.pingResult(n, r.start, rep.err, now) == pingValid {
			c.healthy = true
		}
	case reqInfo:
		c.infoOut = false
		p.infoResult(n, r.info, rep)
	}
	if rep.err != nil && r.kind >= reqPing && !keepLinkAfter(rep.err) {
		c.drain = true
	}
	switch {
	case len(c.pending) > 0:
		_ = c.nc.SetReadDeadline(c.pending[0].start.Add(p.opt.Timeout))
	case c.drain:
		p.drop(n, c)
	case !n.wantPing && !n.wantInfo:
		// Idle (no probe follows at once): wait for a close without a deadline.
		_ = c.nc.SetReadDeadline(time.Time{})
	}
}

// connFailed ends c after err (a network error, a timeout, an AUTH
// refusal): the probe awaiting its reply and the wanted ones fail with
// err. When a healthy connection closes with no PING among them (the
// node died, restarted or dropped its clients), a PING is made wanted at
// once, on a new connection: a dead node is seen at once, a live one
// answers it. At most one such PING per PING period. The caller holds n.mu.
func (p *Prober) connFailed(n *node, c *pconn, err error, now time.Time) {
	if n.cn != c {
		return
	}
	p.drop(n, c)
	pinged := n.wantPing || c.pingOut
	for _, r := range c.pending {
		switch r.kind {
		case reqPing:
			p.pingResult(n, r.start, err, now)
		case reqInfo:
			p.infoFailed(n, err)
		}
	}
	p.failWanted(n, now, err, now)
	ping, _ := p.nodePeriods(n)
	if !pinged && c.healthy && !isTimeout(err) && now.Sub(n.lastKick) >= ping {
		n.lastKick = now
		p.wantPing(n)
	}
}

// failWanted fails the wanted probes with err (no connection could carry
// them); start is the RTT base of the PING. The caller holds n.mu.
func (p *Prober) failWanted(n *node, start time.Time, err error, now time.Time) {
	if n.wantPing {
		n.wantPing = false
		p.pingResult(n, start, err, now)
	}
	if n.wantInfo {
		n.wantInfo = false
		p.infoFailed(n, err)
	}
}

// drop closes c and detaches it from n; nothing is recorded. The caller
// holds n.mu.
func (p *Prober) drop(n *node, c *pconn) {
	if n.cn == c {
		n.cn = nil
	}
	_ = c.nc.Close()
}

// isTimeout tells a PING that got no answer in time (the link may be
// fine) from a broken or refused connection.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
