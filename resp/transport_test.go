package resp

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// testTransport selects how startServer serves connections, so the same
// tests run against every transport.
type testTransport int

const (
	loopOffload testTransport = iota // event loop; the test handlers have no Blocker: every command offloaded
	loopInline                       // event loop; every handler command on the loop
	goroutines                       // Options.NoEventLoop
)

// transport is the transport startServer uses; TestTransports switches it
// for its subtests (which do not run in parallel).
var transport = loopOffload

func (tt testTransport) apply(h Handler, opt *Options) Handler {
	switch tt {
	case goroutines:
		opt.NoEventLoop = true
	case loopInline:
		if _, ok := h.(Blocker); ok { // it says itself
			return h
		}
		if g, ok := h.(Guard); ok {
			return inlineGuarded{h, g}
		}
		return inline{h}
	}
	return h
}

type inline struct{ Handler }

func (inline) MayBlock(*Conn, [][]byte) bool { return false }

type inlineGuarded struct {
	Handler
	Guard
}

func (inlineGuarded) MayBlock(*Conn, [][]byte) bool { return false }

// TestTransports runs the transport-level tests again on the other two
// transports (the plain run uses loopOffload).
func TestTransports(t *testing.T) {
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"BasicAndPipelineAndInline", TestBasicAndPipelineAndInline},
		{"SubscribeRESP2", TestSubscribeRESP2},
		{"SubscribeRESP3", TestSubscribeRESP3},
		{"GuardRunsFirst", TestGuardRunsFirst},
		{"Quit", TestQuit},
		{"ProtocolErrorClosesOnlyThatClient", TestProtocolErrorClosesOnlyThatClient},
		{"PanicIsRecovered", TestPanicIsRecovered},
		{"IdleTimeout", TestIdleTimeout},
		{"SlowSubscriberIsDroppedWithoutBlockingPublish", TestSlowSubscriberIsDroppedWithoutBlockingPublish},
		{"ManyConcurrentClients", TestManyConcurrentClients},
		{"GoRedisPubSub", TestGoRedisPubSub},
		{"MaxClients", TestMaxClients},
		{"BackPressure", TestBackPressure},
		{"BlockingCommandStallsNoOne", TestBlockingCommandStallsNoOne},
		{"DrippedAndLargeRequests", TestDrippedAndLargeRequests},
		{"WriteTimeout", TestWriteTimeout},
	}
	for _, tt := range []struct {
		name string
		tr   testTransport
	}{{"loop-inline", loopInline}, {"goroutines", goroutines}} {
		for _, tc := range tests {
			t.Run(tt.name+"/"+tc.name, func(t *testing.T) {
				transport = tt.tr
				defer func() { transport = loopOffload }()
				tc.fn(t)
			})
		}
	}
}

func TestMaxClients(t *testing.T) {
	s, addr := startServer(t, testHandler{}, Options{MaxClients: 2})
	a, b := dial(t, addr), dial(t, addr)
	a.cmd("PING")
	a.expect("+PONG\r\n")
	b.cmd("PING")
	b.expect("+PONG\r\n")
	extra := dial(t, addr)
	extra.expect("-ERR max number of clients reached\r\n")
	extra.expectEOF()
	if st := s.Stats(); st.RejectedConnections != 1 || st.ConnectionsReceived != 2 {
		t.Fatalf("stats = %+v, want 1 rejected, 2 received", st)
	}
	// the others are unaffected
	a.cmd("ECHO", "a")
	a.expect("$1\r\na\r\n")
	// a freed slot is usable again
	b.nc.Close()
	waitFor(t, "client gone", func() bool { return s.Clients() == 1 })
	c := dial(t, addr)
	c.cmd("PING")
	c.expect("+PONG\r\n")
}

// TestBackPressure: a client that pipelines without reading is stopped at
// its output limit (the server stops reading it) and slows only itself;
// once it reads, every reply arrives, in order.
func TestBackPressure(t *testing.T) {
	const limit = 64 * 1024
	s, addr := startServer(t, testHandler{}, Options{OutputLimit: limit})
	greedy := dial(t, addr)
	val := strings.Repeat("v", 1000)
	req := appendArrayHeader(nil, 2)
	req = appendBulkString(req, "ECHO")
	req = appendBulkString(req, val)
	const n = 20000 // ~20 MB of replies: far beyond socket buffers and the limit
	writeErr := make(chan error, 1)
	go func() {
		batch := bytes.Repeat(req, 100)
		for i := 0; i < n/100; i++ {
			if _, err := greedy.nc.Write(batch); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}()
	// The server stops serving greedy (its command count stops growing well
	// short of n) and its queue for greedy stays bounded.
	last := int64(-1)
	waitFor(t, "the server to stop serving greedy", func() bool {
		time.Sleep(100 * time.Millisecond)
		p := s.Stats().CommandsProcessed
		stable := p == last && p > 0 && p < n
		last = p
		return stable
	})
	if q := queued(s); q > limit+flushThreshold+len(val)+64 {
		t.Fatalf("%d bytes queued for a client that does not read; limit %d", q, limit)
	}
	other := dial(t, addr)
	other.cmd("PING")
	other.expect("+PONG\r\n")
	want := string(appendBulkString(nil, val))
	got := make([]byte, len(want))
	_ = greedy.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := 0; i < n; i++ {
		if _, err := io.ReadFull(greedy.rd, got); err != nil || string(got) != want {
			t.Fatalf("reply %d: %q... (%v)", i, got[:min(len(got), 16)], err)
		}
	}
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
}

// queued is the largest output queue among s's clients.
func queued(s *Server) int {
	m := 0
	for _, c := range s.Conns() {
		c.mu.Lock()
		m = max(m, len(c.pending))
		c.mu.Unlock()
	}
	return m
}

// blockingHandler's BLOCK waits for release (as a command waiting for Raft
// would); it tells the server so through Blocker.
type blockingHandler struct {
	testHandler
	entered chan struct{}
	release chan struct{}
}

func (h blockingHandler) ServeRESP(c *Conn, args [][]byte) {
	if strings.EqualFold(string(args[0]), "block") {
		h.entered <- struct{}{}
		<-h.release
		c.WriteStatus("UNBLOCKED")
		return
	}
	h.testHandler.ServeRESP(c, args)
}

func (blockingHandler) MayBlock(_ *Conn, args [][]byte) bool {
	return strings.EqualFold(string(args[0]), "block")
}

func TestBlockingCommandStallsNoOne(t *testing.T) {
	h := blockingHandler{entered: make(chan struct{}, 2), release: make(chan struct{})}
	s, addr := startServer(t, h, Options{})
	a := dial(t, addr)
	// pipelined: replies before, the blocked one, and after, in order
	a.send("*2\r\n$4\r\nECHO\r\n$6\r\nbefore\r\n*1\r\n$5\r\nBLOCK\r\n*2\r\n$4\r\nECHO\r\n$5\r\nafter\r\n")
	<-h.entered
	b := dial(t, addr)
	b2 := dial(t, addr)
	b2.cmd("BLOCK")
	<-h.entered
	for i := 0; i < 3; i++ { // other clients are served meanwhile
		b.cmd("PING")
		b.expect("+PONG\r\n")
	}
	if n := s.Hub().Publish("nobody", "x"); n != 0 {
		t.Fatalf("Publish = %d", n)
	}
	a.cmd("PING") // queued behind BLOCK
	close(h.release)
	a.expect("$6\r\nbefore\r\n+UNBLOCKED\r\n$5\r\nafter\r\n+PONG\r\n")
	b2.expect("+UNBLOCKED\r\n")
}

// TestDrippedAndLargeRequests: requests split at every byte, and one large
// request, are served as if sent at once.
func TestDrippedAndLargeRequests(t *testing.T) {
	_, addr := startServer(t, testHandler{}, Options{})
	c := dial(t, addr)
	req := "*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\nPING drip\r\n"
	for i := 0; i < len(req); i++ {
		c.send(req[i : i+1])
	}
	c.expect("$5\r\nhello\r\n$4\r\ndrip\r\n")
	big := strings.Repeat("x", 900*1024)
	c.cmd("ECHO", big)
	c.expect(string(appendBulkString(nil, big)))
}

// TestWriteTimeout: a client that accepts no data for WriteTimeout is
// disconnected (well before its output queue limit is reached).
func TestWriteTimeout(t *testing.T) {
	const limit = 64 << 20
	s, addr := startServer(t, testHandler{}, Options{WriteTimeout: 100 * time.Millisecond, OutputLimit: limit})
	slow := dial(t, addr) // never reads after subscribing
	slow.cmd("SUBSCRIBE", "ch")
	slow.expect("*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
	msg := strings.Repeat("m", 64*1024)
	sent := 0
	waitFor(t, "the stuck client to be dropped", func() bool {
		if s.Clients() == 0 {
			return true
		}
		if sent > limit/2 {
			t.Fatalf("%d bytes published and the client is still connected", sent)
		}
		s.Hub().Publish("ch", msg)
		sent += len(msg)
		time.Sleep(time.Millisecond) // pace: fill the socket, not the queue
		return false
	})
}
