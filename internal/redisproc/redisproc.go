// Package redisproc runs real redis-server and redis-sentinel processes on
// loopback ports, for tests, the demo and benchmarks.
//
// Every process is started with its own config file in a caller-owned
// directory, in its own process group and (on Linux) with a parent-death
// signal, so a crashed test binary does not leave servers behind. A Server
// must always be closed; Close kills and reaps the process.
//
// All Server methods are safe for concurrent use.
package redisproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled is returned (wrapped, with installation advice) when a
// Redis binary cannot be found.
var ErrNotInstalled = errors.New("redisproc: redis-server not found")

// ErrNotRunning is returned by Pause and Resume when the process is not
// running.
var ErrNotRunning = errors.New("redisproc: process not running")

// ErrExited is returned (wrapped, with the tail of the process output) when
// a process exits before it answers PING.
var ErrExited = errors.New("redisproc: process exited before it was ready")

const installAdvice = "install it: apt-get install -y redis-server redis-sentinel redis-tools"

// pollInterval is the pause between two readiness probes.
const pollInterval = 10 * time.Millisecond

// portAttempts bounds the retries with a new port when the chosen free port
// was taken by someone else between FreePort and the bind.
const portAttempts = 5

// Binary returns the path of a Redis executable ("redis-server",
// "redis-sentinel" or "redis-cli"), looked up in PATH, then in /usr/bin and
// /usr/local/bin. The error wraps ErrNotInstalled.
func Binary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/bin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (looking for %q; %s)", ErrNotInstalled, name, installAdvice)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Start
// retries with another port if it is taken before redis-server binds it.
//
// The port is chosen below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), never from it: tests restart servers on
// their own port (a killed master, a removed monitor coming back), and a port
// of that range can be taken in between as the local port of any outbound
// connection (the monitors keep long-lived ones to every node), which made
// the restart fail with "address already in use". No port is handed out
// twice by one process.
func FreePort() (int, error) {
	lo, hi := portPool()
	for range 200 {
		port := lo + rand.IntN(hi-lo)
		if !handedOut.claim(port) {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // in use by something else: try another
		}
		if err := l.Close(); err != nil {
			return 0, fmt.Errorf("redisproc: find a free port: %w", err)
		}
		return port, nil
	}
	return 0, fmt.Errorf("redisproc: find a free port: none free among 200 tries in %d-%d", lo, hi-1)
}

// portPool is the range FreePort draws from: from 15000 up to the start of
// the ephemeral range (32768 when it cannot be read).
func portPool() (lo, hi int) {
	lo, hi = 15000, 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return lo, hi
	}
	first, err := strconv.Atoi(f[0])
	if err != nil || first <= 1024 {
		return lo, hi
	}
	if first-lo < 2000 { // a wide ephemeral range: take what lies below it
		lo = max(1025, first/2)
	}
	return lo, first
}

// portSet remembers the ports FreePort has handed out.
type portSet struct {
	mu    sync.Mutex
	ports map[int]bool
}

var handedOut = &portSet{ports: map[int]bool{}}

// claim marks port as handed out; false when it already was.
func (s *portSet) claim(port int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ports[port] {
		return false
	}
	s.ports[port] = true
	return true
}

// Options describe one redis-server.
type Options struct {
	Dir          string    // working dir (created if missing); required; holds redis.conf
	Port         int       // 0 = pick a free port (and retry with another if it was taken)
	ReplicaOf    string    // "host:port" to start as a replica, "" for a master
	Priority     int       // replica-priority; 0 means the default (100)
	NeverPromote bool      // replica-priority 0 (overrides Priority)
	Extra        []string  // extra config lines, e.g. "requirepass secret"
	Stdout       io.Writer // optional sink for the server's log (stdout and stderr)
	// RenameCommands adds one rename-command line per entry: command ->
	// its new name, "" to disable it. Start and Restart wait for the
	// renamed PING and check the process with the renamed INFO; a server
	// whose PING or INFO is disabled counts as ready once it answers.
	RenameCommands map[string]string

	// NoConfigFile passes the configuration as command-line arguments
	// instead of a file, so CONFIG REWRITE fails on this server (as on a
	// server started without a config file). Extra lines are passed as
	// arguments too.
	NoConfigFile bool
}

// Server is one running (or stopped) redis-server or redis-sentinel process.
type Server struct {
	bin      string
	args     []string // arguments after the binary (config file or config as args)
	dir      string
	confPath string // "" when NoConfigFile
	port     int
	sentinel bool
	stdout   io.Writer
	ping     string // the name PING is known by ("" = disabled)
	info     string // the name INFO is known by ("" = disabled)

	mu     sync.Mutex
	cmd    *exec.Cmd     // the current process; nil before the first start
	done   chan struct{} // closed when the current process has been reaped
	closed bool
	out    *tailBuffer
}

// Start writes <Dir>/redis.conf and starts redis-server on it, then waits
// until the server answers PING (bounded by ctx). When Port is 0 it picks a
// free port and retries with another if that one is taken meanwhile.
func Start(ctx context.Context, opt Options) (*Server, error) {
	if opt.Dir == "" {
		return nil, errors.New("redisproc: Options.Dir is required")
	}
	bin, err := Binary("redis-server")
	if err != nil {
		return nil, err
	}
	dir, err := prepareDir(opt.Dir)
	if err != nil {
		return nil, err
	}
	var replHost, replPort string
	if opt.ReplicaOf != "" {
		replHost, replPort, err = net.SplitHostPort(opt.ReplicaOf)
		if err != nil {
			return nil, fmt.Errorf("redisproc: ReplicaOf %q: %w", opt.ReplicaOf, err)
		}
	}
	build := func(port int) (*Server, error) {
		s := &Server{bin: bin, dir: dir, port: port, stdout: opt.Stdout, ping: "PING", info: "INFO"}
		for from, to := range opt.RenameCommands {
			switch strings.ToUpper(from) {
			case "PING":
				s.ping = to
			case "INFO":
				s.info = to
			}
		}
		lines := serverLines(opt, port, dir, replHost, replPort)
		if opt.NoConfigFile {
			s.args = confArgs(lines, opt.Extra)
			return s, nil
		}
		s.confPath = filepath.Join(dir, "redis.conf")
		if err := writeConf(s.confPath, lines, opt.Extra); err != nil {
			return nil, err
		}
		s.args = []string{s.confPath}
		return s, nil
	}
	return startWithPortRetry(ctx, opt.Port, build)
}

// serverLines is the configuration of a redis-server for opt on port.
func serverLines(opt Options, port int, dir, replHost, replPort string) [][]string {
	lines := [][]string{
		{"port", strconv.Itoa(port)},
		{"bind", "127.0.0.1"},
		{"dir", dir},
		{"daemonize", "no"},
		{"save", `""`},
		{"appendonly", "no"},
		{"protected-mode", "no"},
		{"loglevel", "warning"},
		{"logfile", `""`},
		// Replicas sync at once instead of waiting 5 s for more replicas.
		{"repl-diskless-sync-delay", "0"},
	}
	if opt.ReplicaOf != "" {
		lines = append(lines, []string{"replicaof", replHost, replPort})
	}
	for _, from := range slices.Sorted(maps.Keys(opt.RenameCommands)) {
		to := opt.RenameCommands[from]
		if to == "" {
			to = `""`
		}
		lines = append(lines, []string{"rename-command", from, to})
	}
	switch {
	case opt.NeverPromote:
		lines = append(lines, []string{"replica-priority", "0"})
	case opt.Priority > 0:
		lines = append(lines, []string{"replica-priority", strconv.Itoa(opt.Priority)})
	}
	return lines
}

// confArgs passes configuration lines (and extra "key value..." lines) as
// redis-server's --key value arguments; `""` becomes an empty argument.
func confArgs(lines [][]string, extra []string) []string {
	var args []string
	for _, l := range lines {
		args = append(args, "--"+l[0])
		for _, v := range l[1:] {
			if v == `""` {
				v = ""
			}
			args = append(args, v)
		}
	}
	for _, e := range extra {
		f := strings.Fields(e)
		if len(f) == 0 {
			continue
		}
		args = append(args, "--"+f[0])
		args = append(args, f[1:]...)
	}
	return args
}

// SentinelOptions describe one redis-sentinel monitoring one master.
type SentinelOptions struct {
	Dir             string        // working dir (created if missing); required; holds sentinel.conf
	Port            int           // 0 = pick a free port
	MasterName      string        // "" = "mymaster"
	MasterAddr      string        // host:port of the master; required
	Quorum          int           // 0 = 1
	DownAfter       time.Duration // 0 = Sentinel's default (30 s); rounded to ms
	FailoverTimeout time.Duration // 0 = Sentinel's default (180 s); rounded to ms
	ParallelSyncs   int           // 0 = Sentinel's default (1)
	AuthUser        string        // sentinel auth-user, "" = none
	AuthPass        string        // sentinel auth-pass, "" = none
	Extra           []string      // extra config lines
	Stdout          io.Writer     // optional log sink
	// Masters, when not empty, are the masters monitored, in this order,
	// each with the parameters above (Quorum to AuthPass); MasterName and
	// MasterAddr are then ignored.
	Masters []SentinelMaster
}

// SentinelMaster is one master of [SentinelOptions.Masters].
type SentinelMaster struct {
	Name string // the name it is monitored under; required
	Addr string // host:port; required
}

// StartSentinel writes <Dir>/sentinel.conf and runs redis-sentinel on it
// (or redis-server --sentinel when redis-sentinel is not installed), then
// waits until it answers PING. Sentinel rewrites that file as its state
// changes, so Restart keeps its epochs and known instances. The file
// monitors opt.Masters or, when that is empty, the one master MasterName
// at MasterAddr (see sentinelMasterLines).
func StartSentinel(ctx context.Context, opt SentinelOptions) (*Server, error) {
	if opt.Dir == "" {
		return nil, errors.New("redisproc: SentinelOptions.Dir is required")
	}
	masterLines, err := sentinelMasterLines(opt)
	if err != nil {
		return nil, err
	}
	var extraArgs []string
	bin, err := Binary("redis-sentinel")
	if err != nil {
		if bin, err = Binary("redis-server"); err != nil {
			return nil, err
		}
		extraArgs = []string{"--sentinel"}
	}
	dir, err := prepareDir(opt.Dir)
	if err != nil {
		return nil, err
	}
	build := func(p int) (*Server, error) {
		lines := [][]string{
			{"port", strconv.Itoa(p)},
			{"bind", "127.0.0.1"},
			{"dir", dir},
			{"daemonize", "no"},
			{"protected-mode", "no"},
			{"loglevel", "notice"},
			{"logfile", `""`},
		}
		lines = append(lines, masterLines...)
		s := &Server{bin: bin, dir: dir, port: p, sentinel: true, stdout: opt.Stdout}
		s.confPath = filepath.Join(dir, "sentinel.conf")
		if err := writeConf(s.confPath, lines, opt.Extra); err != nil {
			return nil, err
		}
		s.args = append([]string{s.confPath}, extraArgs...)
		return s, nil
	}
	return startWithPortRetry(ctx, opt.Port, build)
}

// sentinelMasterLines are the configuration lines, as words, of the
// masters of opt: for each of opt.Masters (or, when empty, the master
// MasterName, default "mymaster", at MasterAddr) "sentinel monitor <name>
// <host> <port> <quorum>" (quorum 0 = 1), then down-after-milliseconds,
// failover-timeout, parallel-syncs, auth-user and auth-pass lines for the
// parameters set. An address that is not host:port, an empty name, or a
// name given twice is an error.
func sentinelMasterLines(opt SentinelOptions) ([][]string, error) {
	masters := opt.Masters
	if len(masters) == 0 {
		name := opt.MasterName
		if name == "" {
			name = "mymaster"
		}
		masters = []SentinelMaster{{Name: name, Addr: opt.MasterAddr}}
	}
	quorum := strconv.Itoa(max(opt.Quorum, 1))
	seen := make(map[string]bool, len(masters))
	var lines [][]string
	for _, m := range masters {
		host, port, err := net.SplitHostPort(m.Addr)
		switch {
		case err != nil:
			return nil, fmt.Errorf("redisproc: master address %q: %w", m.Addr, err)
		case m.Name == "":
			return nil, fmt.Errorf("redisproc: master at %s: empty name", m.Addr)
		case seen[m.Name]:
			return nil, fmt.Errorf("redisproc: master name %q given twice", m.Name)
		}
		seen[m.Name] = true
		lines = append(lines, []string{"sentinel", "monitor", m.Name, host, port, quorum})
		param := func(key, value string) {
			lines = append(lines, []string{"sentinel", key, m.Name, value})
		}
		if opt.DownAfter > 0 {
			param("down-after-milliseconds", strconv.FormatInt(opt.DownAfter.Milliseconds(), 10))
		}
		if opt.FailoverTimeout > 0 {
			param("failover-timeout", strconv.FormatInt(opt.FailoverTimeout.Milliseconds(), 10))
		}
		if opt.ParallelSyncs > 0 {
			param("parallel-syncs", strconv.Itoa(opt.ParallelSyncs))
		}
		if opt.AuthUser != "" {
			param("auth-user", opt.AuthUser)
		}
		if opt.AuthPass != "" {
			param("auth-pass", opt.AuthPass)
		}
	}
	return lines, nil
}

// startWithPortRetry builds a Server for a port and starts it; with port 0
// it picks free ports and retries when the bind fails.
func startWithPortRetry(ctx context.Context, port int, build func(port int) (*Server, error)) (*Server, error) {
	attempts := 1
	if port == 0 {
		attempts = portAttempts
	}
	var lastErr error
	for i := 0; i < attempts; i++ {
		p := port
		if p == 0 {
			var err error
			if p, err = FreePort(); err != nil {
				return nil, err
			}
		}
		s, err := build(p)
		if err != nil {
			return nil, err
		}
		err = s.start(ctx)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if port != 0 || !errors.Is(err, errPortInUse) || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

var errPortInUse = errors.New("address already in use")

func prepareDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("redisproc: dir %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("redisproc: create dir: %w", err)
	}
	return abs, nil
}

// writeConf writes a Redis config file. Values are quoted when they
// contain spaces; `""` stays the empty string.
func writeConf(path string, lines [][]string, extra []string) error {
	var b strings.Builder
	b.WriteString("# written by redisproc; CONFIG REWRITE may change it\n")
	for _, l := range lines {
		for i, v := range l {
			if i > 0 {
				b.WriteByte(' ')
			}
			if v != `""` && strings.ContainsAny(v, " \t\"'") {
				v = strconv.Quote(v)
			}
			b.WriteString(v)
		}
		b.WriteByte('\n')
	}
	for _, e := range extra {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("redisproc: write config: %w", err)
	}
	return nil
}

// start launches the process and waits until it is ready. The caller must
// not hold s.mu.
func (s *Server) start(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("redisproc: server is closed")
	}
	if s.runningLocked() {
		s.mu.Unlock()
		return errors.New("redisproc: already running")
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.dir
	out := newTailBuffer(4096)
	var w io.Writer = out
	if s.stdout != nil {
		w = io.MultiWriter(out, s.stdout)
	}
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("redisproc: start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	s.cmd, s.done, s.out = cmd, done, out
	go func() {
		_ = cmd.Wait() // an exit status is expected: we kill it
		close(done)
	}()
	s.mu.Unlock()

	if err := s.waitReady(ctx, cmd.Process.Pid, done, out); err != nil {
		_ = s.kill()
		return err
	}
	return nil
}

// waitReady polls the port until this process answers.
func (s *Server) waitReady(ctx context.Context, pid int, done <-chan struct{}, out *tailBuffer) error {
	addr := s.Addr()
	for {
		select {
		case <-done:
			tail := out.String()
			if strings.Contains(tail, "Address already in use") {
				return fmt.Errorf("redisproc: %s on port %d: %w: %w", filepath.Base(s.bin), s.port, ErrExited, errPortInUse)
			}
			return fmt.Errorf("redisproc: %s on port %d: %w; output:\n%s", filepath.Base(s.bin), s.port, ErrExited, tail)
		default:
		}
		if ready(ctx, addr, pid, done, s.ping, s.info) {
			return nil
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("redisproc: waiting for %s on port %d: %w; output:\n%s", filepath.Base(s.bin), s.port, ctx.Err(), out.String())
		case <-done:
			t.Stop()
		case <-t.C:
		}
	}
}

// ready reports whether addr answers ping (PING's name there) and is
// served by pid, as info (INFO's name there) tells (so a foreign process
// that grabbed the port does not count). When either is disabled (""),
// any reply to PING counts: the process answers.
func ready(ctx context.Context, addr string, pid int, done <-chan struct{}, ping, info string) bool {
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	disabled := ping == "" || info == ""
	if ping == "" {
		ping = "PING"
	}
	reply, err := Command(cctx, addr, ping)
	if err != nil {
		var re ReplyError
		if errors.As(err, &re) && (strings.HasPrefix(string(re), "NOAUTH") || disabled) {
			// requirepass set, or PING or INFO disabled: the process
			// answers; make sure it is ours.
			select {
			case <-done:
				return false
			default:
				return true
			}
		}
		return false
	}
	if reply != "PONG" {
		return false
	}
	if disabled {
		select {
		case <-done:
			return false
		default:
			return true
		}
	}
	text, err := Command(cctx, addr, info, "server")
	if err != nil {
		return false
	}
	return InfoField(text, "process_id") == strconv.Itoa(pid)
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the TCP port.
func (s *Server) Port() int { return s.port }

// Dir returns the absolute working directory.
func (s *Server) Dir() string { return s.dir }

// ConfigFile returns the config file path ("" when started with
// NoConfigFile).
func (s *Server) ConfigFile() string { return s.confPath }

// Pid returns the process id of the current process, 0 if not running.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		return 0
	}
	return s.cmd.Process.Pid
}

// Output returns the tail (at most 4 KiB) of the current process's log.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

// Running reports whether the process is started and not yet exited (a
// paused process is running).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runningLocked()
}

func (s *Server) runningLocked() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL (a crash) and waits until the process is reaped. It is
// a no-op when the process is not running.
func (s *Server) Kill() error { return s.kill() }

func (s *Server) kill() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	// The whole group: redis may have forked a child for a save/sync.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("redisproc: kill %d: %w", cmd.Process.Pid, err)
		}
	}
	<-done
	return nil
}

// Pause sends SIGSTOP: the process hangs, its sockets stay open (a hung
// server, not a crash).
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume sends SIGCONT to a paused process.
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		return ErrNotRunning
	}
	if err := syscall.Kill(-s.cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("redisproc: signal %v to %d: %w", sig, s.cmd.Process.Pid, err)
	}
	return nil
}

// Restart kills the process if it is running, then starts it again with the
// same config file (which CONFIG REWRITE or Sentinel may have changed) on
// the same port, and waits until it answers PING.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.kill(); err != nil {
		return err
	}
	return s.start(ctx)
}

// Close kills the process if it is running and reaps it. It is idempotent
// and does not delete the directory (its owner does).
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return s.kill()
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// InfoField returns the value of "key:value" in an INFO reply, "" if absent.
func InfoField(info, key string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			return v
		}
	}
	return ""
}
