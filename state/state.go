package state

import (
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/raftsentinel/raftsentinel/acl"
)

// Addr is a Redis node or monitor address as announced to clients.
type Addr struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

// String returns host:port (IPv6 hosts in brackets).
func (a Addr) String() string {
	if a.Host == "" && a.Port == 0 {
		return ""
	}
	return net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
}

// IsZero reports whether a is the empty address.
func (a Addr) IsZero() bool { return a.Host == "" && a.Port == 0 }

// ParseAddr parses host:port.
func ParseAddr(s string) (Addr, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return Addr{}, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return Addr{}, &net.AddrError{Err: "invalid port", Addr: s}
	}
	return Addr{Host: h, Port: port}, nil
}

// Stage is the committed progress of a failover.
type Stage string

// Failover stages, in order. A failover is in progress while its stage is
// StageStarted or StagePromoted.
const (
	StageStarted   Stage = "started"   // candidate chosen; promotion may or may not have been sent
	StagePromoted  Stage = "promoted"  // candidate verified as master; address switched
	StageCompleted Stage = "completed" // other replicas repointed
	StageAborted   Stage = "aborted"   // given up before promotion was committed
)

// Failover is the replicated record of one failover of one master.
type Failover struct {
	ID     string `json:"id"`
	Epoch  uint64 `json:"epoch"`
	Term   uint64 `json:"term"`
	Leader string `json:"leader"` // monitor id that started it
	From   Addr   `json:"from"`
	To     Addr   `json:"to"`
	Stage  Stage  `json:"stage"`
	Reason string `json:"reason,omitempty"` // why it was aborted, or "manual"
	// Coordinated: a planned switchover through Redis' FAILOVER command
	// (writes paused until the replica caught up), not a promotion.
	Coordinated bool      `json:"coordinated,omitempty"`
	StartedAt   time.Time `json:"started_at"` // log append time of the start entry
	Deadline    time.Time `json:"deadline"`   // after this a new leader may abort or finish it
	EndedAt     time.Time `json:"ended_at,omitempty"`
}

// InProgress reports whether the failover has not yet completed or aborted.
func (f *Failover) InProgress() bool {
	return f != nil && (f.Stage == StageStarted || f.Stage == StagePromoted)
}

// FailoverTooSoon is Sentinel's anti-flap rule: a failover of m started
// less than failover-timeout before now, and not aborted, makes another
// automatic one wait (a manual failover forces its way: Command.Force).
func (m *Master) FailoverTooSoon(now time.Time) bool {
	f := m.Failover
	return f != nil && f.Stage != StageAborted && now.Sub(f.StartedAt) < m.FailoverTimeout
}

// Opinion is one monitor's committed view that an instance is (or is not)
// subjectively down. At is the append time of the entry that last asserted
// it, so freshness can be judged against any clock that stamps log entries.
type Opinion struct {
	Monitor string    `json:"monitor"`
	Down    bool      `json:"down"`
	Since   time.Time `json:"since"` // when the monitor first saw it down (append time)
	At      time.Time `json:"at"`    // last assertion (append time)
}

// Master is the replicated state of one monitored master.
type Master struct {
	Name            string        `json:"name"`
	Addr            Addr          `json:"addr"` // the current master
	Quorum          int           `json:"quorum"`
	DownAfter       time.Duration `json:"down_after"`
	FailoverTimeout time.Duration `json:"failover_timeout"`
	ParallelSyncs   int           `json:"parallel_syncs"`
	AuthUser        string        `json:"auth_user,omitempty"`
	AuthPass        string        `json:"auth_pass,omitempty"`
	ConfigEpoch     uint64        `json:"config_epoch"`
	// Replicas are every replica address ever known for this master (as
	// Sentinel, never forgotten automatically), sorted by address.
	Replicas []Addr `json:"replicas"`
	// Opinions on the master, keyed by monitor id.
	Opinions map[string]Opinion `json:"opinions"`
	// ODown is the leader's committed judgement that a quorum agrees.
	ODown      bool      `json:"odown"`
	ODownSince time.Time `json:"odown_since,omitempty"`
	ODownVotes int       `json:"odown_votes,omitempty"`
	// Failover is the latest failover (in progress or finished), nil if none.
	Failover *Failover `json:"failover,omitempty"`
	// Maintenance pauses automatic failover (probing continues); a manual
	// SENTINEL FAILOVER still works.
	Maintenance bool `json:"maintenance,omitempty"`
	// RebootDownAfter is master-reboot-down-after-period (0: off).
	RebootDownAfter time.Duration `json:"reboot_down_after,omitempty"`
	// RenameCommands maps a command name to the name the nodes know it by.
	RenameCommands map[string]string `json:"rename_commands,omitempty"`
}

// Monitor is one member of the monitor group.
type Monitor struct {
	ID       string    `json:"id"`        // raft server id
	RunID    string    `json:"run_id"`    // 40-hex Sentinel id, stable across restarts
	RaftAddr string    `json:"raft_addr"` // raft transport address
	HTTPAddr string    `json:"http_addr"` // internal/admin HTTP address (proposal forwarding)
	Announce Addr      `json:"announce"`  // Sentinel-protocol address clients use
	SeenAt   time.Time `json:"seen_at"`   // append time of its last registration
	// AnnounceIP and AnnouncePort, set with SENTINEL CONFIG SET on that
	// monitor, override the host and port of Announce ("" / 0: unset).
	AnnounceIP   string `json:"announce_ip,omitempty"`
	AnnouncePort int    `json:"announce_port,omitempty"`
	// Protocol is the version of the replicated commands the monitor's
	// build applies (state.Protocol; 0 in records of builds before
	// versions were registered, which is 1).
	Protocol int `json:"protocol,omitempty"`
}

// Announced returns the address the monitor is announced at, with any
// SENTINEL CONFIG SET announce-ip / announce-port override applied.
func (m *Monitor) Announced() Addr {
	a := m.Announce
	if m.AnnounceIP != "" {
		a.Host = m.AnnounceIP
	}
	if m.AnnouncePort != 0 {
		a.Port = m.AnnouncePort
	}
	return a
}

// State is the whole replicated state. Values returned by Store.State and
// FSM.State are shared and read-only; Clone makes a private copy.
type State struct {
	CurrentEpoch uint64              `json:"current_epoch"`
	Masters      map[string]*Master  `json:"masters"`
	Monitors     map[string]*Monitor `json:"monitors"`
	// Seeded lists every master name ever added from a configuration file:
	// a file seeds a name once, so a master removed with SENTINEL REMOVE is
	// not brought back by the monitors' files.
	Seeded map[string]bool `json:"seeded,omitempty"`
	// Config holds the group-wide settings of SENTINEL CONFIG SET
	// (resolve-hostnames, announce-hostnames, sentinel-user, sentinel-pass,
	// loglevel); absent keys have their defaults.
	Config map[string]string `json:"config,omitempty"`
	// Users are the run-time users of the Sentinel-protocol port (ACL
	// SETUSER), by name; passwords only as SHA-256 digests. A run-time
	// user replaces a configuration-file user of the same name on every
	// monitor.
	Users map[string]*acl.User `json:"users,omitempty"`
	// DeletedUsers are the names ACL DELUSER removed and no ACL SETUSER
	// has brought back: configuration-file users of these names are
	// hidden.
	DeletedUsers map[string]bool `json:"deleted_users,omitempty"`
	// LastApplied is the append time of the last applied entry.
	LastApplied time.Time `json:"last_applied"`
}

// User returns the run-time user name and whether the name is known at
// run time: (u, true) for a run-time user, (nil, true) for a deleted one,
// (nil, false) when the group has no say (a file user or none).
func (s *State) User(name string) (*acl.User, bool) {
	if u, ok := s.Users[name]; ok {
		return u, true
	}
	return nil, s.DeletedUsers[name]
}

// NewState returns an empty state.
func NewState() *State {
	return &State{Masters: map[string]*Master{}, Monitors: map[string]*Monitor{}}
}

// Clone returns a deep copy of s.
func (s *State) Clone() *State {
	c := &State{CurrentEpoch: s.CurrentEpoch, LastApplied: s.LastApplied,
		Masters: make(map[string]*Master, len(s.Masters)), Monitors: make(map[string]*Monitor, len(s.Monitors))}
	for k, m := range s.Masters {
		mm := *m
		mm.Replicas = append([]Addr(nil), m.Replicas...)
		mm.Opinions = make(map[string]Opinion, len(m.Opinions))
		for id, o := range m.Opinions {
			mm.Opinions[id] = o
		}
		if m.Failover != nil {
			f := *m.Failover
			mm.Failover = &f
		}
		if m.RenameCommands != nil {
			mm.RenameCommands = make(map[string]string, len(m.RenameCommands))
			for k, v := range m.RenameCommands {
				mm.RenameCommands[k] = v
			}
		}
		c.Masters[k] = &mm
	}
	for k, m := range s.Monitors {
		mm := *m
		c.Monitors[k] = &mm
	}
	if s.Seeded != nil {
		c.Seeded = make(map[string]bool, len(s.Seeded))
		for k, v := range s.Seeded {
			c.Seeded[k] = v
		}
	}
	if s.Config != nil {
		c.Config = make(map[string]string, len(s.Config))
		for k, v := range s.Config {
			c.Config[k] = v
		}
	}
	if s.Users != nil {
		c.Users = make(map[string]*acl.User, len(s.Users))
		for k, u := range s.Users {
			c.Users[k] = u.Clone()
		}
	}
	if s.DeletedUsers != nil {
		c.DeletedUsers = make(map[string]bool, len(s.DeletedUsers))
		for k, v := range s.DeletedUsers {
			c.DeletedUsers[k] = v
		}
	}
	return c
}

// MasterNames returns the monitored master names in sorted order.
func (s *State) MasterNames() []string {
	names := make([]string, 0, len(s.Masters))
	for n := range s.Masters {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// GroupProtocol is the lowest Protocol among the members (1 for a member
// that registered none): the commands every member can apply.
func (s *State) GroupProtocol() int {
	p := Protocol
	for _, m := range s.Monitors {
		p = min(p, max(m.Protocol, 1))
	}
	return p
}

// MonitorIDs returns the member ids in sorted order.
func (s *State) MonitorIDs() []string {
	ids := make([]string, 0, len(s.Monitors))
	for id := range s.Monitors {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
