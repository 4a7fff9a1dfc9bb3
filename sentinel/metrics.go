package sentinel

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descMasterInfo = prometheus.NewDesc("raftsentinel_master_info",
		"The committed current master of each monitored master name (value 1).", []string{"master", "addr"}, nil)
	descEpoch = prometheus.NewDesc("raftsentinel_master_config_epoch", "Config epoch of the master's address.", []string{"master"}, nil)
	descReach = prometheus.NewDesc("raftsentinel_master_reachable",
		"1 if this monitor's probes reach the master.", []string{"master"}, nil)
	descRole     = prometheus.NewDesc("raftsentinel_master_reported_role", "The role the current master reports in INFO (value 1).", []string{"master", "role"}, nil)
	descSDown    = prometheus.NewDesc("raftsentinel_master_sdown", "1 if this monitor sees the master subjectively down.", []string{"master"}, nil)
	descODown    = prometheus.NewDesc("raftsentinel_master_odown", "1 if the group judged the master objectively down.", []string{"master"}, nil)
	descReplicas = prometheus.NewDesc("raftsentinel_master_replicas", "Known replicas of the master.", []string{"master"}, nil)
	descInProg   = prometheus.NewDesc("raftsentinel_failover_in_progress", "1 while a failover of the master is in progress.", []string{"master"}, nil)
	descMaint    = prometheus.NewDesc("raftsentinel_master_maintenance", "1 while automatic failover is paused.", []string{"master"}, nil)
	descLastFO   = prometheus.NewDesc("raftsentinel_last_failover_timestamp_seconds", "Start of the master's last failover (Unix time).", []string{"master"}, nil)
	descLag      = prometheus.NewDesc("raftsentinel_replica_lag_bytes", "Master replication offset minus the replica's, per this monitor's last INFO.", []string{"master", "replica"}, nil)
	descQuorumOK = prometheus.NewDesc("raftsentinel_master_quorum_reachable", "1 if enough monitors are alive for the master's quorum and a majority (CKQUORUM).", []string{"master"}, nil)
	descMonitors = prometheus.NewDesc("raftsentinel_monitors", "Members of the monitor group in the committed state.", nil, nil)
	descTilt     = prometheus.NewDesc("raftsentinel_tilt", "1 while this monitor is in TILT mode.", nil, nil)
	descCutoff   = prometheus.NewDesc("raftsentinel_stale", "1 while this monitor refuses master discovery (cut off from the majority).", nil, nil)
	monitorDescs = []*prometheus.Desc{descMasterInfo, descEpoch, descReach, descRole, descSDown, descODown, descReplicas, descInProg, descMaint, descLastFO, descLag, descQuorumOK, descMonitors, descTilt, descCutoff}
)

// Collector returns a Prometheus collector of this monitor's view of every
// master, read from b at scrape time with the clock now (nil: time.Now) —
// what SENTINEL MASTER and CKQUORUM tell, as gauges. (The brain's own
// event metrics are failover.Metrics.)
func Collector(b Backend, now func() time.Time) prometheus.Collector {
	if now == nil {
		now = time.Now
	}
	return monitorCollector{b: b, now: now}
}

type monitorCollector struct {
	b   Backend
	now func() time.Time
}

func (c monitorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range monitorDescs {
		ch <- d
	}
}

func (c monitorCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	st := b.State()
	usable, voters := usableMonitors(otherMonitors(st, b.Self()), b.PeerSeen, c.now())
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, name := range st.MasterNames() {
		ms := st.Masters[name]
		addr := ms.Addr.String()
		gauge(descMasterInfo, 1, name, addr)
		gauge(descEpoch, float64(ms.ConfigEpoch), name)
		o, ok := b.Observe(addr)
		gauge(descReach, boolGauge(ok && o.Connected), name)
		if ok && o.Role != "" {
			gauge(descRole, 1, name, o.Role)
		}
		_, sdown := b.SDown(addr)
		gauge(descSDown, boolGauge(sdown), name)
		gauge(descODown, boolGauge(ms.ODown), name)
		gauge(descReplicas, float64(len(ms.Replicas)), name)
		gauge(descInProg, boolGauge(ms.Failover.InProgress()), name)
		gauge(descMaint, boolGauge(ms.Maintenance), name)
		if ms.Failover != nil {
			gauge(descLastFO, float64(ms.Failover.StartedAt.UnixNano())/1e9, name)
		}
		gauge(descQuorumOK, boolGauge(usable >= ms.Quorum && usable >= voters/2+1), name)
		for _, r := range ms.Replicas {
			ro, rok := b.Observe(r.String())
			if ok && rok && ro.Role == "slave" && !ro.InfoAt.IsZero() && !o.InfoAt.IsZero() {
				gauge(descLag, float64(max(o.ReplOffset-ro.ReplOffset, 0)), name, r.String())
			}
		}
	}
	gauge(descMonitors, float64(len(st.Monitors)))
	_, tilt := b.Tilt()
	gauge(descTilt, boolGauge(tilt))
	_, stale := b.Cutoff()
	gauge(descCutoff, boolGauge(stale))
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
