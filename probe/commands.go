package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrReplicaOf is wrapped when the REPLICAOF (or SLAVEOF) inside the
// reconfiguration transaction did not reply OK; the node's role did not
// change (unless the error is a timeout after EXEC was sent: verify with
// Role).
var ErrReplicaOf = errors.New("probe: REPLICAOF failed")

// ErrClientKill is wrapped when REPLICAOF succeeded but a CLIENT KILL in
// the same transaction failed: the role did change, but the node's clients
// were not disconnected.
var ErrClientKill = errors.New("probe: CLIENT KILL failed after the role change")

// Promote turns addr into a master with Sentinel's transaction:
//
//	MULTI; REPLICAOF NO ONE; CONFIG REWRITE; CLIENT KILL TYPE normal;
//	CLIENT KILL TYPE pubsub; EXEC
//
// (SLAVEOF for Redis < 5). A CONFIG REWRITE failure (no config file) is
// ignored. It uses a short-lived dedicated connection with auth; ctx bounds
// it (CommandTimeout when ctx has no deadline). Errors wrap ErrReplicaOf or
// ErrClientKill, or the connection error. Success means the node accepted
// the command; confirm with Role. Safe for concurrent use.
func (p *Prober) Promote(ctx context.Context, addr string, auth Auth) error {
	return p.reconfigure(ctx, addr, auth, "NO", "ONE")
}

// ReplicaOf makes addr a replica of masterHost:masterPort with the same
// transaction as Promote (REPLICAOF host port). Safe for concurrent use.
func (p *Prober) ReplicaOf(ctx context.Context, addr string, auth Auth, masterHost string, masterPort int) error {
	if masterHost == "" || masterPort <= 0 || masterPort > 65535 {
		return fmt.Errorf("%w: bad master address %q", ErrReplicaOf, net.JoinHostPort(masterHost, strconv.Itoa(masterPort)))
	}
	return p.reconfigure(ctx, addr, auth, masterHost, strconv.Itoa(masterPort))
}

// Role sends ROLE to addr over a short-lived dedicated connection and
// parses the reply. Safe for concurrent use.
func (p *Prober) Role(ctx context.Context, addr string, auth Auth) (Role, error) {
	ctx, cancel := p.commandContext(ctx)
	defer cancel()
	l := p.commandLink(addr, auth)
	defer l.reset()
	var reply any
	err := l.do(ctx, func(c *redis.Client) error {
		var err error
		reply, err = c.Do(ctx, auth.Cmd("ROLE")).Result()
		return err
	})
	if err != nil {
		return Role{}, fmt.Errorf("probe: ROLE %s: %w", addr, err)
	}
	r, err := ParseRole(reply)
	if err != nil {
		return Role{}, fmt.Errorf("probe: ROLE %s: %w", addr, err)
	}
	return r, nil
}

func (p *Prober) commandContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, p.opt.CommandTimeout)
}

// commandLink is a dedicated link for one command sequence; its socket
// timeouts are the command timeout, the ctx deadline wins.
func (p *Prober) commandLink(addr string, auth Auth) *link {
	return &link{addr: addr, name: p.opt.ClientName, timeout: p.opt.CommandTimeout, auth: auth, dialer: p.dialer()}
}

// redisMajor returns the node's Redis major version: from the last INFO if
// the node is watched, else from INFO server (renamed as auth says) on the
// given connection.
func (p *Prober) redisMajor(ctx context.Context, addr string, auth Auth, c *redis.Conn) (int, error) {
	if o, ok := p.Observe(addr); ok && o.RedisVersion != "" {
		return majorVersion(o.RedisVersion), nil
	}
	text, err := c.Do(ctx, auth.Cmd("INFO"), "server").Text()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "redis_version:"); ok {
			return majorVersion(v), nil
		}
	}
	return 0, nil
}

func (p *Prober) reconfigure(ctx context.Context, addr string, auth Auth, target ...string) error {
	ctx, cancel := p.commandContext(ctx)
	defer cancel()
	l := p.commandLink(addr, auth)
	defer l.reset()
	cl, err := l.client(ctx)
	if err != nil {
		return fmt.Errorf("probe: reconfigure %s: connect: %w", addr, err)
	}
	// One connection for the whole sequence: MULTI and what it queues must
	// share it.
	c := cl.Conn()
	defer c.Close()
	major, err := p.redisMajor(ctx, addr, auth, c)
	if err != nil {
		return fmt.Errorf("probe: reconfigure %s: INFO server: %w", addr, err)
	}
	verb := auth.replicaOfVerb(major)
	args := []any{verb}
	for _, t := range target {
		args = append(args, t)
	}
	what := verb + " " + strings.Join(target, " ")

	// MULTI first, on its own: were it refused (renamed on the node but not
	// here), the commands below would run one by one outside a transaction.
	if err := c.Do(ctx, auth.Cmd("MULTI")).Err(); err != nil {
		return fmt.Errorf("%w: %s on %s: %s: %w", ErrReplicaOf, what, addr, auth.Cmd("MULTI"), err)
	}
	var replCmd, rewrite, kill1, kill2, exec *redis.Cmd
	// The pipeline's own error is that of its first failed command; each
	// reply is looked at below.
	_, _ = c.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		replCmd = pipe.Do(ctx, args...)
		rewrite = pipe.Do(ctx, auth.Cmd("CONFIG"), "REWRITE")
		kill1 = pipe.Do(ctx, auth.Cmd("CLIENT"), "KILL", "TYPE", "normal")
		kill2 = pipe.Do(ctx, auth.Cmd("CLIENT"), "KILL", "TYPE", "pubsub")
		exec = pipe.Do(ctx, auth.Cmd("EXEC"))
		return nil
	})
	// replies are EXEC's, in order: REPLICAOF, CONFIG REWRITE, the kills.
	replies, execErr := exec.Slice()
	if execErr == nil && len(replies) != 4 {
		execErr = fmt.Errorf("%s replied %d results, want 4", auth.Cmd("EXEC"), len(replies))
	}
	if execErr != nil {
		// A command refused when queued (unknown, e.g. renamed on the node
		// only) makes EXEC fail with EXECABORT: name that command.
		cause := execErr
		for _, q := range []*redis.Cmd{replCmd, rewrite, kill1, kill2} {
			if q.Err() != nil {
				cause = fmt.Errorf("%v: %w", q.Args()[0], q.Err())
				break
			}
		}
		return fmt.Errorf("%w: %s on %s: %w", ErrReplicaOf, what, addr, cause)
	}
	if s, _ := replies[0].(string); s != "OK" {
		cause, ok := replies[0].(error)
		if !ok {
			cause = fmt.Errorf("reply %v", replies[0])
		}
		return fmt.Errorf("%w: %s on %s: %w", ErrReplicaOf, what, addr, cause)
	}
	if err, ok := replies[1].(error); ok {
		p.log.Debug("CONFIG REWRITE failed (ignored)", "addr", addr, "err", err)
	}
	for _, r := range replies[2:] {
		if err, ok := r.(error); ok {
			return fmt.Errorf("%w: %s on %s: %w", ErrClientKill, what, addr, err)
		}
	}
	p.log.Info("reconfigured node", "addr", addr, "cmd", what)
	p.RefreshInfo(addr)
	return nil
}

// ErrFailoverCmd is wrapped when a node refuses the FAILOVER command.
var ErrFailoverCmd = errors.New("probe: FAILOVER refused")

// CoordinatedFailover asks the master at addr to hand over to its replica
// host:port with Redis' own FAILOVER command: the master pauses writes,
// waits until the replica has every write (up to timeout), then the two
// swap roles — no acknowledged write is lost. It returns once the command
// is accepted; watch the roles with Role. Safe for concurrent use.
func (p *Prober) CoordinatedFailover(ctx context.Context, addr string, auth Auth, host string, port int, timeout time.Duration) error {
	return p.simple(ctx, addr, auth, "FAILOVER", "TO", host, strconv.Itoa(port), "TIMEOUT", strconv.FormatInt(timeout.Milliseconds(), 10))
}

// AbortFailover cancels a FAILOVER in progress on addr (FAILOVER ABORT);
// the master resumes taking writes.
func (p *Prober) AbortFailover(ctx context.Context, addr string, auth Auth) error {
	return p.simple(ctx, addr, auth, "FAILOVER", "ABORT")
}

// PauseWrites makes addr refuse writes for d (CLIENT PAUSE d WRITE); reads
// go on. Calling it again renews the pause.
func (p *Prober) PauseWrites(ctx context.Context, addr string, auth Auth, d time.Duration) error {
	return p.simple(ctx, addr, auth, "CLIENT", "PAUSE", strconv.FormatInt(d.Milliseconds(), 10), "WRITE")
}

// UnpauseWrites ends a CLIENT PAUSE on addr.
func (p *Prober) UnpauseWrites(ctx context.Context, addr string, auth Auth) error {
	return p.simple(ctx, addr, auth, "CLIENT", "UNPAUSE")
}

// simple sends one command expecting +OK over a short-lived connection;
// its name (args[0]) is renamed as auth says, error texts keep the
// original.
func (p *Prober) simple(ctx context.Context, addr string, auth Auth, args ...string) error {
	ctx, cancel := p.commandContext(ctx)
	defer cancel()
	l := p.commandLink(addr, auth)
	defer l.reset()
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	a[0] = auth.Cmd(args[0])
	err := l.do(ctx, func(c *redis.Client) error {
		v, err := c.Do(ctx, a...).Result()
		if err != nil {
			return err
		}
		if s, _ := v.(string); s != "OK" {
			return fmt.Errorf("reply %v", v)
		}
		return nil
	})
	if err != nil {
		if args[0] == "FAILOVER" {
			return fmt.Errorf("%w: %s on %s: %w", ErrFailoverCmd, strings.Join(args, " "), addr, err)
		}
		return fmt.Errorf("probe: %s on %s: %w", strings.Join(args, " "), addr, err)
	}
	p.log.Info("sent command", "addr", addr, "cmd", strings.Join(args, " "))
	return nil
}
