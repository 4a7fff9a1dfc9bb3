package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/raftsentinel/raftsentinel/discovery"
)

// Drop-in mode defaults.
const (
	// RaftPortOffset: in drop-in mode the Raft port is the Sentinel port
	// plus this (as Redis Cluster's bus port is the data port + 10000),
	// and the internal HTTP port is the Sentinel port plus twice this.
	RaftPortOffset = 10000
	// DefaultExpectedMonitors is the group size a fresh drop-in monitor
	// waits for before the group may form, when the sentinel.conf has no
	// known-sentinel lines.
	DefaultExpectedMonitors = discovery.DefaultExpected
	// DefaultForgetAfter is how long a member may go unheard (no hello)
	// before the leader removes it from the group.
	DefaultForgetAfter = discovery.DefaultForgetAfter
	// DefaultHelloPeriod is how often hellos are published (Sentinel: 2s).
	DefaultHelloPeriod = discovery.DefaultPeriod
)

// DropIn holds the settings of a monitor run from a Redis sentinel.conf
// (drop-in mode) that have no YAML key: the group forms itself from hello
// messages exchanged through the monitored masters, and the file's state
// and script lines are kept here.
type DropIn struct {
	// Enabled: this monitor was configured from a sentinel.conf and has
	// no peers: it discovers the others through hello messages.
	Enabled bool
	// ConfPath is the sentinel.conf it was started from.
	ConfPath string
	// MyID is the file's `sentinel myid` (40 hex), "" if none.
	MyID string
	// CurrentEpoch is the file's `sentinel current-epoch`.
	CurrentEpoch uint64
	// KnownSentinels are the distinct run ids of `sentinel known-sentinel`
	// lines (any master), this monitor's own excluded.
	KnownSentinels []string
	// SentinelConfig are the file's group-wide SENTINEL CONFIG settings
	// (resolve-hostnames, announce-hostnames) as key/value pairs, committed
	// once the group exists unless already set.
	SentinelConfig [][2]string
	// KnownReplicas are the `sentinel known-replica` addresses by master.
	KnownReplicas map[string][]string
	// ExpectedMonitors is the group size a fresh monitor waits to hear
	// from before the group may form: len(KnownSentinels)+1, or
	// DefaultExpectedMonitors when the file lists none.
	ExpectedMonitors int
	// ForgetAfter: a member unheard for longer is removed by the leader.
	ForgetAfter time.Duration
	// HelloPeriod is the period of hello messages.
	HelloPeriod time.Duration
	// NotificationScripts and ReconfigScripts are the scripts by master.
	NotificationScripts map[string]string
	ReconfigScripts     map[string]string
	// RebootDownAfter are the masters' master-reboot-down-after-period
	// values (seeded with the master, as its other settings).
	RebootDownAfter map[string]time.Duration
	// RenameCommands are the masters' `sentinel rename-command` lines:
	// master -> lower-case command -> the name its nodes know it by.
	RenameCommands map[string]map[string]string
	// DenyScriptsReconfig refuses SENTINEL SET of script paths (default
	// yes, as Sentinel).
	DenyScriptsReconfig bool
	// LogFile and PidFile are the file's logfile and pidfile ("" = none).
	LogFile, PidFile string
}

// LoadSentinelConf builds the configuration of a monitor run from the Redis
// sentinel.conf at path (drop-in mode): [ImportSentinelConf] reads the
// file, then RAFTSENTINEL_* variables and the set flags of fs override it
// as in [Load] (fs may be nil).
//
// What the file does not carry is derived:
//
//   - node-id is the file's `sentinel myid`; without one it is left empty
//     and the caller fills it in (and persists it) before validating;
//   - data-dir is <dir>/raftsentinel, dir being the file's `dir` (default:
//     the working directory, as Sentinel);
//   - a relative logfile, pidfile, notification-script or
//     client-reconfig-script is resolved against that dir, wherever the
//     dir line is in the file: Sentinel chdir()s to dir while loading and
//     opens the log, writes the pid file and runs scripts afterwards, from
//     the last dir. Monitors started from one working directory with
//     different dirs therefore write different log files;
//   - the advertised host is `sentinel announce-ip`, else a specific
//     `bind` address, else localIP(first master's address) (the local
//     address this host reaches the master from, as Sentinel learns its
//     own address), else 127.0.0.1; announce uses it with the file's port;
//   - raft-addr is that host and port+10000 ([RaftPortOffset]), http-addr
//     the same host and port+20000 (so Sentinels on adjacent ports of one
//     host, 26379-26381, do not collide). Override them with --raft-addr and
//     --http-addr (or RAFTSENTINEL_RAFT_ADDR, RAFTSENTINEL_HTTP_ADDR).
//
// It returns the notes of the import (lines ignored) and does not
// validate: the caller calls [Config.Validate] once node-id is set.
// Errors wrap [ErrInvalid].
func LoadSentinelConf(path string, fs *pflag.FlagSet, localIP func(masterAddr string) string) (Config, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	im, err := ImportSentinelConf(f)
	f.Close()
	if err != nil {
		return Config{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	c := im.Config
	c.DropIn.Enabled = true
	c.DropIn.ConfPath = path
	c.NodeID = c.DropIn.MyID
	c.DropIn.deriveGroup()
	c.resolveInDir()
	port, err := c.deriveDropInAddrs(path, localIP)
	if err != nil {
		return Config{}, nil, err
	}
	c, err = overlay(c, "", fs)
	if err != nil {
		return Config{}, nil, err
	}
	if c.RaftAddr == "" || c.HTTPAddr == "" {
		return Config{}, nil, fmt.Errorf("%w: %s: port %d: raft-addr (port+%d) and http-addr (port+%d) cannot be derived above port %d: set --raft-addr and --http-addr",
			ErrInvalid, path, port, RaftPortOffset, 2*RaftPortOffset, 65535-2*RaftPortOffset)
	}
	return c, im.Notes, nil
}

// deriveGroup fills in the discovery settings: the default hello period
// and forget-after, and the group size to wait for (the other known
// sentinels and this monitor, or DefaultExpectedMonitors when the file
// knows none).
func (d *DropIn) deriveGroup() {
	if d.ForgetAfter == 0 {
		d.ForgetAfter = DefaultForgetAfter
	}
	if d.HelloPeriod == 0 {
		d.HelloPeriod = DefaultHelloPeriod
	}
	known := 0
	for _, id := range d.KnownSentinels {
		if id != d.MyID {
			known++
		}
	}
	d.ExpectedMonitors = known + 1
	if known == 0 {
		d.ExpectedMonitors = DefaultExpectedMonitors
	}
}

// resolveInDir makes the data directory <dir>/raftsentinel, dir being the
// file's dir made absolute (the working directory without one), and
// resolves relative logfile, pidfile and script paths against dir.
func (c *Config) resolveInDir() {
	dir := c.DataDir
	if dir == "" {
		dir = "."
	}
	if !filepath.IsAbs(dir) {
		// Sentinel resolves dir against its working directory.
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
	}
	c.DataDir = filepath.Join(dir, "raftsentinel")
	inDir := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.DropIn.LogFile, c.DropIn.PidFile = inDir(c.DropIn.LogFile), inDir(c.DropIn.PidFile)
	for _, scripts := range []map[string]string{c.DropIn.NotificationScripts, c.DropIn.ReconfigScripts} {
		for m, p := range scripts {
			scripts[m] = inDir(p)
		}
	}
}

// deriveDropInAddrs sets the announced host (see LoadSentinelConf) and the
// raft and http addresses derived from the Sentinel port, which it
// returns; it leaves them empty when the port is too high to derive them.
func (c *Config) deriveDropInAddrs(path string, localIP func(masterAddr string) string) (int, error) {
	lhost, lport, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: port/bind: %w", ErrInvalid, path, err)
	}
	if lport == "0" && c.TLSPort > 0 {
		// TLS only ("port 0", "tls-port N"): the plain port is off and
		// the derived ports count from the TLS port.
		c.Listen, lport = "", strconv.Itoa(c.TLSPort)
	}
	port, err := strconv.Atoi(lport)
	if err != nil || port < 1 {
		return 0, fmt.Errorf("%w: %s: port %q: must be between 1 and 65535", ErrInvalid, path, lport)
	}
	ahost, aport, _ := net.SplitHostPort(c.Announce)
	host := ahost
	if isUnspecifiedHost(lhost) && ahost == "127.0.0.1" && localIP != nil && len(c.Masters) > 0 {
		// No announce-ip, no specific bind: the address we reach the
		// master from, as Sentinel announces itself.
		if ip := localIP(c.Masters[0].Addr); ip != "" {
			host = ip
		}
	}
	c.Announce = net.JoinHostPort(host, aport)
	if port+2*RaftPortOffset <= 65535 {
		c.RaftAddr = net.JoinHostPort(host, strconv.Itoa(port+RaftPortOffset))
		c.HTTPAddr = net.JoinHostPort(host, strconv.Itoa(port+2*RaftPortOffset))
	}
	return port, nil
}
