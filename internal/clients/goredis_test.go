//go:build integration

package clients

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// goRedisVersion is the go-redis in go.mod.
var goRedisVersion = "go-redis " + redis.Version()

func failoverOptions(c *cluster, protocol int) *redis.FailoverOptions {
	return &redis.FailoverOptions{
		MasterName:    "mymaster",
		SentinelAddrs: c.sentinels,
		Protocol:      protocol,
		DialTimeout:   500 * time.Millisecond,
		ReadTimeout:   500 * time.Millisecond,
		WriteTimeout:  500 * time.Millisecond,
	}
}

// TestGoRedisRESP3: redis.NewFailoverClient with RESP3 data connections
// (its sentinel connections always say HELLO 3).
func TestGoRedisRESP3(t *testing.T) {
	parallel(t)
	c := startCluster(t)
	rdb := redis.NewFailoverClient(failoverOptions(c, 3))
	t.Cleanup(func() { rdb.Close() })
	w := startGoWriter(t, func(ctx context.Context, k, v string) error { return rdb.Set(ctx, k, v, 0).Err() })
	runFailover(t, c, scenario{name: goRedisVersion + " FailoverClient", protocol: "RESP3"}, w)
}

// TestGoRedisRESP2: the same with RESP2 data connections. Since go-redis'
// failover client always speaks RESP3 to sentinels, a SentinelClient with
// Protocol 2 also reads, over RESP2, every SENTINEL reply go-redis parses,
// before the kill and once the failover has settled.
func TestGoRedisRESP2(t *testing.T) {
	parallel(t)
	c := startCluster(t)
	testenv.Eventually(t, 5*time.Second, "RESP2 SENTINEL replies before the kill", func() error {
		return checkSentinelRESP2(c, 2)
	})
	rdb := redis.NewFailoverClient(failoverOptions(c, 2))
	t.Cleanup(func() { rdb.Close() })
	w := startGoWriter(t, func(ctx context.Context, k, v string) error { return rdb.Set(ctx, k, v, 0).Err() })
	runFailover(t, c, scenario{name: goRedisVersion + " FailoverClient", protocol: "RESP2"}, w)
	if !t.Failed() {
		// The killed master may or may not be listed as a (down) replica.
		testenv.Eventually(t, 20*time.Second, "RESP2 SENTINEL replies after the failover", func() error {
			return checkSentinelRESP2(c, 1)
		})
	}
}

// checkSentinelRESP2 asks every monitor, over RESP2, what go-redis' typed
// SENTINEL helpers parse: GET-MASTER-ADDR-BY-NAME and MASTER agree on a
// master that is not failing over, with at least minReplicas replicas and
// the two other monitors, every entry with ip, port and flags.
func checkSentinelRESP2(c *cluster, minReplicas int) error {
	ctx := context.Background()
	var errs []error
	for _, s := range c.sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s, Protocol: 2, ReadTimeout: time.Second})
		addr, err := sc.GetMasterAddrByName(ctx, "mymaster").Result()
		if err != nil || len(addr) != 2 {
			errs = append(errs, fmt.Errorf("%s RESP2 GET-MASTER-ADDR-BY-NAME = %v %v", s, addr, err))
			sc.Close()
			continue
		}
		master := net.JoinHostPort(addr[0], addr[1])
		if _, err := sc.GetMasterAddrByName(ctx, "nosuch").Result(); !errors.Is(err, redis.Nil) {
			errs = append(errs, fmt.Errorf("%s RESP2 GET-MASTER-ADDR-BY-NAME nosuch: err %v, want redis.Nil", s, err))
		}
		m, err := sc.Master(ctx, "mymaster").Result()
		if err != nil || m["name"] != "mymaster" || net.JoinHostPort(m["ip"], m["port"]) != master ||
			!strings.Contains(m["flags"], "master") || strings.Contains(m["flags"], "failover_in_progress") {
			errs = append(errs, fmt.Errorf("%s RESP2 SENTINEL MASTER = %v %v, want %s, not failing over", s, m, err, master))
		}
		replicas, rerr := sc.Replicas(ctx, "mymaster").Result()
		sentinels, serr := sc.Sentinels(ctx, "mymaster").Result()
		if rerr != nil || len(replicas) < minReplicas {
			errs = append(errs, fmt.Errorf("%s RESP2 SENTINEL REPLICAS = %v %v, want at least %d", s, replicas, rerr, minReplicas))
		}
		if serr != nil || len(sentinels) != 2 {
			errs = append(errs, fmt.Errorf("%s RESP2 SENTINEL SENTINELS = %v %v, want 2", s, sentinels, serr))
		}
		for _, list := range [][]map[string]string{replicas, sentinels} {
			for _, e := range list {
				if e["ip"] == "" || e["port"] == "" || e["flags"] == "" {
					errs = append(errs, fmt.Errorf("%s RESP2 entry without ip/port/flags: %v", s, e))
				}
			}
		}
		sc.Close()
	}
	return errors.Join(errs...)
}

// TestGoRedisClusterReplicaOnly: redis.NewFailoverClusterClient with
// ReplicaOnly: writes go to the master, reads to a replica (SENTINEL
// REPLICAS, flags honoured). A read through the replica routing works
// before the kill and after recovery, and RouteRandomly also reaches
// replicas.
func TestGoRedisClusterReplicaOnly(t *testing.T) {
	parallel(t)
	c := startCluster(t)
	opt := failoverOptions(c, 3)
	opt.ReplicaOnly = true
	cc := redis.NewFailoverClusterClient(opt)
	t.Cleanup(func() { cc.Close() })
	served := newServedBy(cc)
	w := startGoWriter(t, func(ctx context.Context, k, v string) error { return cc.Set(ctx, k, v, 0).Err() })
	w.replica = func(ctx context.Context, phase, key string) replicaRead {
		r := replicaRead{Phase: phase, Key: key}
		// Poll: after the failover the cluster client reloads its view of
		// the nodes and the surviving replica catches up.
		deadline := time.Now().Add(15 * time.Second)
		for {
			rctx := served.tag(ctx)
			v, err := cc.Get(rctx, key).Result()
			r.Addr = served.addr(rctx)
			want := strings.TrimPrefix(key, "seq:")
			r.Role = roleOf(ctx, r.Addr)
			// Until the client reloads its view of the nodes, a read may
			// still go to the promoted replica: poll for a replica.
			if err == nil && v == want && r.Role == "slave" {
				r.OK = true
				return r
			}
			r.Msg = fmt.Sprintf("GET %s = %q %v (served by %q, role %q)", key, v, err, r.Addr, r.Role)
			if time.Now().After(deadline) {
				return r
			}
			time.Sleep(50 * time.Millisecond) // poll period, bounded by deadline
		}
	}
	runFailover(t, c, scenario{name: goRedisVersion + " FailoverClusterClient ReplicaOnly", protocol: "RESP3", replicaReads: true}, w)
	if t.Failed() {
		return
	}

	ropt := failoverOptions(c, 3)
	ropt.ReplicaOnly, ropt.RouteRandomly = true, true
	rc := redis.NewFailoverClusterClient(ropt)
	defer rc.Close()
	rserved := newServedBy(rc)
	ctx := context.Background()
	acks, _, _ := w.p.snapshot()
	key := seqKey(acks[len(acks)-1].N)
	seen := map[string]bool{}
	for i := 0; i < 40 && len(seen) < 2; i++ {
		rctx := rserved.tag(ctx)
		if err := rc.Get(rctx, key).Err(); err != nil {
			t.Fatalf("RouteRandomly GET %s: %v", key, err)
		}
		seen[rserved.addr(rctx)] = true
	}
	reachedReplica := false
	for a := range seen {
		if roleOf(ctx, a) == "slave" {
			reachedReplica = true
		}
	}
	if !reachedReplica {
		t.Errorf("RouteRandomly: 40 reads served only by %v, no replica", seen)
	}
}

// roleOf is ROLE's first element on addr, "" on error.
func roleOf(ctx context.Context, addr string) string {
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2})
	defer rdb.Close()
	v, err := rdb.Do(ctx, "ROLE").Slice()
	if err != nil || len(v) == 0 {
		return ""
	}
	s, _ := v[0].(string)
	return s
}

// servedBy records which node of a ClusterClient processed a command, by a
// tag carried in the command's context.
type servedBy struct {
	mu   sync.Mutex
	next int
	by   map[int]string
}

type servedTag struct{}

func newServedBy(cc *redis.ClusterClient) *servedBy {
	s := &servedBy{by: map[int]string{}}
	cc.OnNewNode(func(node *redis.Client) {
		addr := node.Options().Addr
		// go-redis 9.17 gives the nodes of a failover cluster client ":port"
		// addresses on loopback: its ClusterSlots have no origin address, so
		// replaceLoopbackHost swaps 127.0.0.1 for an empty host.
		if strings.HasPrefix(addr, ":") {
			addr = "127.0.0.1" + addr
		}
		node.AddHook(nodeHook{s: s, addr: addr})
	})
	return s
}

func (s *servedBy) tag(ctx context.Context) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	return context.WithValue(ctx, servedTag{}, s.next)
}

func (s *servedBy) addr(ctx context.Context) string {
	id, _ := ctx.Value(servedTag{}).(int)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.by[id]
}

type nodeHook struct {
	s    *servedBy
	addr string
}

func (h nodeHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h nodeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h nodeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if id, ok := ctx.Value(servedTag{}).(int); ok && err == nil {
			h.s.mu.Lock()
			h.s.by[id] = h.addr
			h.s.mu.Unlock()
		}
		return err
	}
}
