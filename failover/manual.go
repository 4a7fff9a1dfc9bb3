package failover

import (
	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// ManualFailover returns the command that starts a manual failover of
// master name (SENTINEL FAILOVER, the admin API's failover and
// switchover): forced past the anti-flap rule, toward the replica this
// monitor would promote now (Sentinel's selection rules over its view). It
// fails with state.ErrNoSuchMaster, state.ErrFailoverInProg or
// state.ErrNoGoodReplica. The FSM checks the same again when it commits.
func (b *Brain) ManualFailover(name string, coordinated bool) (state.Command, error) {
	st := b.store.State()
	ms, ok := st.Masters[name]
	if !ok {
		return state.Command{}, state.ErrNoSuchMaster
	}
	obs := map[string]probe.Observation{}
	for _, a := range ms.Replicas {
		if o, ok := b.prober.Observe(a.String()); ok {
			obs[a.String()] = o
		}
	}
	now, tm := b.now(), b.timing()
	b.mu.Lock()
	best, _, found := selectFor(ms, obs, b.local.SDownSince, ms.ODownSince, now, tm)
	b.mu.Unlock()
	return manualFailover(ms, best.Addr, found, b.opt.Self.ID, coordinated, newID())
}

// manualFailover is ManualFailover's rule: the command toward candidate
// "to" (found: one qualifies), with failover id id.
func manualFailover(ms *state.Master, to state.Addr, found bool, self string, coordinated bool, id string) (state.Command, error) {
	if ms.Failover.InProgress() {
		return state.Command{}, state.ErrFailoverInProg
	}
	if !found {
		return state.Command{}, state.ErrNoGoodReplica
	}
	return state.Command{Op: state.OpFailoverStart, Master: ms.Name, Addr: ms.Addr, To: to,
		FailoverID: id, MonitorID: self, Force: true, Coordinated: coordinated}, nil
}
