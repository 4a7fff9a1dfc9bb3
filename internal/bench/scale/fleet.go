//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// syncEvery is the pause between two checks of a replica's link.
const syncEvery = 50 * time.Millisecond

// infoTimeout bounds one INFO (or REPLICAOF) sent to a fleet node.
const infoTimeout = 2 * time.Second

// shard is one monitored master and its replicas: redis-server processes
// of the fleet, one of them the master.
type shard struct {
	name   string              // the name both systems monitor it under
	nodes  []*redisproc.Server // nodes[0] started as the master
	master int                 // index in nodes of the current master
}

// masterNode is the shard's current master.
func (s *shard) masterNode() *redisproc.Server { return s.nodes[s.master] }

// replicaAddrs are the addresses of every node but the current master.
func (s *shard) replicaAddrs() []string {
	var out []string
	for i, n := range s.nodes {
		if i != s.master {
			out = append(out, n.Addr())
		}
	}
	return out
}

// fleet is the redis-server processes one size of the sweep runs on,
// shared by both systems: every shard's master and replicas.
type fleet struct {
	shards []*shard

	mu      sync.Mutex
	servers []*redisproc.Server // every started process, for close
}

// shardName is the name of shard i (from 0) of a fleet: master001, ….
func shardName(i int) string { return fmt.Sprintf("master%03d", i+1) }

// startFleet starts masters redis-server masters under dir, then
// replicas replicas of each, at most limit processes starting at once,
// and waits until every replica is in sync; timeout bounds it all. The
// returned fleet, also along with an error, holds what was started and
// must be closed.
func startFleet(ctx context.Context, dir string, masters, replicas, limit int, timeout time.Duration) (*fleet, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	f := &fleet{}
	for i := range masters {
		f.shards = append(f.shards, &shard{name: shardName(i), nodes: make([]*redisproc.Server, 1+replicas)})
	}
	start := func(s *shard, k int, replicaOf string) error {
		srv, err := redisproc.Start(ctx, redisproc.Options{Dir: filepath.Join(dir, s.name, fmt.Sprintf("node%d", k+1)), ReplicaOf: replicaOf})
		if err != nil {
			return fmt.Errorf("%s node %d: %w", s.name, k+1, err)
		}
		f.mu.Lock()
		f.servers = append(f.servers, srv)
		f.mu.Unlock()
		s.nodes[k] = srv
		return nil
	}
	if err := f.each(limit, func(s *shard) error { return start(s, 0, "") }); err != nil {
		return f, fmt.Errorf("start masters: %w", err)
	}
	err := f.each(limit, func(s *shard) error {
		for k := 1; k <= replicas; k++ {
			if err := start(s, k, s.nodes[0].Addr()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return f, fmt.Errorf("start replicas: %w", err)
	}
	return f, f.waitInSync(ctx, limit)
}

// each calls fn on every shard, at most limit at once, and returns the
// first error (the calls under way finish first).
func (f *fleet) each(limit int, fn func(*shard) error) error {
	var g errgroup.Group
	g.SetLimit(max(limit, 1))
	for _, s := range f.shards {
		g.Go(func() error { return fn(s) })
	}
	return g.Wait()
}

// close stops every process of the fleet.
func (f *fleet) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, s := range f.servers {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// masters are the shards' current masters, for the monitors' configs.
func (f *fleet) masters() []benchutil.MasterSpec {
	out := make([]benchutil.MasterSpec, len(f.shards))
	for i, s := range f.shards {
		out[i] = benchutil.MasterSpec{Name: s.name, Addr: s.masterNode().Addr()}
	}
	return out
}

// pids are the process ids of every fleet node, an error naming one that
// is not running.
func (f *fleet) pids() ([]int, error) {
	var out []int
	for _, s := range f.shards {
		for _, n := range s.nodes {
			pid := n.Pid()
			if pid == 0 {
				return nil, fmt.Errorf("%s: redis-server %s is not running", s.name, n.Addr())
			}
			out = append(out, pid)
		}
	}
	return out, nil
}

// waitInSync polls, at most limit shards at once, until every replica of
// every shard replicates its current master with the link up and no sync
// in progress, within ctx.
func (f *fleet) waitInSync(ctx context.Context, limit int) error {
	return f.each(limit, func(s *shard) error {
		for i, n := range s.nodes {
			if i == s.master {
				continue
			}
			err := benchutil.Poll(ctx, benchutil.Forever, syncEvery, func() error {
				r, err := replication(ctx, n)
				if err == nil {
					err = r.inSyncWith(s.masterNode().Addr())
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("%s: replica %s: %w", s.name, n.Addr(), err)
			}
		}
		return nil
	})
}

// replicationInfo is what INFO replication says of a node's role.
type replicationInfo struct {
	role       string // master or slave
	masterAddr string // host:port of its master (replicas)
	linkUp     bool   // master_link_status:up
	syncing    bool   // master_sync_in_progress:1
}

// replication asks n for INFO replication.
func replication(ctx context.Context, n *redisproc.Server) (replicationInfo, error) {
	cctx, cancel := context.WithTimeout(ctx, infoTimeout)
	defer cancel()
	info, err := redisproc.Command(cctx, n.Addr(), "INFO", "replication")
	if err != nil {
		return replicationInfo{}, fmt.Errorf("info replication: %w", err)
	}
	return parseReplication(info), nil
}

// parseReplication reads the fields of [replicationInfo] from the text of
// INFO replication.
func parseReplication(info string) replicationInfo {
	r := replicationInfo{role: redisproc.InfoField(info, "role")}
	if r.role == "slave" {
		r.masterAddr = net.JoinHostPort(redisproc.InfoField(info, "master_host"), redisproc.InfoField(info, "master_port"))
		r.linkUp = redisproc.InfoField(info, "master_link_status") == "up"
		r.syncing = redisproc.InfoField(info, "master_sync_in_progress") == "1"
	}
	return r
}

// inSyncWith is nil when r is a replica of master with its link up and
// no sync in progress, else an error saying what differs.
func (r replicationInfo) inSyncWith(master string) error {
	switch {
	case r.role != "slave":
		return fmt.Errorf("role %q, want slave", r.role)
	case r.masterAddr != master:
		return fmt.Errorf("replicates %s, want %s", r.masterAddr, master)
	case !r.linkUp || r.syncing:
		return fmt.Errorf("link up %t, sync in progress %t", r.linkUp, r.syncing)
	}
	return nil
}

// restartStopped restarts every fleet node that is not running (a killed
// master), at most limit shards at once, on its port and config file;
// timeout bounds it all.
func (f *fleet) restartStopped(ctx context.Context, limit int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return f.each(limit, func(s *shard) error {
		for _, n := range s.nodes {
			if n.Running() {
				continue
			}
			if err := n.Restart(ctx); err != nil {
				return fmt.Errorf("%s: restart %s: %w", s.name, n.Addr(), err)
			}
		}
		return nil
	})
}

// repair puts every shard back into one master with its replicas, after
// the monitors of a run have stopped (and any killed master has been
// restarted, coming back as an empty master): the shard's master is the
// one node that says role master or, when several do, one other than the
// previous master (the replica promoted meanwhile); every other node is
// told REPLICAOF it unless it already replicates it. Then it waits until
// every replica is in sync (see waitInSync). At most limit shards are
// handled at once; timeout bounds it all.
func (f *fleet) repair(ctx context.Context, limit int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := f.each(limit, func(s *shard) error {
		roles := make([]replicationInfo, len(s.nodes))
		for i, n := range s.nodes {
			r, err := replication(ctx, n)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", s.name, n.Addr(), err)
			}
			roles[i] = r
		}
		m, err := pickMaster(roles, s.master)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		s.master = m
		host, port, _ := net.SplitHostPort(s.masterNode().Addr())
		for i, n := range s.nodes {
			if i == m || (roles[i].role == "slave" && roles[i].masterAddr == s.masterNode().Addr()) {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, infoTimeout)
			_, err := redisproc.Command(cctx, n.Addr(), "REPLICAOF", host, port)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: REPLICAOF on %s: %w", s.name, n.Addr(), err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return f.waitInSync(ctx, limit)
}

// pickMaster is the index of the node of roles to be the shard's master
// (see repair): the only one with role master, or the first of several
// that is not prev. No master at all is an error.
func pickMaster(roles []replicationInfo, prev int) (int, error) {
	found := -1
	for i, r := range roles {
		if r.role != "master" {
			continue
		}
		if found < 0 || found == prev {
			found = i
		}
	}
	if found < 0 {
		return 0, errors.New("no node has role master")
	}
	return found, nil
}
