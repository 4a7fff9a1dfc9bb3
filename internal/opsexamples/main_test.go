//go:build integration

// Package opsexamples tests the operations material under examples/: the
// Grafana dashboard and the Prometheus alert rules against the metrics a
// real monitor serves, the rules with promtool, a real Prometheus server
// scraping a monitor, the Kubernetes, Compose and systemd files (parsed, and
// their monitor configurations loaded by the real config loader), and the
// client snippets against a real group.
//
// Tests fail, never skip, when a tool is missing (redis-server, promtool,
// prometheus, python3-redis, node): the message says what to install.
package opsexamples

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/internal/demo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// promInstallHint is how to get promtool and prometheus on Debian.
const promInstallHint = "install Debian's Prometheus: apt-get install -y prometheus " +
	"(then stop the service it may start: systemctl stop prometheus prometheus-node-exporter)"

// repoPath returns the absolute path of a file of the repository, given
// relative to its root.
func repoPath(t testing.TB, rel string) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}

// readRepoFile returns the content of a repository file.
func readRepoFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tool returns the path of a program the test needs; the test fails with
// hint when it is not installed.
func tool(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if _, serr := os.Stat("/usr/bin/" + name); serr == nil {
		return "/usr/bin/" + name
	}
	t.Fatalf("%s not found (%v): %s", name, err, hint)
	return ""
}

// httpClient does not keep connections alive: nothing outlives a request
// (goleak).
var httpClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// httpDo sends one request and returns the status code and body.
func httpDo(ctx context.Context, method, url, token string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// scrape returns the body of a monitor's /metrics.
func scrape(httpAddr string) (string, error) {
	code, body, err := httpDo(context.Background(), http.MethodGet, "http://"+httpAddr+"/metrics", "")
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("GET /metrics on %s: status %d", httpAddr, code)
	}
	return body, nil
}

// monitors starts a group of three monitors of masterAddr with the admin
// API enabled (token) and the given down-after; they stop at cleanup.
func monitors(t *testing.T, dir, masterAddr, token string, downAfter time.Duration) []*daemon.Daemon {
	t.Helper()
	lns, err := demo.OpenListeners(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ds []*daemon.Daemon
	for i := range lns {
		cfg := demo.MonitorConfig(dir, i, lns, masterAddr, downAfter)
		cfg.AdminToken = token
		d, err := daemon.New(cfg, daemon.Options{Listeners: lns[i]})
		if err != nil {
			for _, x := range ds {
				x.Close()
			}
			demo.CloseListeners(lns[i:])
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, len(ds))
	for _, d := range ds {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := d.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("monitor: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range ds {
			<-done
		}
	})
	return ds
}

// freePort returns a loopback port that was free a moment ago, for
// programs that only take a listen address.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is a program started by a test; stop terminates it (SIGTERM,
// then SIGKILL) and waits for it.
type process struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// startProcess starts name with args; its combined output is kept for
// failure messages. It is stopped at cleanup.
func startProcess(t testing.TB, dir, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
		return
	case <-time.After(10 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// output returns what the process printed, last 4 KiB.
func (p *process) output() string {
	s := p.out.String()
	if len(s) > 4096 {
		s = "..." + s[len(s)-4096:]
	}
	return strings.TrimSpace(s)
}
