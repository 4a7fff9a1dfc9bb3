package sentinel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// Blocking reasons reported when a down master is not failed over.
const (
	BlockNoGoodReplica = "no-good-replica"
	BlockTooSoon       = "anti-flap"
	BlockMaintenance   = "maintenance"
	BlockNoQuorum      = "no-quorum"
	// BlockForeignSentinel: Redis Sentinels monitor the master too.
	BlockForeignSentinel = "redis-sentinel-present"
)

// Refused returns why this monitor refuses to fail master over ("" if it
// does not): Options.Refuse's answer.
func (m *Monitor) Refused(master string) string {
	if m.opt.Refuse == nil {
		return ""
	}
	return m.opt.Refuse(master)
}

// leaderStep runs the leader's decisions for one tick. Only a leader whose
// state has caught up with its term (a Barrier since it won) acts.
func (m *Monitor) leaderStep(ctx context.Context, st *state.State, now time.Time) {
	lctx, ok := m.leadership(ctx)
	if !ok || m.crashPoint("") {
		return
	}
	m.pruneMembers(lctx, st, now)
	for _, name := range st.MasterNames() {
		ms := st.Masters[name]
		m.discoverReplicas(lctx, ms)
		odown, since := m.judgeODown(lctx, st, ms, now)
		if ms.Failover.InProgress() {
			m.startDriver(lctx, name)
			continue
		}
		if odown {
			m.tryFailover(lctx, ms, since, now)
			continue
		}
		if m.Refused(name) == "" { // Redis Sentinels would fight over it
			m.reconcile(lctx, ms, now)
		}
	}
}

// leadership returns a context that lives as long as this node's current
// term of leadership, once it has applied everything committed before it.
func (m *Monitor) leadership(ctx context.Context) (context.Context, bool) {
	leader := m.store.IsLeader()
	term := m.store.Term()
	m.mu.Lock()
	if m.leaderCancel != nil && (!leader || term != m.leaderTerm) {
		m.leaderCancel()
		m.leaderCancel, m.leaderCtx, m.leaderTerm = nil, nil, 0
		m.driving = map[string]bool{}
		m.log.Info("leadership lost", "monitor", m.opt.Self.ID)
	}
	if !leader {
		m.mu.Unlock()
		return nil, false
	}
	if m.leaderCtx != nil {
		c := m.leaderCtx
		m.mu.Unlock()
		return c, true
	}
	m.mu.Unlock()
	bctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := m.store.Barrier(bctx)
	cancel()
	if err != nil {
		m.log.Debug("barrier after election failed", "err", err)
		return nil, false
	}
	lctx, lcancel := context.WithCancel(ctx)
	m.mu.Lock()
	m.leaderCtx, m.leaderCancel, m.leaderTerm = lctx, lcancel, term
	m.mu.Unlock()
	m.log.Info("leading the monitor group", "monitor", m.opt.Self.ID, "term", term)
	return lctx, true
}

// pruneMembers removes from the state, about once a second, monitors that
// are no longer in the Raft configuration (a leader that removed itself
// could not record it).
func (m *Monitor) pruneMembers(ctx context.Context, st *state.State, now time.Time) {
	m.mu.Lock()
	due := now.Sub(m.lastPrune) >= time.Second
	if due {
		m.lastPrune = now
	}
	m.mu.Unlock()
	if !due {
		return
	}
	servers, err := m.store.Servers()
	if err != nil {
		return
	}
	for id := range st.Monitors {
		if _, ok := servers[id]; !ok {
			m.queue("prune/"+id, state.Command{Op: state.OpRemoveMonitor, MonitorID: id})
		}
	}
}

// discoverReplicas commits replicas that the master's INFO lists and the
// state does not know yet.
func (m *Monitor) discoverReplicas(ctx context.Context, ms *state.Master) {
	o, ok := m.prober.Observe(ms.Addr.String())
	if !ok || o.Role != "master" || !o.Connected {
		return
	}
	var add []state.Addr
	for _, r := range o.Replicas {
		a := state.Addr{Host: r.Host, Port: r.Port}
		if a != ms.Addr && !containsAddr(ms.Replicas, a) {
			add = append(add, a)
		}
	}
	if len(add) > 0 {
		m.queue("replicas/"+ms.Name, state.Command{Op: state.OpReplicas, Master: ms.Name, Replicas: add})
	}
}

func containsAddr(list []state.Addr, a state.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// judgeODown commits a change of the objective-down judgement and returns
// the judgement in force (committed) and since when.
func (m *Monitor) judgeODown(ctx context.Context, st *state.State, ms *state.Master, now time.Time) (bool, time.Time) {
	votes := ODownVotes(ms, st.Monitors, now, m.opt.OpinionTTL)
	odown := votes >= ms.Quorum
	switch {
	case votes > 0 && !odown:
		m.blockedBecause(ms, BlockNoQuorum, fmt.Sprintf("%d of the quorum of %d monitors see it down", votes, ms.Quorum))
	case votes == 0:
		m.mu.Lock()
		delete(m.blocked, ms.Name) // the episode is over
		m.mu.Unlock()
	}
	if odown == ms.ODown {
		return ms.ODown, ms.ODownSince
	}
	cmd := state.Command{Op: state.OpODown, Master: ms.Name, Addr: ms.Addr, Down: odown, Votes: votes}
	if err := m.store.Apply(ctx, cmd); err != nil {
		m.log.Debug("commit odown", "master", ms.Name, "err", err)
		return ms.ODown, ms.ODownSince
	}
	return odown, now
}

// tryFailover starts a failover of a master judged down, or records why it
// cannot.
func (m *Monitor) tryFailover(ctx context.Context, ms *state.Master, downSince, now time.Time) {
	if why := m.Refused(ms.Name); why != "" {
		m.blockedBecause(ms, BlockForeignSentinel, why)
		return
	}
	if ms.Maintenance {
		m.blockedBecause(ms, BlockMaintenance, "automatic failover is paused (SENTINEL SET "+ms.Name+" maintenance no resumes it)")
		return
	}
	if f := ms.Failover; ms.FailoverTooSoon(now) {
		// Stable text (no elapsed time): logged once per blocked episode.
		m.blockedBecause(ms, BlockTooSoon, fmt.Sprintf("last failover started at %s, failover-timeout is %s: next one possible at %s",
			f.StartedAt.UTC().Format(time.RFC3339Nano), ms.FailoverTimeout, f.StartedAt.Add(ms.FailoverTimeout).UTC().Format(time.RFC3339Nano)))
		return
	}
	best, rejected, ok := m.selectReplica(ms, downSince, now)
	if !ok {
		var parts []string
		for _, r := range rejected {
			parts = append(parts, r.Addr.String()+": "+r.Reason)
		}
		if len(parts) == 0 {
			parts = append(parts, "no known replicas")
		}
		if m.blockedBecause(ms, BlockNoGoodReplica, strings.Join(parts, "; ")) {
			m.opt.Publisher.Publish(EvAbortNoGood, m.ann.masterInst(ms.Name, ms.Addr))
		}
		return
	}
	id := newID()
	cmd := state.Command{Op: state.OpFailoverStart, Master: ms.Name, Addr: ms.Addr, To: best.Addr,
		FailoverID: id, Term: m.store.Term(), MonitorID: m.opt.Self.ID}
	if err := m.store.Apply(ctx, cmd); err != nil {
		m.log.Warn("failover not started", "master", ms.Name, "err", err)
		return
	}
	m.mu.Lock()
	delete(m.blocked, ms.Name)
	m.mu.Unlock()
	passedOver := make([]string, 0, len(rejected))
	for _, r := range rejected {
		passedOver = append(passedOver, r.Addr.String()+": "+r.Reason)
	}
	m.log.Warn("failover started", "master", ms.Name, "from", ms.Addr.String(), "to", best.Addr.String(),
		"failover_id", id, "term", cmd.Term, "offset", best.Obs.ReplOffset, "priority", best.Obs.Priority,
		"passed_over", strings.Join(passedOver, "; "))
	inst := m.ann.masterInst(ms.Name, ms.Addr)
	m.opt.Publisher.Publish(EvTryFailover, inst)
	m.opt.Publisher.Publish(EvElectedLeader, inst)
	m.opt.Publisher.Publish(EvSelectSlave, inst)
	m.opt.Publisher.Publish(EvSelectedSlave, m.ann.replicaInst(best.Addr, ms.Name, ms.Addr))
	if m.crashPoint(CrashAfterElection) {
		return
	}
	m.startDriver(ctx, ms.Name)
}

// blockedBecause logs a blocking reason once per change and reports whether
// it is new.
func (m *Monitor) blockedBecause(ms *state.Master, kind, detail string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := kind + ": " + detail
	if m.blocked[ms.Name] == key {
		return false
	}
	m.blocked[ms.Name] = key
	m.log.Warn("failover blocked", "master", ms.Name, "reason", kind, "detail", detail)
	m.opt.Metrics.blockedFor(ms.Name, kind)
	return true
}

func (m *Monitor) selectReplica(ms *state.Master, downSince, now time.Time) (Candidate, []Rejection, bool) {
	var cands []Candidate
	m.mu.Lock()
	for _, a := range ms.Replicas {
		o, known := m.prober.Observe(a.String())
		_, sdown := m.sdownSince[a.String()]
		cands = append(cands, Candidate{Addr: a, Obs: o, Known: known, SDown: sdown})
	}
	// The link-down limit counts from when the master really went down,
	// which may be long before the group agreed (monitors were down, or
	// the judgement lapsed): take the earliest evidence — this monitor's
	// own SDOWN, the monitors' committed opinions, and the replica that
	// lost its master last.
	if t, ok := m.sdownSince[ms.Addr.String()]; ok && (downSince.IsZero() || t.Before(downSince)) {
		downSince = t
	}
	m.mu.Unlock()
	for _, o := range ms.Opinions {
		if o.Down && !o.Since.IsZero() && (downSince.IsZero() || o.Since.Before(downSince)) {
			downSince = o.Since
		}
	}
	minLinkDown := time.Duration(-1)
	for _, c := range cands {
		if c.Known && c.Obs.Role == "slave" && c.Obs.MasterLinkDownMs > 0 {
			if d := time.Duration(c.Obs.MasterLinkDownMs) * time.Millisecond; minLinkDown < 0 || d < minLinkDown {
				minLinkDown = d
			}
		}
	}
	if minLinkDown >= 0 {
		if t := now.Add(-minLinkDown); downSince.IsZero() || t.Before(downSince) {
			downSince = t
		}
	}
	lim := SelectionLimits{
		MaxReplyAge: max(5*m.timer(TimerPingPeriod), time.Second),
		MaxInfoAge:  5 * m.timer(TimerInfoPeriod),
		DownAfter:   ms.DownAfter,
	}
	return SelectReplica(cands, now, downSince, lim)
}

// startDriver runs the failover of master name to its end in a goroutine
// bound to the current leadership, unless one is already running.
func (m *Monitor) startDriver(ctx context.Context, name string) {
	m.mu.Lock()
	if m.driving[name] {
		m.mu.Unlock()
		return
	}
	m.driving[name] = true
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		err := m.drive(ctx, name)
		if err != nil && ctx.Err() == nil {
			m.log.Warn("failover step failed; will retry", "master", name, "err", err)
		}
		m.mu.Lock()
		delete(m.driving, name)
		m.mu.Unlock()
		m.poke()
	}()
}

// drive advances the committed failover of master name until it completes
// or aborts. Each step commits before the Redis command it guards and every
// step is idempotent, so a new leader resumes from the committed stage.
func (m *Monitor) drive(ctx context.Context, name string) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		st := m.store.State()
		ms, ok := st.Masters[name]
		if !ok || !ms.Failover.InProgress() {
			return nil
		}
		f := ms.Failover
		auth := linkAuth(ms)
		switch f.Stage {
		case state.StageStarted:
			promote := m.promote
			if f.Coordinated {
				promote = m.switchover
			}
			if err := promote(ctx, ms, f, auth); err != nil {
				// Give up at the deadline, or sooner when the candidate
				// has stayed unreachable: another candidate may do.
				giveUp := f.StartedAt.Add(max(2*ms.DownAfter, 5*time.Second))
				if giveUp.After(f.Deadline) {
					giveUp = f.Deadline
				}
				if m.now().After(giveUp) {
					m.log.Warn("failover aborted", "master", name, "failover_id", f.ID, "err", err)
					abort := state.Command{Op: state.OpFailoverEnd, Master: name, FailoverID: f.ID,
						Stage: state.StageAborted, Reason: "promotion failed: " + err.Error()}
					return m.store.Apply(ctx, abort)
				}
				if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
					return err
				}
				continue
			}
			if m.crashPoint(CrashAfterPromotion) {
				return nil
			}
			cmd := state.Command{Op: state.OpFailoverPromoted, Master: name, FailoverID: f.ID}
			if err := m.store.Apply(ctx, cmd); err != nil {
				return fmt.Errorf("commit promotion: %w", err)
			}
			if m.crashPoint(CrashAfterSwitch) {
				return nil
			}
			m.log.Warn("replica promoted", "master", name, "new", f.To.String(), "epoch", f.Epoch, "failover_id", f.ID)
			m.opt.Publisher.Publish(EvPromotedSlave, m.ann.replicaInst(f.To, name, f.From))
			m.opt.Publisher.Publish(EvReconfSlaves, m.ann.masterInst(name, f.From))
		case state.StagePromoted:
			m.reconfigureReplicas(ctx, ms, f, auth)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			cmd := state.Command{Op: state.OpFailoverEnd, Master: name, FailoverID: f.ID, Stage: state.StageCompleted}
			if err := m.store.Apply(ctx, cmd); err != nil {
				return fmt.Errorf("commit completion: %w", err)
			}
			m.log.Info("failover completed", "master", name, "new", f.To.String(), "failover_id", f.ID)
			return nil
		}
	}
}

// promote makes f.To a master (unless it already is) and verifies it with
// ROLE.
func (m *Monitor) promote(ctx context.Context, ms *state.Master, f *state.Failover, auth probe.Auth) error {
	target := f.To.String()
	inst := m.ann.replicaInst(f.To, ms.Name, f.From)
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	role, err := m.prober.Role(rctx, target, auth)
	cancel()
	if err == nil && role.Role == "master" {
		return nil // already promoted (e.g. by a leader that died before committing)
	}
	m.opt.Publisher.Publish(EvSendSlaveofNone, inst)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = m.prober.Promote(pctx, target, auth)
	cancel()
	if err != nil {
		return fmt.Errorf("REPLICAOF NO ONE on %s: %w", target, err)
	}
	m.opt.Publisher.Publish(EvWaitPromotion, inst)
	deadline := m.now().Add(2 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		role, err = m.prober.Role(rctx, target, auth)
		cancel()
		if err == nil && role.Role == "master" {
			return nil
		}
		if m.now().After(deadline) {
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
// the time given, the old master aborts it and takes writes again.
func (m *Monitor) switchover(ctx context.Context, ms *state.Master, f *state.Failover, auth probe.Auth) error {
	target := f.To.String()
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	role, err := m.prober.Role(rctx, target, auth)
	cancel()
	if err == nil && role.Role == "master" {
		return nil // the swap already happened (a previous leader started it)
	}
	wait := max(min(max(5*time.Second, ms.DownAfter), f.Deadline.Sub(m.now())), time.Second)
	m.opt.Publisher.Publish(EvSendSlaveofNone, m.ann.replicaInst(f.To, ms.Name, f.From))
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = m.prober.CoordinatedFailover(cctx, f.From.String(), auth, f.To.Host, f.To.Port, wait)
	cancel()
	if err != nil {
		return fmt.Errorf("FAILOVER TO %s on %s: %w", target, f.From, err)
	}
	m.opt.Publisher.Publish(EvWaitPromotion, m.ann.replicaInst(f.To, ms.Name, f.From))
	deadline := m.now().Add(wait + time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		role, err = m.prober.Role(rctx, target, auth)
		cancel()
		if err == nil && role.Role == "master" {
			return nil
		}
		if m.now().After(deadline) {
			actx, cancel := context.WithTimeout(ctx, time.Second)
			aerr := m.prober.AbortFailover(actx, f.From.String(), auth)
			cancel()
			return fmt.Errorf("switchover to %s did not complete in %s (abort: %v)", target, wait, aerr)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// reconfigureReplicas points every reachable replica other than the new
// master at it, parallel-syncs at a time, waiting for each batch to report
// the new master (bounded by ReconfTimeout). Unreachable replicas, and the
// old master while it is down, are left to reconcile when they return.
func (m *Monitor) reconfigureReplicas(ctx context.Context, ms *state.Master, f *state.Failover, auth probe.Auth) {
	var todo []state.Addr
	for _, a := range ms.Replicas {
		if a == f.To {
			continue
		}
		m.mu.Lock()
		_, down := m.sdownSince[a.String()]
		m.mu.Unlock()
		if o, ok := m.prober.Observe(a.String()); !ok || !o.Connected || down {
			continue
		}
		todo = append(todo, a)
	}
	batch := max(ms.ParallelSyncs, 1)
	for i := 0; i < len(todo); i += batch {
		group := todo[i:min(i+batch, len(todo))]
		var wg sync.WaitGroup
		for _, a := range group {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.repoint(ctx, a, ms.Name, f.To, f.From, auth, true)
			}()
		}
		wg.Wait()
	}
}

// repoint sends REPLICAOF master to addr and, when wait is set (during a
// failover), publishes Sentinel's reconfiguration events — with evMaster,
// the master as it was, in their instance details — and waits for addr to
// report the new master (up to ReconfTimeout).
func (m *Monitor) repoint(ctx context.Context, a state.Addr, name string, master, evMaster state.Addr, auth probe.Auth, wait bool) bool {
	inst := m.ann.replicaInst(a, name, evMaster)
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := m.prober.ReplicaOf(cctx, a.String(), auth, master.Host, master.Port)
	cancel()
	if err != nil {
		m.log.Warn("repoint replica failed", "replica", a.String(), "master", master.String(), "err", err)
		return false
	}
	if !wait {
		return true
	}
	m.opt.Publisher.Publish(EvSlaveReconfSent, inst)
	reconf := m.timer(TimerSlaveReconfTimeout)
	deadline := m.now().Add(reconf)
	inprog := false
	for m.now().Before(deadline) {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		role, err := m.prober.Role(rctx, a.String(), auth)
		cancel()
		following := err == nil && role.Role == "slave" && role.MasterPort == master.Port && sameHost(role.MasterHost, master.Host)
		if following && !inprog {
			inprog = true
			m.opt.Publisher.Publish(EvSlaveReconfProg, inst)
		}
		if following && role.LinkState == "connected" {
			m.opt.Publisher.Publish(EvSlaveReconfDone, inst)
			return true
		}
		if sleepCtx(ctx, 50*time.Millisecond) != nil {
			return false
		}
	}
	m.log.Warn("replica did not report the new master in time", "replica", a.String(), "timeout", reconf)
	return false
}

// reconcile imposes the committed topology outside failovers: a known
// replica that reports role master (the returning old master) is made a
// replica of the current master, and a replica following another master is
// repointed. It acts only while the current master is healthy.
func (m *Monitor) reconcile(ctx context.Context, ms *state.Master, now time.Time) {
	mo, ok := m.prober.Observe(ms.Addr.String())
	if !ok || !mo.Connected || mo.Role != "master" {
		return
	}
	if _, down := m.SDown(ms.Addr.String()); down {
		return
	}
	auth := linkAuth(ms)
	for _, a := range ms.Replicas {
		key := a.String()
		o, ok := m.prober.Observe(key)
		if !ok || !o.Connected || o.InfoAt.IsZero() {
			continue
		}
		var event string
		switch {
		case o.Role == "master":
			event = EvConvertToSlave
		case o.Role == "slave" && (o.MasterPort != ms.Addr.Port || !sameHost(o.MasterHost, ms.Addr.Host)):
			event = EvFixSlaveConfig
		default:
			continue
		}
		m.mu.Lock()
		next := m.backoff[key]
		if now.Before(next) {
			m.mu.Unlock()
			continue
		}
		m.backoff[key] = now.Add(2 * time.Second)
		m.mu.Unlock()
		inst := m.ann.replicaInst(a, ms.Name, ms.Addr)
		m.log.Warn(event, "instance", inst, "reported_role", o.Role)
		m.opt.Publisher.Publish(event, inst)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.repoint(ctx, a, ms.Name, ms.Addr, ms.Addr, auth, false)
		}()
	}
}

func sameHost(a, b string) bool {
	norm := func(h string) string {
		if h == "localhost" || h == "::1" {
			return "127.0.0.1"
		}
		return h
	}
	return norm(a) == norm(b)
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

// manualFailoverer is what ManualFailover reads (a Backend, the Monitor).
type manualFailoverer interface {
	State() *state.State
	Candidate(name string) (state.Addr, bool)
	Self() state.Monitor
}

// ManualFailover returns the command that starts a manual failover of
// master name (SENTINEL FAILOVER, the admin API's failover and switchover):
// forced past the anti-flap rule, toward the replica this monitor would
// promote now. It fails with state.ErrNoSuchMaster, state.ErrFailoverInProg
// or state.ErrNoGoodReplica. The FSM checks the same again when it commits.
func ManualFailover(b manualFailoverer, name string, coordinated bool) (state.Command, error) {
	m, ok := b.State().Masters[name]
	if !ok {
		return state.Command{}, state.ErrNoSuchMaster
	}
	if m.Failover.InProgress() {
		return state.Command{}, state.ErrFailoverInProg
	}
	to, ok := b.Candidate(name)
	if !ok {
		return state.Command{}, state.ErrNoGoodReplica
	}
	return state.Command{Op: state.OpFailoverStart, Master: name, Addr: m.Addr, To: to,
		FailoverID: newID(), MonitorID: b.Self().ID, Force: true, Coordinated: coordinated}, nil
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // documented never to fail
	return hex.EncodeToString(b)
}
