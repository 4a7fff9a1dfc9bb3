package quorum

import (
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descLeader      = prometheus.NewDesc("raftsentinel_raft_leader", "1 if this monitor is the Raft leader.", nil, nil)
	descTerm        = prometheus.NewDesc("raftsentinel_raft_term", "Current Raft term.", nil, nil)
	descCommit      = prometheus.NewDesc("raftsentinel_raft_commit_index", "Raft commit index.", nil, nil)
	descApplied     = prometheus.NewDesc("raftsentinel_raft_applied_index", "Raft index applied to the state machine.", nil, nil)
	descLastContact = prometheus.NewDesc("raftsentinel_raft_last_contact_seconds",
		"Seconds since this monitor was last in contact with a Raft majority (0 on the leader).", nil, nil)
	descVoters  = prometheus.NewDesc("raftsentinel_raft_voters", "Voting members in the Raft configuration.", nil, nil)
	descRefused = prometheus.NewDesc("raftsentinel_cluster_refused_total",
		"Monitor-to-monitor connections (via=raft) and forwarded proposals (via=http) refused for failing TLS or the cluster secret.",
		[]string{"via"}, nil)
)

// Collector returns a Prometheus collector of the Raft node's state, read
// at scrape time.
func (s *Store) Collector() prometheus.Collector { return storeCollector{s} }

type storeCollector struct{ s *Store }

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLeader, descTerm, descCommit, descApplied, descLastContact, descVoters, descRefused} {
		ch <- d
	}
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.raft.Stats()
	num := func(k string) float64 {
		v, _ := strconv.ParseFloat(st[k], 64)
		return v
	}
	leader := 0.0
	if c.s.raft.State() == raft.Leader {
		leader = 1
	}
	contact := 0.0
	if last := c.s.MajorityContact(); !last.IsZero() {
		contact = time.Since(last).Seconds()
	}
	voters := 0.0
	if servers, err := c.s.Servers(); err == nil {
		voters = float64(len(servers))
	}
	ch <- prometheus.MustNewConstMetric(descLeader, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(descTerm, prometheus.GaugeValue, num("term"))
	ch <- prometheus.MustNewConstMetric(descCommit, prometheus.GaugeValue, num("commit_index"))
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, num("applied_index"))
	ch <- prometheus.MustNewConstMetric(descLastContact, prometheus.GaugeValue, contact)
	ch <- prometheus.MustNewConstMetric(descVoters, prometheus.GaugeValue, voters)
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(c.s.refusedRaft.Load()), "raft")
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(c.s.refusedHTTP.Load()), "http")
}
