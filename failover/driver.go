package failover

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// startDriver runs the failover of master name to its end in a goroutine
// bound to the current leadership (ctx), unless one is already running.
func (b *Brain) startDriver(ctx context.Context, name string) {
	b.mu.Lock()
	if b.local.Driving[name] {
		b.mu.Unlock()
		return
	}
	b.local.Driving[name] = true
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		err := b.drive(ctx, name)
		if err != nil && ctx.Err() == nil {
			b.log.Warn("failover step failed; will retry", "master", name, "err", err)
		}
		b.mu.Lock()
		delete(b.local.Driving, name)
		b.mu.Unlock()
		b.poke()
	}()
}

// drive carries out NextStep for the committed failover of master name
// until it completes or aborts. The stage is read again after every
// committed step and every retry, so a new leader resumes from whatever
// its predecessor committed.
func (b *Brain) drive(ctx context.Context, name string) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ms := b.store.State().Masters[name]
		step := NextStep(ms, Attempt{}, b.now())
		var at Attempt
		if step.Kind == StepPromote {
			promote := b.promote
			if step.Coordinated {
				promote = b.switchover
			}
			at = Attempt{Made: true, Err: promote(ctx, ms, ms.Failover, LinkAuth(ms))}
			step = NextStep(ms, at, b.now())
		}
		switch step.Kind {
		case StepDone:
			return nil
		case StepRetry:
			if err := sleepCtx(ctx, step.Wait); err != nil {
				return err
			}
		case StepAbort:
			f := ms.Failover
			b.log.Warn("failover aborted", "master", name, "failover_id", f.ID, "err", at.Err)
			return b.store.Apply(ctx, state.Command{Op: state.OpFailoverEnd, Master: name, FailoverID: f.ID,
				Stage: state.StageAborted, Reason: step.Reason})
		case StepCommitPromoted:
			if done, err := b.commitPromoted(ctx, ms); done {
				return err
			}
		case StepReconfigure:
			return b.complete(ctx, ms)
		}
	}
}

// commitPromoted commits the switch to the promoted candidate, with the
// crash points around it, and announces it; done reports that the driver
// stops here (err: why, nil after a simulated crash).
func (b *Brain) commitPromoted(ctx context.Context, ms *state.Master) (done bool, err error) {
	f := ms.Failover
	if b.crashPoint(CrashAfterPromotion) {
		return true, nil
	}
	cmd := state.Command{Op: state.OpFailoverPromoted, Master: ms.Name, FailoverID: f.ID}
	if err := b.store.Apply(ctx, cmd); err != nil {
		return true, fmt.Errorf("commit promotion: %w", err)
	}
	if b.crashPoint(CrashAfterSwitch) {
		return true, nil
	}
	b.log.Warn("replica promoted", "master", ms.Name, "new", f.To.String(), "epoch", f.Epoch, "failover_id", f.ID)
	b.publish(EvPromotedSlave, replicaInst(f.To, ms.Name, f.From))
	b.publish(EvReconfSlaves, masterInst(ms.Name, f.From))
	return false, nil
}

// complete repoints the other replicas and commits the completion.
func (b *Brain) complete(ctx context.Context, ms *state.Master) error {
	f := ms.Failover
	b.reconfigureReplicas(ctx, ms, f, LinkAuth(ms))
	if ctx.Err() != nil {
		return ctx.Err()
	}
	cmd := state.Command{Op: state.OpFailoverEnd, Master: ms.Name, FailoverID: f.ID, Stage: state.StageCompleted}
	if err := b.store.Apply(ctx, cmd); err != nil {
		return fmt.Errorf("commit completion: %w", err)
	}
	b.log.Info("failover completed", "master", ms.Name, "new", f.To.String(), "failover_id", f.ID)
	return nil
}

func (b *Brain) publish(channel string, inst Inst) {
	b.opt.Publisher.Publish(channel, inst.format(b.ann))
}

// role asks addr for its ROLE, bounded by a second.
func (b *Brain) role(ctx context.Context, addr string, auth probe.Auth) (probe.Role, error) {
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return b.prober.Role(rctx, addr, auth)
}

// promote makes f.To a master (unless it already is) and verifies it with
// ROLE.
func (b *Brain) promote(ctx context.Context, ms *state.Master, f *state.Failover, auth probe.Auth) error {
	target := f.To.String()
	inst := replicaInst(f.To, ms.Name, f.From)
	role, err := b.role(ctx, target, auth)
	if err == nil && role.Role == "master" {
		return nil // already promoted (e.g. by a leader that died before committing)
	}
	b.publish(EvSendSlaveofNone, inst)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = b.prober.Promote(pctx, target, auth)
	cancel()
	if err != nil {
		return fmt.Errorf("REPLICAOF NO ONE on %s: %w", target, err)
	}
	b.publish(EvWaitPromotion, inst)
	deadline := b.now().Add(2 * time.Second)
	for {
		role, err = b.role(ctx, target, auth)
		if err == nil && role.Role == "master" {
			return nil
		}
		if b.now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("still reports role %s", role.Role)
			}
			return fmt.Errorf("verify promotion of %s: %w", target, err)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// switchover is the promotion step of a planned (coordinated) failover:
// the old master runs Redis' FAILOVER TO the candidate, which pauses its
// writes, waits until the candidate has every write, and swaps the roles,
// so no acknowledged write is lost. If the swap does not happen within
// the time given (SwitchoverWait), the old master aborts it and takes
// writes again.
func (b *Brain) switchover(ctx context.Context, ms *state.Master, f *state.Failover, auth probe.Auth) error {
	target := f.To.String()
	role, err := b.role(ctx, target, auth)
	if err == nil && role.Role == "master" {
		return nil // the swap already happened (a previous leader started it)
	}
	wait := SwitchoverWait(ms.DownAfter, f.Deadline, b.now())
	b.publish(EvSendSlaveofNone, replicaInst(f.To, ms.Name, f.From))
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = b.prober.CoordinatedFailover(cctx, f.From.String(), auth, f.To.Host, f.To.Port, wait)
	cancel()
	if err != nil {
		return fmt.Errorf("FAILOVER TO %s on %s: %w", target, f.From, err)
	}
	b.publish(EvWaitPromotion, replicaInst(f.To, ms.Name, f.From))
	deadline := b.now().Add(wait + time.Second)
	for {
		role, err = b.role(ctx, target, auth)
		if err == nil && role.Role == "master" {
			return nil
		}
		if b.now().After(deadline) {
			actx, cancel := context.WithTimeout(ctx, time.Second)
			aerr := b.prober.AbortFailover(actx, f.From.String(), auth)
			cancel()
			return fmt.Errorf("switchover to %s did not complete in %s (abort: %v)", target, wait, aerr)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// reconfigureReplicas points the RepointTargets at the new master,
// parallel-syncs at a time, waiting for each batch to report the new
// master (bounded by SLAVE-RECONF-TIMEOUT).
func (b *Brain) reconfigureReplicas(ctx context.Context, ms *state.Master, f *state.Failover, auth probe.Auth) {
	obs := map[string]probe.Observation{}
	for _, a := range ms.Replicas {
		if o, ok := b.prober.Observe(a.String()); ok {
			obs[a.String()] = o
		}
	}
	b.mu.Lock()
	todo := RepointTargets(ms, f.To, obs, b.local.SDownSince)
	b.mu.Unlock()
	batch := max(ms.ParallelSyncs, 1)
	for i := 0; i < len(todo); i += batch {
		group := todo[i:min(i+batch, len(todo))]
		var wg sync.WaitGroup
		for _, a := range group {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.repoint(ctx, a, ms.Name, f.To, f.From, auth, true)
			}()
		}
		wg.Wait()
	}
}

// repoint sends REPLICAOF master to addr and, when wait is set (during a
// failover), publishes Sentinel's reconfiguration events — with evMaster,
// the master as it was, in their instance details — and waits for addr to
// report the new master (up to SLAVE-RECONF-TIMEOUT).
func (b *Brain) repoint(ctx context.Context, a state.Addr, name string, master, evMaster state.Addr, auth probe.Auth, wait bool) bool {
	inst := replicaInst(a, name, evMaster)
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := b.prober.ReplicaOf(cctx, a.String(), auth, master.Host, master.Port)
	cancel()
	if err != nil {
		b.log.Warn("repoint replica failed", "replica", a.String(), "master", master.String(), "err", err)
		return false
	}
	if !wait {
		return true
	}
	b.publish(EvSlaveReconfSent, inst)
	reconf := b.timer(TimerSlaveReconfTimeout)
	deadline := b.now().Add(reconf)
	inprog := false
	for b.now().Before(deadline) {
		role, err := b.role(ctx, a.String(), auth)
		following := err == nil && Follows(role, master)
		if following && !inprog {
			inprog = true
			b.publish(EvSlaveReconfProg, inst)
		}
		if following && role.LinkState == "connected" {
			b.publish(EvSlaveReconfDone, inst)
			return true
		}
		if sleepCtx(ctx, 50*time.Millisecond) != nil {
			return false
		}
	}
	b.log.Warn("replica did not report the new master in time", "replica", a.String(), "timeout", reconf)
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
