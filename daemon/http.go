package daemon

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/raftsentinel/raftsentinel/resp"
	"github.com/raftsentinel/raftsentinel/sentinel"
	"github.com/raftsentinel/raftsentinel/state"
)

// routes is the monitor's HTTP API: proposal forwarding between monitors,
// /metrics, health, status, and the token-guarded admin endpoints.
func (d *Daemon) routes(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(quorum.ProposePath, d.sec.requireClusterCert(d.store.ProposeHandler()))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", d.readyz)
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, d.Status()) })
	for action, build := range map[string]func(string) (state.Command, error){
		"failover":   func(name string) (state.Command, error) { return d.failoverCmd(name, false) },
		"switchover": func(name string) (state.Command, error) { return d.failoverCmd(name, true) },
		"pause":      func(name string) (state.Command, error) { return maintenanceCmd(name, "yes"), nil },
		"resume":     func(name string) (state.Command, error) { return maintenanceCmd(name, "no"), nil },
	} {
		mux.HandleFunc("POST /v1/masters/{name}/"+action, d.admin(build))
	}
	return mux
}

// readyz: joined (a member of the committed state), a leader known, and
// in contact with the majority.
func (d *Daemon) readyz(w http.ResponseWriter, r *http.Request) {
	leader, _ := d.store.Leader()
	_, member := d.store.State().Monitors[d.nodeID]
	_, stale := d.mon.Cutoff()
	switch {
	case !member:
		http.Error(w, "not yet a member of the monitor group", http.StatusServiceUnavailable)
	case leader == "":
		http.Error(w, "no Raft leader known", http.StatusServiceUnavailable)
	case stale:
		http.Error(w, "cut off from the monitor majority", http.StatusServiceUnavailable)
	default:
		fmt.Fprintln(w, "ready")
	}
}

func maintenanceCmd(name, v string) state.Command {
	return state.Command{Op: state.OpSet, Master: name, Options: []state.SetOption{{Name: "maintenance", Values: []string{v}}}}
}

func (d *Daemon) failoverCmd(name string, coordinated bool) (state.Command, error) {
	return d.mon.ManualFailover(name, coordinated)
}

// admin wraps an admin action: bearer-token check, then the command
// proposed through Raft.
func (d *Daemon) admin(build func(name string) (state.Command, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := d.adminToken()
		if token == "" {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "the admin API is disabled: set admin-token"})
			return
		}
		want := "Bearer " + token
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
			return
		}
		name := r.PathValue("name")
		cmd, err := build(name)
		if err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			err = d.mon.Propose(ctx, cmd)
			cancel()
		}
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, map[string]string{"result": "ok", "master": name})
		case errors.Is(err, state.ErrNoSuchMaster):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such master: " + name})
		case errors.Is(err, state.ErrFailoverInProg), errors.Is(err, state.ErrNoGoodReplica):
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		default:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Status is the JSON document of GET /v1/status.
type Status struct {
	Monitor  string          `json:"monitor"`
	Leader   string          `json:"leader"`
	Term     uint64          `json:"term"`
	Epoch    uint64          `json:"current_epoch"`
	Stale    bool            `json:"stale"`
	Masters  []MasterStatus  `json:"masters"`
	Monitors []MonitorStatus `json:"monitors"`
}

// MasterStatus is one master in Status.
type MasterStatus struct {
	Name        string          `json:"name"`
	Addr        string          `json:"addr"`
	ConfigEpoch uint64          `json:"config_epoch"`
	Quorum      int             `json:"quorum"`
	SDown       bool            `json:"sdown"`
	ODown       bool            `json:"odown"`
	Maintenance bool            `json:"maintenance"`
	Failover    *state.Failover `json:"failover,omitempty"`
	Replicas    []ReplicaStatus `json:"replicas"`
}

// ReplicaStatus is one replica in Status, as this monitor sees it.
type ReplicaStatus struct {
	Addr     string `json:"addr"`
	Role     string `json:"role"`
	LinkUp   bool   `json:"link_up"`
	LagBytes int64  `json:"lag_bytes"`
	Down     bool   `json:"down"`
}

// MonitorStatus is one member in Status.
type MonitorStatus struct {
	ID       string `json:"id"`
	Announce string `json:"announce"`
	Leader   bool   `json:"leader"`
	SeenMs   int64  `json:"seen_ms_ago"`
}

// Status returns this monitor's view of the group.
func (d *Daemon) Status() Status {
	st := d.store.State()
	leader, _ := d.store.Leader()
	_, stale := d.mon.Cutoff()
	out := Status{Monitor: d.nodeID, Leader: leader, Term: d.store.Term(), Epoch: st.CurrentEpoch, Stale: stale}
	for _, name := range st.MasterNames() {
		ms := st.Masters[name]
		_, sdown := d.mon.SDown(ms.Addr.String())
		mo, _ := d.mon.Observe(ms.Addr.String())
		s := MasterStatus{Name: name, Addr: ms.Addr.String(), ConfigEpoch: ms.ConfigEpoch, Quorum: ms.Quorum,
			SDown: sdown, ODown: ms.ODown, Maintenance: ms.Maintenance, Failover: ms.Failover, Replicas: []ReplicaStatus{}}
		for _, r := range ms.Replicas {
			o, _ := d.mon.Observe(r.String())
			_, down := d.mon.SDown(r.String())
			s.Replicas = append(s.Replicas, ReplicaStatus{Addr: r.String(), Role: o.Role, LinkUp: o.MasterLinkUp,
				LagBytes: max(mo.ReplOffset-o.ReplOffset, 0), Down: down})
		}
		out.Masters = append(out.Masters, s)
	}
	now := time.Now()
	for _, id := range st.MonitorIDs() {
		m := st.Monitors[id]
		out.Monitors = append(out.Monitors, MonitorStatus{ID: id, Announce: m.Announced().String(), Leader: id == leader,
			SeenMs: now.Sub(m.SeenAt).Milliseconds()})
	}
	sort.Slice(out.Monitors, func(i, j int) bool { return out.Monitors[i].ID < out.Monitors[j].ID })
	return out
}

// probeMetrics are the prober's latency and error metrics.
type probeMetrics struct {
	latency prometheus.Histogram
	errors  *prometheus.CounterVec
}

func newProbeMetrics(reg prometheus.Registerer) *probeMetrics {
	pm := &probeMetrics{
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "raftsentinel_probe_ping_duration_seconds",
			Help:    "Round trip of the PINGs this monitor sends to Redis nodes.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1},
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftsentinel_probe_errors_total",
			Help: "PINGs to Redis nodes that failed, by reason (timeout, refused, other).",
		}, []string{"reason"}),
	}
	reg.MustRegister(pm.latency, pm.errors)
	return pm
}

func (pm *probeMetrics) observe(_ string, rtt time.Duration, err error) {
	if err == nil {
		pm.latency.Observe(rtt.Seconds())
		return
	}
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		pm.errors.WithLabelValues("timeout").Inc()
	case errors.As(err, &oe) && oe.Op == "dial":
		pm.errors.WithLabelValues("refused").Inc()
	default:
		pm.errors.WithLabelValues("other").Inc()
	}
}

var (
	descClients = prometheus.NewDesc("raftsentinel_resp_connected_clients", "Open Sentinel-protocol connections.", nil, nil)
	descCmds    = prometheus.NewDesc("raftsentinel_resp_commands_total", "Sentinel-protocol commands processed.", nil, nil)
	descSubs    = prometheus.NewDesc("raftsentinel_resp_subscriptions", "Pub/Sub channel and pattern subscriptions.", nil, nil)
	descByName  = prometheus.NewDesc("raftsentinel_resp_command_calls_total",
		"Sentinel-protocol commands admitted, by command (sub-commands as cmd|sub).", []string{"command"}, nil)
)

// respCollector reads the Sentinel-protocol server's counters at scrape
// time (nothing on the request path).
type respCollector struct {
	s *resp.Server
	h resp.Handler
}

func (c respCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descClients
	ch <- descCmds
	ch <- descSubs
	ch <- descByName
}

func (c respCollector) Collect(ch chan<- prometheus.Metric) {
	chans, pats := c.s.Hub().Counts()
	ch <- prometheus.MustNewConstMetric(descClients, prometheus.GaugeValue, float64(c.s.Clients()))
	ch <- prometheus.MustNewConstMetric(descCmds, prometheus.CounterValue, float64(c.s.Stats().CommandsProcessed))
	ch <- prometheus.MustNewConstMetric(descSubs, prometheus.GaugeValue, float64(chans+pats))
	sentinel.CommandCounts(c.h, func(name string, n int64) {
		ch <- prometheus.MustNewConstMetric(descByName, prometheus.CounterValue, float64(n), name)
	})
}
