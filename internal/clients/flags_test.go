//go:build integration

package clients

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// stallFor is how long TestSlowMasterFlags freezes the master: longer
// than raftsentinel's PING timeout (probe.timeout, 80 ms) and shorter than
// down-after/2, after which Redis Sentinel itself drops a link whose PING
// is pending.
const stallFor = 300 * time.Millisecond

// TestSlowMasterFlags: a master that answers PING late but keeps its
// connection (SIGSTOP for stallFor, then SIGCONT) is not "disconnected".
// Redis Sentinel sets that flag only when its link to the instance is
// actually down (link->disconnected; it closes a link itself only once a
// PING has been pending for more than down-after/2), so SENTINEL MASTER
// keeps answering flags "master". Clients act on the flag: node-redis'
// createSentinel rejects a master whose flags contain "disconnected" (and
// retries discovery a second later), go-redis and ioredis drop such
// replicas and sentinels. Sampled with go-redis' SentinelClient on every
// monitor every 10 ms.
func TestSlowMasterFlags(t *testing.T) {
	parallel(t)
	c := startCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type sample struct {
		at    time.Duration
		flags string
	}
	var (
		mu      sync.Mutex
		samples = map[string][]sample{}
		wg      sync.WaitGroup
	)
	start := time.Now()
	for _, s := range c.sentinels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := redis.NewSentinelClient(&redis.Options{Addr: s, Protocol: 2})
			defer sc.Close()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				m, err := sc.Master(ctx, "mymaster").Result()
				flags := m["flags"]
				if err != nil {
					flags = "error: " + err.Error()
				}
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				samples[s] = append(samples[s], sample{time.Since(start), flags})
				mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	// 200 ms of normal operation, the stall, 500 ms after it.
	phase := time.NewTimer(200 * time.Millisecond)
	<-phase.C
	stallAt := time.Since(start)
	if err := c.topo.Master.Pause(); err != nil {
		t.Fatal(err)
	}
	phase.Reset(stallFor)
	<-phase.C
	if err := c.topo.Master.Resume(); err != nil {
		t.Fatal(err)
	}
	resumeAt := time.Since(start)
	phase.Reset(500 * time.Millisecond)
	<-phase.C
	cancel()
	wg.Wait()

	for _, s := range c.sentinels {
		var bad []string
		seen := map[string]bool{}
		for _, x := range samples[s] {
			seen[x.flags] = true
			if x.flags != "master" {
				bad = append(bad, fmt.Sprintf("%v:%q", x.at.Round(time.Millisecond), x.flags))
			}
		}
		var kinds []string
		for k := range seen {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		if len(bad) > 0 {
			t.Errorf("%s: SENTINEL MASTER mymaster flags while the master was stalled %v..%v (%d samples): want always \"master\", got %d others: %s",
				s, stallAt.Round(time.Millisecond), resumeAt.Round(time.Millisecond), len(samples[s]), len(bad), strings.Join(firstS(bad, 8), " "))
		} else {
			t.Logf("%s: %d samples, flags %q", s, len(samples[s]), kinds)
		}
	}
}

// deadLinkBound is how soon after its process died a master must be
// flagged "disconnected". Redis Sentinel does it as soon as its link's
// connection breaks (1-4 ms on loopback): the link is gone, no PING needs
// to time out. The bound leaves a PING-driven monitor one PING period
// plus timeout and slack for a loaded machine.
const deadLinkBound = 400 * time.Millisecond

// TestDeadMasterFlags: once the master's process is gone (SIGKILL: its
// connections are reset, new ones refused) every monitor's SENTINEL MASTER
// carries "disconnected" within deadLinkBound, long before s_down.
// node-redis' createSentinel re-reads SENTINEL MASTER as soon as its
// master connection drops and keeps a master without s_down,
// disconnected and failover_in_progress; node-redis 5 then waits forever
// for a connection to the dead address (TestNodeRedis5).
func TestDeadMasterFlags(t *testing.T) {
	parallel(t)
	c := startCluster(t)
	if err := c.topo.Master.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var wg sync.WaitGroup
	got := make([]string, len(c.sentinels))
	for i, s := range c.sentinels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := redis.NewSentinelClient(&redis.Options{Addr: s, Protocol: 2})
			defer sc.Close()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			last := ""
			for time.Since(killed) < 3*time.Second {
				m, err := sc.Master(context.Background(), "mymaster").Result()
				if err == nil {
					last = m["flags"]
					if strings.Contains(last, "disconnected") {
						got[i] = fmt.Sprintf("%q after %v", last, time.Since(killed).Round(time.Millisecond))
						if d := time.Since(killed); d > deadLinkBound {
							t.Errorf("%s: the killed master is flagged %q only %v after the kill, want \"disconnected\" within %v (Redis Sentinel: a few ms)",
								s, last, d.Round(time.Millisecond), deadLinkBound)
						}
						return
					}
				}
				<-tick.C
			}
			t.Errorf("%s: the killed master never flagged disconnected in 3 s (last flags %q)", s, last)
		}()
	}
	wg.Wait()
	t.Logf("flags after the kill: %s", strings.Join(got, "; "))
}

func firstS(xs []string, n int) []string {
	if len(xs) > n {
		return append(xs[:n:n], "...")
	}
	return xs
}
