package probe

import (
	"context"
	"sync"
	"time"
)

// node is the probing state of one watched address. Everything but the
// scheduler's fields is guarded by mu; every event (a due time, a reply, a
// failed connection, an API call) updates it under mu and then calls step,
// which sends what is wanted and puts the node back into the scheduler.
type node struct {
	addr   string
	ctx    context.Context // cancelled by Unwatch and Close: ends dials
	cancel context.CancelFunc
	wg     sync.WaitGroup // the link goroutines (one, two while one replaces another)

	// The scheduler's: guarded by scheduler.mu.
	hidx int       // index in the heap, -1 when out of it
	due  time.Time // when it fires next

	mu    sync.Mutex
	gone  bool // unwatched: no more events
	auth  Auth
	obs   Observation
	wasUp bool // for logging link transitions

	// Per-node bounds on the periods (SetNodePeriods; 0 = none) and the
	// urgent mode (SetUrgent).
	pingBound, infoBound time.Duration
	urgent               bool

	// The probe timetable (monotonic clock). A tick at nextPing (nextInfo)
	// makes a PING (an INFO) wanted unless one is outstanding (wanted or
	// awaiting its reply): ticks meanwhile are dropped, so at most one
	// PING is ever in flight. pingTick and infoTick are the last ticks
	// taken, from which a changed period is counted.
	pingTick, nextPing time.Time
	infoTick, nextInfo time.Time
	wantPing, wantInfo bool
	lastFull           time.Time // when the last full INFO was sent
	pingLoading        bool      // the last valid PING reply was -LOADING
	lastKick           time.Time // last PING made wanted because the connection closed

	cn      *pconn // the probe connection; nil when there is none
	dialing bool   // a link goroutine is connecting
}

// infoKind is which INFO a probe sends.
type infoKind uint8

const (
	infoFull        infoKind = iota // INFO: the default sections (run_id, version, loading, replication, ...)
	infoRepl                        // INFO replication
	infoReplPersist                 // INFO replication persistence (Redis >= 7: several sections in one INFO)
)

// step sends what the node wants (dialing first if it has no connection)
// after taking the ticks that fell due, and schedules the next tick. The
// caller holds n.mu.
func (p *Prober) step(n *node, now time.Time) {
	if n.gone {
		return
	}
	p.tick(n, now)
	if n.cn != nil {
		p.pump(n, now)
	}
	if n.cn == nil && !n.dialing && (n.wantPing || n.wantInfo) {
		n.dialing = true
		n.wg.Add(1)
		go p.link(n)
	}
	p.sched.schedule(n, minTime(n.nextPing, n.nextInfo))
}

// tick takes the PING and INFO ticks due by now.
func (p *Prober) tick(n *node, now time.Time) {
	ping, info := p.nodePeriods(n)
	limit := now.Add(schedSlack)
	if !n.nextPing.After(limit) {
		n.pingTick = n.nextPing
		n.nextPing = advance(n.nextPing, ping, now)
		if !n.wantPing && !n.cn.awaiting(reqPing) {
			p.wantPing(n)
		}
	}
	if !n.nextInfo.After(limit) {
		n.infoTick = n.nextInfo
		n.nextInfo = advance(n.nextInfo, info, now)
		if !n.wantInfo && !n.cn.awaiting(reqInfo) {
			n.wantInfo = true
		}
	}
}

// wantPing makes a PING wanted. A PING counts as sent for LastPingSent
// from the moment it is wanted, even if it waits for a connection or for
// the reply to an INFO: a node that hangs is timed from its first PING
// tick after the hang.
func (p *Prober) wantPing(n *node) {
	n.wantPing = true
	if n.obs.LastPingSent.IsZero() {
		n.obs.LastPingSent = p.opt.Now()
	}
}

// advance returns the tick after next on a fixed-rate grid, or now+period
// when the grid fell behind (the node was blocked or the period grew).
func advance(next time.Time, period time.Duration, now time.Time) time.Time {
	next = next.Add(period)
	if next.Before(now) {
		return now.Add(period)
	}
	return next
}

// replan recounts the next ticks from the last ones after a period change:
// a shorter period can make a probe due at once.
func (p *Prober) replan(n *node, now time.Time) {
	ping, info := p.nodePeriods(n)
	if !n.pingTick.IsZero() {
		n.nextPing = n.pingTick.Add(ping)
	}
	if !n.infoTick.IsZero() {
		n.nextInfo = n.infoTick.Add(info)
	}
	p.step(n, now)
}

// nodePeriods returns n's effective PING and INFO periods: the global ones
// (Options, SetPeriods), each lowered to n's bound (SetNodePeriods) and,
// in urgent mode, to the urgent periods. The caller holds n.mu.
func (p *Prober) nodePeriods(n *node) (ping, info time.Duration) {
	ping, info = time.Duration(p.pingPeriod.Load()), time.Duration(p.infoPeriod.Load())
	if n.pingBound > 0 {
		ping = min(ping, n.pingBound)
	}
	if n.infoBound > 0 {
		info = min(info, n.infoBound)
	}
	if n.urgent {
		ping = min(ping, p.opt.UrgentPingPeriod)
		info = min(info, p.opt.UrgentInfoPeriod)
	}
	return ping, info
}

// infoKindFor chooses the INFO to send now on c: a full one as the first
// INFO on every connection (a restarted node has a new run id and may be
// loading) and then every FullInfoPeriod; otherwise INFO replication,
// with the persistence section (for loading:) while the node is or may be
// loading — where Redis < 7, which takes one section per INFO, gets the
// full INFO instead.
func (p *Prober) infoKindFor(n *node, c *pconn, now time.Time) infoKind {
	_, info := p.nodePeriods(n)
	if !c.fullSent || now.Sub(n.lastFull) > p.opt.FullInfoPeriod-info/2 {
		return infoFull
	}
	if n.obs.Loading || n.pingLoading {
		if majorVersion(n.obs.RedisVersion) >= 7 {
			return infoReplPersist
		}
		return infoFull
	}
	return infoRepl
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
