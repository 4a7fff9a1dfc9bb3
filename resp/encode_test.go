package resp

import "testing"

func bareConn(proto int) *Conn {
	c := &Conn{}
	c.SetProto(proto)
	return c
}

func TestReplyEncoding(t *testing.T) {
	tests := []struct {
		name         string
		write        func(c *Conn)
		resp2, resp3 string
	}{
		{"status", func(c *Conn) { c.WriteStatus("OK") }, "+OK\r\n", "+OK\r\n"},
		{"status sanitized", func(c *Conn) { c.WriteStatus("a\r\nb") }, "+a  b\r\n", "+a  b\r\n"},
		{"error", func(c *Conn) { c.WriteError("ERR no such thing") }, "-ERR no such thing\r\n", "-ERR no such thing\r\n"},
		{"error code kept", func(c *Conn) { c.WriteError("NOQUORUM 1 usable Sentinels.") },
			"-NOQUORUM 1 usable Sentinels.\r\n", "-NOQUORUM 1 usable Sentinels.\r\n"},
		{"error sanitized", func(c *Conn) { c.WriteError("ERR x\ny") }, "-ERR x y\r\n", "-ERR x y\r\n"},
		{"int", func(c *Conn) { c.WriteInt(42) }, ":42\r\n", ":42\r\n"},
		{"negative int", func(c *Conn) { c.WriteInt(-7) }, ":-7\r\n", ":-7\r\n"},
		{"zero int", func(c *Conn) { c.WriteInt(0) }, ":0\r\n", ":0\r\n"},
		{"bulk", func(c *Conn) { c.WriteBulk([]byte("a\r\nb")) }, "$4\r\na\r\nb\r\n", "$4\r\na\r\nb\r\n"},
		{"bulk string", func(c *Conn) { c.WriteBulkString("26379") }, "$5\r\n26379\r\n", "$5\r\n26379\r\n"},
		{"empty bulk", func(c *Conn) { c.WriteBulkString("") }, "$0\r\n\r\n", "$0\r\n\r\n"},
		{"bulk int", func(c *Conn) { c.WriteBulkInt(26379) }, "$5\r\n26379\r\n", "$5\r\n26379\r\n"},
		{"bulk int zero", func(c *Conn) { c.WriteBulkInt(0) }, "$1\r\n0\r\n", "$1\r\n0\r\n"},
		{"bulk int negative", func(c *Conn) { c.WriteBulkInt(-12) }, "$3\r\n-12\r\n", "$3\r\n-12\r\n"},
		{"nil bulk slice", func(c *Conn) { c.WriteBulk(nil) }, "$0\r\n\r\n", "$0\r\n\r\n"},
		{"null", func(c *Conn) { c.WriteNull() }, "$-1\r\n", "_\r\n"},
		{"null array", func(c *Conn) { c.WriteNullArray() }, "*-1\r\n", "_\r\n"},
		{"array", func(c *Conn) {
			c.WriteArrayHeader(2)
			c.WriteBulkString("127.0.0.1")
			c.WriteBulkString("6379")
		}, "*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n", "*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n"},
		{"empty array", func(c *Conn) { c.WriteArrayHeader(0) }, "*0\r\n", "*0\r\n"},
		{"map", func(c *Conn) {
			c.WriteMapHeader(2)
			c.WriteBulkString("name")
			c.WriteBulkString("mymaster")
			c.WriteBulkString("proto")
			c.WriteInt(3)
		}, "*4\r\n$4\r\nname\r\n$8\r\nmymaster\r\n$5\r\nproto\r\n:3\r\n",
			"%2\r\n$4\r\nname\r\n$8\r\nmymaster\r\n$5\r\nproto\r\n:3\r\n"},
		{"empty map", func(c *Conn) { c.WriteMapHeader(0) }, "*0\r\n", "%0\r\n"},
	}
	for _, tt := range tests {
		for _, proto := range []int{2, 3} {
			c := bareConn(proto)
			tt.write(c)
			want := tt.resp2
			if proto == 3 {
				want = tt.resp3
			}
			if got := string(c.buf); got != want {
				t.Errorf("%s RESP%d: got %q, want %q", tt.name, proto, got, want)
			}
		}
	}
}

func TestPushEncoding(t *testing.T) {
	tests := []struct {
		name         string
		b            func(proto int) []byte
		resp2, resp3 string
	}{
		{"subscribe", func(p int) []byte { return appendSubReply(nil, p, "subscribe", "+switch-master", true, 1) },
			"*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n",
			">3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n"},
		{"unsubscribe none", func(p int) []byte { return appendSubReply(nil, p, "unsubscribe", "", false, 0) },
			"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
			">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n"},
		{"push header", func(p int) []byte { return appendPushHeader(nil, p, 4) }, "*4\r\n", ">4\r\n"},
	}
	for _, tt := range tests {
		if got := string(tt.b(2)); got != tt.resp2 {
			t.Errorf("%s RESP2: got %q, want %q", tt.name, got, tt.resp2)
		}
		if got := string(tt.b(3)); got != tt.resp3 {
			t.Errorf("%s RESP3: got %q, want %q", tt.name, got, tt.resp3)
		}
	}
}

func TestSetProto(t *testing.T) {
	c := bareConn(3)
	if c.Proto() != 3 {
		t.Fatalf("proto = %d", c.Proto())
	}
	c.SetProto(7)
	if c.Proto() != 2 {
		t.Fatalf("SetProto(7) gave %d, want 2", c.Proto())
	}
}
