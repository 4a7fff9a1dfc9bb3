//go:build integration

package clients

import (
	"context"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// rueidisVersion is the rueidis in go.mod (rueidis has no version
// constant).
const rueidisVersion = "rueidis v1.0.79"

// TestRueidis: rueidis' sentinel client with its defaults: RESP3 and
// client-side caching on, so its sentinel connections send HELLO 3 and
// CLIENT TRACKING ON OPTIN, SUBSCRIBE on the same RESP3 connection, and
// check ROLE on the master they are given. A cached read (DoCache) on the
// new master works at the end.
func TestRueidis(t *testing.T) {
	parallel(t)
	c := startCluster(t)
	rc, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: c.sentinels,
		Sentinel:    rueidis.SentinelOption{MasterSet: "mymaster"},
	})
	if err != nil {
		t.Fatalf("rueidis.NewClient through the monitors: %v", err)
	}
	t.Cleanup(rc.Close)
	w := startGoWriter(t, func(ctx context.Context, k, v string) error {
		return rc.Do(ctx, rc.B().Set().Key(k).Value(v).Build()).Error()
	})
	runFailover(t, c, scenario{name: rueidisVersion + " sentinel client", protocol: "RESP3"}, w)
	if t.Failed() {
		return
	}
	acks, _, _ := w.p.snapshot()
	key := seqKey(acks[len(acks)-1].N)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 0; i < 2; i++ { // the second read is served from the cache
		v, err := rc.DoCache(ctx, rc.B().Get().Key(key).Cache(), time.Minute).ToString()
		if err != nil || "seq:"+v != key {
			t.Fatalf("DoCache GET %s = %q %v", key, v, err)
		}
	}
}
