//go:build integration

package clients

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// redisCLI runs redis-cli against addr (output is raw: one line per
// element, since stdout is not a terminal).
func redisCLI(t *testing.T, cli, addr string, args ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := runTool(ctx, ".", append([]string{cli, "-h", host, "-p", port}, args...)...)
	if err != nil {
		t.Fatalf("redis-cli -p %s %s: %v", port, strings.Join(args, " "), err)
	}
	return out
}

func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

// pairs reads a RESP2 map in raw output (key line, value line, ...).
func pairs(t *testing.T, out string) map[string]string {
	t.Helper()
	l := lines(out)
	if len(l)%2 != 0 {
		t.Fatalf("odd number of lines in a map reply:\n%s", out)
	}
	m := map[string]string{}
	for i := 0; i < len(l); i += 2 {
		m[l[i]] = l[i+1]
	}
	return m
}

// pairs3 reads a RESP3 map in raw output ("key value" lines).
func pairs3(out string) map[string]string {
	m := map[string]string{}
	for _, l := range lines(out) {
		k, v, _ := strings.Cut(l, " ")
		m[k] = v
	}
	return m
}

// TestRedisCli: redis-cli (Debian's redis-tools) against every monitor:
// SENTINEL get-master-addr-by-name, SENTINEL masters, ROLE (RESP2 and
// RESP3), and SUBSCRIBE +switch-master reading the message published by
// each monitor when the killed master is replaced.
func TestRedisCli(t *testing.T) {
	parallel(t)
	cli, err := redisproc.Binary("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli: %v", err)
	}
	version := strings.TrimSpace(redisCLI(t, cli, "127.0.0.1:1", "--version"))
	c := startCluster(t)
	old := c.topo.Master
	res := result{scenario: scenario{name: version, protocol: "RESP2+3"}}
	defer func() { record(t, res) }()

	for _, s := range c.sentinels {
		if got := lines(redisCLI(t, cli, s, "SENTINEL", "get-master-addr-by-name", "mymaster")); strings.Join(got, ":") != old.Addr() {
			t.Errorf("%s get-master-addr-by-name = %q, want %s", s, got, old.Addr())
		}
		if got := strings.TrimSpace(redisCLI(t, cli, s, "SENTINEL", "get-master-addr-by-name", "nosuch")); got != "" {
			t.Errorf("%s get-master-addr-by-name nosuch = %q, want a nil reply", s, got)
		}
		m := pairs(t, redisCLI(t, cli, s, "SENTINEL", "masters"))
		want := map[string]string{"name": "mymaster", "ip": "127.0.0.1", "port": strconv.Itoa(old.Port()),
			"num-slaves": "2", "num-other-sentinels": "2", "quorum": "2"}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s SENTINEL masters: %s = %q, want %q (all: %v)", s, k, m[k], v, m)
			}
		}
		// Exactly "master" is TestSlowMasterFlags' business.
		if f := m["flags"]; !strings.HasPrefix(f, "master") {
			t.Errorf("%s SENTINEL masters: flags = %q, want master", s, f)
		}
		if got := lines(redisCLI(t, cli, s, "ROLE")); strings.Join(got, " ") != "sentinel mymaster" {
			t.Errorf("%s ROLE = %q, want sentinel [mymaster]", s, got)
		}
		// -3: redis-cli sends HELLO 3 first and checks its map.
		if got := lines(redisCLI(t, cli, s, "-3", "ROLE")); strings.Join(got, " ") != "sentinel mymaster" {
			t.Errorf("%s -3 ROLE = %q, want sentinel [mymaster]", s, got)
		}
		if m := pairs3(redisCLI(t, cli, s, "-3", "SENTINEL", "master", "mymaster")); m["name"] != "mymaster" || !strings.HasPrefix(m["flags"], "master") {
			t.Errorf("%s -3 SENTINEL master mymaster = %v", s, m)
		}
	}

	// One subscriber per monitor; each must print the subscription, then
	// one +switch-master message.
	var subs []*subscriber
	for _, s := range c.sentinels {
		sub := subscribe(t, cli, s, "+switch-master")
		if got := sub.next(t, 3, 10*time.Second); strings.Join(got, " ") != "subscribe +switch-master 1" {
			t.Fatalf("%s SUBSCRIBE +switch-master printed %q", s, got)
		}
		subs = append(subs, sub)
	}
	killed := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	var payloads []string
	for i, sub := range subs {
		got := sub.next(t, 3, recoveryBound-time.Since(killed))
		if i == 0 {
			res.recovery = time.Since(killed)
		}
		if len(got) != 3 || got[0] != "message" || got[1] != "+switch-master" {
			t.Fatalf("%s: after the kill redis-cli printed %q, want a +switch-master message", c.sentinels[i], got)
		}
		payloads = append(payloads, got[2])
	}
	f := strings.Fields(payloads[0])
	if len(f) != 5 || f[0] != "mymaster" || net.JoinHostPort(f[1], f[2]) != old.Addr() {
		t.Fatalf("+switch-master payload %q, want \"mymaster 127.0.0.1 %d <new ip> <new port>\"", payloads[0], old.Port())
	}
	newMaster := net.JoinHostPort(f[3], f[4])
	if !contains(c.replicaAddrs(), newMaster) {
		t.Fatalf("+switch-master names %s, not one of the replicas %v", newMaster, c.replicaAddrs())
	}
	for i, p := range payloads {
		if p != payloads[0] {
			t.Errorf("%s published %q, %s published %q", c.sentinels[i], p, c.sentinels[0], payloads[0])
		}
	}
	for _, s := range c.sentinels {
		if got := lines(redisCLI(t, cli, s, "SENTINEL", "get-master-addr-by-name", "mymaster")); strings.Join(got, ":") != newMaster {
			t.Errorf("%s get-master-addr-by-name after +switch-master = %q, want %s", s, got, newMaster)
		}
	}
	if got := lines(redisCLI(t, cli, newMaster, "ROLE")); got[0] != "master" {
		t.Errorf("ROLE on the new master %s = %q", newMaster, got)
	}
	if got := strings.TrimSpace(redisCLI(t, cli, newMaster, "SET", "after", "1")); got != "OK" {
		t.Errorf("SET on the new master %s = %q", newMaster, got)
	}
	res.notes = fmt.Sprintf("+switch-master %q from all %d monitors", payloads[0], len(payloads))
}

// subscriber is a running "redis-cli SUBSCRIBE" whose output lines arrive
// on a channel.
type subscriber struct {
	addr  string
	lines chan string
}

func subscribe(t *testing.T, cli, addr string, channels ...string) *subscriber {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	cmd := exec.CommandContext(ctx, cli, append([]string{"-h", host, "-p", port, "SUBSCRIBE"}, channels...)...)
	cmd.SysProcAttr = procAttr()
	cmd.WaitDelay = 5 * time.Second
	var stderr tail
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &subscriber{addr: addr, lines: make(chan string, 64)}
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case s.lines <- sc.Text():
			case <-ctx.Done():
			}
		}
		close(s.lines)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel() // redis-cli SUBSCRIBE runs until killed
		<-exited
		if t.Failed() && stderr.String() != "" {
			t.Logf("redis-cli SUBSCRIBE on %s stderr: %s", addr, stderr.String())
		}
	})
	return s
}

// next returns the next n lines, failing t after d.
func (s *subscriber) next(t *testing.T, n int, d time.Duration) []string {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	var got []string
	for len(got) < n {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("redis-cli SUBSCRIBE on %s exited; read %q", s.addr, got)
			}
			got = append(got, l)
		case <-timer.C:
			t.Fatalf("redis-cli SUBSCRIBE on %s: %d lines within %v, read %q", s.addr, n, d, got)
		}
	}
	return got
}
