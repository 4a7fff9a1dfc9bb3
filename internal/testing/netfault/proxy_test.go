package netfault

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// echoServer accepts connections on 127.0.0.1:0 and echoes every line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// roundTrip writes a line on c and reads it back.
func roundTrip(c net.Conn, r *bufio.Reader, line string) error {
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return err
	}
	got, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return errors.New("echo mismatch: " + got)
	}
	return nil
}

// TestProxyCutHeal: the proxy forwards; Cut ends open connections and ends
// new ones at once; Heal restores forwarding; Close refuses everything and
// leaves no goroutine behind (goleak in TestMain).
func TestProxyCutHeal(t *testing.T) {
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	dial := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	c1, r1 := dial()
	if err := roundTrip(c1, r1, "hello"); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	if n := p.Conns(); n != 1 {
		t.Fatalf("Conns() = %d, want 1", n)
	}

	p.Cut()
	if err := roundTrip(c1, r1, "after cut"); err == nil {
		t.Fatal("an open connection still works after Cut")
	}
	c2, r2 := dial() // the listener still accepts, then closes at once
	if err := roundTrip(c2, r2, "new after cut"); err == nil {
		t.Fatal("a new connection works while cut")
	}
	if n := p.Conns(); n != 0 {
		t.Fatalf("Conns() = %d after Cut, want 0", n)
	}

	p.Heal()
	c3, r3 := dial()
	if err := roundTrip(c3, r3, "healed"); err != nil {
		t.Fatalf("after Heal: %v", err)
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(c3, r3, "after close"); err == nil {
		t.Fatal("a connection works after Close")
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("the proxy still accepts after Close")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
