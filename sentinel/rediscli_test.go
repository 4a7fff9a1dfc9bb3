//go:build integration

package sentinel

import (
	"net"
	"os/exec"
	"strings"
	"testing"
)

// TestCommandRedisCLI runs the real redis-cli (Debian redis-tools) against
// the handler. As the design requires, a missing redis-cli fails the test.
func TestCommandRedisCLI(t *testing.T) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli not found (install redis-tools): %v", err)
	}
	_, addr := startSentinel(t, newFakeBackend(), HandlerOptions{})
	host, port, _ := net.SplitHostPort(addr)
	run := func(args ...string) string {
		t.Helper()
		ctx := testCtx(t)
		out, err := exec.CommandContext(ctx, cli, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if got := run("sentinel", "get-master-addr-by-name", "mymaster"); got != "127.0.0.1\n6379\n" {
		t.Errorf("get-master-addr-by-name: %q", got)
	}
	if got := run("sentinel", "get-master-addr-by-name", "nosuch"); got != "\n" {
		t.Errorf("unknown master: %q", got)
	}
	if got := run("-3", "sentinel", "master", "mymaster"); !strings.HasPrefix(got, "name mymaster\nip 127.0.0.1\nport 6379\n") {
		t.Errorf("RESP3 sentinel master: %q", got)
	}
	if got := run("ROLE"); got != "sentinel\nmymaster\nother\n" {
		t.Errorf("ROLE: %q", got)
	}
	if got := run("sentinel", "myid"); got != selfRunID+"\n" {
		t.Errorf("myid: %q", got)
	}
}
