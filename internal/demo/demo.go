// Package demo runs the failover drill of `raftsentinel demo`: a real
// redis-server master and replica, three in-process monitors on loopback,
// a SIGKILL of the master, and a timeline of what every part saw.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// Options of one drill.
type Options struct {
	Out       io.Writer     // timeline and summary
	Logger    *slog.Logger  // monitors' logs; nil = silent
	Keep      bool          // leave everything running until ctx is done
	DownAfter time.Duration // default 1s
	Dir       string        // working directory; "" = temporary, removed afterwards
	Verbose   bool
}

// Promise is the product's hard bound from the kill to a write accepted by
// the new master.
const Promise = 30 * time.Second

// Result is what one drill measured.
type Result struct {
	OldMaster, NewMaster string
	Promoted             time.Duration // kill → first write accepted by the new master
	AllMonitors          time.Duration // kill → every monitor answers the new address
	Rejoined             time.Duration // old master restart → it reports role slave of the new master
}

// Cluster is a running demo topology.
type Cluster struct {
	Dir      string
	Master   *redisproc.Server
	Replica  *redisproc.Server
	Monitors []*daemon.Daemon
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// StartCluster starts a master, a replica and three monitors under dir.
func StartCluster(ctx context.Context, dir string, downAfter time.Duration, log *slog.Logger) (_ *Cluster, err error) {
	if _, err := redisproc.Binary("redis-server"); err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if c.Master, err = redisproc.Start(ctx, redisproc.Options{Dir: filepath.Join(dir, "redis-master")}); err != nil {
		return nil, fmt.Errorf("start master: %w", err)
	}
	if c.Replica, err = redisproc.Start(ctx, redisproc.Options{Dir: filepath.Join(dir, "redis-replica"), ReplicaOf: c.Master.Addr()}); err != nil {
		return nil, fmt.Errorf("start replica: %w", err)
	}
	c.Monitors, err = StartMonitors(dir, 3, c.Master.Addr(), downAfter, log)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	for _, d := range c.Monitors {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			_ = d.Run(rctx)
		}()
	}
	return c, nil
}

// MonitorConfig returns the configuration of monitor i (0-based) of a
// loopback group listening on lns.
func MonitorConfig(dir string, i int, lns []daemon.Listeners, masterAddr string, downAfter time.Duration) config.Config {
	cfg := config.Default()
	cfg.NodeID = fmt.Sprintf("m%d", i+1)
	cfg.Listen = lns[i].RESP.Addr().String()
	cfg.Announce = cfg.Listen
	cfg.HTTPAddr = lns[i].HTTP.Addr().String()
	cfg.RaftAddr = lns[i].Raft.Addr().String()
	cfg.DataDir = filepath.Join(dir, cfg.NodeID)
	for j, l := range lns {
		cfg.Peers = append(cfg.Peers, config.Peer{ID: fmt.Sprintf("m%d", j+1), RaftAddr: l.Raft.Addr().String()})
	}
	m := config.DefaultMaster()
	m.Name, m.Addr, m.Quorum, m.DownAfter = "mymaster", masterAddr, len(lns)/2+1, downAfter
	m.FailoverTimeout = 30 * time.Second
	cfg.Masters = []config.Master{m}
	cfg.Raft.HeartbeatTimeout = 200 * time.Millisecond
	cfg.Raft.ElectionTimeout = 200 * time.Millisecond
	cfg.Raft.LeaderLeaseTimeout = 100 * time.Millisecond
	return cfg
}

// StartMonitors creates n monitors (not yet running) on new loopback
// listeners.
func StartMonitors(dir string, n int, masterAddr string, downAfter time.Duration, log *slog.Logger) ([]*daemon.Daemon, error) {
	lns, err := OpenListeners(n, nil)
	if err != nil {
		return nil, err
	}
	return NewMonitors(dir, lns, masterAddr, downAfter, log)
}

// OpenListeners opens n sets of loopback listeners. raftAddrs, when given,
// fixes the raft listeners' addresses (to restart a group on the addresses
// its members know); the others take free ports. A raft port that is not
// given is taken below the ephemeral range (redisproc.FreePort), so that a
// restart on it cannot find it held by an outbound connection.
func OpenListeners(n int, raftAddrs []string) ([]daemon.Listeners, error) {
	var lns []daemon.Listeners
	for i := range n {
		var l daemon.Listeners
		var err error
		if l.RESP, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
			if raftAddrs != nil {
				l.Raft, err = net.Listen("tcp", raftAddrs[i])
			} else {
				l.Raft, err = listenStable()
			}
		}
		if err == nil {
			l.HTTP, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err != nil {
			CloseListeners(append(lns, l))
			return nil, err
		}
		lns = append(lns, l)
	}
	return lns, nil
}

// listenStable listens on a free loopback port outside the ephemeral range,
// trying another when one is taken between the choice and the bind.
func listenStable() (net.Listener, error) {
	var err error
	for range 10 {
		var port int
		if port, err = redisproc.FreePort(); err != nil {
			return nil, err
		}
		var l net.Listener
		if l, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			return l, nil
		}
	}
	return nil, fmt.Errorf("demo: raft listener: %w", err)
}

// CloseListeners closes every non-nil listener.
func CloseListeners(lns []daemon.Listeners) {
	for _, l := range lns {
		for _, x := range []net.Listener{l.RESP, l.Raft, l.HTTP} {
			if x != nil {
				x.Close()
			}
		}
	}
}

// NewMonitors creates one monitor per listener set, forming one group.
func NewMonitors(dir string, lns []daemon.Listeners, masterAddr string, downAfter time.Duration, log *slog.Logger) ([]*daemon.Daemon, error) {
	return NewMonitorsTuned(dir, lns, masterAddr, downAfter, log, nil)
}

// NewMonitorsTuned is NewMonitors with tune, when not nil, applied to each
// monitor's configuration (i is its index) before it is validated.
func NewMonitorsTuned(dir string, lns []daemon.Listeners, masterAddr string, downAfter time.Duration, log *slog.Logger,
	tune func(i int, cfg *config.Config)) ([]*daemon.Daemon, error) {
	if downAfter <= 0 {
		downAfter = time.Second
	}
	var ds []*daemon.Daemon
	for i := range lns {
		cfg := MonitorConfig(dir, i, lns, masterAddr, downAfter)
		if tune != nil {
			tune(i, &cfg)
		}
		err := cfg.Validate()
		var d *daemon.Daemon
		if err == nil {
			d, err = daemon.New(cfg, daemon.Options{Listeners: lns[i], Logger: log})
		}
		if err != nil {
			for _, x := range ds {
				x.Close()
			}
			CloseListeners(lns[i:])
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// SentinelAddrs returns the monitors' Sentinel-protocol addresses.
func (c *Cluster) SentinelAddrs() []string {
	var out []string
	for _, d := range c.Monitors {
		out = append(out, d.RESPAddr())
	}
	return out
}

// Close stops the monitors and the Redis processes.
func (c *Cluster) Close() {
	if c.cancel != nil {
		c.cancel()
		c.wg.Wait()
	} else {
		for _, d := range c.Monitors {
			d.Close()
		}
	}
	for _, s := range []*redisproc.Server{c.Master, c.Replica} {
		if s != nil {
			s.Close()
		}
	}
}

// timeline collects timestamped lines relative to a start time.
type timeline struct {
	mu    sync.Mutex
	start time.Time
	lines []tlLine
}

type tlLine struct {
	at   time.Duration
	what string
}

func (t *timeline) add(what string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	at := time.Since(t.start)
	t.lines = append(t.lines, tlLine{at, what})
	return at
}

func (t *timeline) print(w io.Writer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sort.SliceStable(t.lines, func(i, j int) bool { return t.lines[i].at < t.lines[j].at })
	for _, l := range t.lines {
		fmt.Fprintf(w, "  %8.3f s  %s\n", l.at.Seconds(), l.what)
	}
}

// Run performs the drill and prints the timeline.
func Run(ctx context.Context, opt Options) error {
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	if opt.DownAfter <= 0 {
		opt.DownAfter = time.Second
	}
	dir := opt.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "raftsentinel-demo-")
		if err != nil {
			return err
		}
		dir = d
		if !opt.Keep {
			defer os.RemoveAll(dir)
		}
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := opt.Out
	fmt.Fprintf(w, "raftsentinel demo: 1 master + 1 replica (redis-server) and 3 monitors on loopback, down-after %s\n", opt.DownAfter)
	c, err := StartCluster(ctx, dir, opt.DownAfter, log)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(w, "  master  %s\n  replica %s\n", c.Master.Addr(), c.Replica.Addr())
	for i, a := range c.SentinelAddrs() {
		fmt.Fprintf(w, "  monitor m%d: sentinel protocol on %s\n", i+1, a)
	}
	res, err := Drill(ctx, c, w)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nresult: %s -> %s; write accepted %.3f s after the kill (promise: %s); all monitors agreed after %.3f s; old master rejoined as replica %.3f s after its restart\n",
		res.OldMaster, res.NewMaster, res.Promoted.Seconds(), Promise, res.AllMonitors.Seconds(), res.Rejoined.Seconds())
	if opt.Keep {
		fmt.Fprintf(w, "\nEverything keeps running (data in %s). Try:\n", dir)
		fmt.Fprintf(w, "  redis-cli -p %s SENTINEL get-master-addr-by-name mymaster\n", port(c.SentinelAddrs()[0]))
		fmt.Fprintf(w, "  redis-cli -p %s SENTINEL replicas mymaster\n", port(c.SentinelAddrs()[1]))
		fmt.Fprintf(w, "  redis-cli -p %s SUBSCRIBE +switch-master\n", port(c.SentinelAddrs()[2]))
		fmt.Fprintf(w, "  redis-cli -p %s INFO replication\n", port(res.NewMaster))
		fmt.Fprintf(w, "Press Ctrl-C to stop.\n")
		<-ctx.Done()
	}
	return nil
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// Drill waits for the group to be ready, kills the master, and measures the
// failover; then restarts the old master and waits for it to rejoin.
func Drill(ctx context.Context, c *Cluster, w io.Writer) (Result, error) {
	res := Result{OldMaster: c.Master.Addr()}
	addrs := c.SentinelAddrs()
	if err := poll(ctx, 20*time.Second, func() error { return groupReady(ctx, c, addrs) }); err != nil {
		return res, fmt.Errorf("monitors not ready: %w", err)
	}
	fc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "mymaster", SentinelAddrs: addrs,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer fc.Close()
	if err := writeReplicated(ctx, fc, c); err != nil {
		return res, err
	}
	tl := &timeline{}
	stopSubs, err := subscribeAll(ctx, addrs, tl)
	if err != nil {
		return res, err
	}
	defer stopSubs()

	fmt.Fprintf(w, "\nkilling the master %s (SIGKILL)\n", c.Master.Addr())
	tl.start = time.Now()
	if err := c.Master.Kill(); err != nil {
		return res, err
	}
	tl.add("master " + c.Master.Addr() + " killed")
	if err := watchFailover(ctx, c, fc, addrs, tl, &res); err != nil {
		tl.print(w)
		return res, err
	}
	if v, err := fc.Get(ctx, "demo:before").Result(); err != nil || v != "1" {
		return res, fmt.Errorf("the write made before the failover is missing on the new master: %v", err)
	}

	fmt.Fprintf(w, "restarting the old master %s\n", c.Master.Addr())
	restartAt := time.Now()
	if err := c.Master.Restart(ctx); err != nil {
		return res, err
	}
	tl.add("old master restarted")
	if err := poll(ctx, Promise, func() error { return rejoined(ctx, c) }); err != nil {
		tl.print(w)
		return res, fmt.Errorf("old master did not rejoin as a replica: %w", err)
	}
	res.Rejoined = time.Since(restartAt)
	tl.add("old master " + c.Master.Addr() + " is a replica of " + c.Replica.Addr())
	// Let the subscribers drain what was already published.
	_ = sleep(ctx, 100*time.Millisecond)
	fmt.Fprintln(w, "\ntimeline (seconds after the kill):")
	tl.print(w)
	return res, nil
}

// groupReady checks that every monitor names the master and its replica.
func groupReady(ctx context.Context, c *Cluster, addrs []string) error {
	for _, a := range addrs {
		sc := redis.NewSentinelClient(&redis.Options{Addr: a})
		reps, err := sc.Replicas(ctx, "mymaster").Result()
		got, err2 := sc.GetMasterAddrByName(ctx, "mymaster").Result()
		sc.Close()
		if err != nil || err2 != nil {
			return errors.Join(err, err2)
		}
		if len(reps) != 1 || net.JoinHostPort(got[0], got[1]) != c.Master.Addr() {
			return fmt.Errorf("monitor %s: master %v, %d replicas", a, got, len(reps))
		}
	}
	return nil
}

// writeReplicated writes demo:before and waits until the replica has it,
// so the drill loses nothing.
func writeReplicated(ctx context.Context, fc *redis.Client, c *Cluster) error {
	if err := fc.Set(ctx, "demo:before", "1", 0).Err(); err != nil {
		return fmt.Errorf("write before the drill: %w", err)
	}
	if err := poll(ctx, 10*time.Second, func() error {
		rc := redis.NewClient(&redis.Options{Addr: c.Replica.Addr()})
		defer rc.Close()
		return rc.Get(ctx, "demo:before").Err()
	}); err != nil {
		return fmt.Errorf("replica never got the write: %w", err)
	}
	return nil
}

// subscribeAll puts every event of every monitor on the timeline until
// the returned stop is called (which waits for the subscribers to end).
func subscribeAll(ctx context.Context, addrs []string, tl *timeline) (stop func(), err error) {
	sctx, cancel := context.WithCancel(ctx)
	var subs sync.WaitGroup
	stop = func() {
		cancel()
		subs.Wait()
	}
	for i, a := range addrs {
		name := fmt.Sprintf("m%d", i+1)
		sc := redis.NewClient(&redis.Options{Addr: a})
		ps := sc.PSubscribe(sctx, "*")
		if _, err := ps.Receive(sctx); err != nil {
			ps.Close()
			sc.Close()
			stop()
			return nil, fmt.Errorf("subscribe to %s: %w", name, err)
		}
		subs.Add(1)
		go func() {
			defer subs.Done()
			defer sc.Close()
			defer ps.Close()
			ch := ps.Channel()
			for {
				select {
				case <-sctx.Done():
					return
				case msg, ok := <-ch:
					if !ok {
						return
					}
					tl.add(fmt.Sprintf("%s  %-28s %s", name, msg.Channel, msg.Payload))
				}
			}
		}()
	}
	return stop, nil
}

// watchFailover keeps a client writing through the monitors until the new
// master accepts, and watches every monitor's answer, within Promise.
func watchFailover(ctx context.Context, c *Cluster, fc *redis.Client, addrs []string, tl *timeline, res *Result) error {
	deadline := time.Now().Add(Promise)
	answered := map[string]bool{}
	var wrote bool
	for !wrote || len(answered) < len(addrs) {
		if time.Now().After(deadline) {
			return fmt.Errorf("no failover within %s (write accepted: %v, monitors agreeing: %d/%d)", Promise, wrote, len(answered), len(addrs))
		}
		for i, a := range addrs {
			if answered[a] {
				continue
			}
			sc := redis.NewSentinelClient(&redis.Options{Addr: a, ReadTimeout: 200 * time.Millisecond})
			got, err := sc.GetMasterAddrByName(ctx, "mymaster").Result()
			sc.Close()
			if err == nil && net.JoinHostPort(got[0], got[1]) == c.Replica.Addr() {
				answered[a] = true
				at := tl.add(fmt.Sprintf("m%d  answers get-master-addr-by-name = %s", i+1, c.Replica.Addr()))
				if len(answered) == len(addrs) {
					res.AllMonitors = at
				}
			}
		}
		if !wrote {
			if err := fc.Set(ctx, "demo:after", "1", 0).Err(); err == nil {
				wrote = true
				res.Promoted = tl.add("client write through the FailoverClient accepted by " + c.Replica.Addr())
				res.NewMaster = c.Replica.Addr()
			}
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// rejoined checks that the old master reports itself a replica of the new.
func rejoined(ctx context.Context, c *Cluster) error {
	rc := redis.NewClient(&redis.Options{Addr: c.Master.Addr()})
	defer rc.Close()
	info, err := rc.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if redisproc.InfoField(info, "role") != "slave" || redisproc.InfoField(info, "master_port") != port(c.Replica.Addr()) {
		return fmt.Errorf("old master reports role %s", redisproc.InfoField(info, "role"))
	}
	return nil
}

func poll(ctx context.Context, d time.Duration, fn func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		if serr := sleep(ctx, 20*time.Millisecond); serr != nil {
			return serr
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
