//go:build integration

package opsexamples

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// pythonWithRedis returns a python3 that can import redis (Debian's
// python3-redis installs into /usr/bin/python3, which a python3 earlier in
// PATH may not see).
func pythonWithRedis(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	var tried []string
	for _, py := range candidates {
		out, err := exec.Command(py, "-c", "import redis").CombinedOutput()
		if err == nil {
			return py
		}
		tried = append(tried, py+": "+strings.TrimSpace(string(out)))
	}
	t.Fatalf("no python3 can import redis (%s): apt-get install -y python3-redis", strings.Join(tried, "; "))
	return ""
}

// TestClientSnippets runs the go-redis and redis-py snippets of
// examples/clients against a real group, before and after a failover: each
// writes and reads through the master the monitors name and prints it. The
// ioredis snippet is only checked for syntax (node --check): its package is
// not installed here.
func TestClientSnippets(t *testing.T) {
	python := pythonWithRedis(t)
	node := tool(t, "node", "apt-get install -y nodejs")
	dir := t.TempDir()

	goBin := filepath.Join(dir, "go-redis-snippet")
	build := exec.Command(goTool(t), "build", "-o", goBin, "./examples/clients/go-redis")
	build.Dir = repoPath(t, "")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/clients/go-redis: %v\n%s", err, out)
	}
	if out, err := exec.Command(node, "--check", repoPath(t, "examples/clients/ioredis/client.mjs")).CombinedOutput(); err != nil {
		t.Errorf("node --check client.mjs: %v\n%s", err, out)
	}

	tp := testenv.StartTopology(t, dir, 1)
	g := testenv.StartGroup(t, dir, 3, nil, tp.Master.Addr(), time.Second)
	testenv.WaitReady(t, g.Addrs(), tp.Master.Addr(), 1, 2)
	env := append(os.Environ(), "RAFTSENTINEL_SENTINELS="+strings.Join(g.Addrs(), ","))

	runSnippets := func(master string) {
		t.Helper()
		for _, c := range []struct {
			name string
			cmd  *exec.Cmd
		}{
			{"go-redis", exec.Command(goBin)},
			{"redis-py", exec.Command(python, repoPath(t, "examples/clients/redis-py/client.py"))},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			cmd := exec.CommandContext(ctx, c.cmd.Path, c.cmd.Args[1:]...)
			cmd.Env = env
			var stderr strings.Builder
			cmd.Stderr = &stderr // go-redis logs there
			out, err := cmd.Output()
			cancel()
			want := "master " + master + ": greeting=hello from " + c.name
			if err != nil || strings.TrimSpace(string(out)) != want {
				t.Errorf("%s snippet: %v\nstdout: %s\nstderr: %s\nwant %q", c.name, err, out, stderr.String(), want)
			}
		}
	}
	runSnippets(tp.Master.Addr())

	if err := tp.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "failover", func() error {
		return testenv.AllAnswer(context.Background(), g.Addrs(), tp.Replicas[0].Addr())
	})
	runSnippets(tp.Replicas[0].Addr())
}
