package probe

import "time"

// Observation is the monitor-local (not replicated) view of one Redis node,
// built from PING, INFO and connection state. The zero time means "never".
type Observation struct {
	Addr string // host:port probed

	// Link and PING.
	Connected     bool          // the last PING got any reply over a live connection, and the node accepted the credentials
	LastPingSent  time.Time     // when the oldest unanswered PING fell due (it is sent then, or as soon as a connection is up); zero if none pending
	LastOKPing    time.Time     // last valid reply (+PONG, -LOADING, -MASTERDOWN)
	LastPingReply time.Time     // last reply of any kind
	LastError     string        // last PING/link error ("" after a valid reply)
	LinkBroken    bool          // the last PING failed on a refused, reset or closed connection (not a timeout)
	PingLatency   time.Duration // round trip of the last valid PING reply (including any reconnect)
	// AuthRefused: the node answered the last PING (or the AUTH before
	// it) with an authentication error (WRONGPASS, "invalid password",
	// NOAUTH): the credentials are wrong or missing. The link is unusable,
	// so Connected is false, as Sentinel shows such a node disconnected;
	// LastPingReply still advances (the node replies).
	AuthRefused bool

	// From the last successful INFO (zero InfoAt: never). The prober sends
	// INFO replication every INFO period and a full INFO every
	// Options.FullInfoPeriod and on every new connection: InfoAt is the
	// time of the last INFO of either kind, which refreshes every field
	// below but RunID, RedisVersion, InfoText (full INFO only) and Loading
	// (full INFO, or INFO replication persistence while the node may be
	// loading).
	InfoAt           time.Time
	InfoError        string // last INFO error ("" after a successful INFO); the fields below keep the last good values
	RunID            string
	Role             string // "master" or "slave"
	RoleChangedAt    time.Time
	MasterHost       string         // replicas: master_host
	MasterPort       int            // replicas: master_port
	MasterLinkUp     bool           // replicas: master_link_status:up
	MasterLinkDownMs int64          // replicas: master_link_down_since_seconds * 1000 (0 when up, -1 if never connected)
	ReplOffset       int64          // replicas: slave_repl_offset; masters: master_repl_offset
	Priority         int            // replica-priority (slave_priority); 100 when not reported
	ReplicaAnnounced bool           // replica_announced (true when not reported)
	Replicas         []ReplicaEntry // masters: connected replicas from INFO replication
	RedisVersion     string
	InfoText         string    // the raw reply of the last successful full INFO (SENTINEL INFO-CACHE)
	InfoTextAt       time.Time // when InfoText was received (INFO-CACHE's age)
	Loading          bool      // loading:1 (a restarted node still loading its dataset)
}

// ReplicaEntry is one slaveN: line of a master's INFO replication.
type ReplicaEntry struct {
	Host   string
	Port   int
	State  string
	Offset int64
	Lag    int64
}
