package netfault

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// linkEcho accepts connections on 127.0.0.1:0 and echoes them until the
// test ends.
func linkEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// A cut closes the pair's open connections in both directions and refuses
// new ones until Heal; links to a third monitor are untouched.
func TestLinksCutAndHeal(t *testing.T) {
	a0, a1, a2 := linkEcho(t), linkEcho(t), linkEcho(t)
	l := NewLinks()
	l.Register(0, a0)
	l.Register(1, a1)
	l.Register(2, a2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dial := func(from int, addr string) (net.Conn, error) { return l.Dialer(from)(ctx, "tcp", addr) }
	c01, err := dial(0, a1)
	if err != nil {
		t.Fatal(err)
	}
	defer c01.Close()
	c10, err := dial(1, a0)
	if err != nil {
		t.Fatal(err)
	}
	defer c10.Close()
	c02, err := dial(0, a2)
	if err != nil {
		t.Fatal(err)
	}
	defer c02.Close()

	l.Cut(0, 1)
	for name, c := range map[string]net.Conn{"m1→m2": c01, "m2→m1": c10} {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("%s: read on a cut link succeeded", name)
		}
	}
	if _, err := dial(0, a1); err == nil {
		t.Fatal("m1→m2 dial succeeded while cut")
	}
	if _, err := dial(1, a0); err == nil {
		t.Fatal("m2→m1 dial succeeded while cut")
	}
	// m1→m3 still works.
	if _, err := c02.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = c02.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(c02, make([]byte, 1)); err != nil {
		t.Fatalf("m1→m3 after cutting m1-m2: %v", err)
	}

	l.Heal()
	c, err := dial(1, a0)
	if err != nil {
		t.Fatalf("dial after heal: %v", err)
	}
	c.Close()
}

// RedisDialer counts REPLICAOF and SLAVEOF as go-redis writes them.
func TestLinksCountReplicaOf(t *testing.T) {
	addr := linkEcho(t)
	l := NewLinks()
	c, err := l.RedisDialer(2)(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, cmd := range []string{
		"*1\r\n$4\r\nPING\r\n",
		"*3\r\n$9\r\nREPLICAOF\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n",
		"*1\r\n$5\r\nMULTI\r\n*3\r\n$7\r\nslaveof\r\n$2\r\nNO\r\n$3\r\nONE\r\n*1\r\n$4\r\nEXEC\r\n",
	} {
		if _, err := c.Write([]byte(cmd)); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.ReplicaOfSent(2); n != 2 {
		t.Fatalf("ReplicaOfSent = %d, want 2", n)
	}
	if n := l.ReplicaOfSent(0); n != 0 {
		t.Fatalf("ReplicaOfSent of another monitor = %d, want 0", n)
	}
}
