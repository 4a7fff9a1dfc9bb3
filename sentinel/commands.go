package sentinel

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/raftsentinel/raftsentinel/acl"
	"github.com/raftsentinel/raftsentinel/resp"
	"github.com/raftsentinel/raftsentinel/state"
)

// DefaultVersion is the Redis version reported (INFO redis_version, HELLO
// version) when HandlerOptions.Version is empty. Clients use it to choose
// commands (e.g. SENTINEL REPLICAS needs >= 5.0).
const DefaultVersion = "7.0.15"

// peerFreshness: a peer monitor counts as usable (CKQUORUM, the quorum
// metric) and as up (SENTINEL SENTINELS) if this monitor had evidence of
// it within this window (Backend.PeerSeen; peers re-register every 2 s).
const peerFreshness = 5 * time.Second

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	// Version is reported as redis_version and HELLO's version; "" means
	// DefaultVersion.
	Version string
	// RequirePass, if set, is the password of the "default" user: clients
	// must AUTH (or HELLO ... AUTH default <pass>) before other commands.
	RequirePass string
	// Now is the clock for every "milliseconds ago" value and for uptime;
	// nil means time.Now.
	Now func() time.Time
	// Users are further users (name → password) accepted by AUTH and
	// HELLO ... AUTH. As in Redis, authentication is required only when the
	// default user has a password (RequirePass). Users and RequirePass are
	// this monitor's configuration-file users: run-time users of the
	// replicated state (ACL SETUSER, ACL DELUSER) override them by name
	// (see users.go for the merge rule).
	Users map[string]string
	// Permissions holds per-user command rules (see package acl), by user
	// name. A user without an entry, or with a nil one, may run every
	// command, and so may the "default" user (RequirePass). Rules are
	// checked after authentication, as in Redis; a denied command gets
	// "-NOPERM this user has no permissions to run the '<cmd|sub>'
	// command" (Redis 7.0's text); a user with rules may use only the
	// Pub/Sub channels they allow (none by default, as Redis 7.0).
	Permissions map[string]*acl.Rules
	// MasterDefaults holds the down-after, failover-timeout and
	// parallel-syncs given to masters added with SENTINEL MONITOR.
	MasterDefaults state.Master
	// FlushConfig, if set, is what SENTINEL FLUSHCONFIG does (drop-in
	// mode: rewrite the sentinel.conf); its error is the reply. Nil: the
	// state lives in Raft and FLUSHCONFIG only answers OK.
	FlushConfig func() error
	// Scripts, if set, returns this monitor's notification and
	// client-reconfig scripts of a master ("" for none), shown by SENTINEL
	// MASTER(S) as Sentinel shows them.
	Scripts func(master string) (notify, reconf string)
	// CheckScript and SetScript, both set where the file says
	// deny-scripts-reconfig no, handle SENTINEL SET notification-script|
	// client-reconfig-script as this monitor's own setting. CheckScript
	// runs before anything of the SET is committed: it resolves path ("":
	// no script) or returns the client's error text. SetScript then keeps
	// the resolved path for the master; its error is a failure to persist
	// it. Nil: such SETs get Sentinel's refusal.
	CheckScript func(option, path string) (resolved string, err error)
	SetScript   func(master, option, resolved string) error
	// AnswerStale (stale-after 0): GET-MASTER-ADDR-BY-NAME answers from a
	// possibly outdated view while this monitor is cut off, as Sentinel
	// does, instead of -NOQUORUM.
	AnswerStale bool
	// Logger receives what clients are told to look for in the server
	// logs (a failed config rewrite); nil: discarded.
	Logger *slog.Logger
	// PendingScripts, if set, lists the scripts queued or running
	// (SENTINEL PENDING-SCRIPTS); nil: none.
	PendingScripts func() []PendingScript
	// Shutdown, if set, is what SHUTDOWN does: stop this monitor as a
	// SIGTERM does. It must not block. Nil: SHUTDOWN answers an error.
	Shutdown func()
}

// PendingScript is one entry of SENTINEL PENDING-SCRIPTS.
type PendingScript struct {
	Argv     []string // the script path, then its arguments
	Running  bool
	Pid      int
	RunTime  time.Duration // running: how long it has run
	RunDelay time.Duration // scheduled: how long until it may start
	Retries  int
}

// NewHandler returns the resp.Handler answering the Sentinel protocol from
// b. It also implements resp.Guard, so unknown commands, wrong arity and
// missing authentication are rejected (in Redis' order) before the
// server's own Pub/Sub and QUIT handling. Events are not published here.
//
// The handler holds no per-connection state beyond what resp.Conn carries
// and is safe for concurrent use; every command reads a fresh snapshot
// from b and never blocks on network I/O.
func NewHandler(b Backend, opt HandlerOptions) resp.Handler {
	if opt.Version == "" {
		opt.Version = DefaultVersion
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	exe, _ := os.Executable()
	h := &handler{b: b, opt: opt, start: opt.Now(), pid: os.Getpid(), exe: exe,
		calls: make([]atomic.Int64, len(commandNamesByID))}
	h.hasRules = h.restricted()
	h.files = fileUsers(opt)
	h.rulesCache = map[string]*acl.Rules{}
	return h
}

type handler struct {
	calls []atomic.Int64 // per command (commandNamesByID), counted in Admit
	b     Backend
	opt   HandlerOptions
	start time.Time
	pid   int
	exe   string

	hasRules bool      // some file user has command rules
	users    connUsers // who each connection authenticated as
	// files are the configuration-file users, "default" included.
	files      map[string]*acl.User
	rulesMu    sync.Mutex
	rulesCache map[string]*acl.Rules // compiled rules by their text
	log        aclLog
}

// lookupCommand resolves args to a command spec, or returns the Redis error text:
// unknown command, unknown subcommand, then wrong arity.
func lookupCommand(args [][]byte) (cmdSpec, string) {
	id, ok := commandIndex.find(args[0])
	if !ok {
		return cmdSpec{}, unknownCommandError(args)
	}
	spec := &specsByID[id]
	hasSub := spec.subs != nil && !spec.parsesSubs && len(args) >= 2
	if hasSub {
		sid, ok := subIndex[id].find(args[1])
		if !ok {
			return cmdSpec{}, fmt.Sprintf("ERR unknown subcommand '%s'. Try %s HELP.",
				clipArg(args[1], 128), strings.ToUpper(string(args[0])))
		}
		spec = &specsByID[sid]
	}
	if n := len(args); (spec.arity > 0 && n != spec.arity) || n < -spec.arity {
		full := strings.ToLower(string(args[0]))
		if hasSub {
			full += "|" + strings.ToLower(string(args[1]))
		}
		return cmdSpec{}, arityErrorText(full)
	}
	return *spec, ""
}

// unknownCommandError formats Redis' error for an unknown command: the name
// (first 128 bytes, as sent) and the quoted arguments while their text is
// under 128 bytes, each clipped to what is left, with a trailing space.
func unknownCommandError(args [][]byte) string {
	var list strings.Builder
	for _, a := range args[1:] {
		if list.Len() >= 128 {
			break
		}
		room := 128 - list.Len()
		list.WriteByte('\'')
		list.WriteString(clipArg(a, room))
		list.WriteString("' ")
	}
	return fmt.Sprintf("ERR unknown command '%s', with args beginning with: %s", clipArg(args[0], 128), list.String())
}

func arityErrorText(fullName string) string {
	return "ERR wrong number of arguments for '" + fullName + "' command"
}

func clipArg(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// authRequired reports whether c must still authenticate: it has not,
// and the default user is not "on nopass".
func (h *handler) authRequired(c *resp.Conn) bool {
	if c.Authenticated() {
		return false
	}
	d := h.user(h.b.State(), "default")
	return d == nil || !d.On || !d.NoPass
}

// Admit implements resp.Guard.
func (h *handler) Admit(c *resp.Conn, args [][]byte) bool {
	spec, errText := lookupCommand(args)
	if errText != "" {
		c.WriteError(errText)
		return false
	}
	if !spec.noAuth && h.authRequired(c) {
		c.WriteError("NOAUTH Authentication required.")
		return false
	}
	if !h.permitted(c, spec, args) {
		return false
	}
	h.calls[spec.id].Add(1)
	c.SetCommandState(spec.id) // a small int: boxing it does not allocate
	return true
}

// MayBlock implements resp.Blocker: the commands that wait for a Raft
// commit or the disk run off the server's event loop, and so do those that
// name Redis nodes while a hostname of the state is still to be resolved.
func (h *handler) MayBlock(c *resp.Conn, args [][]byte) bool {
	id, ok := c.CommandState().(int)
	if !ok {
		return true
	}
	spec := specsByID[id]
	return spec.blocks || (spec.announces && h.b.AnnounceMayWait())
}

// ServeRESP implements resp.Handler.
func (h *handler) ServeRESP(c *resp.Conn, args [][]byte) {
	id, ok := c.CommandState().(int)
	if !ok { // the server did not run the Guard: check here
		if !h.Admit(c, args) {
			return
		}
		id = c.CommandState().(int)
	}
	spec := specsByID[id]
	if spec.run == nil {
		// (P)(UN)SUBSCRIBE/QUIT reach here only on a server that does not
		// implement them.
		c.WriteError("ERR '" + strings.ToLower(string(args[0])) + "' is not available on this connection")
		return
	}
	spec.run(h, c, args)
}

func (h *handler) ping(c *resp.Conn, args [][]byte) {
	switch len(args) {
	case 1:
		c.WriteStatus("PONG")
	case 2:
		c.WriteBulk(args[1])
	default:
		c.WriteError(arityErrorText("ping"))
	}
}

// checkUser reports whether user/pass authenticate, against the
// effective users (the file's, overridden by the run-time ones), and logs
// a failure in the ACL LOG.
func (h *handler) checkUser(c *resp.Conn, user, pass []byte) bool {
	if h.user(h.b.State(), string(user)).CheckPassword(pass) {
		return true
	}
	h.log.add(h.opt.Now(), "auth", "AUTH", string(user), clientInfoLine(h, c))
	return false
}

const wrongPassText = "WRONGPASS invalid username-password pair or user is disabled."

func (h *handler) auth(c *resp.Conn, args [][]byte) {
	var user, pass []byte
	switch len(args) {
	case 2:
		if d := h.user(h.b.State(), "default"); d == nil || d.NoPass {
			c.WriteError("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
			return
		}
		user, pass = []byte("default"), args[1]
	case 3:
		user, pass = args[1], args[2]
	default:
		c.WriteError("ERR syntax error")
		return
	}
	if !h.checkUser(c, user, pass) {
		c.WriteError(wrongPassText)
		return
	}
	h.authenticated(c, string(user))
	c.WriteStatus("OK")
}

// validClientAttr applies Redis' rule for client names and library info:
// printable ASCII without spaces.
func validClientAttr(b []byte) bool {
	for _, ch := range b {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

func (h *handler) hello(c *resp.Conn, args [][]byte) {
	ver := 0
	next := 1
	if len(args) >= 2 {
		v, err := strconv.ParseInt(string(args[1]), 10, 64)
		if err != nil {
			c.WriteError("ERR Protocol version is not an integer or out of range")
			return
		}
		if v < 2 || v > 3 {
			c.WriteError("NOPROTO unsupported protocol version")
			return
		}
		ver, next = int(v), 2
	}
	var user, pass, name []byte
	hasAuth, hasName := false, false
	for j := next; j < len(args); j++ {
		more := len(args) - 1 - j
		switch opt := args[j]; {
		case bytes.EqualFold(opt, []byte("auth")) && more >= 2:
			user, pass, hasAuth = args[j+1], args[j+2], true
			j += 2
		case bytes.EqualFold(opt, []byte("setname")) && more >= 1:
			name, hasName = args[j+1], true
			if !validClientAttr(name) {
				c.WriteError("ERR Client names cannot contain spaces, newlines or special characters.")
				return
			}
			j++
		default:
			c.WriteError("ERR Syntax error in HELLO option '" + string(opt) + "'")
			return
		}
	}
	if hasAuth {
		if !h.checkUser(c, user, pass) {
			c.WriteError(wrongPassText)
			return
		}
		h.authenticated(c, string(user))
	}
	if h.authRequired(c) {
		c.WriteError("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if hasName {
		c.SetName(string(name))
	}
	if ver != 0 {
		c.SetProto(ver)
	}
	c.WriteMapHeader(6)
	c.WriteBulkString("server")
	c.WriteBulkString("redis")
	c.WriteBulkString("version")
	c.WriteBulkString(h.opt.Version)
	c.WriteBulkString("proto")
	c.WriteInt(int64(c.Proto()))
	c.WriteBulkString("id")
	c.WriteInt(c.ID())
	c.WriteBulkString("mode")
	c.WriteBulkString("sentinel")
	c.WriteBulkString("modules")
	c.WriteArrayHeader(0)
}

func (h *handler) role(c *resp.Conn, _ [][]byte) {
	names := h.b.State().MasterNames()
	c.WriteArrayHeader(2)
	c.WriteBulkString("sentinel")
	c.WriteArrayHeader(len(names))
	for _, n := range names {
		c.WriteBulkString(n)
	}
}

// sentinelHelloChannel is where Redis Sentinels exchange hello messages. A Redis
// Sentinel's PUBLISH accepts only that channel; we accept and ignore its
// messages (membership comes from Raft), replying as Redis does.
const sentinelHelloChannel = "__sentinel__:hello"

func (h *handler) publish(c *resp.Conn, args [][]byte) {
	if string(args[1]) != sentinelHelloChannel {
		c.WriteError("ERR Only HELLO messages are accepted by Sentinel instances.")
		return
	}
	c.WriteInt(1)
}

// --- CLIENT ---

func (h *handler) clientID(c *resp.Conn, _ [][]byte) { c.WriteInt(c.ID()) }

func (h *handler) clientGetName(c *resp.Conn, _ [][]byte) {
	if n := c.Name(); n != "" {
		c.WriteBulkString(n)
		return
	}
	c.WriteNull()
}

func (h *handler) clientSetName(c *resp.Conn, args [][]byte) {
	if !validClientAttr(args[2]) {
		c.WriteError("ERR Client names cannot contain spaces, newlines or special characters.")
		return
	}
	c.SetName(string(args[2]))
	c.WriteStatus("OK")
}

// clientSetInfo accepts LIB-NAME/LIB-VER (sent by go-redis, rueidis,
// redis-py, ioredis, node-redis) and discards them.
func (h *handler) clientSetInfo(c *resp.Conn, args [][]byte) {
	attr := strings.ToLower(string(args[2]))
	if attr != "lib-name" && attr != "lib-ver" {
		c.WriteError("ERR Unrecognized option '" + string(args[2]) + "'")
		return
	}
	if !validClientAttr(args[3]) {
		c.WriteError("ERR " + attr + " cannot contain spaces, newlines or special characters.")
		return
	}
	c.WriteStatus("OK")
}

// clientTracking accepts CLIENT TRACKING ON|OFF [options] (rueidis requires
// it to succeed). There are no keys here, so there is nothing to track.
func (h *handler) clientTracking(c *resp.Conn, args [][]byte) {
	if !bytes.EqualFold(args[2], []byte("on")) && !bytes.EqualFold(args[2], []byte("off")) {
		c.WriteError("ERR syntax error")
		return
	}
	c.WriteStatus("OK")
}

func (h *handler) clientInfo(c *resp.Conn, _ [][]byte) {
	c.WriteBulkString(fmt.Sprintf("id=%d addr=%s laddr=%s name=%s db=0 sub=%d resp=%d\n",
		c.ID(), c.RemoteAddr(), c.LocalAddr(), c.Name(), c.Subscriptions(), c.Proto()))
}

func (h *handler) clientHelp(c *resp.Conn, _ [][]byte) {
	writeHelp(c, "CLIENT", []string{
		"GETNAME",
		"    Return the name of the current connection.",
		"ID",
		"    Return the id of the current connection.",
		"INFO",
		"    Return information about the current connection.",
		"SETINFO <LIB-NAME|LIB-VER> <value>",
		"    Accepted for compatibility; the values are not kept.",
		"SETNAME <name>",
		"    Name the current connection.",
		"TRACKING (ON|OFF) [options...]",
		"    Accepted for compatibility; there are no keys to track.",
	})
}

// writeHelp writes Redis' help reply shape: an array of status lines,
// headed by the usage line and ended by HELP.
func writeHelp(c *resp.Conn, cmd string, lines []string) {
	c.WriteArrayHeader(len(lines) + 3)
	c.WriteStatus(cmd + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
	for _, l := range lines {
		c.WriteStatus(l)
	}
	c.WriteStatus("HELP")
	c.WriteStatus("    Print this help.")
}

// --- INFO ---

// infoSections are INFO's sections in Redis' order, each with the
// function that writes its fields.
var infoSections = []struct {
	name, title string
	write       func(h *handler, c *resp.Conn, w *infoWriter)
}{
	{"server", "Server", (*handler).infoServer},
	{"clients", "Clients", (*handler).infoClients},
	{"stats", "Stats", (*handler).infoStats},
	{"cpu", "CPU", (*handler).infoCPU},
	{"sentinel", "Sentinel", (*handler).infoSentinel},
}

// infoWriter builds INFO's text: "# Title" headers and "key:value" lines.
type infoWriter struct {
	b   strings.Builder
	now time.Time
}

func (w *infoWriter) section(title string) {
	if w.b.Len() > 0 {
		w.b.WriteString("\r\n")
	}
	w.b.WriteString("# " + title + "\r\n")
}

func (w *infoWriter) line(k string, v any) { fmt.Fprintf(&w.b, "%s:%v\r\n", k, v) }

// info answers INFO [section ...]: every section without arguments or
// with default/all/everything, else the named ones (unknown names give
// nothing), in Redis' order.
func (h *handler) info(c *resp.Conn, args [][]byte) {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := len(args) == 1 || want["default"] || want["all"] || want["everything"]
	w := &infoWriter{now: h.opt.Now()}
	for _, s := range infoSections {
		if all || want[s.name] {
			w.section(s.title)
			s.write(h, c, w)
		}
	}
	c.WriteBulkString(w.b.String())
}

func (h *handler) infoServer(c *resp.Conn, w *infoWriter) {
	_, port, _ := net.SplitHostPort(c.LocalAddr())
	up := max(w.now.Sub(h.start), 0)
	w.line("redis_version", h.opt.Version)
	w.line("redis_git_sha1", "00000000")
	w.line("redis_git_dirty", 0)
	w.line("redis_mode", "sentinel")
	w.line("os", runtime.GOOS+" "+runtime.GOARCH)
	w.line("arch_bits", strconv.IntSize)
	w.line("process_id", h.pid)
	w.line("process_supervised", "no")
	w.line("run_id", h.b.Self().RunID)
	w.line("tcp_port", port)
	w.line("server_time_usec", w.now.UnixMicro())
	w.line("uptime_in_seconds", int64(up/time.Second))
	w.line("uptime_in_days", int64(up/(24*time.Hour)))
	w.line("hz", 10)
	w.line("configured_hz", 10)
	w.line("executable", h.exe)
	w.line("config_file", "")
}

func (h *handler) infoClients(c *resp.Conn, w *infoWriter) {
	clients := 0
	if srv := c.Server(); srv != nil {
		clients = srv.Clients()
	}
	w.line("connected_clients", clients)
	w.line("cluster_connections", 0)
	w.line("maxclients", 10000)
	w.line("blocked_clients", 0)
	w.line("tracking_clients", 0)
}

func (h *handler) infoStats(c *resp.Conn, w *infoWriter) {
	var st resp.Stats
	channels, patterns := 0, 0
	if srv := c.Server(); srv != nil {
		st = srv.Stats()
		channels, patterns = srv.Hub().Counts()
	}
	w.line("total_connections_received", st.ConnectionsReceived)
	w.line("total_commands_processed", st.CommandsProcessed)
	w.line("rejected_connections", 0)
	w.line("pubsub_channels", channels)
	w.line("pubsub_patterns", patterns)
}

func (h *handler) infoCPU(_ *resp.Conn, w *infoWriter) {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) string { return fmt.Sprintf("%d.%06d", t.Sec, t.Usec) }
	w.line("used_cpu_sys", tv(self.Stime))
	w.line("used_cpu_user", tv(self.Utime))
	w.line("used_cpu_sys_children", tv(children.Stime))
	w.line("used_cpu_user_children", tv(children.Utime))
}

func (h *handler) infoSentinel(_ *resp.Conn, w *infoWriter) {
	st := h.b.State()
	names := st.MasterNames()
	others := len(h.otherMonitors(st))
	w.line("sentinel_masters", len(names))
	if since, on := h.b.Tilt(); on {
		w.line("sentinel_tilt", 1)
		w.line("sentinel_tilt_since_seconds", int64(h.opt.Now().Sub(since).Seconds()))
	} else {
		w.line("sentinel_tilt", 0)
		w.line("sentinel_tilt_since_seconds", -1)
	}
	w.line("sentinel_running_scripts", 0)
	w.line("sentinel_scripts_queue_length", 0)
	w.line("sentinel_simulate_failure_flags", 0)
	for i, n := range names {
		m := st.Masters[n]
		status := "ok"
		if m.ODown {
			status = "odown"
		} else if _, down := h.b.SDown(m.Addr.String()); down {
			status = "sdown"
		}
		a := h.b.Announce(m.Addr)
		fmt.Fprintf(&w.b, "master%d:name=%s,status=%s,address=%s:%d,slaves=%d,sentinels=%d\r\n",
			i, n, status, a.Host, a.Port, len(listedReplicas(m)), others+1)
	}
}

// --- SENTINEL ---

// otherMonitors returns the members other than this monitor, by id.
func (h *handler) otherMonitors(st *state.State) []*state.Monitor {
	return otherMonitors(st, h.b.Self())
}

// otherMonitors returns the members of st other than self, by id.
func otherMonitors(st *state.State, self state.Monitor) []*state.Monitor {
	var out []*state.Monitor
	for _, id := range st.MonitorIDs() {
		m := st.Monitors[id]
		if m.ID == self.ID || (self.RunID != "" && m.RunID == self.RunID) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// replicaAddrs returns a master's known replicas, minus the master's own
// current address (after a failover the promoted replica may still be
// listed until the brain prunes it).
func listedReplicas(m *state.Master) []state.Addr {
	out := make([]state.Addr, 0, len(m.Replicas))
	for _, a := range m.Replicas {
		if a != m.Addr {
			out = append(out, a)
		}
	}
	return out
}

// refuseStale answers master discovery with an error while this monitor is
// cut off from the Raft majority for too long: its view may predate a
// failover, and Sentinel clients move on to the next monitor on an error.
// It reports whether it did.
func (h *handler) refuseStale(c *resp.Conn) bool {
	if h.refuseLoading(c) {
		return true
	}
	d, stale := h.b.Cutoff()
	if !stale || h.opt.AnswerStale {
		return false
	}
	c.WriteError(fmt.Sprintf("NOQUORUM this monitor has been cut off from the monitor majority for %.1fs; "+
		"its view may be outdated: ask another monitor", d.Seconds()))
	return true
}

func (h *handler) clock() instClock { return instClock{now: h.opt.Now(), start: h.start} }

// refuseLoading answers Redis' -LOADING, and reports true, while this
// monitor is a member whose group's state has not reached it: "no such
// master" would be wrong.
func (h *handler) refuseLoading(c *resp.Conn) bool {
	if h.b.Loading() {
		c.WriteError("LOADING Redis is loading the dataset in memory")
		return true
	}
	return false
}

// masterOrError returns the named master, or writes Redis' error (or
// -LOADING, see refuseLoading).
func (h *handler) masterOrError(c *resp.Conn, st *state.State, name []byte) *state.Master {
	if h.refuseLoading(c) {
		return nil
	}
	m, ok := st.Masters[string(name)]
	if !ok {
		c.WriteError("ERR No such master with that name")
		return nil
	}
	return m
}

func (h *handler) masterFields(st *state.State, m *state.Master, k instClock) []instField {
	addr := m.Addr.String()
	obs, observed := h.b.Observe(addr)
	since, down := h.b.SDown(addr)
	_, stale := h.b.Cutoff()
	f := masterMap(masterView{M: m, Obs: obs, Observed: observed, SDown: down, SDownSince: since, StaleView: stale,
		Replicas: len(listedReplicas(m)), Others: len(h.otherMonitors(st)), Shown: h.b.Announce(m.Addr)}, k)
	if h.opt.Scripts != nil {
		notify, reconf := h.opt.Scripts(m.Name)
		if notify != "" {
			f = append(f, instField{"notification-script", notify})
		}
		if reconf != "" {
			f = append(f, instField{"client-reconfig-script", reconf})
		}
	}
	return f
}

func writeInstance(c *resp.Conn, fs []instField) {
	c.WriteMapHeader(len(fs))
	for _, f := range fs {
		c.WriteBulkString(f.key)
		c.WriteBulkString(f.val)
	}
}

func (h *handler) sentinelMasters(c *resp.Conn, _ [][]byte) {
	if h.refuseLoading(c) {
		return
	}
	st, k := h.b.State(), h.clock()
	names := st.MasterNames()
	c.WriteArrayHeader(len(names))
	for _, n := range names {
		writeInstance(c, h.masterFields(st, st.Masters[n], k))
	}
}

func (h *handler) sentinelMaster(c *resp.Conn, args [][]byte) {
	st := h.b.State()
	if m := h.masterOrError(c, st, args[2]); m != nil {
		writeInstance(c, h.masterFields(st, m, h.clock()))
	}
}

// sentinelReplicas answers REPLICAS and SLAVES. Replicas whose INFO says
// replica-announced:0 are omitted, as in Redis.
func (h *handler) sentinelReplicas(c *resp.Conn, args [][]byte) {
	st := h.b.State()
	m := h.masterOrError(c, st, args[2])
	if m == nil {
		return
	}
	k := h.clock()
	_, stale := h.b.Cutoff()
	var maps [][]instField
	for _, a := range listedReplicas(m) {
		obs, observed := h.b.Observe(a.String())
		if observed && !obs.ReplicaAnnounced {
			continue
		}
		since, down := h.b.SDown(a.String())
		maps = append(maps, replicaMap(replicaView{Master: m, Addr: a, Obs: obs, Observed: observed, StaleView: stale,
			SDown: down, SDownSince: since, Shown: h.b.Announce(a)}, k))
	}
	c.WriteArrayHeader(len(maps))
	for _, fs := range maps {
		writeInstance(c, fs)
	}
}

func (h *handler) sentinelSentinels(c *resp.Conn, args [][]byte) {
	st := h.b.State()
	m := h.masterOrError(c, st, args[2])
	if m == nil {
		return
	}
	k := h.clock()
	others := h.otherMonitors(st)
	c.WriteArrayHeader(len(others))
	for _, mon := range others {
		writeInstance(c, sentinelMap(sentinelView{Mon: mon, Seen: h.b.PeerSeen(mon.ID), DownAfter: m.DownAfter}, k))
	}
}

// sentinelGetMasterAddr answers GET-MASTER-ADDR-BY-NAME with the committed
// master address as two bulk strings, or a null array for an unknown name.
func (h *handler) sentinelGetMasterAddr(c *resp.Conn, args [][]byte) {
	if h.refuseStale(c) {
		return
	}
	m, ok := h.b.State().Masters[string(args[2])]
	if !ok || m.Addr.IsZero() {
		c.WriteNullArray()
		return
	}
	a := h.b.Announce(m.Addr)
	c.WriteArrayHeader(2)
	c.WriteBulkString(a.Host)
	c.WriteBulkInt(int64(a.Port))
}

func (h *handler) sentinelMyID(c *resp.Conn, _ [][]byte) {
	c.WriteBulkString(h.b.Self().RunID)
}

// usableMonitors counts, for CKQUORUM, this monitor plus every other one
// seen within peerFreshness (usable) and all members (voters).
func usableMonitors(others []*state.Monitor, seen func(id string) time.Time, now time.Time) (usable, voters int) {
	usable, voters = 1, len(others)+1
	for _, mon := range others {
		if t := seen(mon.ID); !t.IsZero() && now.Sub(t) <= peerFreshness {
			usable++
		}
	}
	return usable, voters
}

// sentinelCKQuorum answers CKQUORUM with Redis' texts: a failover needs
// the master's quorum and a majority of voters (n/2+1) among the usable
// monitors.
func (h *handler) sentinelCKQuorum(c *resp.Conn, args [][]byte) {
	st := h.b.State()
	m := h.masterOrError(c, st, args[2])
	if m == nil {
		return
	}
	if r, ok := h.b.(interface{ Refused(string) string }); ok {
		if why := r.Refused(m.Name); why != "" {
			c.WriteError("NOQUORUM " + why)
			return
		}
	}
	if h.b.Held() {
		c.WriteError("NOQUORUM no monitor group has formed yet: this monitor holds its configuration until it " +
			"finds the other monitors (hellos on the master); no failover can be authorized before")
		return
	}
	usable, voters := usableMonitors(h.otherMonitors(st), h.b.PeerSeen, h.opt.Now())
	noQuorum, noMajority := usable < m.Quorum, usable < voters/2+1
	if !noQuorum && !noMajority {
		c.WriteStatus(fmt.Sprintf("OK %d usable Sentinels. Quorum and failover authorization can be reached", usable))
		return
	}
	msg := fmt.Sprintf("NOQUORUM %d usable Sentinels. ", usable)
	if noQuorum {
		msg += "Not enough available Sentinels to reach the specified quorum for this master"
	}
	if noMajority {
		if noQuorum {
			msg += ". "
		}
		msg += "Not enough available Sentinels to reach the majority and authorize a failover"
	}
	c.WriteError(msg)
}

// sentinelIsMasterDown answers IS-MASTER-DOWN-BY-ADDR <ip> <port> <epoch>
// <runid>: 1 if a monitored master has that address and this monitor sees
// it subjectively down. No vote is ever cast (leadership comes from Raft),
// so the leader is always "*" with epoch 0.
func (h *handler) sentinelIsMasterDown(c *resp.Conn, args [][]byte) {
	port, err1 := strconv.ParseInt(string(args[3]), 10, 64)
	_, err2 := strconv.ParseInt(string(args[4]), 10, 64)
	if err1 != nil || err2 != nil {
		c.WriteError("ERR value is not an integer or out of range")
		return
	}
	down := false
	for _, m := range h.b.State().Masters {
		if int64(m.Addr.Port) == port && (m.Addr.Host == string(args[2]) || h.b.Announce(m.Addr).Host == string(args[2])) {
			_, down = h.b.SDown(m.Addr.String())
			break
		}
	}
	c.WriteArrayHeader(3)
	if down {
		c.WriteInt(1)
	} else {
		c.WriteInt(0)
	}
	c.WriteBulkString("*")
	c.WriteInt(0)
}

func (h *handler) sentinelHelp(c *resp.Conn, _ [][]byte) {
	writeHelp(c, "SENTINEL", []string{
		"CKQUORUM <master-name>",
		"    Tell whether enough monitors are reachable for the master's quorum and for",
		"    a majority to authorize a failover.",
		"GET-MASTER-ADDR-BY-NAME <master-name>",
		"    Return the committed ip and port of the named master.",
		"IS-MASTER-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>",
		"    Tell whether this monitor sees the master at ip:port as down (no vote is",
		"    cast: failover leadership comes from Raft).",
		"MASTER <master-name>",
		"    Return the state of the named master.",
		"MASTERS",
		"    Return the state of every monitored master.",
		"MYID",
		"    Return this monitor's Sentinel id.",
		"REPLICAS <master-name>",
		"    Return the state of the named master's replicas.",
		"SENTINELS <master-name>",
		"    Return the state of the other monitors watching the named master.",
		"SLAVES <master-name>",
		"    Same as REPLICAS.",
	})
}
