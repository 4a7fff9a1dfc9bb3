package sentinel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/resp"
)

// readReply reads one RESP2/RESP3 value from r and returns an error if it
// is not well formed.
func readReply(r *bufio.Reader, depth int) error {
	if depth > 32 {
		return errors.New("nesting deeper than 32")
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return fmt.Errorf("line %q lacks CRLF", line)
	}
	body := line[1 : len(line)-2]
	count := func() (int, error) {
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return 0, fmt.Errorf("bad length %q", line)
		}
		return n, nil
	}
	switch line[0] {
	case '+', '-', '_', ',', '#', '(':
		return nil
	case ':':
		_, err := strconv.ParseInt(body, 10, 64)
		return err
	case '$', '=', '!':
		n, err := count()
		if err != nil || n < 0 {
			return err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		if string(buf[n:]) != "\r\n" {
			return fmt.Errorf("bulk of %d bytes not followed by CRLF", n)
		}
		return nil
	case '*', '~', '>', '%', '|':
		n, err := count()
		if err != nil {
			return err
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for range n {
			if err := readReply(r, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown reply type %q", line)
}

// FuzzSentinelCommand sends SENTINEL with arbitrary arguments to the real
// handler behind a real RESP server, over RESP2 and RESP3, and checks that
// the answer is exactly one well-formed reply (a PING sent after it gets
// its PONG next) and that the server stays up.
func FuzzSentinelCommand(f *testing.F) {
	for _, args := range [][]string{
		{"masters"}, {"master", "mymaster"}, {"replicas", "mymaster"}, {"slaves", "other"},
		{"sentinels", "mymaster"}, {"get-master-addr-by-name", "nosuch"}, {"myid"}, {"ckquorum", "mymaster"},
		{"is-master-down-by-addr", "127.0.0.1", "6379", "0", "*"},
		{"is-master-down-by-addr", "127.0.0.1", "99999999999999999999", "-1", "x"},
		{"help"}, {"monitor", "new", "127.0.0.1", "6390", "2"}, {"monitor", "bad name", "::1", "0", "-1"},
		{"monitor", "x", "999.1.1.1", "65536", "99999999999999999999"}, {"remove", "other"},
		{"set", "mymaster", "quorum", "0"}, {"set", "mymaster", "down-after-milliseconds", "-1"},
		{"set", "mymaster", "rename-command", "CONFIG"}, {"set", "mymaster", "auth-pass", ""},
		{"reset", "*"}, {"reset", "[a-"}, {"config", "get", "*"}, {"config", "set", "announce-port", "-1"},
		{"config", "set", "resolve-hostnames", "maybe"}, {"failover", "mymaster"}, {"failover", "other", "coordinated"},
		{"flushconfig"}, {"pending-scripts"}, {"info-cache", "mymaster"}, {"debug"}, {"debug", "ping-period", "0"},
		{"simulate-failure", "crash-after-election"}, {"simulate-failure", "bogus"}, {"\x00\xff", "\r\n"},
	} {
		a := append(args, "", "", "", "", "", "")
		f.Add(a[0], a[1], a[2], a[3], a[4], a[5], uint8(len(args)), uint8(len(args)%2))
	}
	conns := fuzzConns(f)
	f.Fuzz(func(t *testing.T, a0, a1, a2, a3, a4, a5 string, n, proto uint8) {
		oneReplyThenPong(t, conns[2+int(proto%2)], append([]string{"SENTINEL"}, []string{a0, a1, a2, a3, a4, a5}[:int(n)%7]...))
	})
}

// oneReplyThenPong sends args and a PING on c and fails t unless args get
// exactly one well-formed reply followed by PING's +PONG.
func oneReplyThenPong(t *testing.T, c *rawConn, args []string) {
	t.Helper()
	c.t = t
	c.do(args...)
	c.do("PING")
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := readReply(c.rd, 0); err != nil {
		t.Fatalf("%s %q: malformed reply: %v", args[0], args[1:], err)
	}
	line, err := c.rd.ReadString('\n')
	if err != nil || line != "+PONG\r\n" {
		t.Fatalf("%s %q: after the reply, %q %v instead of PING's +PONG", args[0], args[1:], line, err)
	}
}

// fuzzConns serves the real handler on a fake backend and returns one
// connection per protocol (2 and 3).
func fuzzConns(f *testing.F) map[int]*rawConn {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	s := resp.NewServer(NewHandler(newFakeBackend(), HandlerOptions{Now: func() time.Time { return testNow }}),
		resp.Options{Logger: slog.New(slog.DiscardHandler)})
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	f.Cleanup(func() { _ = s.Close(); <-done })
	conns := map[int]*rawConn{}
	for _, proto := range []int{2, 3} {
		nc, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { nc.Close() })
		c := &rawConn{nc: nc, rd: bufio.NewReader(nc)}
		if proto == 3 {
			if _, err := io.WriteString(nc, "HELLO 3\r\n"); err != nil {
				f.Fatal(err)
			}
			if err := readReply(c.rd, 0); err != nil {
				f.Fatal(err)
			}
		}
		conns[proto] = c
	}
	return conns
}

// FuzzACLCommand is FuzzSentinelCommand for ACL: arbitrary ACL
// subcommands and arguments (SETUSER modifiers, DELUSER names, LOG
// counts) each get exactly one well-formed reply, and the server stays
// up. An input naming the "default" user, which the probing connections
// are, runs on another user: it may rightly lock those connections out.
func FuzzACLCommand(f *testing.F) {
	for _, args := range [][]string{
		{"whoami"}, {"users"}, {"list"}, {"cat"}, {"cat", "admin"}, {"cat", "nosuch"}, {"getuser", "u"},
		{"setuser", "u", "on", ">pw", "-@all", "+ping"}, {"setuser", "u", "<pw", "#" + strings.Repeat("a", 64), "&x*"},
		{"setuser", "u", "~*", "%R~k", "allchannels", "&y"}, {"setuser", "u", "+sentinel|nosuch", "reset"},
		{"setuser", "bad name"}, {"deluser", "u", "v"}, {"log"}, {"log", "-1"}, {"log", "reset"}, {"log", "99999999999999999999"},
		{"genpass", "4096"}, {"genpass", "0"}, {"dryrun", "u", "sentinel", "masters"}, {"dryrun", "u", "publish", "x", "y"},
		{"save"}, {"load"}, {"help"}, {"\x00\xff", "\r\n"},
	} {
		a := append(args, "", "", "", "", "", "")
		f.Add(a[0], a[1], a[2], a[3], a[4], a[5], uint8(len(args)), uint8(len(args)%2))
	}
	conns := fuzzConns(f)
	f.Fuzz(func(t *testing.T, a0, a1, a2, a3, a4, a5 string, n, proto uint8) {
		args := append([]string{"ACL"}, []string{a0, a1, a2, a3, a4, a5}[:int(n)%7]...)
		if len(args) > 2 && args[2] == "default" {
			// The probing connections are the default user: the input
			// runs on another user, so a SETUSER cannot lock them out.
			args[2] = "default-fuzzed"
		}
		oneReplyThenPong(t, conns[2+int(proto%2)], args)
	})
}
