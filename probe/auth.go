package probe

import (
	"maps"
	"strings"
)

// Auth holds the link settings used toward one master and all its
// replicas: the credentials (auth-user, auth-pass) and the commands the
// nodes know under another name (SENTINEL SET <master> rename-command).
//
// Auth values are compared with Equal, not ==. A Prober or HelloBus keeps
// the Auth it is given: the caller must not modify Renames afterwards.
type Auth struct {
	User string
	Pass string
	// Renames maps a lowercase command name to the name the nodes know it
	// by (Redis' rename-command). Every command a monitor sends to the
	// nodes is looked up here (Cmd): PING, INFO, REPLICAOF/SLAVEOF,
	// CONFIG, CLIENT (SETNAME, KILL, PAUSE, UNPAUSE), MULTI, EXEC, AUTH,
	// ROLE, FAILOVER, PUBLISH and SUBSCRIBE. nil or empty: no renames.
	Renames map[string]string
}

// Equal reports whether a and b have the same credentials and renames
// (a nil and an empty Renames are equal).
func (a Auth) Equal(b Auth) bool {
	return a.User == b.User && a.Pass == b.Pass && maps.Equal(a.Renames, b.Renames)
}

// Cmd returns the name to send for the command name (any case): its
// rename if the nodes rename it, else name itself. As in Sentinel's
// sentinelInstanceMapCommand, the lookup is by the lowercase original.
func (a Auth) Cmd(name string) string {
	if to, ok := a.Renames[strings.ToLower(name)]; ok && to != "" {
		return to
	}
	return name
}

// renamed reports whether the command name (any case) has a rename.
func (a Auth) renamed(name string) bool {
	return a.Cmd(name) != name
}

// replicaOfVerb returns the command that sets a node's master: SLAVEOF
// for Redis < 5 (major 1..4), else REPLICAOF. Sentinel sends SLAVEOF and
// maps that name, so a rename given for slaveof is used too when
// replicaof has none: both are the same command in Redis >= 5, and an
// operator renaming for Sentinel renames slaveof.
func (a Auth) replicaOfVerb(major int) string {
	if major > 0 && major < 5 {
		return a.Cmd("SLAVEOF")
	}
	if !a.renamed("REPLICAOF") && a.renamed("SLAVEOF") {
		return a.Cmd("SLAVEOF")
	}
	return a.Cmd("REPLICAOF")
}
