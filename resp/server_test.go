package resp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/testing/wait"
	"github.com/redis/go-redis/v9"
)

// testHandler is a minimal command set for exercising the transport.
type testHandler struct{}

func (testHandler) ServeRESP(c *Conn, args [][]byte) {
	switch strings.ToLower(string(args[0])) {
	case "ping":
		if len(args) > 1 {
			c.WriteBulk(args[1])
			return
		}
		c.WriteStatus("PONG")
	case "echo":
		c.WriteBulk(args[1])
	case "hello":
		if len(args) > 1 {
			v, _ := strconv.Atoi(string(args[1]))
			if v != 2 && v != 3 {
				c.WriteError("NOPROTO unsupported protocol version")
				return
			}
			c.SetProto(v)
		}
		c.WriteMapHeader(2)
		c.WriteBulkString("proto")
		c.WriteInt(int64(c.Proto()))
		c.WriteBulkString("id")
		c.WriteInt(c.ID())
	case "client":
		c.WriteStatus("OK")
	case "panic":
		panic("boom")
	case "null":
		c.WriteNull()
	default:
		c.WriteError("ERR unknown command '" + string(args[0]) + "'")
	}
}

// denyGuard refuses the command "secret", to check that Guard runs first
// even for server-owned commands.
type guardedHandler struct{ testHandler }

func (guardedHandler) Admit(c *Conn, args [][]byte) bool {
	if strings.EqualFold(string(args[0]), "subscribe") && len(args) > 1 && string(args[1]) == "forbidden" {
		c.WriteError("NOPERM no")
		return false
	}
	return true
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// startServer runs a Server with h on 127.0.0.1:0 and closes it at test end.
func startServer(t *testing.T, h Handler, opt Options) (*Server, string) {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = quietLogger()
	}
	h = transport.apply(h, &opt)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(h, opt)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v after Close", err)
		}
	})
	return s, l.Addr().String()
}

// rawClient is a plain TCP client reading RESP values.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	rd *bufio.Reader
}

func dial(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, rd: bufio.NewReader(nc)}
}

func (r *rawClient) send(s string) {
	r.t.Helper()
	if _, err := r.nc.Write([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

// cmd sends args as a RESP array.
func (r *rawClient) cmd(args ...string) {
	r.t.Helper()
	b := appendArrayHeader(nil, len(args))
	for _, a := range args {
		b = appendBulkString(b, a)
	}
	r.send(string(b))
}

// expect reads exactly len(want) bytes and compares them.
func (r *rawClient) expect(want string) {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r.rd, got); err != nil {
		r.t.Fatalf("reading %q: got %q, %v", want, got, err)
	}
	if string(got) != want {
		r.t.Fatalf("got %q, want %q", got, want)
	}
}

// expectEOF checks that the server closed the connection.
func (r *rawClient) expectEOF() {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := r.rd.ReadByte()
	if err == nil {
		r.t.Fatalf("expected close, got byte %q", b)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		r.t.Fatalf("expected EOF, got %v", err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.True(t, 10*time.Second, what, cond)
}

func TestBasicAndPipelineAndInline(t *testing.T) {
	_, addr := startServer(t, testHandler{}, Options{})
	c := dial(t, addr)
	c.cmd("PING")
	c.expect("+PONG\r\n")
	// pipelined, mixed RESP and inline, replies in order
	c.send("*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\nPING hello\r\nping\nnull\r\n")
	c.expect("$3\r\nabc\r\n$5\r\nhello\r\n+PONG\r\n$-1\r\n")
	c.cmd("HELLO", "3")
	c.expect("%2\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n")
	c.cmd("null")
	c.expect("_\r\n")
}

func TestSubscribeRESP2(t *testing.T) {
	s, addr := startServer(t, testHandler{}, Options{})
	c := dial(t, addr)
	c.cmd("SUBSCRIBE", "+switch-master", "+sdown")
	c.expect("*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n" +
		"*3\r\n$9\r\nsubscribe\r\n$6\r\n+sdown\r\n:2\r\n")
	c.cmd("PSUBSCRIBE", "[-+]sdown")
	c.expect("*3\r\n$10\r\npsubscribe\r\n$9\r\n[-+]sdown\r\n:3\r\n")
	// duplicate subscription: confirmed, count unchanged
	c.cmd("SUBSCRIBE", "+sdown")
	c.expect("*3\r\n$9\r\nsubscribe\r\n$6\r\n+sdown\r\n:3\r\n")

	if n := s.Hub().Publish("+sdown", "master mymaster 127.0.0.1 6379"); n != 2 {
		t.Fatalf("Publish reached %d, want 2 (channel + pattern)", n)
	}
	msg := "$30\r\nmaster mymaster 127.0.0.1 6379\r\n"
	// The channel delivery comes before the pattern delivery.
	c.expect("*3\r\n$7\r\nmessage\r\n$6\r\n+sdown\r\n" + msg +
		"*4\r\n$8\r\npmessage\r\n$9\r\n[-+]sdown\r\n$6\r\n+sdown\r\n" + msg)
	if n := s.Hub().Publish("-sdown", "x"); n != 1 {
		t.Fatalf("Publish(-sdown) reached %d, want 1", n)
	}
	c.expect("*4\r\n$8\r\npmessage\r\n$9\r\n[-+]sdown\r\n$6\r\n-sdown\r\n$1\r\nx\r\n")
	if n := s.Hub().Publish("+odown", "x"); n != 0 {
		t.Fatalf("Publish(+odown) reached %d, want 0", n)
	}

	// subscribed mode (RESP2): PING is an array, other commands refused
	c.cmd("PING")
	c.expect("*2\r\n$4\r\npong\r\n$0\r\n\r\n")
	c.cmd("PING", "hi")
	c.expect("*2\r\n$4\r\npong\r\n$2\r\nhi\r\n")
	c.cmd("ECHO", "x")
	c.expect("-ERR Can't execute 'echo': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n")

	c.cmd("UNSUBSCRIBE")
	c.expect("*3\r\n$11\r\nunsubscribe\r\n$6\r\n+sdown\r\n:2\r\n" +
		"*3\r\n$11\r\nunsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n")
	c.cmd("PUNSUBSCRIBE", "[-+]sdown", "nope")
	c.expect("*3\r\n$12\r\npunsubscribe\r\n$9\r\n[-+]sdown\r\n:0\r\n" +
		"*3\r\n$12\r\npunsubscribe\r\n$4\r\nnope\r\n:0\r\n")
	c.cmd("UNSUBSCRIBE")
	c.expect("*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n")
	// out of subscribed mode: normal commands again
	c.cmd("ECHO", "back")
	c.expect("$4\r\nback\r\n")
	if ch, pat := s.Hub().Counts(); ch != 0 || pat != 0 {
		t.Fatalf("hub not empty: %d channels, %d patterns", ch, pat)
	}
	c.cmd("SUBSCRIBE")
	c.expect("-ERR wrong number of arguments for 'subscribe' command\r\n")
}

func TestSubscribeRESP3(t *testing.T) {
	s, addr := startServer(t, testHandler{}, Options{})
	c := dial(t, addr)
	c.cmd("HELLO", "3")
	c.expect("%2\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n")
	c.cmd("SUBSCRIBE", "+switch-master")
	c.expect(">3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n")
	c.cmd("PSUBSCRIBE", "*")
	c.expect(">3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:2\r\n")
	// any command works on a subscribed RESP3 connection
	c.cmd("PING")
	c.expect("+PONG\r\n")
	c.cmd("ECHO", "still here")
	c.expect("$10\r\nstill here\r\n")
	if n := s.Hub().Publish("+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 6380"); n != 2 {
		t.Fatalf("Publish reached %d, want 2", n)
	}
	msg := "$38\r\nmymaster 127.0.0.1 6379 127.0.0.1 6380\r\n"
	c.expect(">3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n" + msg +
		">4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$14\r\n+switch-master\r\n" + msg)
	c.cmd("UNSUBSCRIBE", "+switch-master")
	c.expect(">3\r\n$11\r\nunsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n")
	c.cmd("PUNSUBSCRIBE")
	c.expect(">3\r\n$12\r\npunsubscribe\r\n$1\r\n*\r\n:0\r\n")
}

func TestGuardRunsFirst(t *testing.T) {
	_, addr := startServer(t, guardedHandler{}, Options{})
	c := dial(t, addr)
	c.cmd("SUBSCRIBE", "forbidden")
	c.expect("-NOPERM no\r\n")
	c.cmd("SUBSCRIBE", "ok")
	c.expect("*3\r\n$9\r\nsubscribe\r\n$2\r\nok\r\n:1\r\n")
}

func TestQuit(t *testing.T) {
	s, addr := startServer(t, testHandler{}, Options{})
	c := dial(t, addr)
	c.cmd("SUBSCRIBE", "a")
	c.expect("*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n")
	// commands after QUIT in the same packet are not run
	c.send("*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n")
	c.expect("+OK\r\n")
	c.expectEOF()
	waitFor(t, "client gone", func() bool { return s.Clients() == 0 })
	if ch, _ := s.Hub().Counts(); ch != 0 {
		t.Fatalf("subscription of a closed client remains")
	}
}

func TestProtocolErrorClosesOnlyThatClient(t *testing.T) {
	_, addr := startServer(t, testHandler{}, Options{MaxBulk: 16, MaxArgs: 3})
	good := dial(t, addr)
	good.cmd("PING")
	good.expect("+PONG\r\n")
	for _, tc := range []struct{ in, reply string }{
		{"*1\r\n+foo\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"},
		{"*1\r\n$17\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"*4\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"PING \"unterminated\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
		// a complete command before the bad one still runs
		{"*1\r\n$4\r\nPING\r\n*9\r\n", "+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"},
	} {
		bad := dial(t, addr)
		bad.send(tc.in)
		bad.expect(tc.reply)
		bad.expectEOF()
	}
	good.cmd("ECHO", "fine")
	good.expect("$4\r\nfine\r\n")
}

func TestPanicIsRecovered(t *testing.T) {
	_, addr := startServer(t, testHandler{}, Options{})
	c := dial(t, addr)
	c.cmd("PANIC")
	c.expect("-ERR internal error\r\n")
	c.expectEOF()
	c2 := dial(t, addr)
	c2.cmd("PING")
	c2.expect("+PONG\r\n")
}

func TestIdleTimeout(t *testing.T) {
	s, addr := startServer(t, testHandler{}, Options{IdleTimeout: 50 * time.Millisecond})
	idle := dial(t, addr)
	sub := dial(t, addr)
	sub.cmd("SUBSCRIBE", "x")
	sub.expect("*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n")
	idle.expectEOF()
	// the subscriber is exempt and still gets messages
	waitFor(t, "idle client gone", func() bool { return s.Clients() == 1 })
	s.Hub().Publish("x", "y")
	sub.expect("*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$1\r\ny\r\n")
}

func TestSlowSubscriberIsDroppedWithoutBlockingPublish(t *testing.T) {
	s, addr := startServer(t, testHandler{}, Options{OutputLimit: 64 * 1024})
	slow := dial(t, addr) // never reads after subscribing
	slow.cmd("SUBSCRIBE", "ch")
	slow.expect("*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
	other := dial(t, addr)
	other.cmd("SUBSCRIBE", "other")
	other.expect("*3\r\n$9\r\nsubscribe\r\n$5\r\nother\r\n:1\r\n")

	msg := strings.Repeat("m", 32*1024)
	dropped := false
	for i := 0; i < 100000 && !dropped; i++ {
		// Each Publish returns promptly although "slow" reads nothing;
		// once the socket buffers and its queue are full it is dropped.
		dropped = s.Hub().Publish("ch", msg) == 0
	}
	if !dropped {
		t.Fatal("slow subscriber was never dropped")
	}
	waitFor(t, "slow client closed", func() bool { return s.Clients() == 1 })
	if ch, _ := s.Hub().Counts(); ch != 1 {
		t.Fatalf("%d channels left, want 1", ch)
	}
	// other clients are unaffected
	if n := s.Hub().Publish("other", "still"); n != 1 {
		t.Fatalf("Publish(other) reached %d, want 1", n)
	}
	other.expect("*3\r\n$7\r\nmessage\r\n$5\r\nother\r\n$5\r\nstill\r\n")
}

func TestManyConcurrentClients(t *testing.T) {
	s, addr := startServer(t, testHandler{}, Options{})
	const clients, rounds = 100, 50
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
			rd := bufio.NewReader(nc)
			for j := 0; j < rounds; j++ {
				v := fmt.Sprintf("c%d-r%d", i, j)
				req := appendArrayHeader(nil, 2)
				req = appendBulkString(req, "ECHO")
				req = appendBulkString(req, v)
				if _, err := nc.Write(req); err != nil {
					errs <- err
					return
				}
				want := string(appendBulkString(nil, v))
				got := make([]byte, len(want))
				if _, err := io.ReadFull(rd, got); err != nil || string(got) != want {
					errs <- fmt.Errorf("client %d: got %q (%v), want %q", i, got, err, want)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := s.Stats(); st.ConnectionsReceived != clients || st.CommandsProcessed != clients*rounds {
		t.Errorf("stats = %+v", st)
	}
}

func TestCloseStopsServeAndClients(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(testHandler{}, Options{Logger: quietLogger()})
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	c := dial(t, l.Addr().String())
	c.cmd("SUBSCRIBE", "x")
	c.expect("*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	c.expectEOF()
	if s.Clients() != 0 {
		t.Fatalf("Clients() = %d after Close", s.Clients())
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(l2); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close = %v", err)
	}
}

// TestGoRedisPubSub drives the server with go-redis in both protocols: the
// client's own subscription handling, message parsing and health-check
// PINGs must all work.
func TestGoRedisPubSub(t *testing.T) {
	s, addr := startServer(t, testHandler{}, Options{})
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto})
			defer rdb.Close()
			ps := rdb.Subscribe(ctx, "+switch-master")
			defer ps.Close()
			if _, err := ps.Receive(ctx); err != nil { // subscription confirmation
				t.Fatal(err)
			}
			if err := ps.PSubscribe(ctx, "[-+]sdown"); err != nil {
				t.Fatal(err)
			}
			if err := ps.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			// Wait until both subscriptions are registered.
			waitFor(t, "subscriptions", func() bool { ch, pat := s.Hub().Counts(); return ch == 1 && pat == 1 })
			s.Hub().Publish("+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 6380")
			s.Hub().Publish("-sdown", "master mymaster 127.0.0.1 6379")
			var got []string
			for len(got) < 2 {
				m, err := ps.Receive(ctx)
				if err != nil {
					t.Fatal(err)
				}
				switch m := m.(type) {
				case *redis.Message:
					got = append(got, m.Pattern+"|"+m.Channel+"|"+m.Payload)
				case *redis.Pong, *redis.Subscription:
				default:
					t.Fatalf("unexpected %T %v", m, m)
				}
			}
			want := []string{"|+switch-master|mymaster 127.0.0.1 6379 127.0.0.1 6380",
				"[-+]sdown|-sdown|master mymaster 127.0.0.1 6379"}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("got %q, want %q", got, want)
			}
			ps.Close()
			waitFor(t, "unsubscribed", func() bool { ch, pat := s.Hub().Counts(); return ch == 0 && pat == 0 })
		})
	}
}
