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
		reply, err = c.Do(ctx, "ROLE").Result()
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
// the node is watched, else from INFO server on the given client.
func (p *Prober) redisMajor(ctx context.Context, addr string, c *redis.Client) (int, error) {
	if o, ok := p.Observe(addr); ok && o.RedisVersion != "" {
		return majorVersion(o.RedisVersion), nil
	}
	text, err := c.Info(ctx, "server").Result()
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
	c, err := l.client(ctx)
	if err != nil {
		return fmt.Errorf("probe: reconfigure %s: connect: %w", addr, err)
	}
	major, err := p.redisMajor(ctx, addr, c)
	if err != nil {
		return fmt.Errorf("probe: reconfigure %s: INFO server: %w", addr, err)
	}
	verb := "REPLICAOF"
	if major > 0 && major < 5 {
		verb = "SLAVEOF"
	}
	args := []any{verb}
	for _, t := range target {
		args = append(args, t)
	}
	what := verb + " " + strings.Join(target, " ")

	var replCmd, kill1, kill2 *redis.Cmd
	var rewrite *redis.StatusCmd
	_, execErr := c.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		replCmd = pipe.Do(ctx, args...)
		rewrite = pipe.ConfigRewrite(ctx)
		kill1 = pipe.Do(ctx, "CLIENT", "KILL", "TYPE", "normal")
		kill2 = pipe.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub")
		return nil
	})
	if s, _ := replCmd.Val().(string); replCmd.Err() != nil || s != "OK" {
		cause := replCmd.Err()
		if cause == nil {
			cause = execErr
		}
		if cause == nil {
			cause = fmt.Errorf("reply %v", replCmd.Val())
		}
		return fmt.Errorf("%w: %s on %s: %w", ErrReplicaOf, what, addr, cause)
	}
	if err := rewrite.Err(); err != nil {
		p.log.Debug("CONFIG REWRITE failed (ignored)", "addr", addr, "err", err)
	}
	for _, k := range []*redis.Cmd{kill1, kill2} {
		if err := k.Err(); err != nil {
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

// simple sends one command expecting +OK over a short-lived connection.
func (p *Prober) simple(ctx context.Context, addr string, auth Auth, args ...string) error {
	ctx, cancel := p.commandContext(ctx)
	defer cancel()
	l := p.commandLink(addr, auth)
	defer l.reset()
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
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
