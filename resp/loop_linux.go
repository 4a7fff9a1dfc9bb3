//go:build linux

package resp

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event loop: one goroutine blocked in epoll_wait for every TCP client
// of the server (level-triggered, so one read per readiness report and no
// read that ends in EAGAIN), parsing with parseCommand, serving commands
// inline (or on a goroutine when the Handler says they may block) and
// writing replies straight to the socket. Output that does not fit the
// socket goes to the Conn's pending queue and is written on EPOLLOUT.
//
// Ownership: the loop goroutine alone reads, writes and closes the client
// sockets, and owns loopConn's fields except those marked "mu", which are
// guarded by Conn.mu. Other goroutines (Publish, Close, CLIENT KILL, an
// offloaded command finishing) change a Conn under Conn.mu and post it to
// the loop, which then looks at it.

const (
	loopReadSize = 64 << 10 // the loop's read buffer
	minRead      = 16 << 10 // free room a client's own input buffer keeps for a read
	maxIdleInput = 64 << 10 // a client's input buffer larger than this is freed when empty
	loopTick     = 100 * time.Millisecond
	// loopYield is how often a busy loop passes through the scheduler.
	// Blocking in epoll_wait and returning does not: to the runtime the
	// loop is then one goroutine running without a break, and after 10 ms
	// its monitor thread (sysmon) preempts it with a signal and takes its
	// P, and — having found work to do — goes back to waking every 20 µs.
	// Under redis-benchmark -c 50 (PING) that was ~45 signals and ~1,600
	// sysmon wake-ups a second; yielding every 5 ms cut them to ~1 and
	// ~250, context switches per request from 0.19–0.20 to 0.17 and the
	// monitor's CPU per request by ~5% (8.5 → 7.9–8.1 µs).
	loopYield = 5 * time.Millisecond
)

// loopConn is the event loop's state of one connection.
type loopConn struct {
	fd         int
	registered bool
	events     uint32 // epoll interest registered
	in         []byte // input not yet served (owned copy); see loop.read
	lim        *limitReader
	args       [][]byte
	fatal      error // a limit violation: reply and close once the input before it is served
	busy       bool  // an offloaded command is running
	skip       int   // length of the offloaded command at the start of in
	paused     bool  // the output queue is full: no commands are served
	noRead     bool  // read no more (a limit violation was read)
	done       bool  // closing: serve no more
	lastRead   time.Time
	queued     bool // in loop.queue; guarded by loop.mu

	closed    bool      // mu: the socket is closed
	closeBy   time.Time // mu: deadline of a graceful close
	lastWrite time.Time // mu: last progress of the pending queue
	offDone   bool      // mu: the offloaded command finished
	offKeep   bool      // mu: ... and the connection stays open
}

// loop is the server's event loop.
type loop struct {
	srv  *Server
	epfd int
	evfd int
	// The loop blocks in epoll_wait (through the runtime, as any blocking
	// system call) and makes its non-blocking calls (read, write) as raw
	// system calls. Measured under redis-benchmark -c 50 on 2 cores against
	// parking the goroutine in Go's poller on the epoll descriptor (one
	// more epoll_wait per wake-up, and the scheduler's netpoll at ~28% of
	// the monitor's CPU): 2.46 system calls per request (Redis Sentinel
	// 2.41, parked 3.08) and the runtime's sysmon at ~3%. A non-blocking
	// look before blocking only adds calls (2.62 per request).
	rbuf  []byte
	evs   []unix.EpollEvent
	conns map[int]*Conn
	now   time.Time
	swept time.Time

	mu       sync.Mutex
	queue    []*Conn
	signaled bool
	stopping bool
}

// startLoop creates the event loop and starts its goroutine (counted in
// s.wg). Caller holds s.mu.
func startLoop(s *Server) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(evfd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	l := &loop{srv: s, epfd: epfd, evfd: evfd, rbuf: make([]byte, loopReadSize),
		evs: make([]unix.EpollEvent, 256), conns: map[int]*Conn{}}
	s.wg.Add(1)
	go l.run()
	return l, nil
}

// adopt moves c's socket to the event loop if c is a TCP connection and the
// loop is in use; it reports whether it did. Caller holds s.mu.
func (s *Server) adopt(c *Conn) bool {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok || s.opt.NoEventLoop {
		return false
	}
	if s.lp == nil {
		lp, err := startLoop(s)
		if err != nil {
			s.log.Warn("resp: no event loop; serving connections on goroutines", "err", err)
			s.opt.NoEventLoop = true
			return false
		}
		s.lp = lp
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	cerr := rc.Control(func(f uintptr) {
		fd, err = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	})
	if cerr != nil || err != nil {
		s.log.Warn("resp: cannot move a connection to the event loop; serving it on goroutines",
			"err", errors.Join(cerr, err))
		return false
	}
	// The duplicate shares the socket (and its O_NONBLOCK, TCP_NODELAY and
	// keep-alive settings); closing Go's descriptor takes the socket out of
	// Go's poller.
	_ = tc.Close()
	c.nc = nil
	c.lp = s.lp
	c.ev.fd = fd
	c.ev.lim = newLimitReader(nil, s.opt.MaxBulk, s.opt.MaxArgs)
	c.refs.Store(1)
	s.wg.Add(1)
	c.mu.Lock()
	s.lp.post(c)
	c.mu.Unlock()
	return true
}

// post asks the loop to look at c. Caller holds c.mu, and c's socket is
// open (so the loop is running).
func (l *loop) post(c *Conn) {
	if c.ev.closed {
		return
	}
	l.mu.Lock()
	if !c.ev.queued {
		c.ev.queued = true
		l.queue = append(l.queue, c)
	}
	wake := !l.signaled
	l.signaled = true
	l.mu.Unlock()
	if wake {
		l.wake()
	}
}

func (l *loop) wake() {
	one := [8]byte{1}
	for {
		if _, err := unix.Write(l.evfd, one[:]); err != unix.EINTR {
			return
		}
	}
}

// stop makes the loop end once every connection is closed.
func (l *loop) stop() {
	l.mu.Lock()
	l.stopping = true
	wake := !l.signaled
	l.signaled = true
	l.mu.Unlock()
	if wake {
		l.wake()
	}
}

func (l *loop) run() {
	defer l.srv.wg.Done()
	// One thread for the loop, as Redis has one: unlocked, the goroutine
	// came back from epoll_wait on whichever thread had a P and wandered
	// over 4 to 9 threads. Locked, the -P 1 throughput ratio to Sentinel
	// in alternating same-run measurements was 1.00 on average (8
	// measurements, 0.94–1.05) against 0.97 unlocked (0.83–1.15), for the
	// same CPU per request.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer func() {
		_ = unix.Close(l.epfd)
		_ = unix.Close(l.evfd)
	}()
	var queue []*Conn
	var yielded time.Time
	for {
		n, err := l.wait()
		if err != nil && err != unix.EINTR {
			l.srv.log.Error("resp: epoll_wait failed; event loop retrying", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		l.now = time.Now()
		if l.now.Sub(yielded) >= loopYield {
			yielded = l.now
			runtime.Gosched()
		}
		for i := 0; i < n; i++ {
			ev := l.evs[i]
			fd := int(ev.Fd)
			if fd == l.evfd {
				var b [8]byte
				_, _ = unix.Read(l.evfd, b[:])
				l.mu.Lock()
				queue, l.queue = l.queue, queue[:0]
				for _, c := range queue {
					c.ev.queued = false
				}
				l.signaled = false
				l.mu.Unlock()
				for _, c := range queue {
					l.guard(c, 0)
				}
				clear(queue)
				continue
			}
			if c := l.conns[fd]; c != nil {
				l.guard(c, ev.Events)
			}
		}
		if l.now.Sub(l.swept) >= l.tick() {
			l.sweep()
		}
		l.mu.Lock()
		done := l.stopping && len(l.queue) == 0 && len(l.conns) == 0
		l.mu.Unlock()
		if done {
			return
		}
	}
}

// wait returns the number of events ready in l.evs, waiting for one at
// most until the next sweep is due (if there are clients).
func (l *loop) wait() (int, error) {
	ms := -1
	if len(l.conns) > 0 {
		ms = max(int(time.Until(l.swept.Add(l.tick()))/time.Millisecond), 0)
	}
	return unix.EpollWait(l.epfd, l.evs, ms)
}

// tick is how often sweep runs.
func (l *loop) tick() time.Duration {
	t := loopTick
	if it := l.srv.opt.IdleTimeout; it > 0 && it/2 < t {
		t = max(it/2, time.Millisecond)
	}
	return t
}

// guard handles readiness events (0: a post) of c, closing c if that
// panics: the loop itself must never stop.
func (l *loop) guard(c *Conn, events uint32) {
	defer func() {
		if r := recover(); r != nil {
			l.srv.log.Error("resp: panic in the event loop; closing client",
				"client", c.id, "addr", c.remote, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			l.closeConn(c)
		}
	}()
	if events == 0 {
		l.attend(c)
	} else {
		l.event(c, events)
	}
}

// attend looks at a posted connection: a new one is registered, a finished
// offloaded command is completed, queued output written, a close done.
func (l *loop) attend(c *Conn) {
	e := &c.ev
	c.mu.Lock()
	closed := e.closed
	done, keep := e.offDone, e.offKeep
	e.offDone = false
	c.mu.Unlock()
	if closed {
		return
	}
	if !e.registered {
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, e.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(e.fd)}); err != nil {
			l.srv.log.Warn("resp: epoll_ctl add failed; closing client", "client", c.id, "err", err)
			l.closeConn(c)
			return
		}
		e.registered, e.events, e.lastRead = true, unix.EPOLLIN, l.now
		l.conns[e.fd] = c
	}
	if done {
		e.busy = false
		n := copy(e.in, e.in[e.skip:])
		e.in, e.skip = e.in[:n], 0
		l.flush(c)
		if !keep {
			l.closeGracefully(c)
		} else if len(e.in) > 0 {
			l.process(c, e.in, true)
		}
	}
	l.writePending(c)
	l.update(c)
}

// event handles epoll readiness of c.
func (l *loop) event(c *Conn, events uint32) {
	e := &c.ev
	if events&unix.EPOLLERR != 0 {
		l.closeConn(c)
		return
	}
	if events&unix.EPOLLOUT != 0 {
		l.writePending(c)
	}
	if events&(unix.EPOLLIN|unix.EPOLLHUP) != 0 {
		if !e.reading() {
			if events&unix.EPOLLHUP != 0 { // reported whatever the interest: stop it
				l.closeConn(c)
				return
			}
		} else {
			l.read(c)
		}
	}
	l.update(c)
}

// reading reports whether c's socket is to be read.
func (e *loopConn) reading() bool { return !e.busy && !e.paused && !e.noRead && !e.done }

// read does one read from c's socket and serves what it completes.
func (l *loop) read(c *Conn) {
	e := &c.ev
	own := len(e.in) > 0
	var buf []byte
	if own {
		if cap(e.in)-len(e.in) < minRead {
			grown := make([]byte, len(e.in), 2*cap(e.in)+minRead)
			copy(grown, e.in)
			e.in = grown
		}
		buf = e.in[len(e.in):cap(e.in)]
	} else {
		buf = l.rbuf
	}
	n, err := sockRead(e.fd, buf)
	if err == unix.EAGAIN || err == unix.EINTR {
		return
	}
	if err != nil || n == 0 {
		l.closeConn(c)
		return
	}
	e.lastRead = l.now
	k, boundary, perr := e.lim.scan(buf[:n])
	if perr != nil {
		e.fatal, e.noRead, n = perr, true, k
	}
	var data []byte
	if own {
		e.in = e.in[:len(e.in)+n]
		data = e.in
	} else {
		data = l.rbuf[:n]
	}
	if !boundary && e.lim.st != stPass && e.fatal == nil {
		// No request completed: keep the bytes, parse later (so input
		// dripped in small packets is not rescanned per packet).
		if !own {
			e.in = append(e.in[:0], data...)
		}
		return
	}
	l.process(c, data, own)
}

// process serves the complete commands at the start of data (c's input:
// its own buffer e.in when own, else the loop's read buffer) until one is
// offloaded, the output queue fills or the connection closes, and keeps
// the rest in e.in.
func (l *loop) process(c *Conn, data []byte, own bool) {
	e := &c.ev
	s := l.srv
	off := 0
	for !e.busy && !e.paused && !e.done {
		args, n, err := parseCommand(data[off:], e.args)
		e.args = args[:0]
		if err != nil {
			c.WriteError("ERR " + err.Error())
			l.closeGracefully(c)
			break
		}
		if n == 0 {
			if e.fatal != nil {
				// Everything before the limit violation is served:
				// report it.
				c.WriteError("ERR " + e.fatal.Error())
				l.closeGracefully(c)
			}
			break
		}
		start := off
		off += n
		if len(args) == 0 {
			continue
		}
		s.processed.Add(1)
		switch s.exec(c, args, true) {
		case execClose:
			l.closeGracefully(c)
		case execOffload:
			// The command's arguments must outlive this call: move the
			// input from it on into c's own buffer and parse it again
			// there.
			if own {
				m := copy(e.in, e.in[start:])
				e.in = e.in[:m]
			} else {
				e.in = append(e.in[:0], data[start:]...)
			}
			args, _, _ = parseCommand(e.in, nil)
			e.busy, e.skip = true, n
			c.mark = 0
			l.flush(c) // the replies before it go first
			l.offload(c, args)
			return
		default:
			if len(c.buf) >= flushThreshold {
				l.flush(c)
			}
		}
	}
	l.flush(c)
	rest := data[off:]
	if own {
		m := copy(e.in, rest)
		e.in = e.in[:m]
	} else if len(rest) > 0 {
		e.in = append(e.in[:0], rest...)
	}
	if len(e.in) == 0 && cap(e.in) > maxIdleInput {
		e.in = nil
	}
}

// offload runs the Handler for args on a goroutine; when it is done the
// loop is posted (attend completes it).
func (l *loop) offload(c *Conn, args [][]byte) {
	s := l.srv
	c.refs.Add(1)
	s.wg.Add(1)
	go func() {
		defer c.release()
		keep := s.runHandler(c, args)
		c.mu.Lock()
		c.ev.offDone, c.ev.offKeep = true, keep
		l.post(c) // a no-op if the loop closed the connection meanwhile
		c.mu.Unlock()
	}()
}

// flush moves c's reply buffer to the socket, or to the pending queue if
// output is already queued or the socket takes only part of it; with the
// queue at its limit c is paused (back-pressure). Loop goroutine only.
func (l *loop) flush(c *Conn) {
	if len(c.buf) == 0 {
		return
	}
	e := &c.ev
	c.mu.Lock()
	switch {
	case e.closed || (c.closing && !c.graceful):
	case len(c.pending) == 0:
		n := l.write(c, c.buf)
		if n < len(c.buf) && !c.closing {
			c.pending = append(c.pending, c.buf[n:]...)
			e.lastWrite = l.now
		}
	default:
		c.pending = append(c.pending, c.buf...)
	}
	if len(c.pending) >= c.limit {
		e.paused = true
	}
	c.mu.Unlock()
	if cap(c.buf) > 64*1024 {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
}

// write writes b to c's socket until it would block; a failure marks c for
// closing. It returns the bytes written. Caller holds c.mu.
func (l *loop) write(c *Conn, b []byte) int {
	done := 0
	for done < len(b) {
		n, err := sockWrite(c.ev.fd, b[done:])
		if n > 0 {
			done += n
		}
		switch {
		case err == nil:
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return done
		default:
			c.closing, c.graceful = true, false
			return done
		}
	}
	return done
}

// writePending writes what it can of c's pending queue.
func (l *loop) writePending(c *Conn) {
	c.mu.Lock()
	if len(c.pending) > 0 && !c.ev.closed && !(c.closing && !c.graceful) {
		n := l.write(c, c.pending)
		if n > 0 {
			m := copy(c.pending, c.pending[n:])
			c.pending = c.pending[:m]
			c.ev.lastWrite = l.now
		}
		if len(c.pending) == 0 && cap(c.pending) > 64*1024 {
			c.pending = nil
		}
	}
	c.mu.Unlock()
}

// closeGracefully stops serving c and closes it once its output is written
// (within finalFlushTimeout).
func (l *loop) closeGracefully(c *Conn) {
	c.ev.done = true
	c.mu.Lock()
	if !c.closing {
		c.closing, c.graceful = true, true
		c.ev.closeBy = l.now.Add(finalFlushTimeout)
	}
	c.mu.Unlock()
}

// update closes c if it is done, resumes a paused c whose queue has room,
// and sets c's epoll interest to what it waits for.
func (l *loop) update(c *Conn) {
	e := &c.ev
	for {
		c.mu.Lock()
		if e.closed {
			c.mu.Unlock()
			return
		}
		closing, graceful, pending := c.closing, c.graceful, len(c.pending)
		c.mu.Unlock()
		if closing && (!graceful || pending == 0) {
			l.closeConn(c)
			return
		}
		if closing {
			e.done = true
		}
		if e.paused && pending < c.limit {
			e.paused = false
			if !e.busy && !e.done && len(e.in) > 0 {
				l.process(c, e.in, true)
				continue
			}
		}
		var want uint32
		if pending > 0 {
			want |= unix.EPOLLOUT
		}
		if e.reading() {
			want |= unix.EPOLLIN
		}
		if want != e.events {
			if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, e.fd, &unix.EpollEvent{Events: want, Fd: int32(e.fd)}); err != nil {
				l.closeConn(c)
				return
			}
			e.events = want
		}
		return
	}
}

// closeConn closes c's socket now, discarding queued output.
func (l *loop) closeConn(c *Conn) {
	e := &c.ev
	c.mu.Lock()
	if e.closed {
		c.mu.Unlock()
		return
	}
	e.closed = true
	c.closing, c.graceful = true, false
	c.pending = nil
	c.cond.Broadcast()
	c.mu.Unlock()
	if e.registered {
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, e.fd, nil)
		delete(l.conns, e.fd)
	}
	_ = unix.Close(e.fd)
	e.in, e.args = nil, nil
	l.srv.hub.drop(c)
	c.release()
}

// sweep enforces the timeouts: a graceful close that takes too long, a
// write that makes no progress for WriteTimeout, a client idle (and not
// subscribed) for IdleTimeout.
func (l *loop) sweep() {
	l.swept = l.now
	idle, wt := l.srv.opt.IdleTimeout, l.srv.opt.WriteTimeout
	for _, c := range l.conns {
		e := &c.ev
		c.mu.Lock()
		closing, graceful, pending, closeBy, lastWrite := c.closing, c.graceful, len(c.pending), e.closeBy, e.lastWrite
		c.mu.Unlock()
		switch {
		case closing && graceful && l.now.After(closeBy):
			l.closeConn(c)
		case closing:
		case wt > 0 && pending > 0 && l.now.Sub(lastWrite) > wt:
			l.closeConn(c)
		case idle > 0 && !e.busy && !e.paused && c.Subscriptions() == 0 && l.now.Sub(e.lastRead) > idle:
			l.closeConn(c)
		}
	}
}

// sockRead and sockWrite are read(2) and write(2) of a non-blocking
// socket as raw system calls, without the runtime's entersyscall/
// exitsyscall bookkeeping: they never block.
func sockRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func sockWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
