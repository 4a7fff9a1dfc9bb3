// Package resp is the RESP2/RESP3 transport of the Sentinel-protocol
// server: accepting connections, parsing requests (with redcon's parser),
// buffering and writing replies, and Pub/Sub. It knows nothing of Sentinel
// semantics; those live in a Handler.
//
// The server itself owns SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE
// and QUIT, and the Redis rules of RESP2 subscribed mode (only
// (P)SUBSCRIBE, (P)UNSUBSCRIBE, PING, QUIT and RESET are allowed; PING
// answers ["pong", arg]). In RESP3 a subscribed client may send any command
// and receives messages as push frames (>). Every other command goes to the
// Handler.
//
// Two transports serve connections, with the same behaviour:
//
//   - TCP connections (a *net.TCPConn from the listener, on Linux, unless
//     Options.NoEventLoop) are served by one epoll event loop, as Redis
//     does: level-triggered readiness, one read per readiness event, every
//     complete command of it served, and the replies written straight from
//     the loop, so a request costs a read and a write system call and no
//     goroutine hand-off. Handler commands that may block (see Blocker) run
//     on a goroutine of their own while the loop stops reading that client
//     (its later pipelined commands wait, in order); other clients are
//     never held up by them.
//   - Any other connection (a TLS listener's, a non-Linux system's) has a
//     reader goroutine (parse, dispatch, queue the reply) and a writer
//     goroutine (drain the connection's bounded output queue).
//
// Either way Hub.Publish never blocks; see Conn for the overflow policy.
package resp

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"
)

// Handler answers the commands the server does not own.
//
// ServeRESP is called from the connection's reader goroutine, one command
// at a time per connection (concurrently across connections). It writes
// exactly one reply with c's Write* methods before returning; the server
// flushes it. args[0] is the command name as sent (any case); args has at
// least one element; the handler must not retain args after returning.
// A panic is recovered: the client gets "-ERR internal error" and is
// disconnected, and the panic is logged.
type Handler interface {
	ServeRESP(c *Conn, args [][]byte)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(c *Conn, args [][]byte)

// ServeRESP calls f(c, args).
func (f HandlerFunc) ServeRESP(c *Conn, args [][]byte) { f(c, args) }

// Guard is optionally implemented by a Handler to vet every command,
// including those the server owns, before anything else happens to it (in
// Redis' order: unknown command, arity and authentication come before the
// subscribed-mode check). Admit returns true to let the command proceed;
// otherwise it has written the reply (typically an error) and the command
// is skipped. Same calling rules as ServeRESP.
type Guard interface {
	Admit(c *Conn, args [][]byte) bool
}

// Namer is optionally implemented by a Handler to name a command as Redis'
// errors do: "cmd|sub" for a subcommand of a container command. Without
// it the server names a command by its lower-cased first argument.
type Namer interface {
	FullName(args [][]byte) string
}

// Blocker is optionally implemented by a Handler to tell which commands may
// block (wait for I/O, a lock held long, another goroutine). It matters on
// the event loop only: there a command for which MayBlock returns true runs
// on its own goroutine (the client's later commands wait for it, so replies
// stay in order), any other runs on the loop itself and must return
// promptly. A Handler that does not implement Blocker has every command
// run on its own goroutine. MayBlock is called after Guard.Admit accepted
// the command (so it may use Conn.CommandState), with the same rules.
type Blocker interface {
	MayBlock(c *Conn, args [][]byte) bool
}

// Options configure a Server. The zero value is valid (see DefaultOptions).
type Options struct {
	// Logger receives connection-level problems (panics, dropped slow
	// clients). Nil means slog.Default().
	Logger *slog.Logger
	// MaxBulk is the largest bulk argument accepted, in bytes; 0 means
	// 1 MiB. A larger one is a protocol error ("invalid bulk length"), and
	// so is a request larger than 4×MaxBulk in total. Inline (telnet-style)
	// requests are limited to 64 KiB per line, as in Redis.
	MaxBulk int
	// MaxArgs is the most arguments one command may have; 0 means 1024. More
	// is a protocol error ("invalid multibulk length").
	MaxArgs int
	// IdleTimeout closes a connection that sent nothing for this long,
	// except while it has subscriptions (as Redis' timeout). 0 means never.
	IdleTimeout time.Duration
	// OutputLimit is the size in bytes of a connection's output queue; 0
	// means 4 MiB. See Conn for what happens when it fills.
	OutputLimit int
	// WriteTimeout, if positive, bounds each socket write; a client that
	// accepts no data for that long is disconnected. 0 means no bound (the
	// output queue limit still protects publishers).
	WriteTimeout time.Duration
	// MaxClients is the most client connections open at once (Redis'
	// maxclients); 0 means 10000. A connection beyond it gets "-ERR max
	// number of clients reached" and is closed; the others are unaffected.
	MaxClients int
	// NoEventLoop serves TCP connections with a reader and a writer
	// goroutine each, as other connections are, instead of on the event
	// loop (which exists on Linux only).
	NoEventLoop bool
}

// Server is a RESP server. Create it with NewServer, run it with Serve,
// stop it with Close. All methods are safe for concurrent use.
type Server struct {
	h       Handler
	guard   Guard
	blocker Blocker
	opt     Options
	log     *slog.Logger
	hub     *Hub

	nextID    atomic.Int64
	accepted  atomic.Int64
	rejected  atomic.Int64
	processed atomic.Int64

	mu        sync.Mutex
	closed    bool
	lp        *loop // the event loop, started with the first TCP connection
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	wg        sync.WaitGroup
}

// NewServer returns a server dispatching to h (which may also implement
// Guard). It does not listen; call Serve.
func NewServer(h Handler, opt Options) *Server {
	opt = opt.withDefaults()
	s := &Server{h: h, opt: opt, log: opt.Logger, hub: newHub(),
		listeners: map[net.Listener]struct{}{}, conns: map[*Conn]struct{}{}}
	s.guard, _ = h.(Guard)
	s.blocker, _ = h.(Blocker)
	return s
}

// Hub returns the server's Pub/Sub hub (for Publish).
func (s *Server) Hub() *Hub { return s.hub }

// Clients returns the number of open client connections.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Stats are cumulative counters of a Server.
type Stats struct {
	ConnectionsReceived int64 // connections accepted since start
	CommandsProcessed   int64 // commands read and dispatched since start
	RejectedConnections int64 // connections refused for MaxClients
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{ConnectionsReceived: s.accepted.Load(), CommandsProcessed: s.processed.Load(),
		RejectedConnections: s.rejected.Load()}
}

// ErrServerClosed is returned by Serve when called after Close.
var ErrServerClosed = errors.New("resp: server closed")

// Serve accepts connections on l until Close, serving TCP connections on
// the event loop and others on goroutines of their own (see the package
// documentation). It returns nil after Close, ErrServerClosed if the server was
// already closed (l is then closed), or the listener's error. Serve may be
// called for several listeners.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				// Transient (e.g. EMFILE, ECONNABORTED): back off, as
				// net/http does, instead of giving up serving.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("resp: accept failed; retrying", "err", err, "backoff", backoff)
				t := time.NewTimer(backoff)
				<-t.C
				continue
			}
			return err
		}
		backoff = 0
		s.startConn(nc)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// maxClientsReply is Redis' refusal of a connection beyond maxclients.
const maxClientsReply = "-ERR max number of clients reached\r\n"

func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	if len(s.conns) >= s.opt.MaxClients {
		s.mu.Unlock()
		s.rejected.Add(1)
		// A fresh socket's send buffer takes the line without blocking;
		// the deadline is only a guard.
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write([]byte(maxClientsReply))
		_ = nc.Close()
		return
	}
	c := newConn(s, nc, s.nextID.Add(1))
	if s.adopt(c) { // served by the event loop from now on
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.accepted.Add(1)
		return
	}
	s.conns[c] = struct{}{}
	c.refs.Store(2)
	s.wg.Add(2)
	s.mu.Unlock()
	s.accepted.Add(1)
	go c.writeLoop()
	go s.serveConn(c)
}

// Conns returns the open client connections, ordered by id (CLIENT LIST,
// CLIENT KILL).
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	out := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// forget unregisters a finished connection.
func (s *Server) forget(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close stops the server: it closes every listener and every connection
// (queued output is discarded) and waits for all of the server's
// goroutines, including Serve loops, to end. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	var errs []error
	for l := range s.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	lp := s.lp
	s.mu.Unlock()
	for _, c := range conns {
		c.shutdown(false)
	}
	if lp != nil {
		lp.stop()
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// serveConn is the reader goroutine of c.
func (s *Server) serveConn(c *Conn) {
	graceful := false
	defer func() {
		if r := recover(); r != nil { // from the parser: never take the process down
			s.log.Error("resp: panic reading request; closing client",
				"client", c.id, "addr", c.remote, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			graceful = false
		}
		s.hub.drop(c)
		c.shutdown(graceful)
		c.release()
	}()
	rd := redcon.NewReader(newLimitReader(c.nc, s.opt.MaxBulk, s.opt.MaxArgs))
	for {
		if s.opt.IdleTimeout > 0 {
			var dl time.Time
			if c.Subscriptions() == 0 {
				dl = time.Now().Add(s.opt.IdleTimeout)
			}
			_ = c.nc.SetReadDeadline(dl)
		}
		// Every complete command already received is served before the
		// replies are flushed: one write per pipeline batch.
		cmds, err := rd.ReadCommands()
		if err != nil {
			if isProtocolError(err) {
				c.WriteError("ERR " + err.Error())
				c.flush(true)
				graceful = true
			}
			return
		}
		for _, cmd := range cmds {
			s.processed.Add(1)
			if s.exec(c, cmd.Args, false) == execClose {
				c.flush(true)
				graceful = true
				return
			}
			if len(c.buf) >= flushThreshold {
				c.flush(true)
			}
		}
		c.flush(true)
	}
}

// flushThreshold bounds how much reply data a pipeline batch builds before
// it is queued (and back-pressure applies).
const flushThreshold = 64 * 1024

// isProtocolError tells malformed input (ours or redcon's, whose error type
// is unexported but whose text follows Redis) from I/O errors.
func isProtocolError(err error) bool {
	var pe *protocolError
	return errors.As(err, &pe) || strings.HasPrefix(err.Error(), "Protocol error: ")
}

// execResult is what exec did with a command.
type execResult int

const (
	execKeep    execResult = iota // served; go on with the connection
	execClose                     // served; close after the output is written
	execOffload                   // for the Handler, on a goroutine (see runHandler)
)

// exec runs one command and appends its reply to c's buffer (the caller
// flushes). With offload (the event loop), a Handler command that may
// block is not run: exec returns execOffload and the caller runs
// runHandler on another goroutine.
func (s *Server) exec(c *Conn, args [][]byte, offload bool) (res execResult) {
	res = execKeep
	defer func() {
		if r := recover(); r != nil {
			s.panicked(c, args, r)
			res = execClose
		}
		if res != execOffload {
			c.state = nil
		}
	}()
	c.mark = len(c.buf)
	if s.guard != nil && !s.guard.Admit(c, args) {
		return execKeep
	}
	name := args[0]
	switch {
	case is(name, "quit"):
		c.WriteStatus("OK")
		return execClose
	case is(name, "subscribe"), is(name, "psubscribe"):
		if len(args) < 2 {
			c.WriteError("ERR wrong number of arguments for '" + strings.ToLower(string(name)) + "' command")
			return execKeep
		}
		s.hub.subscribe(c, args[1:], is(name, "psubscribe"))
		return execKeep
	case is(name, "unsubscribe"), is(name, "punsubscribe"):
		s.hub.unsubscribe(c, args[1:], is(name, "punsubscribe"))
		return execKeep
	}
	if c.Proto() == 2 && c.Subscriptions() > 0 {
		switch {
		case is(name, "ping"):
			if len(args) > 2 {
				c.WriteError("ERR wrong number of arguments for 'ping' command")
				return execKeep
			}
			c.WriteArrayHeader(2)
			c.WriteBulkString("pong")
			if len(args) == 2 {
				c.WriteBulk(args[1])
			} else {
				c.WriteBulkString("")
			}
			return execKeep
		case is(name, "reset"):
			// allowed in this context; the handler decides what it is
		default:
			c.WriteError("ERR Can't execute '" + s.fullName(args) +
				"': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
			return execKeep
		}
	}
	if offload && (s.blocker == nil || s.blocker.MayBlock(c, args)) {
		return execOffload
	}
	s.h.ServeRESP(c, args)
	return execKeep
}

// runHandler serves an offloaded command (see exec) and reports whether the
// connection stays open.
func (s *Server) runHandler(c *Conn, args [][]byte) (keep bool) {
	keep = true
	defer func() {
		if r := recover(); r != nil {
			s.panicked(c, args, r)
			keep = false
		}
		c.state = nil
	}()
	s.h.ServeRESP(c, args)
	return true
}

// panicked logs a recovered panic of the Guard or Handler and replaces the
// command's reply with an error.
func (s *Server) panicked(c *Conn, args [][]byte, r any) {
	s.log.Error("resp: panic serving command; closing client",
		"client", c.id, "addr", c.remote, "cmd", truncate(args[0], 64),
		"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	c.buf = c.buf[:c.mark]
	c.WriteError("ERR internal error")
}

// is reports whether arg equals the lower-case word w, ignoring case.
// fullName is the command's name as Redis' errors give it: the Handler's
// answer when it is a Namer, else the lower-cased name.
func (s *Server) fullName(args [][]byte) string {
	if n, ok := s.h.(Namer); ok {
		return n.FullName(args)
	}
	return strings.ToLower(string(args[0]))
}

func is(arg []byte, w string) bool { return len(arg) == len(w) && bytes.EqualFold(arg, []byte(w)) }

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
