package netfault

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
)

// Links is a switchboard for the links between live monitors: every
// monitor-to-monitor connection (Raft, proposal forwarding, join) is dialed
// through Links.Dialer of its source monitor, so a test can cut chosen
// pairs of monitors apart, both ways, at run time, while every monitor keeps
// running and keeps reaching Redis (a network partition between monitors).
//
// A cut closes the pair's open connections and makes new dials between them
// fail at once (as a refused connection; a real partition drops packets,
// which the monitors see later, as timeouts). Links also watches what each
// monitor writes to Redis nodes (RedisDialer) so a test can tell which
// monitor sent REPLICAOF.
//
// All methods are safe for concurrent use.
type Links struct {
	mu    sync.Mutex
	owner map[string]int       // a monitor's listening address → its index
	cut   map[[2]int]bool      // unordered pairs (low, high) that are cut
	conns map[*linkConn][2]int // open monitor-to-monitor connections: from, to
	// replicaOf counts, per monitor, the REPLICAOF/SLAVEOF commands it
	// wrote to Redis nodes.
	replicaOf map[int]*atomic.Int64
}

// NewLinks returns a switchboard with every link up.
func NewLinks() *Links {
	return &Links{owner: map[string]int{}, cut: map[[2]int]bool{}, conns: map[*linkConn][2]int{},
		replicaOf: map[int]*atomic.Int64{}}
}

// Register records that addrs (host:port as dialed: Raft and HTTP
// addresses) belong to monitor i.
func (l *Links) Register(i int, addrs ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range addrs {
		l.owner[a] = i
	}
}

func pair(a, b int) [2]int {
	if a > b {
		a, b = b, a
	}
	return [2]int{a, b}
}

// Cut cuts monitor a from each of others, both ways: their open
// connections are closed and new ones refused until Heal.
func (l *Links) Cut(a int, others ...int) {
	l.mu.Lock()
	var doomed []*linkConn
	for _, b := range others {
		l.cut[pair(a, b)] = true
	}
	for c, ft := range l.conns {
		if l.cut[pair(ft[0], ft[1])] {
			doomed = append(doomed, c)
			delete(l.conns, c)
		}
	}
	l.mu.Unlock()
	for _, c := range doomed {
		c.Conn.Close()
	}
}

// Heal restores every link.
func (l *Links) Heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = map[[2]int]bool{}
}

// Dialer is the dial function of monitor from (daemon.Options.Dial).
func (l *Links) Dialer(from int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		l.mu.Lock()
		to, known := l.owner[addr]
		blocked := known && l.cut[pair(from, to)]
		l.mu.Unlock()
		if blocked {
			return nil, &net.OpError{Op: "dial", Net: network, Addr: tcpAddr(addr),
				Err: fmt.Errorf("faults: link m%d-m%d is cut", from+1, to+1)}
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil || !known {
			return c, err
		}
		lc := &linkConn{Conn: c, l: l}
		l.mu.Lock()
		if l.cut[pair(from, to)] { // cut while dialing
			l.mu.Unlock()
			c.Close()
			return nil, &net.OpError{Op: "dial", Net: network, Addr: tcpAddr(addr),
				Err: fmt.Errorf("faults: link m%d-m%d is cut", from+1, to+1)}
		}
		l.conns[lc] = [2]int{from, to}
		l.mu.Unlock()
		return lc, nil
	}
}

// RedisDialer is the dial function of monitor i toward Redis nodes
// (daemon.Options.RedisDial): a plain dial whose writes are scanned for
// REPLICAOF and SLAVEOF.
func (l *Links) RedisDialer(i int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	l.mu.Lock()
	n, ok := l.replicaOf[i]
	if !ok {
		n = &atomic.Int64{}
		l.replicaOf[i] = n
	}
	l.mu.Unlock()
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &sniffConn{Conn: c, n: n}, nil
	}
}

// ReplicaOfSent is how many REPLICAOF/SLAVEOF commands monitor i has
// written to Redis nodes so far.
func (l *Links) ReplicaOfSent(i int) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, ok := l.replicaOf[i]; ok {
		return n.Load()
	}
	return 0
}

type linkConn struct {
	net.Conn
	l *Links
}

func (c *linkConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// sniffConn counts the REPLICAOF and SLAVEOF commands written on it. A
// RESP command is written in one Write by go-redis, so a name split across
// writes does not occur.
type sniffConn struct {
	net.Conn
	n *atomic.Int64
}

var replicaOfNames = [][]byte{[]byte("$9\r\nREPLICAOF\r\n"), []byte("$7\r\nSLAVEOF\r\n"),
	[]byte("$9\r\nreplicaof\r\n"), []byte("$7\r\nslaveof\r\n")}

func (c *sniffConn) Write(p []byte) (int, error) {
	for _, name := range replicaOfNames {
		if k := bytes.Count(p, name); k > 0 {
			c.n.Add(int64(k))
		}
	}
	return c.Conn.Write(p)
}

type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }
