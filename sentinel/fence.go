package sentinel

import (
	"context"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// Fence events (raftsentinel's own; Sentinel has no fencing).
const (
	EvFenced   = "+fenced"
	EvUnfenced = "-fenced"
)

// fenceLoop guards the local Redis node (Options.LocalRedis). While this
// monitor is cut off from the Raft majority for longer than FenceAfter
// and the node reports role master, its writes are paused with CLIENT
// PAUSE WRITE for 2×FenceAfter, renewed every FenceAfter/4: the majority
// may have promoted another master by now, and a master nobody can see
// must not keep acknowledging writes that the new timeline will drop.
//
// Back in the majority the pause is lifted only when the committed state
// names this node the master, or once the node reports role slave (the
// leader demotes a stale master as soon as it answers) — never while it
// is a master the group does not recognise.
func (m *Monitor) fenceLoop(ctx context.Context) {
	defer m.wg.Done()
	period := max(m.opt.FenceAfter/4, 50*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	started := m.now()
	fenced := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := m.now()
		last := m.store.MajorityContact()
		if last.IsZero() {
			last = started
		}
		isolated := now.Sub(last) > m.opt.FenceAfter
		obs, ok := m.prober.Observe(m.opt.LocalRedis)
		st := m.store.State()
		auth, committedMaster := m.localAuth(st)
		pctx, cancel := context.WithTimeout(ctx, period)
		switch {
		case isolated && ok && obs.Role == "master":
			err := m.prober.PauseWrites(pctx, m.opt.LocalRedis, auth, 2*m.opt.FenceAfter)
			if err != nil {
				m.log.Error("fencing the local master failed", "node", m.opt.LocalRedis, "err", err)
			} else if !fenced {
				fenced = true
				m.log.Warn("+fenced: cut off from the monitor majority; the local master's writes are paused",
					"node", m.opt.LocalRedis, "since_contact", now.Sub(last).Round(time.Millisecond))
				m.opt.Publisher.Publish(EvFenced, m.opt.LocalRedis)
			}
		case fenced && !isolated && (committedMaster || (ok && obs.Role == "slave")):
			if err := m.prober.UnpauseWrites(pctx, m.opt.LocalRedis, auth); err != nil {
				m.log.Error("lifting the fence failed", "node", m.opt.LocalRedis, "err", err)
			} else {
				fenced = false
				m.log.Info("-fenced: back in the majority", "node", m.opt.LocalRedis, "committed_master", committedMaster)
				m.opt.Publisher.Publish(EvUnfenced, m.opt.LocalRedis)
			}
		}
		cancel()
	}
}

// localAuth returns the credentials of the master whose topology holds
// the local node, and whether the committed state names it the master.
func (m *Monitor) localAuth(st *state.State) (probe.Auth, bool) {
	for _, ms := range st.Masters {
		if ms.Addr.String() == m.opt.LocalRedis {
			return linkAuth(ms), true
		}
		for _, r := range ms.Replicas {
			if r.String() == m.opt.LocalRedis {
				return linkAuth(ms), false
			}
		}
	}
	return probe.Auth{}, false
}
