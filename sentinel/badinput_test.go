package sentinel

import (
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestBadInputReplies: malformed arguments to SENTINEL MONITOR, SET and
// friends (huge numbers, bad ports, quorums, addresses, wrong arity) get
// the error text redis-sentinel 7.0.15 answers (observed with redis-cli),
// and never change the state. One difference, on purpose: Redis accepts
// MONITOR of port 0; raftsentinel answers "Invalid port number.".
func TestBadInputReplies(t *testing.T) {
	const huge = "99999999999999999999"
	b := newFakeBackend()
	_, addr := startSentinel(t, b, HandlerOptions{})
	c := dialRaw(t, addr)
	before := b.State()
	for _, s := range []struct {
		args []string
		want string
	}{
		{[]string{"SENTINEL", "MONITOR", "x", "127.0.0.1", "6390", huge}, "-ERR Invalid quorum\r\n"},
		{[]string{"SENTINEL", "MONITOR", "x", "127.0.0.1", huge, "2"}, "-ERR Invalid port\r\n"},
		{[]string{"SENTINEL", "MONITOR", "x", "127.0.0.1", "-1", "2"}, "-ERR Invalid port number.\r\n"},
		{[]string{"SENTINEL", "MONITOR", "x", "127.0.0.1", "0", "2"}, "-ERR Invalid port number.\r\n"}, // Redis: +OK
		{[]string{"SENTINEL", "MONITOR", "x", "127.0.0.1", "65536", "2"}, "-ERR Invalid port number.\r\n"},
		{[]string{"SENTINEL", "MONITOR", "x", "127.0.0.1", "6390", "-5"}, "-ERR Quorum must be 1 or greater.\r\n"},
		{[]string{"SENTINEL", "MONITOR", "x", "127.0.0.1", "6390", "0x10"}, "-ERR Invalid quorum\r\n"},
		{[]string{"SENTINEL", "MONITOR", "x", "127.0.0.1", "6390", "1.5"}, "-ERR Invalid quorum\r\n"},
		{[]string{"SENTINEL", "MONITOR", "x", "127.0.0.1", " 6390", "2"}, "-ERR Invalid port\r\n"},
		{[]string{"SENTINEL", "MONITOR", "x", "256.1.1.1", "6390", "2"}, "-ERR Invalid IP address or hostname specified\r\n"},
		{[]string{"SENTINEL", "MONITOR", "x", "", "6390", "2"}, "-ERR Invalid IP address or hostname specified\r\n"},
		{[]string{"SENTINEL", "MONITOR", "x", "127.0.0.1", "6390"}, "-ERR wrong number of arguments for 'sentinel|monitor' command\r\n"},
		{[]string{"SENTINEL", "SET", "mymaster", "quorum", huge}, "-ERR Invalid argument '" + huge + "' for SENTINEL SET 'quorum'\r\n"},
		{[]string{"SENTINEL", "SET", "mymaster", "quorum", "-1"}, "-ERR Invalid argument '-1' for SENTINEL SET 'quorum'\r\n"},
		{[]string{"SENTINEL", "SET", "mymaster", "down-after-milliseconds", huge}, "-ERR Invalid argument '" + huge + "' for SENTINEL SET 'down-after-milliseconds'\r\n"},
		{[]string{"SENTINEL", "SET", "mymaster", "down-after-milliseconds", "0"}, "-ERR Invalid argument '0' for SENTINEL SET 'down-after-milliseconds'\r\n"},
		{[]string{"SENTINEL", "SET", "mymaster", "failover-timeout", "abc"}, "-ERR Invalid argument 'abc' for SENTINEL SET 'failover-timeout'\r\n"},
		{[]string{"SENTINEL", "SET", "mymaster", "parallel-syncs", "0"}, "-ERR Invalid argument '0' for SENTINEL SET 'parallel-syncs'\r\n"},
		// All or nothing: a bad option after a good one changes nothing.
		{[]string{"SENTINEL", "SET", "mymaster", "quorum", "1", "parallel-syncs", "x"}, "-ERR Invalid argument 'x' for SENTINEL SET 'parallel-syncs'\r\n"},
		{[]string{"SENTINEL", "SET", "mymaster", "quorum"}, "-ERR wrong number of arguments for 'sentinel|set' command\r\n"},
		{[]string{"SENTINEL", "SET", "nosuch", "quorum", "1"}, "-ERR No such master with that name\r\n"},
		{[]string{"SENTINEL", "RESET"}, "-ERR wrong number of arguments for 'sentinel|reset' command\r\n"},
		{[]string{"SENTINEL", "CKQUORUM", "nosuch"}, "-ERR No such master with that name\r\n"},
		{[]string{"SENTINEL", "FAILOVER", "nosuch"}, "-ERR No such master with that name\r\n"},
		{[]string{"SENTINEL", "DEBUG", "ping-period", "abc"}, "-ERR Invalid argument 'abc' for SENTINEL DEBUG 'ping-period'\r\n"},
		{[]string{"SENTINEL", "DEBUG", "nosuch", "1"}, "-ERR Unknown option or number of arguments for SENTINEL DEBUG 'nosuch'\r\n"},
		{[]string{"SENTINEL", "SIMULATE-FAILURE", "nosuch"}, "-ERR Unknown failure simulation specified\r\n"},
		{[]string{"SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "abc", "0"}, "-ERR wrong number of arguments for 'sentinel|is-master-down-by-addr' command\r\n"},
		{[]string{"SENTINEL", strings.Repeat("x", 300)}, "-ERR unknown subcommand '" + strings.Repeat("x", 128) + "'. Try SENTINEL HELP.\r\n"},
	} {
		c.do(s.args...)
		c.expect(s.want)
	}
	if after := b.State(); !reflect.DeepEqual(before.Masters, after.Masters) {
		t.Fatal("a rejected command changed the masters")
	}
}

// TestMalformedRESPThroughHandler: protocol errors reach the client as
// Redis' "-ERR Protocol error: ..." (texts as redis-sentinel 7.0.15) and
// close the connection; the server keeps serving others. (sentinel/resp's
// own tests hold the full table of protocol errors.)
func TestMalformedRESPThroughHandler(t *testing.T) {
	_, addr := startSentinel(t, newFakeBackend(), HandlerOptions{})
	for _, tc := range []struct{ in, want string }{
		{"*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"*2\r\n*1\r\n$4\r\nPING\r\n", "-ERR Protocol error: expected '$', got '*'\r\n"},
		{"*1\r\n$" + "99999999999999999999" + "\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
	} {
		c := dialRaw(t, addr)
		if _, err := io.WriteString(c.nc, tc.in); err != nil {
			t.Fatal(err)
		}
		c.expect(tc.want)
	}
	c := dialRaw(t, addr)
	c.do("PING")
	c.expect("+PONG\r\n")
}
