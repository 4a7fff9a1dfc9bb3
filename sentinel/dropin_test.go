package sentinel

import (
	"errors"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/state"
)

// refusingBackend is a backend whose monitor refuses to fail masters over
// (Redis Sentinels share them), as drop-in mode's failover.Brain.Refused.
type refusingBackend struct{ *fakeBackend }

func (refusingBackend) Refused(master string) string {
	if master == "mymaster" {
		return "Redis Sentinel 10.0.0.7:26379 abc also monitors this master"
	}
	return ""
}

// TestDropInHooks: PENDING-SCRIPTS in Sentinel's shape, FLUSHCONFIG's
// error, and CKQUORUM's refusal.
func TestDropInHooks(t *testing.T) {
	b := refusingBackend{newFakeBackend()}
	_, addr := startSentinel(t, b, HandlerOptions{
		FlushConfig: func() error { return errors.New("rewrite /etc/sentinel.conf: permission denied") },
		PendingScripts: func() []PendingScript {
			return []PendingScript{
				{Argv: []string{"/n.sh", "+sdown", "master mymaster 10.0.0.1 6379"}, Running: true, Pid: 42, RunTime: 1500 * time.Millisecond},
				{Argv: []string{"/n.sh", "-sdown"}, RunDelay: 30 * time.Second, Retries: 1},
			}
		},
	})
	c := dialRaw(t, addr)
	c.do("SENTINEL", "PENDING-SCRIPTS")
	c.expect("*2\r\n" +
		"*10\r\n$4\r\nargv\r\n*3\r\n$5\r\n/n.sh\r\n$6\r\n+sdown\r\n$29\r\nmaster mymaster 10.0.0.1 6379\r\n$5\r\nflags\r\n$7\r\nrunning\r\n$3\r\npid\r\n:42\r\n$8\r\nrun-time\r\n:1500\r\n$9\r\nretry-num\r\n:0\r\n" +
		"*10\r\n$4\r\nargv\r\n*2\r\n$5\r\n/n.sh\r\n$6\r\n-sdown\r\n$5\r\nflags\r\n$9\r\nscheduled\r\n$3\r\npid\r\n:0\r\n$9\r\nrun-delay\r\n:30000\r\n$9\r\nretry-num\r\n:1\r\n")
	c.do("SENTINEL", "FLUSHCONFIG")
	c.expect("-ERR Failed to save config file. Check server logs.\r\n")
	// A change is committed first; the failed rewrite after it gets
	// Sentinel's error (sentinelFlushConfigAndReply).
	c.do("SENTINEL", "SET", "mymaster", "quorum", "1")
	c.expect("-ERR Failed to save config file. Check server logs.\r\n")
	b.mu.Lock()
	n := len(b.proposed)
	last := b.proposed[n-1]
	b.mu.Unlock()
	if last.Op != state.OpSet || last.Master != "mymaster" {
		t.Fatalf("the SET was not committed before the rewrite: %+v", last)
	}
	c.do("SENTINEL", "CKQUORUM", "mymaster")
	c.expect("-NOQUORUM Redis Sentinel 10.0.0.7:26379 abc also monitors this master\r\n")
}
