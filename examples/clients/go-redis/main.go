// Command go-redis writes and reads a key on the current master of
// "mymaster", found through the raftsentinel monitors by go-redis's
// FailoverClient, as an application would.
//
//	examples/local/start.sh
//	go run ./examples/clients/go-redis
//
// RAFTSENTINEL_SENTINELS (host:port,...) overrides the monitors of
// examples/local (127.0.0.1:26379-26381).
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	sentinels := []string{"127.0.0.1:26379", "127.0.0.1:26380", "127.0.0.1:26381"}
	if s := os.Getenv("RAFTSENTINEL_SENTINELS"); s != "" {
		sentinels = strings.Split(s, ",")
	}

	// On failover: every monitor publishes +switch-master when the new master
	// is committed. The FailoverClient is subscribed to it on one monitor and
	// then closes its connections to the old master; every new connection
	// asks a monitor (SENTINEL get-master-addr-by-name, trying the next one
	// on an error such as -NOQUORUM from a monitor cut off from the others)
	// and goes to the new master. A command in flight during the switch fails
	// with a network error or READONLY (the old master, demoted) and is
	// retried MaxRetries times with backoff; only then does the error reach
	// the caller, and a write that returned an error may or may not have been
	// applied.
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    "mymaster",
		SentinelAddrs: sentinels,
		// SentinelPassword: "...", // requirepass of the monitors, if set
		// Password:         "...", // of the Redis nodes, if they need AUTH
		MaxRetries:      10,
		MinRetryBackoff: 50 * time.Millisecond,
		MaxRetryBackoff: 500 * time.Millisecond,
	})
	defer rdb.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rdb.Set(ctx, "greeting", "hello from go-redis", 0).Err(); err != nil {
		log.Fatalf("SET: %v", err)
	}
	val, err := rdb.Get(ctx, "greeting").Result()
	if err != nil {
		log.Fatalf("GET: %v", err)
	}

	// Which master answered, as the monitors say.
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinels[0]})
	defer sc.Close()
	addr, err := sc.GetMasterAddrByName(ctx, "mymaster").Result()
	if err != nil {
		log.Fatalf("SENTINEL get-master-addr-by-name: %v", err)
	}
	fmt.Printf("master %s:%s: greeting=%s\n", addr[0], addr[1], val)
}
