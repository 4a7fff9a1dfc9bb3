package sentinel

import (
	"runtime"
	"strings"
	"sync"

	"github.com/raftsentinel/raftsentinel/acl"
	"github.com/raftsentinel/raftsentinel/resp"
)

// connUsers remembers which user each connection authenticated as (for
// command rules, ACL WHOAMI, CLIENT KILL USER). resp.Conn carries only an
// "authenticated" bit, so the handler keeps the user itself, keyed by the
// connection's server and ID (IDs are unique per server and never
// reused); a runtime cleanup drops the entry once the connection is
// garbage, so closed connections leave nothing behind and no close hook is
// needed. A connection without an entry is the "default" user's.
type connUsers struct {
	mu sync.RWMutex
	m  map[connKey]connUser
}

type connKey struct {
	srv *resp.Server
	id  int64
}

type connUser struct {
	name string
}

// set records that c authenticated as name.
func (u *connUsers) set(c *resp.Conn, name string) {
	key := connKey{c.Server(), c.ID()}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[connKey]connUser{}
	}
	if _, ok := u.m[key]; !ok {
		runtime.AddCleanup(c, u.forget, key)
	}
	u.m[key] = connUser{name: name}
}

func (u *connUsers) forget(key connKey) {
	u.mu.Lock()
	delete(u.m, key)
	u.mu.Unlock()
}

// get returns the user c authenticated as; ok is false for a connection
// that never authenticated.
func (u *connUsers) get(c *resp.Conn) (connUser, bool) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	cu, ok := u.m[connKey{c.Server(), c.ID()}]
	return cu, ok
}

// len returns how many connections are tracked (for tests).
func (u *connUsers) len() int {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return len(u.m)
}

// restricted reports whether any file user has command rules.
func (h *handler) restricted() bool {
	for _, r := range h.opt.Permissions {
		if r != nil {
			return true
		}
	}
	return false
}

// authenticated records a successful AUTH or HELLO AUTH of c as user.
func (h *handler) authenticated(c *resp.Conn, user string) {
	c.SetAuthenticated(true)
	h.users.set(c, user)
}

// permitted checks c's user's rules for the command spec with args, in
// Redis' order (the command, then its channels), writing Redis 7.0's
// NOPERM error and an ACL LOG entry if denied. A connection whose user
// was deleted (ACL DELUSER, on any monitor) is closed, as Redis
// disconnects a deleted user's clients.
func (h *handler) permitted(c *resp.Conn, spec cmdSpec, args [][]byte) bool {
	if spec.noAuth {
		return true
	}
	st := h.b.State()
	if !h.hasRules && len(st.Users) == 0 && len(st.DeletedUsers) == 0 {
		return true // only file users, none with rules: the common case
	}
	name := h.connUserName(c)
	u := h.user(st, name)
	if u == nil {
		_ = c.Close()
		return false
	}
	switch reason, object := denial(h.rulesOf(u), spec, args); reason {
	case "command":
		h.log.add(h.opt.Now(), reason, object, name, clientInfoLine(h, c))
		c.WriteError("NOPERM this user has no permissions to run the '" + object + "' command")
		return false
	case "channel":
		h.log.add(h.opt.Now(), reason, object, name, clientInfoLine(h, c))
		c.WriteError("NOPERM this user has no permissions to access one of the channels used as arguments")
		return false
	}
	return true
}

// denial applies rules to the command spec with args: "" if allowed, else
// the reason ("command" or "channel") and what was denied (the command's
// full name, or the channel).
func denial(rules *acl.Rules, spec cmdSpec, args [][]byte) (reason, object string) {
	if rules == nil || spec.noAuth {
		return "", ""
	}
	name := commandNamesByID[spec.id]
	if name == "command" && len(args) > 1 {
		// COMMAND's subcommands are parsed by its handler, but Redis' rules
		// and error name them ('command|count').
		if sub := strings.ToLower(string(args[1])); commandTable["command"].subs[sub].arity != 0 {
			name += "|" + sub
		}
	}
	if !rules.Allows(name) {
		return "command", name
	}
	var channels [][]byte
	pattern := false
	switch name {
	case "publish":
		channels = args[1:2]
	case "subscribe":
		channels = args[1:]
	case "psubscribe":
		channels, pattern = args[1:], true
	}
	if len(channels) == 0 {
		return "", ""
	}
	all, patterns := rules.Channels()
	if all {
		return "", ""
	}
	for _, ch := range channels {
		if !channelAllowed(patterns, string(ch), pattern) {
			return "channel", string(ch)
		}
	}
	return "", ""
}

// channelAllowed applies Redis' rule: a PSUBSCRIBE pattern must equal an
// allowed pattern; a channel must match one (glob).
func channelAllowed(patterns []string, ch string, isPattern bool) bool {
	for _, p := range patterns {
		if (isPattern && p == ch) || (!isPattern && resp.Match(p, ch)) {
			return true
		}
	}
	return false
}
