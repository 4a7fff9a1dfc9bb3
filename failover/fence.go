package failover

import (
	"context"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// FenceMove is what the fence loop does on one of its ticks.
type FenceMove int

// The fence loop's moves.
const (
	FenceHold  FenceMove = iota // nothing to change
	FencePause                  // pause (or keep pausing) the local node's writes
	FenceLift                   // lift the pause
)

// FenceInput is what the fencing decision reads.
type FenceInput struct {
	Now         time.Time
	LastContact time.Time     // last contact with the Raft majority (or the loop's start)
	After       time.Duration // Options.FenceAfter
	Obs         probe.Observation
	Observed    bool // Obs exists: the local node is probed
	// CommittedMaster: the committed state names the local node a master.
	CommittedMaster bool
	Fenced          bool // the loop paused the node and has not lifted it
}

// Fence is the sidecar fencing rule. While this monitor is cut off from
// the Raft majority for longer than After and the local node reports role
// master, its writes are paused (renewed every tick): the majority may
// have promoted another master by now, and a master nobody can see must
// not keep acknowledging writes that the new timeline will drop.
//
// Back in the majority the pause is lifted only when the committed state
// names this node the master, or once the node reports role slave (the
// leader demotes a stale master as soon as it answers) — never while it
// is a master the group does not recognise.
func Fence(in FenceInput) FenceMove {
	isolated := in.Now.Sub(in.LastContact) > in.After
	switch {
	case isolated && in.Observed && in.Obs.Role == "master":
		return FencePause
	case in.Fenced && !isolated && (in.CommittedMaster || (in.Observed && in.Obs.Role == "slave")):
		return FenceLift
	}
	return FenceHold
}

// fenceLoop guards the local Redis node (Options.LocalRedis) by Fence,
// every FenceAfter/4: a pause lasts 2×FenceAfter, so it lapses by itself
// if this monitor dies.
func (b *Brain) fenceLoop(ctx context.Context) {
	defer b.wg.Done()
	node, after := b.opt.LocalRedis, b.opt.FenceAfter
	period := max(after/4, 50*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	started := b.now()
	fenced := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := b.now()
		last := b.store.MajorityContact()
		if last.IsZero() {
			last = started
		}
		obs, ok := b.prober.Observe(node)
		auth, committedMaster := localAuth(b.store.State(), node)
		move := Fence(FenceInput{Now: now, LastContact: last, After: after, Obs: obs, Observed: ok,
			CommittedMaster: committedMaster, Fenced: fenced})
		pctx, cancel := context.WithTimeout(ctx, period)
		switch move {
		case FencePause:
			err := b.prober.PauseWrites(pctx, node, auth, 2*after)
			if err != nil {
				b.log.Error("fencing the local master failed", "node", node, "err", err)
			} else if !fenced {
				fenced = true
				b.log.Warn("+fenced: cut off from the monitor majority; the local master's writes are paused",
					"node", node, "since_contact", now.Sub(last).Round(time.Millisecond))
				b.opt.Publisher.Publish(EvFenced, node)
			}
		case FenceLift:
			if err := b.prober.UnpauseWrites(pctx, node, auth); err != nil {
				b.log.Error("lifting the fence failed", "node", node, "err", err)
			} else {
				fenced = false
				b.log.Info("-fenced: back in the majority", "node", node, "committed_master", committedMaster)
				b.opt.Publisher.Publish(EvUnfenced, node)
			}
		}
		cancel()
	}
}

// localAuth returns the credentials of the master whose topology holds
// node, and whether the committed state names it the master.
func localAuth(st *state.State, node string) (probe.Auth, bool) {
	for _, ms := range st.Masters {
		if ms.Addr.String() == node {
			return LinkAuth(ms), true
		}
		for _, r := range ms.Replicas {
			if r.String() == node {
				return LinkAuth(ms), false
			}
		}
	}
	return probe.Auth{}, false
}
