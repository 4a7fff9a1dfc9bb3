package probe

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// HelloChannel is the Pub/Sub channel on which Redis Sentinels (and
// raftsentinel monitors in drop-in mode) announce themselves.
const HelloChannel = "__sentinel__:hello"

// HelloMessage is one message received on a node's HelloChannel.
type HelloMessage struct {
	Node    string // host:port of the Redis node it arrived on
	Payload string
}

// HelloBus publishes to and subscribes to the HelloChannel of Redis nodes,
// one go-redis client per node. go-redis resubscribes after a lost
// connection; messages published meanwhile are lost (Pub/Sub is
// at-most-once), which the users of hellos must tolerate.
//
// All methods are safe for concurrent use. Messages that the reader of
// Messages does not take in time are dropped (counted by Dropped).
type HelloBus struct {
	log     *slog.Logger
	timeout time.Duration
	out     chan HelloMessage

	mu      sync.Mutex
	nodes   map[string]*helloNode
	dropped uint64
	closed  bool
	wg      sync.WaitGroup
}

type helloNode struct {
	rdb    *redis.Client
	auth   Auth // the credentials rdb was built with
	cancel context.CancelFunc
}

// NewHelloBus returns an empty bus; timeout bounds one PUBLISH (default 1s).
func NewHelloBus(timeout time.Duration, log *slog.Logger) *HelloBus {
	if timeout <= 0 {
		timeout = time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &HelloBus{log: log, timeout: timeout, out: make(chan HelloMessage, 256), nodes: map[string]*helloNode{}}
}

// Messages returns the channel of received hellos; it is closed by Close.
func (b *HelloBus) Messages() <-chan HelloMessage { return b.out }

// Watch subscribes to addr's HelloChannel with the given link settings.
// PUBLISH, AUTH and CLIENT SETNAME are sent renamed as auth.Renames says;
// SUBSCRIBE is always sent as SUBSCRIBE (go-redis' Pub/Sub has no way to
// rename it), so a node that renames SUBSCRIBE delivers no hellos. It
// is idempotent; calling it again with different settings replaces the
// node's client: the subscription is dropped and made again, and it and
// later PUBLISHes use the new credentials (a go-redis client keeps the
// credentials it was built with: a subscription refused with the old ones
// would retry them forever). After Close it is a no-op.
func (b *HelloBus) Watch(addr string, auth Auth) {
	if old := b.watch(addr, auth); old != nil {
		// Its listener ends on its own (b.wg waits for it).
		old.Close()
		b.log.Info("hello: credentials changed: resubscribed", "addr", addr, "user", auth.User)
	}
}

// watch starts addr's client and listener unless addr is watched with
// auth already; it returns the replaced client, to be closed by the caller.
func (b *HelloBus) watch(addr string, auth Auth) (replaced *redis.Client) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	if old := b.nodes[addr]; old != nil {
		if old.auth.Equal(auth) {
			return nil
		}
		old.cancel()
		replaced = old.rdb
	}
	opt := &redis.Options{Addr: addr, Username: auth.User, Password: auth.Pass,
		// A failed dial is returned as a failing connection, not an error,
		// so go-redis starts no background redial goroutine (as link.go).
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return failedConn{fmt.Errorf("probe: dial %s: %w", addr, err)}, nil
			}
			return c, nil
		},
		Protocol: 2, DisableIdentity: true, ClientName: "raftsentinel-hello",
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		DialTimeout:              b.timeout, ReadTimeout: b.timeout, WriteTimeout: b.timeout, PoolTimeout: b.timeout,
		PoolSize: 2, MaxRetries: -1, DialerRetries: 1, DialerRetryTimeout: time.Millisecond}
	applyRenames(opt, auth)
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithCancel(context.Background())
	b.nodes[addr] = &helloNode{rdb: rdb, auth: auth, cancel: cancel}
	if auth.renamed("SUBSCRIBE") {
		b.log.Warn("hello: SUBSCRIBE is renamed: the renamed name is not supported for the subscription; sending SUBSCRIBE", "addr", addr)
	}
	b.wg.Add(1)
	go b.listen(ctx, addr, rdb)
	return replaced
}

func (b *HelloBus) listen(ctx context.Context, addr string, rdb *redis.Client) {
	defer b.wg.Done()
	for ctx.Err() == nil {
		ps := rdb.Subscribe(ctx, HelloChannel)
		ch := ps.Channel(redis.WithChannelHealthCheckInterval(5 * time.Second))
	read:
		for {
			select {
			case <-ctx.Done():
				break read
			case m, ok := <-ch:
				if !ok {
					break read
				}
				select {
				case b.out <- HelloMessage{Node: addr, Payload: m.Payload}:
				default:
					b.mu.Lock()
					b.dropped++
					b.mu.Unlock()
				}
			}
		}
		ps.Close()
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// Unwatch stops listening on addr and closes its client.
func (b *HelloBus) Unwatch(addr string) {
	b.mu.Lock()
	n := b.nodes[addr]
	delete(b.nodes, addr)
	b.mu.Unlock()
	if n != nil {
		n.cancel()
		n.rdb.Close()
	}
}

// Watched returns the watched node addresses.
func (b *HelloBus) Watched() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.nodes))
	for a := range b.nodes {
		out = append(out, a)
	}
	return out
}

// Publish sends payload to addr's HelloChannel; addr must be watched.
func (b *HelloBus) Publish(ctx context.Context, addr, payload string) error {
	b.mu.Lock()
	n := b.nodes[addr]
	b.mu.Unlock()
	if n == nil {
		return fmt.Errorf("probe: hello: %s is not watched", addr)
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if err := n.rdb.Do(ctx, n.auth.Cmd("PUBLISH"), HelloChannel, payload).Err(); err != nil {
		return fmt.Errorf("probe: hello to %s: %w", addr, err)
	}
	return nil
}

// Dropped returns how many received hellos were dropped for want of a
// reader.
func (b *HelloBus) Dropped() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}

// Close unwatches every node, waits for the listeners and closes Messages.
func (b *HelloBus) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	nodes := b.nodes
	b.nodes = map[string]*helloNode{}
	b.mu.Unlock()
	for _, n := range nodes {
		n.cancel()
		n.rdb.Close()
	}
	b.wg.Wait()
	close(b.out)
}
