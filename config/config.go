// Package config holds the typed configuration of a raftsentinel monitor:
// its defaults, its validation, and the loading of a YAML file, RAFTSENTINEL_*
// environment variables and command-line flags into it.
//
// It is the only package of raftsentinel that imports viper. Other packages
// never see viper or pflag values; cmd/raftsentinel calls [Load] and hands each
// package the typed fields it needs.
//
// Loading is strict, in the manner of Prometheus: an unknown key in the file,
// a value of the wrong type, or a duration without a unit is an error that
// names the key, and so is every failed rule in [Config.Validate]. Every error
// returned by [Load] and [Config.Validate] wraps [ErrInvalid].
//
// The package has no global state: each call of [Load] uses its own viper
// instance, and [Load], [Default], [BindFlags] and [Config.Validate] may be
// called from several goroutines at once (given distinct FlagSets for
// BindFlags).
package config

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/raftsentinel/raftsentinel/failover"
	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/raftsentinel/raftsentinel/resp"
	"github.com/raftsentinel/raftsentinel/sentinelconf"
)

// ErrInvalid is wrapped by every error that [Load] and [Config.Validate]
// return, so callers can test for it with errors.Is.
var ErrInvalid = errors.New("invalid configuration")

// Config is the whole configuration of one monitor. The comment on each field
// gives its key (the name in the YAML file, in flags and, upper-cased with "."
// and "-" turned into "_" and prefixed by RAFTSENTINEL_, in the environment),
// its default and its rules.
type Config struct {
	// NodeID ("node-id") is this monitor's Raft server ID. Required;
	// 1 to 64 characters from [A-Za-z0-9._-].
	NodeID string `mapstructure:"node-id"`
	// Listen ("listen") is the address of the Sentinel-protocol (RESP)
	// server. Default "0.0.0.0:26379". Port 0 picks a free port.
	Listen string `mapstructure:"listen"`
	// Announce ("announce") is the host:port this monitor advertises to
	// clients and to the other monitors (SENTINEL sentinels, hello
	// messages). When not set, [Load] derives it from Listen, replacing an
	// empty or unspecified host (0.0.0.0, ::) by 127.0.0.1; [Default] returns
	// the value derived from the default Listen. Its host must not be empty
	// or unspecified and its port must not be 0.
	Announce string `mapstructure:"announce"`
	// RaftAddr ("raft-addr") is the address Raft binds to and advertises.
	// Required; as it is advertised, its host must not be empty or
	// unspecified and its port must not be 0.
	RaftAddr string `mapstructure:"raft-addr"`
	// HTTPAddr ("http-addr") is the listen address of the internal HTTP
	// server (proposal forwarding to the leader, /metrics). Required. Port 0
	// picks a free port.
	HTTPAddr string `mapstructure:"http-addr"`
	// DataDir ("data-dir") holds the Raft log, stable store and snapshots.
	// Required.
	DataDir string `mapstructure:"data-dir"`
	// Peers ("peers") are the initial voters of the Raft group, this monitor
	// included: it must contain an entry whose ID is NodeID and whose
	// RaftAddr equals RaftAddr. IDs and addresses are unique.
	Peers []Peer `mapstructure:"peers"`
	// Join ("join") lists the http-addr of existing monitors: this monitor
	// does not bootstrap a group but asks one of them to add it as a
	// voter (a new member of a running group). Exclusive with peers.
	Join []string `mapstructure:"join"`
	// Masters ("masters") are the monitored Redis masters; at least one.
	// Names are unique.
	Masters []Master `mapstructure:"masters"`
	// Probe ("probe") tunes the probing of Redis nodes.
	Probe Probe `mapstructure:"probe"`
	// Raft ("raft") tunes hashicorp/raft.
	Raft Raft `mapstructure:"raft"`
	// Log ("log") configures logging.
	Log Log `mapstructure:"log"`
	// Opinion ("opinion") tunes the replicated "instance is down" opinions.
	Opinion Opinion `mapstructure:"opinion"`
	// LocalRedis ("local-redis") is the host:port of the Redis node this
	// monitor runs beside (sidecar), "" if none. It enables fencing.
	LocalRedis string `mapstructure:"local-redis"`
	// FenceAfter ("fence-after") is how long this monitor may be cut off
	// from the Raft majority before it pauses the writes of LocalRedis when
	// that node is a master. Default 3s; must exceed raft.election-timeout.
	FenceAfter time.Duration `mapstructure:"fence-after"`
	// StaleAfter ("stale-after"): cut off from the Raft majority for longer
	// than this, the monitor answers GET-MASTER-ADDR-BY-NAME with an error
	// (so clients ask another monitor) instead of a possibly outdated
	// address, and flags its introspection replies stale_view. Default 3s;
	// must exceed raft.election-timeout. 0: answer like Sentinel (the
	// flag then comes after 3s).
	StaleAfter time.Duration `mapstructure:"stale-after"`
	// AdminToken ("admin-token") guards the admin HTTP API (POST
	// /v1/masters/...): requests need "Authorization: Bearer <token>".
	// Empty: the admin endpoints are disabled.
	AdminToken string `mapstructure:"admin-token"`
	// RequirePass ("requirepass") is the password of the "default" user on
	// the Sentinel-protocol port, as Redis' requirepass. Empty: no password.
	RequirePass string `mapstructure:"requirepass"`
	// MaxClients ("maxclients") is the most clients connected at once to
	// the Sentinel-protocol port, as Redis' maxclients: one more gets
	// "-ERR max number of clients reached" and is closed. Default 10000;
	// must be at least 1.
	MaxClients int `mapstructure:"maxclients"`
	// ClientIdleTimeout ("client-idle-timeout", Redis' "timeout") closes a
	// Sentinel-protocol client that sent nothing for this long, unless it
	// is subscribed. Default 0: never.
	ClientIdleTimeout time.Duration `mapstructure:"client-idle-timeout"`
	// ClientWriteTimeout ("client-write-timeout") disconnects a client that
	// accepts none of the output waiting for it for this long (a slow or
	// stuck reader). Default 60s; 0: no bound (the 4 MiB output queue
	// still protects publishers).
	ClientWriteTimeout time.Duration `mapstructure:"client-write-timeout"`
	// Users ("users") are further users allowed on the Sentinel-protocol
	// port (AUTH <name> <password>, HELLO ... AUTH). Names are unique and
	// not "default".
	Users []User `mapstructure:"users"`

	// TLS and the cluster secret, named as Redis names its TLS settings.

	// TLSPort ("tls-port") is the port of the Sentinel-protocol server over
	// TLS, bound on the host of listen (0.0.0.0 when listen is ""). Default
	// 0: off. With tls-port set, listen may be "" (plain port off, as
	// Redis' "port 0"). Needs tls-cert-file and tls-key-file.
	TLSPort int `mapstructure:"tls-port"`
	// TLSCertFile ("tls-cert-file") and TLSKeyFile ("tls-key-file") are the
	// PEM certificate and key this monitor presents: on tls-port, on the
	// cluster links (tls-cluster) and, as a client certificate, to Redis
	// nodes (tls-replication). They must be a pair.
	TLSCertFile string `mapstructure:"tls-cert-file"`
	TLSKeyFile  string `mapstructure:"tls-key-file"`
	// TLSCACertFile ("tls-ca-cert-file") is the PEM CA bundle that verifies
	// clients (tls-auth-clients), other monitors (tls-cluster) and Redis
	// nodes (tls-replication; "" there means the system roots).
	TLSCACertFile string `mapstructure:"tls-ca-cert-file"`
	// TLSAuthClients ("tls-auth-clients"): yes (the default, as Redis; also
	// what "" means) requires
	// a client certificate signed by tls-ca-cert-file on tls-port, optional
	// verifies one when given, no asks for none.
	TLSAuthClients string `mapstructure:"tls-auth-clients"`
	// TLSReplication ("tls-replication"): yes connects to the Redis nodes
	// over TLS, as Sentinel does with tls-replication yes. Default no
	// ("" is no).
	TLSReplication string `mapstructure:"tls-replication"`
	// TLSCluster ("tls-cluster"): yes runs the Raft transport, proposal
	// forwarding and the whole HTTP server (admin API, /metrics) over TLS;
	// the monitor-to-monitor links are mutual TLS verified by
	// tls-ca-cert-file (required). Every monitor of a group must agree.
	// Default no ("" is no).
	TLSCluster string `mapstructure:"tls-cluster"`
	// ClusterSecret ("cluster-secret") is a secret shared by the monitors of
	// a group (at least 16 characters): every Raft connection and every
	// forwarded proposal must prove it (HMAC; it is never sent). Empty: off.
	// Exclusive with cluster-secret-file.
	ClusterSecret string `mapstructure:"cluster-secret"`
	// ClusterSecretFile ("cluster-secret-file") names a file holding the
	// cluster secret (surrounding white space ignored).
	ClusterSecretFile string `mapstructure:"cluster-secret-file"`
	// DropIn is set only by [LoadSentinelConf] (a monitor run from a Redis
	// sentinel.conf); it is not a key of the YAML file.
	DropIn DropIn `mapstructure:"-"`
}

// User is one named user of the Sentinel-protocol port.
type User struct {
	// Name ("name"): required, no spaces.
	Name string `mapstructure:"name"`
	// Password ("password"): required.
	Password string `mapstructure:"password"`
	// Commands ("commands") are the user's command and channel rules in
	// Redis ACL style, applied left to right from "nothing allowed": +@all,
	// -@all, +@<category>, -@<category>, +<cmd>, -<cmd>, +<cmd>|<sub>,
	// -<cmd>|<sub>, allchannels, resetchannels, &<pattern> (see package
	// acl). Empty: every command and channel is allowed (no rules).
	Commands string `mapstructure:"commands"`
}

// Peer is one initial voter of the Raft group.
type Peer struct {
	// ID ("id") is the peer's Raft server ID (its node-id); same charset as
	// node-id.
	ID string `mapstructure:"id"`
	// RaftAddr ("raft-addr") is the peer's advertised Raft address
	// host:port.
	RaftAddr string `mapstructure:"raft-addr"`
}

// Master is one monitored Redis master, the equivalent of a Sentinel
// "sentinel monitor" block.
type Master struct {
	// Name ("name") is the master's name as clients ask for it. Required;
	// characters from [A-Za-z0-9._-] (Sentinel's charset).
	Name string `mapstructure:"name"`
	// Addr ("addr") is host:port of the initial master. Required; the host
	// must not be empty or unspecified, the port must be 1-65535.
	Addr string `mapstructure:"addr"`
	// Quorum ("quorum") is how many monitors must hold the master down before
	// it is objectively down. Required; between 1 and len(Peers).
	Quorum int `mapstructure:"quorum"`
	// DownAfter ("down-after") is how long the master must fail probes before
	// a monitor holds it down. Default 5s; at least probe.ping-period.
	DownAfter time.Duration `mapstructure:"down-after"`
	// FailoverTimeout ("failover-timeout") bounds one failover. Default 180s
	// (Sentinel's); > 0.
	FailoverTimeout time.Duration `mapstructure:"failover-timeout"`
	// ParallelSyncs ("parallel-syncs") is how many replicas are repointed to a
	// new master at a time. Default 1; >= 1.
	ParallelSyncs int `mapstructure:"parallel-syncs"`
	// AuthUser ("auth-user") is the ACL user for connecting to the master and
	// its replicas; empty means the default user.
	AuthUser string `mapstructure:"auth-user"`
	// AuthPass ("auth-pass") is the password for connecting to the master and
	// its replicas; empty means no AUTH.
	AuthPass string `mapstructure:"auth-pass"`
}

// Probe tunes the probing of Redis nodes.
type Probe struct {
	// PingPeriod ("ping-period") is the interval between PINGs to each node.
	// Default 100ms; > 0 and < 1s.
	PingPeriod time.Duration `mapstructure:"ping-period"`
	// InfoPeriod ("info-period") is the interval between INFO/ROLE requests
	// to each node. Default 1s; > 0.
	InfoPeriod time.Duration `mapstructure:"info-period"`
	// Timeout ("timeout") bounds one probe. Default 80ms; > 0 and shorter
	// than ping-period.
	Timeout time.Duration `mapstructure:"timeout"`
}

// Raft tunes hashicorp/raft. The rules mirror raft.ValidateConfig so that a
// config that passes [Config.Validate] is accepted by raft.
type Raft struct {
	// HeartbeatTimeout ("heartbeat-timeout"): default 500ms; >= 5ms.
	HeartbeatTimeout time.Duration `mapstructure:"heartbeat-timeout"`
	// ElectionTimeout ("election-timeout"): default 500ms; >= 5ms and >=
	// heartbeat-timeout.
	ElectionTimeout time.Duration `mapstructure:"election-timeout"`
	// LeaderLeaseTimeout ("leader-lease-timeout"): default 250ms; >= 5ms and
	// <= heartbeat-timeout.
	LeaderLeaseTimeout time.Duration `mapstructure:"leader-lease-timeout"`
	// CommitTimeout ("commit-timeout"): default 50ms; >= 1ms. How often an idle
	// leader tells each follower the commit index (a committed change reaches
	// the followers at once regardless: see quorum.Store).
	CommitTimeout time.Duration `mapstructure:"commit-timeout"`
	// SnapshotInterval ("snapshot-interval"): default 30s; >= 5ms.
	SnapshotInterval time.Duration `mapstructure:"snapshot-interval"`
	// SnapshotThreshold ("snapshot-threshold") is how many log entries since
	// the last snapshot make a snapshot due. Default 2048.
	SnapshotThreshold uint64 `mapstructure:"snapshot-threshold"`
	// ApplyTimeout ("apply-timeout") bounds one proposal (enqueue and commit).
	// Default 2s; > 0.
	ApplyTimeout time.Duration `mapstructure:"apply-timeout"`
}

// Log configures logging.
type Log struct {
	// Level ("level") is one of debug, info, warn, error.
	// Default info.
	Level string `mapstructure:"level"`
	// Format ("format") is text or json. Default text.
	Format string `mapstructure:"format"`
}

// Opinion tunes the replicated per-monitor "instance is down" opinions.
type Opinion struct {
	// Refresh ("refresh") is how often a monitor re-asserts a "down" opinion
	// it still holds. Default 1s; > 0.
	Refresh time.Duration `mapstructure:"refresh"`
	// TTL ("ttl") is the age after which an opinion no longer counts.
	// Default 3s; longer than refresh.
	TTL time.Duration `mapstructure:"ttl"`
}

// Default returns a Config with every default filled in. Required fields
// (node-id, raft-addr, http-addr, data-dir, peers, masters) are left empty,
// so Default().Validate() fails. Announce is derived from the default
// Listen ("127.0.0.1:26379"); a caller that changes Listen should set
// Announce too. Masters appended by the caller should start from
// [DefaultMaster].
func Default() Config {
	c := defaults()
	c.Announce = deriveAnnounce(c.Listen)
	return c
}

// DefaultMaster returns a Master with the defaults of down-after,
// failover-timeout and parallel-syncs filled in and the required fields
// (name, addr, quorum) empty.
func DefaultMaster() Master {
	return Master{
		DownAfter:       5 * time.Second,
		FailoverTimeout: sentinelconf.DefaultFailoverTimeout, // Sentinel's
		ParallelSyncs:   sentinelconf.DefaultParallelSyncs,
	}
}

// defaults is Default without the derived Announce: it is what Load starts
// from, so that an unset announce follows whatever listen ends up being.
// defaults builds the configuration's defaults from the components'
// DefaultOptions (and Sentinel's, in sentinelconf), so each default lives
// in one place.
func defaults() Config {
	p, q, b, r := probe.DefaultOptions(), quorum.DefaultOptions(), failover.DefaultOptions(), resp.DefaultOptions()
	return Config{
		Listen: net.JoinHostPort("0.0.0.0", sentinelconf.DefaultPort), // Sentinel's port
		Probe:  Probe{PingPeriod: p.PingPeriod, InfoPeriod: p.InfoPeriod, Timeout: p.Timeout},
		Raft: Raft{
			HeartbeatTimeout:   q.HeartbeatTimeout,
			ElectionTimeout:    q.ElectionTimeout,
			LeaderLeaseTimeout: q.LeaderLeaseTimeout,
			CommitTimeout:      q.CommitTimeout,
			SnapshotInterval:   q.SnapshotInterval,
			SnapshotThreshold:  q.SnapshotThreshold,
			ApplyTimeout:       q.ApplyTimeout,
		},
		FenceAfter:         3 * time.Second,
		StaleAfter:         b.StaleAfter,
		MaxClients:         r.MaxClients,
		ClientWriteTimeout: r.WriteTimeout,
		Log:                Log{Level: "info", Format: "text"},
		Opinion:            Opinion{Refresh: b.OpinionRefresh, TTL: b.OpinionTTL},
	}
}

// deriveAnnounce returns listen with an empty or unspecified host replaced by
// 127.0.0.1, or "" when listen is not host:port.
func deriveAnnounce(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if isUnspecifiedHost(host) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// isUnspecifiedHost reports whether host is empty or an unspecified IP
// address (0.0.0.0, ::).
func isUnspecifiedHost(host string) bool {
	if host == "" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

// LogLevel returns Log.Level as a slog.Level. A level that Validate would
// reject yields slog.LevelInfo.
func (c Config) LogLevel() slog.Level {
	lvl, _ := parseLevel(c.Log.Level)
	return lvl
}

func parseLevel(s string) (slog.Level, bool) {
	switch s {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return slog.LevelInfo, false
}
