package daemon

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/state"
)

// ErrReload wraps every reason a reload was refused; the old configuration
// stays in force.
var ErrReload = errors.New("reload refused")

// reloadMetrics export the outcome of the last reload (SIGHUP).
type reloadMetrics struct {
	ok   prometheus.Gauge
	when prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer) *reloadMetrics {
	rm := &reloadMetrics{
		ok: prometheus.NewGauge(prometheus.GaugeOpts{Name: "raftsentinel_config_last_reload_successful",
			Help: "1 if the last configuration reload succeeded (or none happened), 0 if it was refused."}),
		when: prometheus.NewGauge(prometheus.GaugeOpts{Name: "raftsentinel_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load."}),
	}
	rm.ok.Set(1)
	rm.when.SetToCurrentTime()
	reg.MustRegister(rm.ok, rm.when)
	return rm
}

// Reload applies a new, already validated configuration at run time: the
// log level (when the daemon was given a LevelVar), the admin token, and
// masters added to the file (seeded like at start). Keys that shape the
// process (node-id, addresses, data-dir, peers, join) cannot change: the
// reload is refused, naming them, and nothing changes. Other changes are
// logged as taking effect at the next restart.
//
// Past the fixed keys, each component applies its part (see reloaders):
// one that fails does not stop the others, nor undo what they applied,
// and the error joins the failures, each naming its component.
func (d *Daemon) Reload(ctx context.Context, cfg config.Config) error {
	err := d.reload(ctx, cfg)
	if err != nil {
		d.reloads.ok.Set(0)
		d.log.Error("configuration reload refused; the running configuration stays", "err", err)
		return err
	}
	d.reloads.ok.Set(1)
	d.reloads.when.SetToCurrentTime()
	return nil
}

// ReloadFailed records a reload that failed before Reload (the file could
// not be read or parsed).
func (d *Daemon) ReloadFailed(err error) {
	d.reloads.ok.Set(0)
	d.log.Error("configuration reload refused; the running configuration stays", "err", err)
}

func (d *Daemon) reload(ctx context.Context, cfg config.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrReload, err)
	}
	d.cfgMu.Lock()
	old := d.cfg
	d.cfgMu.Unlock()
	if err := checkFixed(old, cfg); err != nil {
		return fmt.Errorf("%w: %w", ErrReload, err)
	}
	if err := applyReloaders(d.reloaders(ctx, old), cfg); err != nil {
		return fmt.Errorf("%w: %w", ErrReload, err)
	}
	d.cfgMu.Lock()
	d.cfg = cfg
	d.cfgMu.Unlock()
	d.log.Info("configuration reloaded", "log_level", cfg.LogLevel().String())
	return nil
}

// configKey is a key of the configuration and how to read its value.
type configKey struct {
	key string
	get func(config.Config) any
}

// changedKeys are the keys whose value differs between old and cfg, in
// order.
func changedKeys(keys []configKey, old, cfg config.Config) []string {
	var out []string
	for _, k := range keys {
		if !reflect.DeepEqual(k.get(old), k.get(cfg)) {
			out = append(out, k.key)
		}
	}
	return out
}

// fixedKeys are the settings that shape the process: a reload that
// changes one is refused.
var fixedKeys = []configKey{
	{"node-id", func(c config.Config) any { return c.NodeID }},
	{"listen", func(c config.Config) any { return c.Listen }},
	{"announce", func(c config.Config) any { return c.Announce }},
	{"raft-addr", func(c config.Config) any { return c.RaftAddr }},
	{"http-addr", func(c config.Config) any { return c.HTTPAddr }},
	{"data-dir", func(c config.Config) any { return c.DataDir }},
	{"peers", func(c config.Config) any { return c.Peers }},
	{"join", func(c config.Config) any { return c.Join }},
}

// checkFixed returns an error naming every fixed key cfg changes.
func checkFixed(old, cfg config.Config) error {
	var errs []error
	for _, k := range changedKeys(fixedKeys, old, cfg) {
		errs = append(errs, fmt.Errorf("%s cannot change at run time (restart the monitor)", k))
	}
	return errors.Join(errs...)
}

// A reloader is one component's part of a reload, in the manner of
// Prometheus' ApplyConfig: apply gets the new configuration (validated,
// its fixed keys unchanged) and applies what that component can change at
// run time; an error names what failed, and the reload names the
// component.
type reloader struct {
	name  string
	apply func(config.Config) error
}

// applyReloaders runs every reloader in order and joins their errors,
// each prefixed by its component's name.
func applyReloaders(rs []reloader, cfg config.Config) error {
	var errs []error
	for _, r := range rs {
		if err := r.apply(cfg); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
		}
	}
	return errors.Join(errs...)
}

// reloaders are the components a reload reaches, in order; old is the
// configuration in force.
func (d *Daemon) reloaders(ctx context.Context, old config.Config) []reloader {
	return []reloader{
		{"log", d.applyLogLevel},
		{"restart-only settings", func(cfg config.Config) error { d.noteRestartKeys(old, cfg); return nil }},
		{"masters", func(cfg config.Config) error { return d.addFileMasters(ctx, cfg) }},
		{"admin API", d.applyAdminToken},
	}
}

// applyLogLevel sets the log level, when the daemon was given a LevelVar.
func (d *Daemon) applyLogLevel(cfg config.Config) error {
	if d.level != nil {
		d.level.Set(cfg.LogLevel())
	}
	return nil
}

// applyAdminToken puts the admin token in force.
func (d *Daemon) applyAdminToken(cfg config.Config) error {
	d.cfgMu.Lock()
	d.cfg.AdminToken = cfg.AdminToken
	d.cfgMu.Unlock()
	return nil
}

// noteRestartKeys logs every restart-only setting cfg changes.
func (d *Daemon) noteRestartKeys(old, cfg config.Config) {
	for _, k := range changedKeys(restartKeys, old, cfg) {
		d.log.Warn("configuration change takes effect at the next restart", "key", k)
	}
}

// addFileMasters seeds the masters new to the file as at start; changes
// to known masters go through SENTINEL SET (the replicated state wins).
func (d *Daemon) addFileMasters(ctx context.Context, cfg config.Config) error {
	for _, m := range cfg.Masters {
		if _, ok := d.store.State().Masters[m.Name]; ok {
			continue
		}
		spec, err := masterSpec(cfg, m)
		if err != nil {
			return err
		}
		// OpAddMaster, as at start: the master is seeded, so one removed
		// later with SENTINEL REMOVE stays removed across restarts.
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = d.mon.Propose(pctx, state.Command{Op: state.OpAddMaster, Spec: &spec})
		cancel()
		if err != nil {
			return fmt.Errorf("adding master %s: %w", m.Name, err)
		}
	}
	return nil
}

// restartKeys are the settings a reload can only note: they take effect
// at the next start.
var restartKeys = []configKey{
	{"probe", func(c config.Config) any { return c.Probe }},
	{"raft", func(c config.Config) any { return c.Raft }},
	{"opinion", func(c config.Config) any { return c.Opinion }},
	{"local-redis", func(c config.Config) any { return c.LocalRedis }},
	{"fence-after", func(c config.Config) any { return c.FenceAfter }},
	{"stale-after", func(c config.Config) any { return c.StaleAfter }},
	{"requirepass", func(c config.Config) any { return c.RequirePass }},
	{"maxclients", func(c config.Config) any { return c.MaxClients }},
	{"client-idle-timeout", func(c config.Config) any { return c.ClientIdleTimeout }},
	{"client-write-timeout", func(c config.Config) any { return c.ClientWriteTimeout }},
	{"users", func(c config.Config) any { return c.Users }},
	{"tls-port", func(c config.Config) any { return c.TLSPort }},
	{"tls-cert-file, tls-key-file, tls-ca-cert-file", func(c config.Config) any {
		return [3]string{c.TLSCertFile, c.TLSKeyFile, c.TLSCACertFile}
	}},
	{"tls-auth-clients", func(c config.Config) any { return c.TLSAuthClients }},
	{"tls-replication", func(c config.Config) any { return c.TLSReplication }},
	{"tls-cluster", func(c config.Config) any { return c.TLSCluster }},
	{"cluster-secret, cluster-secret-file", func(c config.Config) any { return [2]string{c.ClusterSecret, c.ClusterSecretFile} }},
}

// adminToken is the admin token in force.
func (d *Daemon) adminToken() string {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	return d.cfg.AdminToken
}
