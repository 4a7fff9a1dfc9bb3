package benchutil

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// System is one of the two monitor implementations the benchmarks compare.
type System string

const (
	Raftsentinel System = "raftsentinel" // the built raftsentinel binary
	Sentinel     System = "sentinel"     // Redis Sentinel (redis-sentinel)
)

// Title is the system's name in a report: "raftsentinel" or
// "Redis Sentinel".
func (s System) Title() string {
	if s == Sentinel {
		return "Redis Sentinel"
	}
	return "raftsentinel"
}

// SystemFlag defines the flag -system on fs, to be read by [Systems]:
// "both" (the default), "raftsentinel" or "sentinel".
func SystemFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "system", "both", "systems to run: both | raftsentinel | sentinel")
}

// Systems are the systems a -system value (see [SystemFlag]) asks for:
// raftsentinel then Redis Sentinel for "both", else the one named. Any
// other value is an error naming the flag.
func Systems(value string) ([]System, error) {
	switch value {
	case "both":
		return []System{Raftsentinel, Sentinel}, nil
	case string(Raftsentinel), string(Sentinel):
		return []System{System(value)}, nil
	}
	return nil, fmt.Errorf("-system %q: want both, raftsentinel or sentinel", value)
}

// GroupOptions describe a group of monitors of either system watching one
// master (or, with Masters, several) on loopback, for [StartMonitors]. The
// monitoring parameters are the same for both systems and for every
// master. A benchmark keeps one as the template of all its groups and sets
// Dir and MasterAddr (or Masters) for each.
type GroupOptions struct {
	Dir             string        // parent directory; monitor i works in Dir/m<i> or Dir/sentinel<i>
	Size            int           // number of monitors; 0 = 3
	MasterName      string        // the name the master is monitored under; required unless Masters is set
	MasterAddr      string        // host:port of the master; required unless Masters is set
	Quorum          int           // quorum of the master; 0 = a majority of Size
	DownAfter       time.Duration // down-after of the master (whole milliseconds, for Sentinel)
	FailoverTimeout time.Duration // failover-timeout of the master (whole milliseconds)
	ParallelSyncs   int           // parallel-syncs of the master; 0 = 1
	// Masters, when not empty, are the masters monitored, in this order,
	// each with the parameters above; MasterName and MasterAddr are then
	// ignored.
	Masters []MasterSpec
	// ReadyTimeout bounds the start-up of the whole group, from the call
	// until every monitor answers PING.
	ReadyTimeout time.Duration

	// raftsentinel only.
	Bin       string // the raftsentinel binary
	LogLevel  string // log.level of the configs; "" = warn
	LogFormat string // log.format of the configs; "" = text
}

// MasterSpec is one master of [GroupOptions.Masters].
type MasterSpec struct {
	Name string // the name it is monitored under
	Addr string // host:port
}

// MasterList is the masters o describes: o.Masters, or when that is empty
// the one master MasterName at MasterAddr.
func (o GroupOptions) MasterList() []MasterSpec {
	if len(o.Masters) > 0 {
		return o.Masters
	}
	return []MasterSpec{{Name: o.MasterName, Addr: o.MasterAddr}}
}

// withDefaults fills in the zero fields that have a default.
func (o GroupOptions) withDefaults() GroupOptions {
	if o.Size <= 0 {
		o.Size = 3
	}
	if o.Quorum <= 0 {
		o.Quorum = o.Size/2 + 1
	}
	if o.ParallelSyncs <= 0 {
		o.ParallelSyncs = 1
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	if o.LogFormat == "" {
		o.LogFormat = "text"
	}
	return o
}

// Node is one raftsentinel monitor of a group: its identity, addresses and
// files.
type Node struct {
	ID                 string // m1, m2, …: node id and name of its directory
	Listen, Raft, HTTP string // Sentinel-protocol (also announced), Raft and HTTP addresses
	Dir                string // its directory; the Raft data go to Dir/data
	ConfPath, LogPath  string // Dir/raftsentinel.yaml, Dir/raftsentinel.log
}

// NewNodes creates the directories of n raftsentinel monitors m1..mn under
// dir and picks a free loopback port for each of their addresses. It
// writes no configuration (see [MonitorYAML]).
func NewNodes(dir string, n int) ([]Node, error) {
	nodes := make([]Node, n)
	for i := range nodes {
		nd := &nodes[i]
		nd.ID = fmt.Sprintf("m%d", i+1)
		nd.Dir = filepath.Join(dir, nd.ID)
		if err := os.MkdirAll(nd.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("monitor %s: %w", nd.ID, err)
		}
		nd.ConfPath = filepath.Join(nd.Dir, "raftsentinel.yaml")
		nd.LogPath = filepath.Join(nd.Dir, "raftsentinel.log")
		for _, p := range []*string{&nd.Listen, &nd.Raft, &nd.HTTP} {
			port, err := redisproc.FreePort()
			if err != nil {
				return nil, err
			}
			*p = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
	}
	return nodes, nil
}

// MonitorYAML is the configuration file of monitor nodes[i]: its own
// addresses and data directory, every node of nodes as a Raft peer, the
// masters of opt ([GroupOptions.MasterList], each with opt's parameters
// and defaults), the log level and format of opt, and
// hashicorp/raft's LAN timeouts as shipped (heartbeat and election 500ms,
// leader lease 250ms; not tuned for the benchmarks). opt.Dir, Size,
// ReadyTimeout and Bin play no part.
func MonitorYAML(nodes []Node, i int, opt GroupOptions) string {
	opt = opt.withDefaults()
	n := nodes[i]
	var b strings.Builder
	fmt.Fprintf(&b, "node-id: %s\n", n.ID)
	fmt.Fprintf(&b, "listen: %q\nannounce: %q\n", n.Listen, n.Listen)
	fmt.Fprintf(&b, "raft-addr: %q\nhttp-addr: %q\n", n.Raft, n.HTTP)
	fmt.Fprintf(&b, "data-dir: %q\n", filepath.Join(n.Dir, "data"))
	b.WriteString("peers:\n")
	for _, p := range nodes {
		fmt.Fprintf(&b, "  - id: %s\n    raft-addr: %q\n", p.ID, p.Raft)
	}
	b.WriteString("masters:\n")
	for _, m := range opt.MasterList() {
		fmt.Fprintf(&b, "  - name: %s\n    addr: %q\n    quorum: %d\n", m.Name, m.Addr, opt.Quorum)
		fmt.Fprintf(&b, "    down-after: %s\n    failover-timeout: %s\n    parallel-syncs: %d\n", opt.DownAfter, opt.FailoverTimeout, opt.ParallelSyncs)
	}
	b.WriteString("raft:\n  heartbeat-timeout: 500ms\n  election-timeout: 500ms\n  leader-lease-timeout: 250ms\n")
	fmt.Fprintf(&b, "log:\n  level: %s\n  format: %s\n", opt.LogLevel, opt.LogFormat)
	return b.String()
}
