package sentinelconf

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// LineError is a line Parse refuses.
type LineError struct {
	Line int      // 1-based
	Args []string // the line's arguments; nil when the line does not split
	Err  error    // why
}

// Error is "line <n> (<arguments>): <why>", or "line <n>: <why>" for a
// line that does not split into arguments.
func (e *LineError) Error() string {
	if e.Args == nil {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d (%s): %v", e.Line, strings.Join(e.Args, " "), e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// Parse reads a Redis Sentinel configuration file into a File:
//
//   - port, bind, dir (chained), requirepass, logfile, pidfile, loglevel,
//     the tls-* lines and `user` lines (see readUser) set the server
//     settings;
//   - each `sentinel monitor` adds a master, and the other per-master
//     directives (down-after-milliseconds, failover-timeout,
//     parallel-syncs, auth-pass, auth-user, master-reboot-down-after-period,
//     rename-command, notification-script, client-reconfig-script) set
//     its settings, wherever they are in the file; naming a master with
//     no monitor line is an error;
//   - announce-ip/-port, deny-scripts-reconfig, resolve-hostnames and
//     announce-hostnames set the group-wide settings;
//   - the state lines (myid, current-epoch, config-epoch, leader-epoch,
//     known-replica, known-sentinel) fill State.
//
// A line raftsentinel does not take as it is written (Sentinel's state,
// server settings without an equivalent, settings used in drop-in mode
// only) gets a note in File.Notes. Every refused line is a *LineError; an
// error reading r is returned as it is.
func Parse(r io.Reader) (*File, error) {
	lines, err := splitLines(r)
	if err != nil {
		return nil, err
	}
	p := &parser{f: &File{Port: DefaultPort, DenyScriptsReconfig: true}, masters: map[string]*Master{}}
	// Two passes: the monitor lines first, so the other sentinel
	// directives may come in any order.
	for _, l := range lines {
		if l.isMonitor() {
			if err := readMonitor(p, l); err != nil {
				return nil, err
			}
		}
	}
	for _, l := range lines {
		if len(l.args) > 0 && !l.isMonitor() {
			if err := p.read(l); err != nil {
				return nil, err
			}
		}
	}
	for _, name := range p.order {
		p.f.Masters = append(p.f.Masters, *p.masters[name])
	}
	return p.f, nil
}

// line is one line of the file, split into arguments.
type line struct {
	n    int
	args []string
}

func splitLines(r io.Reader) ([]line, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var lines []line
	for n := 1; sc.Scan(); n++ {
		args, err := SplitLine(sc.Text())
		if err != nil {
			return nil, &LineError{Line: n, Err: err}
		}
		lines = append(lines, line{n: n, args: args})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read sentinel.conf: %w", err)
	}
	return lines, nil
}

func (l line) isMonitor() bool {
	return len(l.args) >= 2 && strings.EqualFold(l.args[0], "sentinel") && strings.EqualFold(l.args[1], "monitor")
}

// errorf refuses the line.
func (l line) errorf(format string, a ...any) error {
	return &LineError{Line: l.n, Args: l.args, Err: fmt.Errorf(format, a...)}
}

// refuse refuses the line for err.
func (l line) refuse(err error) error {
	return &LineError{Line: l.n, Args: l.args, Err: err}
}

// parser is the state of one Parse.
type parser struct {
	f       *File
	masters map[string]*Master
	order   []string // master names in file order
}

// note records why a line is not taken as it is written.
func (p *parser) note(l line, why string) {
	p.f.Notes = append(p.f.Notes, fmt.Sprintf("line %d: %s: %s", l.n, strings.Join(l.args, " "), why))
}

// A directive reads the lines of one server directive that have between
// min and max arguments, the directive included (max 0: no limit); a line
// with another count is noted as having no equivalent.
type directive struct {
	min, max int
	read     func(p *parser, l line) error
}

// directives are the server directives Parse reads, by lower-case name.
var directives = map[string]directive{
	"port":             {2, 2, func(p *parser, l line) error { p.f.Port = l.args[1]; return nil }},
	"bind":             {2, 0, readBind},
	"dir":              {2, 2, readDir},
	"requirepass":      {2, 2, setString(func(f *File) *string { return &f.RequirePass }, false)},
	"logfile":          {2, 2, setString(func(f *File) *string { return &f.LogFile }, false)},
	"pidfile":          {2, 2, setString(func(f *File) *string { return &f.PidFile }, false)},
	"daemonize":        {2, 2, readDaemonize},
	"loglevel":         {2, 2, readLogLevel},
	"tls-cert-file":    {2, 2, setString(func(f *File) *string { return &f.TLS.CertFile }, false)},
	"tls-key-file":     {2, 2, setString(func(f *File) *string { return &f.TLS.KeyFile }, false)},
	"tls-ca-cert-file": {2, 2, setString(func(f *File) *string { return &f.TLS.CACertFile }, false)},
	"tls-auth-clients": {2, 2, setString(func(f *File) *string { return &f.TLS.AuthClients }, true)},
	"tls-replication":  {2, 2, setString(func(f *File) *string { return &f.TLS.Replication }, true)},
	"tls-port":         {2, 2, readTLSPort},
	"user":             {2, 0, readUser},
	"sentinel":         {2, 0, readSentinel},
}

// read reads one line that is not a monitor line.
func (p *parser) read(l line) error {
	d, ok := directives[strings.ToLower(l.args[0])]
	if !ok || len(l.args) < d.min || (d.max > 0 && len(l.args) > d.max) {
		p.note(l, "server setting without a raftsentinel equivalent; ignored")
		return nil
	}
	return d.read(p, l)
}

// setString reads a one-argument directive into the field field returns,
// lower-cased if lower.
func setString(field func(*File) *string, lower bool) func(*parser, line) error {
	return func(p *parser, l line) error {
		v := l.args[1]
		if lower {
			v = strings.ToLower(v)
		}
		*field(p.f) = v
		return nil
	}
}

func readBind(p *parser, l line) error {
	p.f.Bind = strings.TrimPrefix(l.args[1], "-") // "-addr": optional address (Redis 7)
	if len(l.args) > 2 {
		p.note(l, "only the first bind address is used")
	}
	return nil
}

func readDir(p *parser, l line) error {
	// Sentinel chdir()s at each dir line, so a relative one is relative
	// to the dir before it.
	if p.f.Dir != "" && !filepath.IsAbs(l.args[1]) {
		p.f.Dir = filepath.Join(p.f.Dir, l.args[1])
	} else {
		p.f.Dir = l.args[1]
	}
	return nil
}

func readDaemonize(p *parser, l line) error {
	if strings.EqualFold(l.args[1], "yes") {
		p.note(l, "raftsentinel does not fork; it runs in the foreground (use systemd or a supervisor)")
	} else {
		p.note(l, "raftsentinel runs in the foreground")
	}
	return nil
}

func readLogLevel(p *parser, l line) error {
	v := strings.ToLower(l.args[1])
	if _, ok := logLevels[v]; !ok {
		return l.errorf("unknown loglevel %q", l.args[1])
	}
	p.f.LogLevel = v
	return nil
}

func readTLSPort(p *parser, l line) error {
	n, err := strconv.Atoi(l.args[1])
	if err != nil || n < 0 || n > 65535 {
		return l.errorf("tls-port must be between 0 and 65535")
	}
	p.f.TLS.Port = n
	return nil
}

// sentinelDirectives read `sentinel <directive> ...` lines, by lower-case
// directive; a directive not here is noted as having no equivalent.
var sentinelDirectives = map[string]func(p *parser, l line) error{
	"monitor":                         readMonitor,
	"down-after-milliseconds":         readDuration(func(m *Master) *time.Duration { return &m.DownAfter }),
	"failover-timeout":                readDuration(func(m *Master) *time.Duration { return &m.FailoverTimeout }),
	"master-reboot-down-after-period": readRebootDownAfter,
	"parallel-syncs":                  readParallelSyncs,
	"auth-pass":                       readAuth(func(m *Master) *string { return &m.AuthPass }),
	"auth-user":                       readAuth(func(m *Master) *string { return &m.AuthUser }),
	"rename-command":                  readRenameCommand,
	"announce-ip":                     readAnnounce(func(f *File) *string { return &f.AnnounceIP }),
	"announce-port":                   readAnnounce(func(f *File) *string { return &f.AnnouncePort }),
	"myid":                            readState,
	"current-epoch":                   readState,
	"config-epoch":                    readState,
	"leader-epoch":                    readState,
	"known-replica":                   readState,
	"known-slave":                     readState,
	"known-sentinel":                  readState,
	NotificationScript:                readScript,
	ReconfigScript:                    readScript,
	"deny-scripts-reconfig":           readDenyScriptsReconfig,
	"resolve-hostnames":               readHostnames,
	"announce-hostnames":              readHostnames,
	"sentinel-user":                   noteClusterSecret,
	"sentinel-pass":                   noteClusterSecret,
}

func readSentinel(p *parser, l line) error {
	read, ok := sentinelDirectives[strings.ToLower(l.args[1])]
	if !ok {
		p.note(l, "no raftsentinel equivalent; ignored")
		return nil
	}
	return read(p, l)
}

// sub is the line's sentinel directive, lower-cased.
func (l line) sub() string { return strings.ToLower(l.args[1]) }

// master returns the master a per-master line names.
func (p *parser) master(l line) (*Master, error) {
	if len(l.args) < 3 {
		return nil, l.errorf("missing master name")
	}
	m, ok := p.masters[l.args[2]]
	if !ok {
		return nil, l.errorf("no `sentinel monitor %s` line", l.args[2])
	}
	return m, nil
}

// masterWith is master for a line that must have n arguments, refused
// with why otherwise.
func (p *parser) masterWith(l line, n int, why string) (*Master, error) {
	m, err := p.master(l)
	if err != nil {
		return nil, err
	}
	if len(l.args) != n {
		return nil, l.errorf("%s", why)
	}
	return m, nil
}

// millis reads the line's argument i as milliseconds.
func (l line) millis(i int) (time.Duration, error) {
	if len(l.args) <= i {
		return 0, l.errorf("missing value")
	}
	v, err := strconv.ParseInt(l.args[i], 10, 64)
	if err != nil || v < 0 {
		return 0, l.errorf("%q is not a number of milliseconds", l.args[i])
	}
	return time.Duration(v) * time.Millisecond, nil
}

func readMonitor(p *parser, l line) error {
	if len(l.args) != 6 {
		return l.errorf("want: sentinel monitor <name> <ip> <port> <quorum>")
	}
	q, err := strconv.Atoi(l.args[5])
	if err != nil || q < 1 {
		return l.errorf("quorum %q must be 1 or greater", l.args[5])
	}
	name := l.args[2]
	if _, dup := p.masters[name]; dup {
		return l.errorf("duplicate master name %q", name)
	}
	p.masters[name] = &Master{Name: name, Addr: net.JoinHostPort(l.args[3], l.args[4]), Quorum: q,
		DownAfter: DefaultDownAfter, FailoverTimeout: DefaultFailoverTimeout, ParallelSyncs: DefaultParallelSyncs}
	p.order = append(p.order, name)
	return nil
}

// readDuration reads `sentinel <directive> <master> <milliseconds>` into
// the master's field.
func readDuration(field func(*Master) *time.Duration) func(*parser, line) error {
	return func(p *parser, l line) error {
		m, err := p.master(l)
		if err != nil {
			return err
		}
		d, err := l.millis(3)
		if err != nil {
			return err
		}
		*field(m) = d
		return nil
	}
}

func readRebootDownAfter(p *parser, l line) error {
	if err := readDuration(func(m *Master) *time.Duration { return &m.RebootDownAfter })(p, l); err != nil {
		return err
	}
	p.note(l, "master-reboot-down-after-period applies in drop-in mode (raftsentinel <sentinel.conf>); otherwise set it with SENTINEL SET")
	return nil
}

func readParallelSyncs(p *parser, l line) error {
	m, err := p.masterWith(l, 4, "missing value")
	if err != nil {
		return err
	}
	v, err := strconv.Atoi(l.args[3])
	if err != nil || v < 1 {
		return l.errorf("parallel-syncs %q must be 1 or greater", l.args[3])
	}
	m.ParallelSyncs = v
	return nil
}

func readAuth(field func(*Master) *string) func(*parser, line) error {
	return func(p *parser, l line) error {
		m, err := p.masterWith(l, 4, "missing value")
		if err != nil {
			return err
		}
		*field(m) = l.args[3]
		return nil
	}
}

// readRenameCommand reads `sentinel rename-command <master> <command>
// <renamed>`: the name the master's nodes know that command by.
func readRenameCommand(p *parser, l line) error {
	m, err := p.master(l)
	if err != nil {
		return err
	}
	if len(l.args) != 5 || l.args[3] == "" || l.args[4] == "" {
		return l.errorf("want: sentinel rename-command <master> <command> <renamed>")
	}
	if m.RenameCommands == nil {
		m.RenameCommands = map[string]string{}
	}
	m.RenameCommands[strings.ToLower(l.args[3])] = l.args[4]
	return nil
}

// readAnnounce reads announce-ip or announce-port; a line without exactly
// one value is ignored.
func readAnnounce(field func(*File) *string) func(*parser, line) error {
	return func(p *parser, l line) error {
		if len(l.args) == 3 {
			*field(p.f) = l.args[2]
		}
		return nil
	}
}

func readScript(p *parser, l line) error {
	m, err := p.masterWith(l, 4, fmt.Sprintf("want: sentinel %s <master-name> <script-path>", l.sub()))
	if err != nil {
		return err
	}
	if m.Scripts == nil {
		m.Scripts = map[string]string{}
	}
	m.Scripts[l.sub()] = l.args[3]
	p.note(l, "scripts run in drop-in mode only (raftsentinel <sentinel.conf>)")
	return nil
}

// yesNo reports whether the line is `sentinel <directive> yes|no`, and
// which.
func (l line) yesNo() (yes, ok bool) {
	if len(l.args) != 3 || (!strings.EqualFold(l.args[2], "yes") && !strings.EqualFold(l.args[2], "no")) {
		return false, false
	}
	return strings.EqualFold(l.args[2], "yes"), true
}

func readDenyScriptsReconfig(p *parser, l line) error {
	yes, ok := l.yesNo()
	if !ok {
		return l.errorf("want: sentinel deny-scripts-reconfig yes|no")
	}
	p.f.DenyScriptsReconfig = yes
	if !yes {
		p.note(l, "script paths may be set at run time with SENTINEL SET: each for this monitor alone, "+
			"never replicated to the other monitors (each host runs only the paths it was given)")
	}
	return nil
}

// readHostnames reads resolve-hostnames and announce-hostnames: group-wide
// SENTINEL CONFIG settings.
func readHostnames(p *parser, l line) error {
	if _, ok := l.yesNo(); !ok {
		return l.errorf("want: sentinel %s yes|no", l.sub())
	}
	p.f.SentinelConfig = append(p.f.SentinelConfig, [2]string{l.sub(), strings.ToLower(l.args[2])})
	return nil
}

func noteClusterSecret(p *parser, l line) error {
	p.note(l, "not needed: monitors prove the cluster secret (cluster-secret) to each other instead")
	return nil
}
