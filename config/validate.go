package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/acl"
	"github.com/raftsentinel/raftsentinel/discovery"
)

var (
	nodeIDPattern     = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	masterNamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	hostnamePattern   = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// problems collects validation failures; each one names its key.
type problems []error

func (p *problems) addf(format string, args ...any) {
	*p = append(*p, fmt.Errorf(format, args...))
}

func (p *problems) add(err error) {
	if err != nil {
		*p = append(*p, err)
	}
}

// err returns nil when there are no problems, otherwise ErrInvalid wrapping
// all of them joined with errors.Join.
func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(p...))
}

// Validate checks c and returns nil or an error wrapping [ErrInvalid] that
// joins (errors.Join) one error per problem found; every message starts with
// the key path it is about, e.g.
//
//	masters[0].quorum: must be between 1 and the number of peers (3), got 5
//	probe.timeout (100ms) must be shorter than probe.ping-period (100ms)
//
// Validate does not modify c; in particular it does not derive an empty
// Announce (only [Load] does), it reports it.
func (c *Config) Validate() error {
	if c == nil {
		return fmt.Errorf("%w: nil *Config", ErrInvalid)
	}
	var p problems
	for _, check := range []func(*problems){
		c.validateIdentity, c.validatePeers, c.validateMasters, c.validateProbe, c.validateRaft, c.validateLog,
		c.validateFencing, c.validateClients, c.validateUsers, c.validateTLS, c.validateOpinion, c.validateDropIn,
	} {
		check(&p)
	}
	return p.err()
}

// validateIdentity checks the node id, the addresses and the data dir.
func (c *Config) validateIdentity(p *problems) {
	switch {
	case c.NodeID == "":
		p.addf("node-id: must be set")
	case !nodeIDPattern.MatchString(c.NodeID):
		p.addf("node-id: %q must be 1 to 64 characters from [A-Za-z0-9._-]", c.NodeID)
	}
	if c.Listen != "" || c.TLSPort == 0 {
		p.add(checkAddr("listen", c.Listen, false, ""))
	}
	p.add(checkAddr("announce", c.Announce, true, "it is advertised to clients and monitors"))
	p.add(checkAddr("raft-addr", c.RaftAddr, true, "it is advertised to the other monitors"))
	p.add(checkAddr("http-addr", c.HTTPAddr, true, "other monitors forward proposals to it"))
	if c.DataDir == "" {
		p.addf("data-dir: must be set")
	}
}

func (c *Config) validateLog(p *problems) {
	if _, ok := parseLevel(c.Log.Level); !ok {
		p.addf("log.level: must be one of debug, info, warn, error, got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.addf("log.format: must be text or json, got %q", c.Log.Format)
	}
}

// validateFencing checks local-redis and fence-after.
func (c *Config) validateFencing(p *problems) {
	if c.LocalRedis == "" {
		return
	}
	p.add(checkAddr("local-redis", c.LocalRedis, true, "the monitor connects to it"))
	if c.FenceAfter <= c.Raft.ElectionTimeout {
		p.addf("fence-after (%v) must be longer than raft.election-timeout (%v): a leader election must not fence the master",
			c.FenceAfter, c.Raft.ElectionTimeout)
	}
}

// validateClients checks the limits of the Sentinel-protocol clients and
// stale-after.
func (c *Config) validateClients(p *problems) {
	if c.MaxClients < 1 {
		p.addf("maxclients (%d) must be at least 1", c.MaxClients)
	}
	if c.ClientIdleTimeout < 0 {
		p.addf("client-idle-timeout (%v) must not be negative", c.ClientIdleTimeout)
	}
	if c.ClientWriteTimeout < 0 {
		p.addf("client-write-timeout (%v) must not be negative", c.ClientWriteTimeout)
	}
	if c.StaleAfter < 0 {
		p.addf("stale-after: must not be negative (0: answer master discovery like Sentinel even when cut off), got %v", c.StaleAfter)
	} else if c.StaleAfter != 0 && c.StaleAfter <= c.Raft.ElectionTimeout {
		p.addf("stale-after (%v) must be longer than raft.election-timeout (%v)", c.StaleAfter, c.Raft.ElectionTimeout)
	}
}

func (c *Config) validateUsers(p *problems) {
	seen := map[string]bool{}
	for i, u := range c.Users {
		key := fmt.Sprintf("users[%d]", i)
		switch {
		case u.Name == "" || strings.ContainsAny(u.Name, " \t\r\n"):
			p.addf("%s.name: must be set and contain no spaces, got %q", key, u.Name)
		case u.Name == "default":
			p.addf("%s.name: \"default\" is the requirepass user; set requirepass instead", key)
		case seen[u.Name]:
			p.addf("%s.name: duplicate user %q", key, u.Name)
		}
		seen[u.Name] = true
		if u.Password == "" {
			p.addf("%s.password: must be set", key)
		}
		if u.Commands != "" {
			if _, err := acl.Parse(u.Commands); err != nil {
				p.addf("%s.commands: %v", key, err)
			}
		}
	}
}

func (c *Config) validateOpinion(p *problems) {
	refreshOK := positive(p, "opinion.refresh", c.Opinion.Refresh)
	ttlOK := positive(p, "opinion.ttl", c.Opinion.TTL)
	if refreshOK && ttlOK && c.Opinion.TTL <= c.Opinion.Refresh {
		p.addf("opinion.ttl (%v) must be longer than opinion.refresh (%v)", c.Opinion.TTL, c.Opinion.Refresh)
	}
}

// validateDropIn checks a drop-in monitor's discovery settings (the
// sentinel.conf's, with --expected-monitors and --forget-after).
func (c *Config) validateDropIn(p *problems) {
	if !c.DropIn.Enabled {
		return
	}
	o := discovery.Options{Expected: c.DropIn.ExpectedMonitors, Period: c.DropIn.HelloPeriod, ForgetAfter: c.DropIn.ForgetAfter}
	if err := o.Validate(); err != nil {
		p.addf("drop-in: %w", err)
	}
}

func (c *Config) validatePeers(p *problems) {
	if len(c.Join) > 0 {
		if len(c.Peers) > 0 {
			p.addf("join: a joining monitor takes its peers from the group; remove peers (or join)")
		}
		for i, a := range c.Join {
			p.add(checkAddr(fmt.Sprintf("join[%d]", i), a, true, "this monitor connects to it"))
		}
		return
	}
	if len(c.Peers) == 0 && c.DropIn.Enabled {
		return // drop-in mode: the group forms itself (see DropIn)
	}
	if len(c.Peers) == 0 {
		p.addf("peers: must list the initial voters, this node included (or join a running group with join)")
		return
	}
	byID := make(map[string]int, len(c.Peers))
	byAddr := make(map[string]int, len(c.Peers))
	for i, peer := range c.Peers {
		key := fmt.Sprintf("peers[%d]", i)
		switch {
		case peer.ID == "":
			p.addf("%s.id: must be set", key)
		case !nodeIDPattern.MatchString(peer.ID):
			p.addf("%s.id: %q must be 1 to 64 characters from [A-Za-z0-9._-]", key, peer.ID)
		default:
			if j, dup := byID[peer.ID]; dup {
				p.addf("%s.id: duplicate peer id %q (also peers[%d])", key, peer.ID, j)
			} else {
				byID[peer.ID] = i
			}
		}
		if err := checkAddr(key+".raft-addr", peer.RaftAddr, true, "it is advertised to the other monitors"); err != nil {
			p.add(err)
		} else if j, dup := byAddr[peer.RaftAddr]; dup {
			p.addf("%s.raft-addr: duplicate address %q (also peers[%d])", key, peer.RaftAddr, j)
		} else {
			byAddr[peer.RaftAddr] = i
		}
	}
	if c.NodeID == "" || !nodeIDPattern.MatchString(c.NodeID) {
		return // already reported; the self check would only add noise
	}
	i, ok := byID[c.NodeID]
	switch {
	case !ok:
		p.addf("peers: must include this node (id %q, raft-addr %q)", c.NodeID, c.RaftAddr)
	case c.Peers[i].RaftAddr != c.RaftAddr:
		p.addf("peers[%d].raft-addr: %q differs from raft-addr %q of this node (%q)",
			i, c.Peers[i].RaftAddr, c.RaftAddr, c.NodeID)
	}
}

// validateMasters checks the masters of the file. None is fine, as for
// Sentinel: masters can be added at run time with SENTINEL MONITOR.
func (c *Config) validateMasters(p *problems) {
	byName := make(map[string]int, len(c.Masters))
	for i, m := range c.Masters {
		key := fmt.Sprintf("masters[%d]", i)
		switch {
		case m.Name == "":
			p.addf("%s.name: must be set", key)
		case !masterNamePattern.MatchString(m.Name):
			p.addf("%s.name: %q has characters outside [A-Za-z0-9._-]", key, m.Name)
		default:
			if j, dup := byName[m.Name]; dup {
				p.addf("%s.name: duplicate master name %q (also masters[%d])", key, m.Name, j)
			} else {
				byName[m.Name] = i
			}
		}
		p.add(checkAddr(key+".addr", m.Addr, true, "monitors connect to it"))
		switch {
		case len(c.Join) == 0 && !c.DropIn.Enabled && (m.Quorum < 1 || m.Quorum > len(c.Peers)):
			p.addf("%s.quorum: must be between 1 and the number of peers (%d), got %d", key, len(c.Peers), m.Quorum)
		case m.Quorum < 1:
			p.addf("%s.quorum: must be at least 1, got %d", key, m.Quorum)
		}
		if positive(p, key+".down-after", m.DownAfter) && c.Probe.PingPeriod > 0 && m.DownAfter < c.Probe.PingPeriod {
			p.addf("%s.down-after (%v) must be at least probe.ping-period (%v)", key, m.DownAfter, c.Probe.PingPeriod)
		}
		positive(p, key+".failover-timeout", m.FailoverTimeout)
		if m.ParallelSyncs < 1 {
			p.addf("%s.parallel-syncs: must be at least 1, got %d", key, m.ParallelSyncs)
		}
	}
}

func (c *Config) validateProbe(p *problems) {
	pingOK := positive(p, "probe.ping-period", c.Probe.PingPeriod)
	if pingOK && c.Probe.PingPeriod >= time.Second {
		p.addf("probe.ping-period: must be shorter than 1s, got %v", c.Probe.PingPeriod)
		pingOK = false
	}
	positive(p, "probe.info-period", c.Probe.InfoPeriod)
	if positive(p, "probe.timeout", c.Probe.Timeout) && pingOK && c.Probe.Timeout >= c.Probe.PingPeriod {
		p.addf("probe.timeout (%v) must be shorter than probe.ping-period (%v)", c.Probe.Timeout, c.Probe.PingPeriod)
	}
}

// validateRaft mirrors raft.ValidateConfig of hashicorp/raft v1.7.
func (c *Config) validateRaft(p *problems) {
	r := c.Raft
	hbOK := atLeast(p, "raft.heartbeat-timeout", r.HeartbeatTimeout, 5*time.Millisecond)
	if atLeast(p, "raft.election-timeout", r.ElectionTimeout, 5*time.Millisecond) && hbOK &&
		r.ElectionTimeout < r.HeartbeatTimeout {
		p.addf("raft.election-timeout (%v) must not be shorter than raft.heartbeat-timeout (%v)",
			r.ElectionTimeout, r.HeartbeatTimeout)
	}
	if atLeast(p, "raft.leader-lease-timeout", r.LeaderLeaseTimeout, 5*time.Millisecond) && hbOK &&
		r.LeaderLeaseTimeout > r.HeartbeatTimeout {
		p.addf("raft.leader-lease-timeout (%v) must not exceed raft.heartbeat-timeout (%v)",
			r.LeaderLeaseTimeout, r.HeartbeatTimeout)
	}
	atLeast(p, "raft.commit-timeout", r.CommitTimeout, time.Millisecond)
	atLeast(p, "raft.snapshot-interval", r.SnapshotInterval, 5*time.Millisecond)
	positive(p, "raft.apply-timeout", r.ApplyTimeout)
}

// positive reports whether d > 0, recording a problem for key otherwise.
func positive(p *problems, key string, d time.Duration) bool {
	if d <= 0 {
		p.addf("%s: must be greater than 0, got %v", key, d)
		return false
	}
	return true
}

// atLeast reports whether d >= low, recording a problem for key otherwise.
func atLeast(p *problems, key string, d, low time.Duration) bool {
	if d < low {
		p.addf("%s: must be at least %v, got %v", key, low, d)
		return false
	}
	return true
}

// checkAddr checks that addr is host:port with a numeric port. An advertised
// address (one that others dial) needs a concrete host and a port in
// 1-65535; why says why, for the message. A listen address may have an empty
// or unspecified host and port 0 (a free port).
func checkAddr(key, addr string, advertised bool, why string) error {
	if addr == "" {
		return fmt.Errorf("%s: must be set (host:port)", key)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		reason := err.Error()
		var ae *net.AddrError
		if errors.As(err, &ae) {
			reason = ae.Err
		}
		return fmt.Errorf("%s: %q is not host:port (%s)", key, addr, reason)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	low := uint64(0)
	if advertised {
		low = 1
	}
	if err != nil || n < low {
		return fmt.Errorf("%s: invalid port %q in %q (want a number in %d-65535)", key, port, addr, low)
	}
	if advertised && isUnspecifiedHost(host) {
		return fmt.Errorf("%s: host in %q must not be empty, 0.0.0.0 or :: (%s)", key, addr, why)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && !hostnamePattern.MatchString(host) {
			return fmt.Errorf("%s: %q is neither an IP address nor a host name", key, host)
		}
	}
	return nil
}
