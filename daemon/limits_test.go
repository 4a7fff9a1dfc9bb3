//go:build integration

package daemon_test

import (
	"bufio"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// The client limits of the configuration reach the Sentinel-protocol
// server: maxclients turns the extra client away with Redis' error, and
// client-idle-timeout closes an idle client but not a subscribed one.
func TestClientLimitsFromConfig(t *testing.T) {
	dir := t.TempDir()
	master := testenv.StartRedis(t, redisproc.Options{Dir: filepath.Join(dir, "redis")})
	lns, err := demo.OpenListeners(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := demo.MonitorConfig(dir, 0, lns, master.Addr(), time.Second)
	cfg.MaxClients, cfg.ClientIdleTimeout = 2, 300*time.Millisecond
	d := testenv.RunMonitor(t, cfg, lns[0])

	dial := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", d.RESPAddr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	send := func(c net.Conn, r *bufio.Reader, cmd string) string {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, cmd); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
		return strings.TrimSpace(line)
	}

	idle, idleR := dial()
	if got := send(idle, idleR, "PING\r\n"); got != "+PONG" {
		t.Fatalf("PING: %q", got)
	}
	sub, subR := dial()
	if got := send(sub, subR, "SUBSCRIBE +switch-master\r\n"); got != "*3" {
		t.Fatalf("SUBSCRIBE: %q", got)
	}
	for range 2 { // the rest of the confirmation
		_, _ = subR.ReadString('\n')
		_, _ = subR.ReadString('\n')
	}
	_, _ = subR.ReadString('\n')

	third, thirdR := dial()
	if got, want := send(third, thirdR, "PING\r\n"), "-ERR max number of clients reached"; got != want {
		t.Fatalf("a third client with maxclients 2: %q, want %q", got, want)
	}

	// The idle client is closed after the timeout; the subscriber stays.
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := idleR.ReadByte(); err != io.EOF {
		t.Fatalf("idle client: read %v, want EOF (closed by client-idle-timeout)", err)
	}
	t.Logf("idle client closed %v after its last command (client-idle-timeout 300ms)", time.Since(start).Round(time.Millisecond))
	if got := send(sub, subR, "PING\r\n"); got != "*2" {
		t.Fatalf("the subscriber must outlive client-idle-timeout: PING in subscribed mode gave %q", got)
	}
}
