package failover

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftsentinel/raftsentinel/state"
)

// Metrics are the brain's event metrics. A nil *Metrics records nothing.
type Metrics struct {
	failovers *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	blocked   *prometheus.CounterVec
}

// NewMetrics creates the brain's event metrics (failovers, their
// duration, blocking reasons) and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	mt := &Metrics{
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftsentinel_failovers_total",
			Help: "Failovers committed by the group, by result (completed, aborted), as applied on this monitor.",
		}, []string{"master", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "raftsentinel_failover_duration_seconds",
			Help:    "From the committed objective-down judgement (or the start of a manual failover) to the committed switch of address.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"master"}),
		blocked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftsentinel_failover_blocked_total",
			Help: "Times a failover did not happen, by reason: no-quorum (some but fewer than quorum monitors see " +
				"the master down), no-good-replica, anti-flap, maintenance; counted once per change of reason.",
		}, []string{"master", "reason"}),
	}
	reg.MustRegister(mt.failovers, mt.duration, mt.blocked)
	return mt
}

func (mt *Metrics) effect(e state.Effect, st *state.State) {
	if mt == nil {
		return
	}
	switch e.Kind {
	case state.EffFailoverEnd:
		mt.failovers.WithLabelValues(e.Master, "completed").Inc()
	case state.EffFailoverAbort:
		mt.failovers.WithLabelValues(e.Master, "aborted").Inc()
	case state.EffSwitchMaster:
		// The failover starts in the same instant as the committed
		// objective-down judgement; both stamps are the leader's.
		if f := e.Failover; f != nil && !st.LastApplied.IsZero() {
			mt.duration.WithLabelValues(e.Master).Observe(st.LastApplied.Sub(f.StartedAt).Seconds())
		}
	}
}

func (mt *Metrics) blockedFor(master, reason string) {
	if mt == nil {
		return
	}
	mt.blocked.WithLabelValues(master, reason).Inc()
}
