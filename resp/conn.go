package resp

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// finalFlushTimeout bounds how long a connection that is closing gracefully
// (after QUIT, a protocol error or a handler panic) may take to drain its
// queued output before it is cut.
const finalFlushTimeout = 5 * time.Second

// Conn is one client connection.
//
// Concurrency: the Write* methods append to the reply of the command being
// served and may only be called from inside Handler.ServeRESP (or
// Guard.Admit) for this Conn; the server flushes that reply once, after the
// call returns. Everything else (ID, Proto, Name, Authenticated, RemoteAddr,
// Close, ...) is safe from any goroutine.
//
// Output never makes a publisher wait for a client's socket: replies are
// written directly while nothing is queued, and otherwise go, as Pub/Sub
// messages do, to a per-connection queue that a writer goroutine (on the
// event loop: the loop, when the socket is writable) drains. The queue
// holds at most
// Options.OutputLimit bytes:
//   - a reply waits (the connection stops reading commands) until the queue
//     has room: a client that pipelines without reading slows only itself;
//   - a Pub/Sub message that does not fit makes the server drop that client
//     (close its connection), like Redis' client-output-buffer-limit for
//     pubsub clients; the message counts as not delivered.
type Conn struct {
	srv    *Server
	nc     net.Conn // nil on the event loop
	lp     *loop    // the event loop serving the connection, or nil
	ev     loopConn // the event loop's state of the connection
	id     int64
	remote string
	local  string

	proto  atomic.Int32
	authed atomic.Bool
	nsubs  atomic.Int32 // channels + patterns; written under Hub.mu

	nameMu sync.Mutex
	name   string

	// buf is the reply being built; owned by the serving goroutine. mark is
	// where the current command's reply starts; state is what the Guard
	// left for the handler about the current command.
	buf   []byte
	mark  int
	state any

	// Output queue, guarded by mu. cond is broadcast whenever pending
	// shrinks or grows or closing changes.
	mu       sync.Mutex
	cond     sync.Cond
	pending  []byte
	spare    []byte
	closing  bool // no more output is accepted
	writing  bool // a goroutine is writing to nc outside mu
	graceful bool // closing after pending is written (else at once)
	limit    int

	// Pub/Sub subscriptions, guarded by the Hub's mutex.
	channels map[string]struct{}
	patterns map[string]struct{}

	refs atomic.Int32 // running goroutines (reader, writer), or the loop and an offloaded command
}

func newConn(s *Server, nc net.Conn, id int64) *Conn {
	c := &Conn{srv: s, nc: nc, id: id, limit: s.opt.OutputLimit,
		remote: addrString(nc.RemoteAddr()), local: addrString(nc.LocalAddr()),
		channels: map[string]struct{}{}, patterns: map[string]struct{}{}}
	c.cond.L = &c.mu
	c.proto.Store(2)
	return c
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// ID returns the connection's unique id (CLIENT ID), starting at 1.
func (c *Conn) ID() int64 { return c.id }

// Proto returns the RESP version in use, 2 (the default) or 3.
func (c *Conn) Proto() int { return int(c.proto.Load()) }

// SetProto switches the RESP version (2 or 3; anything else means 2) for
// all later output, including the rest of the reply being built.
func (c *Conn) SetProto(v int) {
	if v != 3 {
		v = 2
	}
	c.proto.Store(int32(v))
}

// Name returns the name set with CLIENT SETNAME ("" if none).
func (c *Conn) Name() string {
	c.nameMu.Lock()
	defer c.nameMu.Unlock()
	return c.name
}

// SetName sets the client name ("" clears it). Validation is the caller's.
func (c *Conn) SetName(n string) {
	c.nameMu.Lock()
	c.name = n
	c.nameMu.Unlock()
}

// Authenticated reports whether SetAuthenticated(true) was called. The
// server does not interpret it; Guards do.
func (c *Conn) Authenticated() bool { return c.authed.Load() }

// SetAuthenticated records the outcome of AUTH/HELLO AUTH.
func (c *Conn) SetAuthenticated(v bool) { c.authed.Store(v) }

// RemoteAddr returns the client's address (host:port).
func (c *Conn) RemoteAddr() string { return c.remote }

// LocalAddr returns the local address the client connected to.
func (c *Conn) LocalAddr() string { return c.local }

// Server returns the server that owns the connection.
func (c *Conn) Server() *Server { return c.srv }

// Subscriptions returns the number of channels and patterns the client is
// subscribed to.
func (c *Conn) Subscriptions() int { return int(c.nsubs.Load()) }

// Close closes the connection at once, discarding queued output. It is safe
// from any goroutine and idempotent.
func (c *Conn) Close() error {
	c.shutdown(false)
	return nil
}

// WriteStatus appends a simple string reply (+s). CR/LF in s become spaces.
func (c *Conn) WriteStatus(s string) { c.buf = appendStatus(c.buf, s) }

// WriteError appends an error reply (-s); s is the full text including its
// code, e.g. "ERR syntax error" or "NOQUORUM ...". CR/LF become spaces.
func (c *Conn) WriteError(s string) { c.buf = appendError(c.buf, s) }

// WriteInt appends an integer reply.
func (c *Conn) WriteInt(n int64) { c.buf = appendInt(c.buf, n) }

// WriteBulk appends a bulk string reply.
func (c *Conn) WriteBulk(b []byte) { c.buf = appendBulk(c.buf, b) }

// WriteBulkString appends a bulk string reply.
func (c *Conn) WriteBulkString(s string) { c.buf = appendBulkString(c.buf, s) }

// WriteBulkInt queues n in decimal as a bulk string ("6379"), as Sentinel
// sends ports and counts; it does not allocate.
func (c *Conn) WriteBulkInt(n int64) { c.buf = appendBulkInt(c.buf, n) }

// WriteNull appends a null (RESP2 $-1, RESP3 _).
func (c *Conn) WriteNull() { c.buf = appendNull(c.buf, c.Proto()) }

// WriteNullArray appends a null array (RESP2 *-1, RESP3 _).
func (c *Conn) WriteNullArray() { c.buf = appendNullArray(c.buf, c.Proto()) }

// WriteArrayHeader starts an array of n elements; n elements must follow.
func (c *Conn) WriteArrayHeader(n int) { c.buf = appendArrayHeader(c.buf, n) }

// WriteMapHeader starts a map of n pairs (RESP3 %n, RESP2 a flat array of
// 2n elements); n keys and n values must follow, alternating.
func (c *Conn) WriteMapHeader(n int) { c.buf = appendMapHeader(c.buf, c.Proto(), n) }

// WriteSetHeader starts a set of n elements (RESP3 ~, RESP2 an array);
// n elements must follow.
func (c *Conn) WriteSetHeader(n int) { c.buf = appendSetHeader(c.buf, c.Proto(), n) }

// WriteDouble writes a floating-point number (RESP3 double, RESP2 bulk
// string).
func (c *Conn) WriteDouble(f float64) { c.buf = appendDouble(c.buf, c.Proto(), f) }

// SetCommandState lets a Guard hand what it learned about the current
// command (e.g. its parsed form) to the Handler; it is cleared after the
// command. Only for the serving goroutine.
func (c *Conn) SetCommandState(v any) { c.state = v }

// CommandState returns what SetCommandState stored for the current command.
func (c *Conn) CommandState() any { return c.state }

// flush moves the reply built so far to the output queue. With wait it
// first waits for the queue to have room (back-pressure for normal
// replies) and, when nothing is queued or being written, writes the reply
// itself instead of waking the writer goroutine (the common request/reply
// case costs no hand-off); without wait it never blocks (used under the
// Hub lock for subscription confirmations, which are small and bounded
// per command). Output for a closing connection is discarded.
func (c *Conn) flush(wait bool) {
	if len(c.buf) == 0 {
		return
	}
	if c.lp != nil {
		c.lp.flush(c)
		return
	}
	c.mu.Lock()
	for wait && !c.closing && len(c.pending) >= c.limit {
		c.cond.Wait()
	}
	switch {
	case c.closing:
	case wait && !c.writing && len(c.pending) == 0:
		c.writing = true
		c.mu.Unlock()
		if wt := c.srv.opt.WriteTimeout; wt > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(wt))
		}
		_, err := c.nc.Write(c.buf)
		c.mu.Lock()
		c.writing = false
		if err != nil {
			c.closing, c.graceful = true, false
		}
		c.cond.Broadcast()
	default:
		c.pending = append(c.pending, c.buf...)
		c.cond.Broadcast()
	}
	c.mu.Unlock()
	if cap(c.buf) > 64*1024 {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
}

// push queues an out-of-band frame (a Pub/Sub message). It never blocks. It
// reports false if the frame was not queued; if that is because the queue
// is full, the connection is closed.
func (c *Conn) push(frame []byte) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if len(c.pending) > 0 && len(c.pending)+len(frame) > c.limit {
		queued := len(c.pending)
		c.closing, c.graceful = true, false
		c.cond.Broadcast()
		if c.lp != nil {
			c.lp.post(c)
			c.mu.Unlock()
		} else {
			c.mu.Unlock()
			_ = c.nc.Close()
		}
		c.srv.log.Warn("resp: dropping client: output queue full",
			"client", c.id, "addr", c.remote, "queued_bytes", queued, "limit", c.limit)
		return false
	}
	wasEmpty := len(c.pending) == 0
	c.pending = append(c.pending, frame...)
	if c.lp != nil && wasEmpty {
		c.ev.lastWrite = time.Now() // the write timeout runs from here
		c.lp.post(c)                // the loop writes it
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	return true
}

// shutdown stops all output. Graceful: what is queued is still written
// (bounded by finalFlushTimeout) before the socket closes; otherwise the
// socket closes now. A hard shutdown overrides a graceful one in progress.
func (c *Conn) shutdown(graceful bool) {
	c.mu.Lock()
	if c.lp != nil {
		// Only the loop closes the socket (so its number is never reused
		// under the loop's feet); it is told here.
		if !c.ev.closed && !(c.closing && (graceful || !c.graceful)) {
			c.closing, c.graceful = true, graceful
			if graceful {
				c.ev.closeBy = time.Now().Add(finalFlushTimeout)
			}
			c.lp.post(c)
		}
		c.mu.Unlock()
		return
	}
	if c.closing && (graceful || !c.graceful) {
		c.mu.Unlock()
		if !graceful {
			_ = c.nc.Close()
		}
		return
	}
	c.closing, c.graceful = true, graceful
	c.cond.Broadcast()
	c.mu.Unlock()
	if !graceful {
		_ = c.nc.Close()
	}
}

// writeLoop is the connection's writer goroutine: it writes queued output
// in batches until the connection closes. It is the only writer of nc, so
// writes never interleave.
func (c *Conn) writeLoop() {
	defer c.release()
	defer c.nc.Close()
	wt := c.srv.opt.WriteTimeout
	for {
		c.mu.Lock()
		for (len(c.pending) == 0 || c.writing) && !c.closing {
			c.cond.Wait()
		}
		for c.writing { // closing while the reader writes: let it finish
			c.cond.Wait()
		}
		if c.closing && (!c.graceful || len(c.pending) == 0) {
			c.mu.Unlock()
			return
		}
		out := c.pending
		c.pending, c.spare = c.spare[:0], nil
		c.writing = true
		final := c.closing
		c.mu.Unlock()

		switch {
		case final:
			_ = c.nc.SetWriteDeadline(time.Now().Add(finalFlushTimeout))
		case wt > 0:
			_ = c.nc.SetWriteDeadline(time.Now().Add(wt))
		}
		_, err := c.nc.Write(out)

		c.mu.Lock()
		c.writing = false
		if cap(out) <= 64*1024 {
			c.spare = out[:0]
		}
		if err != nil {
			c.closing, c.graceful = true, false
		}
		c.cond.Broadcast()
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// release is called by each of the connection's two goroutines as it ends;
// the last one unregisters the connection.
func (c *Conn) release() {
	if c.refs.Add(-1) == 0 {
		c.srv.forget(c)
	}
	c.srv.wg.Done()
}
