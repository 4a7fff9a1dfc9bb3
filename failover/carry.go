package failover

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// This file is the executor: it gathers each Input, calls Decide, and
// carries the Actions out.

// step is one tick: the three phases of Decide, each on what the I/O of
// the previous one left (the prober watches new nodes before their
// observations are read; the leader's barrier precedes its decisions).
// The committed state and now are the tick's start.
func (b *Brain) step(ctx context.Context) {
	st := b.store.State()
	now := b.now()
	b.tick(ctx, st, now)
	b.evaluateLocal(ctx, st, now)
	// A leader in TILT still acts on the other monitors' fresh opinions:
	// only its own judgement is suspect, and the group must not wait 30 s.
	b.leaderStep(ctx, st, now)
}

// tick is PhaseTick: TILT, registration, configured masters, watches.
func (b *Brain) tick(ctx context.Context, st *state.State, now time.Time) {
	b.carry(ctx, b.decide(b.input(PhaseTick, st, now, nil)))
	b.tune(st)
}

// nodeTuner is implemented by probers whose nodes can be probed at their
// own periods (implemented by *probe.Prober).
type nodeTuner interface {
	SetNodePeriods(addr string, ping, info time.Duration) bool
	SetUrgent(addr string, on bool) bool
}

// tune gives the prober every watched node's Tunings, when they changed;
// after SENTINEL DEBUG PING-PERIOD the nodes keep no down-after bound.
func (b *Brain) tune(st *state.State) {
	t, ok := b.prober.(nodeTuner)
	if !ok {
		return
	}
	b.mu.Lock()
	want := Tunings(st, b.local.SDownSince)
	b.mu.Unlock()
	// A PING period set with SENTINEL DEBUG PING-PERIOD is the operator's,
	// kept exactly as in Sentinel: no down-after bound under it.
	explicit := b.timer(TimerPingPeriod) != b.opt.PingPeriod
	for a, w := range want {
		if explicit {
			w.PingBound = 0
		}
		if cur, had := b.tuned[a]; had && cur == w {
			continue
		}
		// Both are false for a node the prober does not watch yet: the
		// next tick tries again.
		if t.SetNodePeriods(a, w.PingBound, 0) && t.SetUrgent(a, w.Urgent) {
			b.tuned[a] = w
		}
	}
	for a := range b.tuned {
		if _, ok := want[a]; !ok {
			delete(b.tuned, a) // unwatched: the prober forgot it too
		}
	}
}

// evaluateLocal is PhaseLocal: SDOWN and opinions from the observations.
func (b *Brain) evaluateLocal(ctx context.Context, st *state.State, now time.Time) {
	b.carry(ctx, b.decide(b.input(PhaseLocal, st, now, b.observe(st))))
}

// leaderStep is PhaseLeader, when this monitor leads and has caught up
// with its term (a Barrier since it won); its actions are bound to the
// leadership.
func (b *Brain) leaderStep(ctx context.Context, st *state.State, now time.Time) {
	lctx, ok := b.leadership(ctx)
	if !ok || b.crashPoint("") {
		return
	}
	in := b.input(PhaseLeader, st, now, b.observe(st))
	in.Leading, in.Term = true, b.store.Term()
	in.Refused = map[string]string{}
	for _, name := range st.MasterNames() {
		in.Refused[name] = b.Refused(name)
	}
	b.carryLeader(lctx, b.decide(in))
}

// carryLeader carries out the leader's actions. A commit, with what its
// result chooses, concerns one master, so the commits of different masters
// run side by side — when many masters fail together their ODOWNs and
// failover starts go to Raft together (it writes concurrent entries in
// one batch) instead of one after another; every other action runs in
// order, and the tick ends when every commit has.
func (b *Brain) carryLeader(ctx context.Context, acts []Action) {
	commits := 0
	for _, a := range acts {
		if _, ok := a.(Commit); ok {
			commits++
		}
	}
	if commits < 2 {
		b.carry(ctx, acts)
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, a := range acts {
		if c, ok := a.(Commit); ok {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.commit(ctx, c)
			}()
			continue
		}
		if !b.perform(ctx, a) {
			return
		}
	}
}

// input is the Input of a phase, but for Local (filled by decide).
func (b *Brain) input(ph Phase, st *state.State, now time.Time, obs map[string]probe.Observation) Input {
	return Input{Phase: ph, State: st, Obs: obs, Timing: b.timing(), Self: b.opt.Self, Masters: b.opt.Masters,
		Now: now, NewID: newID}
}

// observe returns the prober's observations of every node of st.
func (b *Brain) observe(st *state.State) map[string]probe.Observation {
	obs := map[string]probe.Observation{}
	for _, name := range st.MasterNames() {
		for _, a := range nodes(st.Masters[name]) {
			if o, ok := b.prober.Observe(a.String()); ok {
				obs[a.String()] = o
			}
		}
	}
	return obs
}

// decide runs Decide on the live soft state and applies the soft part of
// its answer, both under the brain's lock (the handler's SDown and the
// effect loop see a tick's changes at once); the caller carries out the
// rest without the lock.
func (b *Brain) decide(in Input) []Action {
	b.mu.Lock()
	defer b.mu.Unlock()
	in.Local = &b.local
	acts := Decide(in)
	remember(&b.local, acts)
	return acts
}

// carry carries out the I/O of acts in order (their soft part is applied
// already), until a crash point stops them.
func (b *Brain) carry(ctx context.Context, acts []Action) {
	for _, a := range acts {
		if !b.perform(ctx, a) {
			return
		}
	}
}

// perform carries out one action and reports whether to go on.
func (b *Brain) perform(ctx context.Context, a Action) bool {
	switch a := a.(type) {
	case Watch:
		b.prober.Watch(a.Node, a.Auth)
	case Unwatch:
		b.prober.Unwatch(a.Node)
	case Propose:
		b.queue(a.Key, a.Cmd)
	case Publish:
		b.opt.Publisher.Publish(a.Channel, b.message(a))
	case Log:
		b.write(a)
	case Block:
		b.log.Warn("failover blocked", "master", a.Master, "reason", a.Kind, "detail", a.Detail)
		b.opt.Metrics.blockedFor(a.Master, a.Kind)
	case Prune:
		if servers, err := b.store.Servers(); err == nil {
			for _, id := range StaleMembers(a.Members, servers) {
				b.queue("prune/"+id, state.Command{Op: state.OpRemoveMonitor, MonitorID: id})
			}
		}
	case Commit:
		b.commit(ctx, a)
	case Drive:
		b.startDriver(ctx, a.Master)
	case CrashPoint:
		return !b.crashPoint(a.Point)
	case Repoint:
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.repoint(ctx, a.Node, a.Master, a.To, a.To, a.Auth, false)
		}()
	}
	return true
}

// commit applies a.Cmd on the leader and carries out the branch its
// result chose.
func (b *Brain) commit(ctx context.Context, a Commit) {
	next := a.OK
	if err := b.store.Apply(ctx, a.Cmd); err != nil {
		b.write(Log{Level: a.Fail.Level, Msg: a.Fail.Msg, Args: append(a.Fail.Args[:len(a.Fail.Args):len(a.Fail.Args)], "err", err)})
		next = a.Else
	}
	b.mu.Lock()
	remember(&b.local, next)
	b.mu.Unlock()
	b.carry(ctx, next)
}

// message is the text of a published event, its instance announced.
func (b *Brain) message(p Publish) string {
	if p.Inst.Kind == InstNone {
		return p.Text
	}
	return p.Inst.format(b.ann) + p.Text
}

// write logs l, its Inst values written as announced instance details.
func (b *Brain) write(l Log) {
	args := make([]any, len(l.Args))
	for i, v := range l.Args {
		if inst, ok := v.(Inst); ok {
			v = inst.format(b.ann)
		}
		args[i] = v
	}
	b.log.Log(context.Background(), l.Level, l.Msg, args...)
}

// leadership returns a context that lives as long as this node's current
// term of leadership, once it has applied everything committed before it.
func (b *Brain) leadership(ctx context.Context) (context.Context, bool) {
	leader := b.store.IsLeader()
	term := b.store.Term()
	b.mu.Lock()
	if b.leaderCancel != nil && (!leader || term != b.leaderTerm) {
		b.leaderCancel()
		b.leaderCancel, b.leaderCtx, b.leaderTerm = nil, nil, 0
		b.local.Driving = map[string]bool{}
		b.log.Info("leadership lost", "monitor", b.opt.Self.ID)
	}
	if !leader {
		b.mu.Unlock()
		return nil, false
	}
	if b.leaderCtx != nil {
		c := b.leaderCtx
		b.mu.Unlock()
		return c, true
	}
	b.mu.Unlock()
	bctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := b.store.Barrier(bctx)
	cancel()
	if err != nil {
		b.log.Debug("barrier after election failed", "err", err)
		return nil, false
	}
	lctx, lcancel := context.WithCancel(ctx)
	b.mu.Lock()
	b.leaderCtx, b.leaderCancel, b.leaderTerm = lctx, lcancel, term
	b.mu.Unlock()
	b.log.Info("leading the monitor group", "monitor", b.opt.Self.ID, "term", term)
	return lctx, true
}

// queue records a proposal, replacing any pending one with the same key.
func (b *Brain) queue(key string, cmd state.Command) {
	b.mu.Lock()
	b.pending[key] = cmd
	b.mu.Unlock()
	select {
	case b.proposeCh <- struct{}{}:
	default:
	}
}

// proposeLoop sends queued proposals (to the leader, through the store).
// Failures are dropped: the decisions queue again what is still needed.
func (b *Brain) proposeLoop(ctx context.Context) {
	defer b.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.proposeCh:
		}
		b.mu.Lock()
		pending := b.pending
		b.pending = map[string]state.Command{}
		b.mu.Unlock()
		b.proposeAll(ctx, pending)
	}
}

// proposeAll sends the pending proposals (by key). When every member
// applies OpBatch, the batchable ones go as one entry — one commit per
// moment of this monitor however many masters it watches; the others, and
// all of them in a group with an older member, one entry each. Failures
// are dropped: the local loop queues again what is still needed.
func (b *Brain) proposeAll(ctx context.Context, pending map[string]state.Command) {
	keys := slices.Sorted(maps.Keys(pending))
	var batched []string
	if len(keys) > 1 && b.store.State().GroupProtocol() >= state.BatchProtocol {
		for _, k := range keys {
			if state.Batchable(pending[k].Op) {
				batched = append(batched, k)
			}
		}
	}
	if len(batched) > 1 {
		cmd := state.Command{Op: state.OpBatch}
		for _, k := range batched {
			cmd.Batch = append(cmd.Batch, pending[k])
		}
		if b.propose(ctx, cmd) {
			b.mu.Lock()
			for _, k := range batched {
				b.local.Proposed(k, pending[k], b.now())
			}
			b.mu.Unlock()
		}
		for _, k := range batched {
			delete(pending, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(pending)) {
		if b.propose(ctx, pending[k]) {
			b.mu.Lock()
			b.local.Proposed(k, pending[k], b.now())
			b.mu.Unlock()
		}
	}
}

// propose commits cmd through the store (forwarded to the leader),
// bounded to a second, and reports whether it was committed.
func (b *Brain) propose(ctx context.Context, cmd state.Command) bool {
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	err := b.store.Propose(pctx, cmd)
	cancel()
	if err != nil && ctx.Err() == nil && (b.opt.Transient == nil || !b.opt.Transient(err)) {
		b.log.Debug("proposal failed", "op", cmd.Op, "master", cmd.Master, "err", err)
	}
	return err == nil
}

// effectLoop publishes the events of committed changes (PhaseEffect),
// records the brain's metrics, and wakes the decision loop.
func (b *Brain) effectLoop(ctx context.Context) {
	defer b.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-b.store.Effects():
			if !ok {
				return
			}
			st := b.store.State()
			b.opt.Metrics.effect(e, st)
			in := b.input(PhaseEffect, st, b.now(), nil)
			in.Effect = e
			b.carry(ctx, b.decide(in))
			b.poke()
		}
	}
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // documented never to fail
	return hex.EncodeToString(b)
}
