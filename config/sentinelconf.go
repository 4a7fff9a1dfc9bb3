package config

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/sentinelconf"
)

// Imported is the result of ImportSentinelConf: the settings a Redis
// sentinel.conf carries, as a raftsentinel configuration, and a note for
// every line that has no raftsentinel equivalent or is state.
type Imported struct {
	Config Config
	Notes  []string
}

// ImportSentinelConf reads a Redis Sentinel configuration file and returns
// the matching raftsentinel settings: each `sentinel monitor` becomes a
// master (with its down-after-milliseconds, failover-timeout,
// parallel-syncs, auth-pass, auth-user and master-reboot-down-after-period),
// `port`/`bind` the listen address, `sentinel announce-ip/-port` the
// announce address, `dir` the data directory (several dir lines chain,
// as Sentinel's successive chdir()s: a relative one is relative to the
// previous one), `requirepass` the password,
// `user` lines the users with their command and channel rules (see
// importUser).
// Sentinel's state lines (myid, epochs, known-replica, known-sentinel) and
// server lines without an equivalent are skipped with a note. The monitor
// id, the Raft addresses and the peers are not in a sentinel.conf: the
// caller fills them in. Errors name the line.
func ImportSentinelConf(r io.Reader) (Imported, error) {
	out := Imported{Config: Default()}
	c := &out.Config
	masters := map[string]*Master{}
	var order []string
	port, bind, announceIP, announcePort := "26379", "", "", ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var lines [][]string
	for n := 1; sc.Scan(); n++ {
		args, err := sentinelconf.SplitLine(sc.Text())
		if err != nil {
			return Imported{}, fmt.Errorf("%w: line %d: %w", ErrInvalid, n, err)
		}
		lines = append(lines, args)
	}
	if err := sc.Err(); err != nil {
		return Imported{}, fmt.Errorf("read sentinel.conf: %w", err)
	}
	isMonitor := func(args []string) bool {
		return len(args) >= 2 && strings.EqualFold(args[0], "sentinel") && strings.EqualFold(args[1], "monitor")
	}
	// Two passes: the monitor lines first, so the other sentinel
	// directives may come in any order.
	for i := range 2 * len(lines) {
		n, args := i%len(lines)+1, lines[i%len(lines)]
		if len(args) == 0 || (i < len(lines)) != isMonitor(args) {
			continue
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: line %d (%s): %s", ErrInvalid, n, strings.Join(args, " "), fmt.Sprintf(format, a...))
		}
		note := func(why string) {
			out.Notes = append(out.Notes, fmt.Sprintf("line %d: %s: %s", n, strings.Join(args, " "), why))
		}
		key := strings.ToLower(args[0])
		switch {
		case key == "port" && len(args) == 2:
			port = args[1]
		case key == "bind" && len(args) >= 2:
			bind = strings.TrimPrefix(args[1], "-") // "-addr": optional address (Redis 7)
			if len(args) > 2 {
				note("only the first bind address is used")
			}
		case key == "dir" && len(args) == 2:
			// Sentinel chdir()s at each dir line, so a relative one is
			// relative to the dir before it.
			if c.DataDir != "" && !filepath.IsAbs(args[1]) {
				c.DataDir = filepath.Join(c.DataDir, args[1])
			} else {
				c.DataDir = args[1]
			}
		case key == "requirepass" && len(args) == 2:
			c.RequirePass = args[1]
		case key == "logfile" && len(args) == 2:
			c.DropIn.LogFile = args[1]
		case key == "pidfile" && len(args) == 2:
			c.DropIn.PidFile = args[1]
		case key == "daemonize" && len(args) == 2:
			if strings.EqualFold(args[1], "yes") {
				note("raftsentinel does not fork; it runs in the foreground (use systemd or a supervisor)")
			} else {
				note("raftsentinel runs in the foreground")
			}
		case key == "loglevel" && len(args) == 2:
			switch strings.ToLower(args[1]) {
			case "debug", "verbose":
				c.Log.Level = "debug"
			case "notice":
				c.Log.Level = "info"
			case "warning":
				c.Log.Level = "warn"
			default:
				return Imported{}, bad("unknown loglevel %q", args[1])
			}
		case (key == "tls-cert-file" || key == "tls-key-file" || key == "tls-ca-cert-file" ||
			key == "tls-auth-clients" || key == "tls-replication") && len(args) == 2:
			// Same names, same meaning: raftsentinel's TLS keys are Redis'.
			v := args[1]
			if key == "tls-auth-clients" || key == "tls-replication" {
				v = strings.ToLower(v)
			}
			switch key {
			case "tls-cert-file":
				c.TLSCertFile = v
			case "tls-key-file":
				c.TLSKeyFile = v
			case "tls-ca-cert-file":
				c.TLSCACertFile = v
			case "tls-auth-clients":
				c.TLSAuthClients = v
			case "tls-replication":
				c.TLSReplication = v
			}
		case key == "tls-port" && len(args) == 2:
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 || n > 65535 {
				return Imported{}, bad("tls-port must be between 0 and 65535")
			}
			c.TLSPort = n
		case key == "user" && len(args) >= 2:
			if err := importUser(c, args, note); err != nil {
				return Imported{}, bad("%v", err)
			}
		case key == "sentinel" && len(args) >= 2:
			sub := strings.ToLower(args[1])
			get := func() (*Master, error) {
				if len(args) < 3 {
					return nil, bad("missing master name")
				}
				m, ok := masters[args[2]]
				if !ok {
					return nil, bad("no `sentinel monitor %s` line", args[2])
				}
				return m, nil
			}
			ms := func(i int) (time.Duration, error) {
				if len(args) <= i {
					return 0, bad("missing value")
				}
				v, err := strconv.ParseInt(args[i], 10, 64)
				if err != nil || v < 0 {
					return 0, bad("%q is not a number of milliseconds", args[i])
				}
				return time.Duration(v) * time.Millisecond, nil
			}
			switch sub {
			case "monitor":
				if len(args) != 6 {
					return Imported{}, bad("want: sentinel monitor <name> <ip> <port> <quorum>")
				}
				q, err := strconv.Atoi(args[5])
				if err != nil || q < 1 {
					return Imported{}, bad("quorum %q must be 1 or greater", args[5])
				}
				if _, dup := masters[args[2]]; dup {
					return Imported{}, bad("duplicate master name %q", args[2])
				}
				m := DefaultMaster()
				m.Name, m.Addr, m.Quorum = args[2], net.JoinHostPort(args[3], args[4]), q
				m.DownAfter = 30 * time.Second // Sentinel's default, kept for an imported file
				masters[args[2]] = &m
				order = append(order, args[2])
			case "down-after-milliseconds", "failover-timeout", "master-reboot-down-after-period":
				m, err := get()
				if err != nil {
					return Imported{}, err
				}
				d, err := ms(3)
				if err != nil {
					return Imported{}, err
				}
				switch sub {
				case "down-after-milliseconds":
					m.DownAfter = d
				case "failover-timeout":
					m.FailoverTimeout = d
				default:
					if c.DropIn.RebootDownAfter == nil {
						c.DropIn.RebootDownAfter = map[string]time.Duration{}
					}
					c.DropIn.RebootDownAfter[m.Name] = d
					note("master-reboot-down-after-period applies in drop-in mode (raftsentinel <sentinel.conf>); otherwise set it with SENTINEL SET")
				}
			case "parallel-syncs":
				m, err := get()
				if err != nil {
					return Imported{}, err
				}
				if len(args) != 4 {
					return Imported{}, bad("missing value")
				}
				v, err := strconv.Atoi(args[3])
				if err != nil || v < 1 {
					return Imported{}, bad("parallel-syncs %q must be 1 or greater", args[3])
				}
				m.ParallelSyncs = v
			case "auth-pass", "auth-user":
				m, err := get()
				if err != nil {
					return Imported{}, err
				}
				if len(args) != 4 {
					return Imported{}, bad("missing value")
				}
				if sub == "auth-pass" {
					m.AuthPass = args[3]
				} else {
					m.AuthUser = args[3]
				}
			case "rename-command":
				// sentinel rename-command <master> <command> <renamed>:
				// the name the master's nodes know that command by.
				if _, err := get(); err != nil {
					return Imported{}, err
				}
				if len(args) != 5 || args[3] == "" || args[4] == "" {
					return Imported{}, bad("want: sentinel rename-command <master> <command> <renamed>")
				}
				if c.DropIn.RenameCommands == nil {
					c.DropIn.RenameCommands = map[string]map[string]string{}
				}
				if c.DropIn.RenameCommands[args[2]] == nil {
					c.DropIn.RenameCommands[args[2]] = map[string]string{}
				}
				c.DropIn.RenameCommands[args[2]][strings.ToLower(args[3])] = args[4]
			case "announce-ip":
				if len(args) == 3 {
					announceIP = args[2]
				}
			case "announce-port":
				if len(args) == 3 {
					announcePort = args[2]
				}
			case "myid", "current-epoch", "config-epoch", "leader-epoch", "known-replica", "known-slave", "known-sentinel":
				if err := c.DropIn.state(sub, args); err != nil {
					return Imported{}, bad("%v", err)
				}
				note("Sentinel state: raftsentinel keeps its state in Raft")
			case "notification-script", "client-reconfig-script":
				m, err := get()
				if err != nil {
					return Imported{}, err
				}
				if len(args) != 4 {
					return Imported{}, bad("want: sentinel %s <master-name> <script-path>", sub)
				}
				c.DropIn.addScript(m.Name, sub, args[3])
				note("scripts run in drop-in mode only (raftsentinel <sentinel.conf>)")
			case "deny-scripts-reconfig":
				if len(args) != 3 || (!strings.EqualFold(args[2], "yes") && !strings.EqualFold(args[2], "no")) {
					return Imported{}, bad("want: sentinel deny-scripts-reconfig yes|no")
				}
				c.DropIn.DenyScriptsReconfig = strings.EqualFold(args[2], "yes")
				c.DropIn.denySeen = true
				if !c.DropIn.DenyScriptsReconfig {
					note("script paths may be set at run time with SENTINEL SET: each for this monitor alone, " +
						"never replicated to the other monitors (each host runs only the paths it was given)")
				}
			case "resolve-hostnames", "announce-hostnames":
				if len(args) != 3 || (!strings.EqualFold(args[2], "yes") && !strings.EqualFold(args[2], "no")) {
					return Imported{}, bad("want: sentinel %s yes|no", sub)
				}
				// Group-wide SENTINEL CONFIG settings: committed once the
				// group exists (drop-in mode), unless set at run time.
				c.DropIn.SentinelConfig = append(c.DropIn.SentinelConfig, [2]string{sub, strings.ToLower(args[2])})
			case "sentinel-user", "sentinel-pass":
				note("not needed: monitors prove the cluster secret (cluster-secret) to each other instead")
			default:
				note("no raftsentinel equivalent; ignored")
			}
		default:
			note("server setting without a raftsentinel equivalent; ignored")
		}
	}
	for _, name := range order {
		c.Masters = append(c.Masters, *masters[name])
	}
	host := bind
	if host == "" || host == "*" {
		host = "0.0.0.0"
	}
	c.Listen = net.JoinHostPort(host, port)
	c.Announce = deriveAnnounce(c.Listen)
	if port == "0" && c.TLSPort > 0 {
		// "port 0" with a tls-port: TLS only, as in Redis. The announced
		// address and the derived ports take the TLS port.
		c.Announce = deriveAnnounce(net.JoinHostPort(host, strconv.Itoa(c.TLSPort)))
	}
	if announceIP != "" || announcePort != "" {
		h, p, _ := net.SplitHostPort(c.Announce)
		if announceIP != "" {
			h = announceIP
		}
		if announcePort != "" && announcePort != "0" {
			p = announcePort
		}
		c.Announce = net.JoinHostPort(h, p)
	}
	return out, nil
}
