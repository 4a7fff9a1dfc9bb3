package sentinel

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftsentinel/raftsentinel/acl"
	"github.com/raftsentinel/raftsentinel/resp"
	"github.com/raftsentinel/raftsentinel/state"
)

// Users of the Sentinel-protocol port come from two places:
//
//   - the configuration file (HandlerOptions.RequirePass for "default",
//     Users and Permissions for the others), this monitor's own;
//   - the replicated state (state.State.Users and DeletedUsers), changed
//     with ACL SETUSER and ACL DELUSER on any monitor and committed
//     through Raft, so every monitor of the group has the same.
//
// The merge rule: the file's users are the base; a name that ACL SETUSER
// or ACL DELUSER has touched belongs to the group from then on. A run-time
// user replaces the file's user of that name entirely (ACL SETUSER on a
// file user starts from the file's definition and records the result in
// Raft); a deleted name hides the file's user of that name until ACL
// SETUSER creates it again (from scratch). Editing the file therefore
// changes only the users the group has never touched.

// fileUsers builds the configuration-file users of opt.
func fileUsers(opt HandlerOptions) map[string]*acl.User {
	out := make(map[string]*acl.User, len(opt.Users)+1)
	def := &acl.User{Name: "default", On: true, NoPass: opt.RequirePass == "", Keys: []string{"~*"},
		AllChannels: true, Commands: []string{"+@all"}}
	if opt.RequirePass != "" {
		def.Passwords = []string{acl.HashPassword([]byte(opt.RequirePass))}
	}
	out["default"] = def
	for name, pass := range opt.Users {
		u := &acl.User{Name: name, On: true, Passwords: []string{acl.HashPassword([]byte(pass))},
			Keys: []string{"~*"}, AllChannels: true, Commands: []string{"+@all"}}
		if r := opt.Permissions[name]; r != nil {
			u.AllChannels, u.Commands = false, []string{"-@all"}
			// The rules were compiled by acl.Parse: every one is valid.
			_ = u.Apply(strings.Fields(r.String())...)
		}
		out[name] = u
	}
	return out
}

// user returns the effective user name in st (see the merge rule above),
// nil if there is none.
func (h *handler) user(st *state.State, name string) *acl.User {
	if u, known := st.User(name); known {
		return u
	}
	return h.files[name]
}

// userNames returns every effective user name, sorted.
func (h *handler) userNames(st *state.State) []string {
	var out []string
	for n := range h.files {
		if _, known := st.User(n); !known {
			out = append(out, n)
		}
	}
	for n := range st.Users {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// rulesOf returns u's compiled rules (nil: everything allowed), cached by
// their text.
func (h *handler) rulesOf(u *acl.User) *acl.Rules {
	key := u.CommandText() + "\x00" + u.ChannelText()
	h.rulesMu.Lock()
	defer h.rulesMu.Unlock()
	if r, ok := h.rulesCache[key]; ok {
		return r
	}
	r, err := u.Rules()
	if err != nil { // validated when committed; deny rather than allow
		r, _ = acl.Parse("nocommands")
	}
	if len(h.rulesCache) >= 256 {
		clear(h.rulesCache)
	}
	h.rulesCache[key] = r
	return r
}

// connUserName is who c is: the user it authenticated as, else "default".
func (h *handler) connUserName(c *resp.Conn) string {
	if cu, ok := h.users.get(c); ok {
		return cu.name
	}
	return "default"
}

// --- ACL LOG ---

// aclLogMax is Redis' default acllog-max-len.
const aclLogMax = 128

// aclLogEntry is one ACL LOG entry (Redis 7.0's fields).
type aclLogEntry struct {
	count                            int64
	reason, context, object, account string
	created, updated                 time.Time
	clientInfo                       string
}

// aclLog is this monitor's ACL LOG: denied commands and channels and
// failed authentications, newest first. It is not replicated (as in
// Redis, each server logs what its own clients did).
type aclLog struct {
	mu      sync.Mutex
	entries []*aclLogEntry
}

// add records an event; one equal to a recent entry (same reason,
// context, object and user within 60 s) counts in that entry, as Redis
// groups them.
func (l *aclLog) add(now time.Time, reason, object, user, clientInfo string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, e := range l.entries {
		if e.reason == reason && e.object == object && e.account == user && now.Sub(e.updated) < 60*time.Second {
			e.count++
			e.updated, e.clientInfo = now, clientInfo
			copy(l.entries[1:i+1], l.entries[:i])
			l.entries[0] = e
			return
		}
	}
	e := &aclLogEntry{count: 1, reason: reason, context: "toplevel", object: object, account: user,
		created: now, updated: now, clientInfo: clientInfo}
	l.entries = append([]*aclLogEntry{e}, l.entries...)
	if len(l.entries) > aclLogMax {
		l.entries = l.entries[:aclLogMax]
	}
}

func (l *aclLog) reset() {
	l.mu.Lock()
	l.entries = nil
	l.mu.Unlock()
}

func (l *aclLog) list(n int) []aclLogEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	n = min(n, len(l.entries))
	out := make([]aclLogEntry, n)
	for i := range n {
		out[i] = *l.entries[i]
	}
	return out
}

// --- ACL ---

// aclNoFile is Redis' answer to ACL SAVE and ACL LOAD without an aclfile,
// which a Sentinel does not have.
const aclNoFile = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."

func aclSyntaxError(sub string) string {
	return "ERR unknown subcommand or wrong number of arguments for '" + sub + "'. Try ACL HELP."
}

func (h *handler) aclNoFile(c *resp.Conn, _ [][]byte) { c.WriteError(aclNoFile) }

func (h *handler) aclWhoami(c *resp.Conn, _ [][]byte) { c.WriteBulkString(h.connUserName(c)) }

func (h *handler) aclUsers(c *resp.Conn, _ [][]byte) {
	names := h.userNames(h.b.State())
	c.WriteArrayHeader(len(names))
	for _, n := range names {
		c.WriteBulkString(n)
	}
}

func (h *handler) aclList(c *resp.Conn, _ [][]byte) {
	st := h.b.State()
	names := h.userNames(st)
	c.WriteArrayHeader(len(names))
	for _, n := range names {
		c.WriteBulkString(h.user(st, n).Describe())
	}
}

// aclGetUser answers Redis 7.0's map: flags (a set), passwords (digests),
// commands, keys, channels, selectors (none); null for an unknown user.
func (h *handler) aclGetUser(c *resp.Conn, args [][]byte) {
	u := h.user(h.b.State(), string(args[2]))
	if u == nil {
		c.WriteNull()
		return
	}
	c.WriteMapHeader(6)
	c.WriteBulkString("flags")
	flags := u.Flags()
	c.WriteSetHeader(len(flags))
	for _, f := range flags {
		c.WriteBulkString(f)
	}
	c.WriteBulkString("passwords")
	c.WriteArrayHeader(len(u.Passwords))
	for _, p := range u.Passwords {
		c.WriteBulkString(p)
	}
	c.WriteBulkString("commands")
	c.WriteBulkString(u.CommandText())
	c.WriteBulkString("keys")
	c.WriteBulkString(strings.Join(u.Keys, " "))
	c.WriteBulkString("channels")
	c.WriteBulkString(u.ChannelText())
	c.WriteBulkString("selectors")
	c.WriteArrayHeader(0)
}

// validUserName is Redis' rule for ACL SETUSER names.
func validUserName(b []byte) bool {
	return len(b) > 0 && !strings.ContainsAny(string(b), " \t\r\n\x00")
}

// aclSetUser validates the modifiers against this monitor's view (for
// Redis' error texts), then commits them, passwords hashed, through Raft.
func (h *handler) aclSetUser(c *resp.Conn, args [][]byte) {
	name := string(args[2])
	if !validUserName(args[2]) {
		c.WriteError("ERR Usernames can't contain spaces or null characters")
		return
	}
	mods := make([]string, 0, len(args)-3)
	for _, a := range args[3:] {
		mods = append(mods, string(a))
	}
	hashed := acl.HashPasswords(mods)
	st := h.b.State()
	cmd := state.Command{Op: state.OpSetUser, User: name, Rules: hashed}
	trial := acl.NewUser(name)
	if u, known := st.User(name); known {
		if u != nil {
			trial = u.Clone()
		}
	} else if f := h.files[name]; f != nil {
		trial, cmd.Base = f.Clone(), f
	}
	for i, m := range hashed {
		var me *acl.ModifierError
		if err := trial.Apply(m); errors.As(err, &me) {
			c.WriteError("ERR " + (&acl.ModifierError{Modifier: mods[i], Msg: me.Msg}).Error())
			return
		}
	}
	h.propose(c, cmd, writeOK(c))
}

func (h *handler) aclDelUser(c *resp.Conn, args [][]byte) {
	st := h.b.State()
	var names []string
	for _, a := range args[2:] {
		n := string(a)
		if n == "default" {
			c.WriteError("ERR The 'default' user cannot be removed")
			return
		}
		if h.user(st, n) != nil && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		c.WriteInt(0)
		return
	}
	h.propose(c, state.Command{Op: state.OpDelUser, Names: names}, func() { c.WriteInt(int64(len(names))) })
}

func (h *handler) aclCat(c *resp.Conn, args [][]byte) {
	switch len(args) {
	case 2:
		cats := acl.CategoryNames()
		c.WriteArrayHeader(len(cats))
		for _, s := range cats {
			c.WriteBulkString(s)
		}
	case 3:
		cmds, err := acl.CategoryCommands(string(args[2]))
		if err != nil {
			c.WriteError("ERR Unknown category '" + string(args[2]) + "'")
			return
		}
		c.WriteArrayHeader(len(cmds))
		for _, s := range cmds {
			c.WriteBulkString(s)
		}
	default:
		c.WriteError(aclSyntaxError("CAT"))
	}
}

// aclLogCmd answers ACL LOG [count | RESET].
func (h *handler) aclLogCmd(c *resp.Conn, args [][]byte) {
	n := 10
	switch len(args) {
	case 2:
	case 3:
		if strings.EqualFold(string(args[2]), "reset") {
			h.log.reset()
			c.WriteStatus("OK")
			return
		}
		v, err := strconv.ParseInt(string(args[2]), 10, 64)
		if err != nil {
			c.WriteError("ERR value is not an integer or out of range")
			return
		}
		n = int(max(min(v, aclLogMax), 0))
	default:
		c.WriteError(aclSyntaxError("LOG"))
		return
	}
	now := h.opt.Now()
	entries := h.log.list(n)
	c.WriteArrayHeader(len(entries))
	for _, e := range entries {
		c.WriteMapHeader(7)
		c.WriteBulkString("count")
		c.WriteInt(e.count)
		for _, kv := range [][2]string{{"reason", e.reason}, {"context", e.context}, {"object", e.object}, {"username", e.account}} {
			c.WriteBulkString(kv[0])
			c.WriteBulkString(kv[1])
		}
		c.WriteBulkString("age-seconds")
		c.WriteDouble(float64(now.Sub(e.created).Milliseconds()) / 1000)
		c.WriteBulkString("client-info")
		c.WriteBulkString(strings.TrimSuffix(e.clientInfo, "\n"))
	}
}

// aclGenPass answers ACL GENPASS [bits]: that many random bits (256 by
// default) in hex.
func (h *handler) aclGenPass(c *resp.Conn, args [][]byte) {
	bits := int64(256)
	switch len(args) {
	case 2:
	case 3:
		v, err := strconv.ParseInt(string(args[2]), 10, 64)
		if err != nil {
			c.WriteError("ERR value is not an integer or out of range")
			return
		}
		if v <= 0 || v > 4096 {
			c.WriteError("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")
			return
		}
		bits = v
	default:
		c.WriteError(aclSyntaxError("GENPASS"))
		return
	}
	chars := (bits + 3) / 4
	buf := make([]byte, (chars+1)/2)
	_, _ = rand.Read(buf) // crypto/rand.Read does not fail
	c.WriteBulkString(hex.EncodeToString(buf)[:chars])
}

// aclDryRun answers ACL DRYRUN <user> <command> [args...]: +OK, or Redis'
// text (a bulk string) saying which rule denies it.
func (h *handler) aclDryRun(c *resp.Conn, args [][]byte) {
	u := h.user(h.b.State(), string(args[2]))
	if u == nil {
		c.WriteError("ERR User '" + string(args[2]) + "' not found")
		return
	}
	cmdArgs := args[3:]
	spec, errText := lookupCommand(cmdArgs)
	if errText != "" {
		if strings.HasPrefix(errText, "ERR wrong number") {
			c.WriteError(errText)
			return
		}
		c.WriteError("ERR Command '" + string(cmdArgs[0]) + "' not found")
		return
	}
	switch reason, object := denial(h.rulesOf(u), spec, cmdArgs); reason {
	case "command":
		c.WriteBulkString("This user has no permissions to run the '" + object + "' command")
	case "channel":
		c.WriteBulkString("This user has no permissions to access the '" + object + "' channel")
	default:
		c.WriteStatus("OK")
	}
}

func (h *handler) aclHelp(c *resp.Conn, _ [][]byte) {
	writeHelp(c, "ACL", []string{
		"CAT [<category>]",
		"    List all commands that belong to <category>, or all command categories",
		"    when no category is specified.",
		"DELUSER <username> [<username> ...]",
		"    Delete a list of users.",
		"DRYRUN <username> <command> [<arg> ...]",
		"    Returns whether the user can execute the given command without executing the command.",
		"GETUSER <username>",
		"    Get the user's details.",
		"GENPASS [<bits>]",
		"    Generate a secure 256-bit user password. The optional `bits` argument can",
		"    be used to specify a different size.",
		"LIST",
		"    Show users details in config file format.",
		"LOAD",
		"    Reload users from the ACL file.",
		"LOG [<count> | RESET]",
		"    Show the ACL log entries.",
		"SAVE",
		"    Save the current config to the ACL file.",
		"SETUSER <username> <attribute> [<attribute> ...]",
		"    Create or modify a user with the specified attributes.",
		"USERS",
		"    List all the registered usernames.",
		"WHOAMI",
		"    Return the current connection username.",
	})
}

// --- SHUTDOWN ---

// shutdown answers SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT] with
// Redis 7.0's argument rules. There is nothing to save and no shutdown
// ever waits, so ABORT always answers "No shutdown in progress."; any
// other valid form stops the monitor as a SIGTERM does
// (HandlerOptions.Shutdown) and, as in Redis, closes the connection
// without a reply.
func (h *handler) shutdown(c *resp.Conn, args [][]byte) {
	var save, nosave, abort, other bool
	for _, a := range args[1:] {
		switch strings.ToLower(string(a)) {
		case "nosave":
			nosave = true
		case "save":
			save = true
		case "now", "force":
			other = true
		case "abort":
			abort = true
		default:
			c.WriteError("ERR syntax error")
			return
		}
	}
	if (save && nosave) || (abort && (save || nosave || other)) {
		c.WriteError("ERR syntax error")
		return
	}
	if abort {
		c.WriteError("ERR No shutdown in progress.")
		return
	}
	if h.opt.Shutdown == nil {
		c.WriteError("ERR Errors trying to SHUTDOWN. Check logs.")
		return
	}
	h.opt.Logger.Warn("SHUTDOWN asked by a client: stopping", "client", c.RemoteAddr(), "user", h.connUserName(c))
	h.opt.Shutdown()
	_ = c.Close()
}

// clientInfoLine is what the ACL LOG records about a client.
func clientInfoLine(h *handler, c *resp.Conn) string {
	return fmt.Sprintf("id=%d addr=%s laddr=%s name=%s user=%s resp=%d",
		c.ID(), c.RemoteAddr(), c.LocalAddr(), c.Name(), h.connUserName(c), c.Proto())
}
