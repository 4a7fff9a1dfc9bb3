package failover

import (
	"math"
	"strings"
	"sync"
	"time"
)

// Timer names of SENTINEL DEBUG, in Redis Sentinel 7.0's order.
const (
	TimerInfoPeriod             = "INFO-PERIOD"
	TimerPingPeriod             = "PING-PERIOD"
	TimerAskPeriod              = "ASK-PERIOD"
	TimerPublishPeriod          = "PUBLISH-PERIOD"
	TimerDefaultDownAfter       = "DEFAULT-DOWN-AFTER"
	TimerDefaultFailoverTimeout = "DEFAULT-FAILOVER-TIMEOUT"
	TimerTiltTrigger            = "TILT-TRIGGER"
	TimerTiltPeriod             = "TILT-PERIOD"
	TimerSlaveReconfTimeout     = "SLAVE-RECONF-TIMEOUT"
	TimerMinLinkReconnectPeriod = "MIN-LINK-RECONNECT-PERIOD"
	TimerElectionTimeout        = "ELECTION-TIMEOUT"
	TimerScriptMaxRuntime       = "SCRIPT-MAX-RUNTIME"
	TimerScriptRetryDelay       = "SCRIPT-RETRY-DELAY"
)

// Timer is one named timing setting (SENTINEL DEBUG), in milliseconds.
// It is an alias of an unnamed struct type, as sentinel.Timer is, so the
// two are one type: the Brain's Timers satisfies sentinel.Backend without
// either package importing the other.
type Timer = struct {
	Name string
	Ms   int64
}

var timerOrder = []string{
	TimerInfoPeriod, TimerPingPeriod, TimerAskPeriod, TimerPublishPeriod,
	TimerDefaultDownAfter, TimerDefaultFailoverTimeout, TimerTiltTrigger,
	TimerTiltPeriod, TimerSlaveReconfTimeout, TimerMinLinkReconnectPeriod,
	TimerElectionTimeout, TimerScriptMaxRuntime, TimerScriptRetryDelay,
}

// Script runner defaults (internal/scripts, as Sentinel's), reported by
// SENTINEL DEBUG when Options.ScriptMaxRuntime/ScriptRetryDelay are zero.
const (
	DefaultScriptMaxRuntime = 60 * time.Second
	DefaultScriptRetryDelay = 30 * time.Second
)

// timerSet holds one monitor's run-time timers in milliseconds (exactly as
// SENTINEL DEBUG set them, so they report back unchanged). It is safe for
// concurrent use: the brain loop, failover drivers and the RESP handler
// read it while SENTINEL DEBUG writes it.
type timerSet struct {
	mu sync.RWMutex
	ms map[string]int64
}

func newTimerSet(init map[string]time.Duration) *timerSet {
	t := &timerSet{ms: make(map[string]int64, len(timerOrder))}
	for _, n := range timerOrder {
		t.ms[n] = init[n].Milliseconds()
	}
	return t
}

// get returns the timer as a duration (saturating: SENTINEL DEBUG accepts
// any positive 64-bit number of milliseconds).
func (t *timerSet) get(name string) time.Duration {
	t.mu.RLock()
	v := t.ms[name]
	t.mu.RUnlock()
	if v > math.MaxInt64/int64(time.Millisecond) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(v) * time.Millisecond
}

// canonical returns the timer's name as reported, matched without regard
// to case, and whether it is one.
func canonicalTimer(name string) (string, bool) {
	for _, n := range timerOrder {
		if strings.EqualFold(n, name) {
			return n, true
		}
	}
	return "", false
}

func (t *timerSet) set(name string, ms int64) {
	t.mu.Lock()
	t.ms[name] = ms
	t.mu.Unlock()
}

func (t *timerSet) list() []Timer {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Timer, 0, len(timerOrder))
	for _, n := range timerOrder {
		out = append(out, Timer{Name: n, Ms: t.ms[n]})
	}
	return out
}

// periodSetter is implemented by probers whose PING and INFO periods can
// change at run time (*probe.Prober).
type periodSetter interface {
	SetPeriods(ping, info time.Duration)
}

// Timers implements Backend: the monitor's current timers, in Redis'
// order. Each is what this monitor uses now (SENTINEL DEBUG may have
// changed it):
//
//   - INFO-PERIOD, PING-PERIOD: the prober's INFO and PING periods (and
//     the freshness limits of replica selection derived from them);
//   - ASK-PERIOD: how often a "down" opinion is re-asserted (the leader
//     counts an opinion for Options.OpinionTTL, 3 s by default: an
//     ASK-PERIOD above that lets this monitor's opinions lapse between
//     assertions, so ODOWN may never hold);
//   - PUBLISH-PERIOD: how often this monitor re-registers (its heartbeat;
//     above 5 s the other monitors see it as not usable in CKQUORUM and
//     SENTINELS between registrations);
//   - DEFAULT-DOWN-AFTER, DEFAULT-FAILOVER-TIMEOUT: the settings of masters
//     added later with SENTINEL MONITOR;
//   - TILT-TRIGGER, TILT-PERIOD: the tilt check;
//   - SLAVE-RECONF-TIMEOUT: the wait for one repointed replica;
//   - MIN-LINK-RECONNECT-PERIOD: 0 unless set — raftsentinel drops a link
//     after one failed probe whatever its age; a set value is reported
//     but has no effect;
//   - ELECTION-TIMEOUT: Raft's, as configured; a set value is reported but
//     Raft keeps its configured one;
//   - SCRIPT-MAX-RUNTIME, SCRIPT-RETRY-DELAY: the script runner's limits
//     (applied through Options.OnTimer).
func (b *Brain) Timers() []Timer { return b.timers.list() }

// SetTimer implements Backend: it sets timer name (any case) to ms
// milliseconds for this monitor only (timers are not replicated) and
// applies it at once: the prober's periods change, the tilt check, opinion
// refresh, heartbeat and replica reconfiguration read the new value on
// their next use, and Options.OnTimer is told (the daemon passes the
// script limits to its runner). It reports false, changing nothing, when
// name is not a timer or ms is not positive.
func (b *Brain) SetTimer(name string, ms int64) bool {
	n, ok := canonicalTimer(name)
	if !ok || ms <= 0 {
		return false
	}
	b.timers.set(n, ms)
	d := b.timers.get(n)
	switch n {
	case TimerPingPeriod, TimerInfoPeriod:
		if p, ok := b.prober.(periodSetter); ok {
			p.SetPeriods(b.timers.get(TimerPingPeriod), b.timers.get(TimerInfoPeriod))
		}
	}
	if b.opt.OnTimer != nil {
		b.opt.OnTimer(n, d)
	}
	b.log.Info("SENTINEL DEBUG set a timer", "timer", n, "ms", ms)
	b.poke()
	return true
}

// timer is the current value of one of the monitor's timers.
func (b *Brain) timer(name string) time.Duration { return b.timers.get(name) }

// timing is the decisions' view of the timers now.
func (b *Brain) timing() Timing {
	return Timing{InfoPeriod: b.timer(TimerInfoPeriod), PingPeriod: b.timer(TimerPingPeriod),
		AskPeriod: b.timer(TimerAskPeriod), PublishPeriod: b.timer(TimerPublishPeriod),
		TiltTrigger: b.timer(TimerTiltTrigger), TiltPeriod: b.timer(TimerTiltPeriod), OpinionTTL: b.opt.OpinionTTL}
}
