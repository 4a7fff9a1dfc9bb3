//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
)

// Pacing of the polls after a kill: every monitor is asked about every
// master it has not yet answered with a replica, in one pipeline, every
// killPollBase plus killPollPerMaster per master still pending, so that a
// large kill does not load the monitors with questions.
const (
	killPollBase      = 20 * time.Millisecond
	killPollPerMaster = 200 * time.Microsecond
)

// killPollEvery is the pause between two rounds of a monitor's polls with
// pending masters still unanswered.
func killPollEvery(pending int) time.Duration {
	return killPollBase + time.Duration(pending)*killPollPerMaster
}

// victim is one shard whose master a kill phase SIGKILLs.
type victim struct {
	s        *shard
	old      string          // the killed master's address
	replicas map[string]bool // addresses it may fail over to
	killedAt time.Time
}

// killOutcome is what the kill phase measured for one killed master.
type killOutcome struct {
	name     string
	old, now string        // the killed master; the replica every monitor answers ("" when never)
	took     time.Duration // kill → the last monitor's first answer with the replica
	ok       bool          // every monitor answered a replica within the bound
}

// killMasters SIGKILLs the current masters of shards, all at once, and
// polls every monitor of mons concurrently until each answers
// GET-MASTER-ADDR-BY-NAME of every killed master with one of its replicas,
// bounded by timeout after the kills. It returns one outcome per shard, in
// order; the error is for a kill that failed or monitors that answer
// different replicas for one master, not for masters never failed over
// (their outcome says so).
func killMasters(ctx context.Context, shards []*shard, mons []*benchutil.Monitor, timeout time.Duration) ([]killOutcome, error) {
	victims := make([]*victim, len(shards))
	for i, s := range shards {
		v := &victim{s: s, old: s.masterNode().Addr(), replicas: map[string]bool{}}
		for _, a := range s.replicaAddrs() {
			v.replicas[a] = true
		}
		victims[i] = v
	}
	var wg sync.WaitGroup
	errs := make([]error, len(victims))
	for i, v := range victims {
		wg.Go(func() {
			v.killedAt = time.Now()
			errs[i] = v.s.masterNode().Kill()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("kill: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	answers := make([][]answer, len(mons))
	for i, m := range mons {
		wg.Go(func() { answers[i] = watchMonitor(pctx, m.Addr, victims) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return combine(victims, answers)
}

// answer is one monitor's first answer with a replica for one master.
type answer struct {
	addr string        // "" when it never answered one
	took time.Duration // kill → that answer
}

// watchMonitor polls the monitor at addr until it has answered every
// victim with one of its replicas or ctx ends, and returns its first
// such answer per victim.
func watchMonitor(ctx context.Context, addr string, victims []*victim) []answer {
	c := redis.NewClient(&redis.Options{
		Addr: addr, Protocol: 2, DisableIdentity: true,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		MaxRetries: -1, PoolSize: 1, ContextTimeoutEnabled: true,
	})
	defer c.Close()
	out := make([]answer, len(victims))
	pending := make([]int, len(victims))
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 && ctx.Err() == nil {
		pipe := c.Pipeline()
		cmds := make([]*redis.Cmd, len(pending))
		for k, i := range pending {
			cmds[k] = pipe.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", victims[i].s.name)
		}
		_, _ = pipe.Exec(ctx) // per-command errors are read below
		now := time.Now()
		var still []int
		for k, i := range pending {
			if a := hostPort(cmds[k]); victims[i].replicas[a] {
				out[i] = answer{addr: a, took: now.Sub(victims[i].killedAt)}
				continue
			}
			still = append(still, i)
		}
		pending = still
		if len(pending) > 0 {
			_ = benchutil.Sleep(ctx, killPollEvery(len(pending)))
		}
	}
	return out
}

// hostPort is the address a GET-MASTER-ADDR-BY-NAME reply names, "" for
// an error or another reply.
func hostPort(cmd *redis.Cmd) string {
	v, err := cmd.Slice()
	if err != nil || len(v) != 2 {
		return ""
	}
	host, _ := v[0].(string)
	port, _ := v[1].(string)
	return net.JoinHostPort(host, port)
}

// combine turns the monitors' answers into one outcome per victim: failed
// over when every monitor answered a replica, after the slowest monitor's
// time. Monitors that answered different replicas for one master are an
// error (the outcomes are returned too).
func combine(victims []*victim, answers [][]answer) ([]killOutcome, error) {
	out := make([]killOutcome, len(victims))
	var errs []error
	for i, v := range victims {
		o := killOutcome{name: v.s.name, old: v.old, ok: len(answers) > 0}
		var addrs []string
		for _, a := range answers {
			if a[i].addr == "" {
				o.ok = false
				continue
			}
			addrs = append(addrs, a[i].addr)
			o.took = max(o.took, a[i].took)
		}
		slices.Sort(addrs)
		distinct := slices.Compact(addrs)
		if len(distinct) > 1 {
			errs = append(errs, fmt.Errorf("%s: the monitors answer different replicas %v", v.s.name, distinct))
			o.ok = false
		}
		if o.ok {
			o.now = distinct[0]
		} else {
			o.took = 0
		}
		out[i] = o
	}
	return out, errors.Join(errs...)
}
