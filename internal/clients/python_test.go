//go:build integration

package clients

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

const pythonAdvice = "install Debian's redis-py: apt-get install -y python3-redis (make deps does)"

var pythonSetup struct {
	once    sync.Once
	python  string
	version string
	err     error
}

// pythonWithRedis returns a python3 that imports redis, and redis-py's
// version. Debian's /usr/bin/python3 comes first: python3-redis installs
// there, while a python3 earlier in PATH (pyenv, venv) may lack it.
func pythonWithRedis(t *testing.T) (string, string) {
	t.Helper()
	pythonSetup.once.Do(func() {
		var tried []string
		candidates := []string{"/usr/bin/python3"}
		if p, err := exec.LookPath("python3"); err == nil {
			candidates = append(candidates, p)
		}
		for _, py := range candidates {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			out, err := runTool(ctx, ".", py, "-c", "import redis; print(redis.__version__)")
			cancel()
			if err == nil {
				pythonSetup.python, pythonSetup.version = py, strings.TrimSpace(out)
				return
			}
			tried = append(tried, fmt.Sprintf("%s: %v", py, err))
		}
		pythonSetup.err = fmt.Errorf("no python3 can import redis (%s): %s", strings.Join(tried, "; "), pythonAdvice)
	})
	if pythonSetup.err != nil {
		t.Fatal(pythonSetup.err)
	}
	return pythonSetup.python, pythonSetup.version
}

// TestRedisPy: redis-py's Sentinel (Debian 12 ships 4.3.4): master_for
// writes (SENTINEL MASTERS on every new connection, no Pub/Sub), slave_for
// reads (SENTINEL SLAVES) before the kill and after recovery.
func TestRedisPy(t *testing.T) {
	parallel(t)
	py, version := pythonWithRedis(t)
	c := startCluster(t)
	pc := startProc(t, "python", py, "-u", "redispy_failover.py", "--sentinels", strings.Join(c.sentinels, ","))
	runFailover(t, c, scenario{name: "redis-py " + version + " Sentinel", protocol: "RESP2", replicaReads: true}, pc)
}
