package sentinel

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/raftsentinel/raftsentinel/acl"
	"github.com/raftsentinel/raftsentinel/resp"
)

// COMMAND and CLIENT LIST/KILL: what a client or an operator's tool asks
// about the server itself.

// CommandCounts calls fn with every command's name and how many times this
// handler admitted it (for metrics). h must come from NewHandler.
func CommandCounts(h resp.Handler, fn func(name string, n int64)) {
	hh, ok := h.(*handler)
	if !ok {
		return
	}
	for i, name := range commandNamesByID {
		if n := hh.calls[i].Load(); n > 0 {
			fn(name, n)
		}
	}
}

// commandNames returns the top-level command names, sorted.
func commandNames() []string {
	names := make([]string, 0, len(commandTable))
	for n := range commandTable {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// categoriesOf returns the ACL categories of a command with their "@",
// in Redis' category order.
func categoriesOf(full string) []string {
	cats := acl.Categories(full)
	var out []string
	for _, k := range acl.CategoryNames() {
		if slices.Contains(cats, k) {
			out = append(out, "@"+k)
		}
	}
	return out
}

// cmdEntry is one command or subcommand as COMMAND reports it.
type cmdEntry struct {
	name  string // full name
	arity int
	subs  []cmdEntry
}

// commandEntries returns every top-level command with its subcommands,
// sorted by name.
func commandEntries() []cmdEntry {
	var out []cmdEntry
	for _, n := range commandNames() {
		spec := commandTable[n]
		e := cmdEntry{name: n, arity: spec.arity}
		for _, s := range sortedKeys(spec.subs) {
			e.subs = append(e.subs, cmdEntry{name: n + "|" + s, arity: spec.subs[s].arity})
		}
		out = append(out, e)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// findEntry finds a command or "cmd|sub" by name (any case).
func findEntry(name string) (cmdEntry, bool) {
	name = strings.ToLower(name)
	top, sub, hasSub := strings.Cut(name, "|")
	for _, e := range commandEntries() {
		if e.name != top {
			continue
		}
		if !hasSub {
			return e, true
		}
		for _, s := range e.subs {
			if s.name == top+"|"+sub {
				return s, true
			}
		}
	}
	return cmdEntry{}, false
}

// writeCommandInfo writes Redis 7.0's 10-element command description:
// name, arity, flags, first/last key and step (no keys here), ACL
// categories, tips, key specs (none) and subcommands. In RESP3 flags,
// categories, tips, key specs and an empty subcommand list are sets.
func writeCommandInfo(c *resp.Conn, e cmdEntry) {
	m, _ := specOf(e.name)
	c.WriteArrayHeader(10)
	c.WriteBulkString(e.name)
	c.WriteInt(int64(e.arity))
	writeStatusSet(c, m.flags)
	c.WriteInt(0)
	c.WriteInt(0)
	c.WriteInt(0)
	writeStatusSet(c, categoriesOf(e.name))
	c.WriteSetHeader(len(m.tips))
	for _, t := range m.tips {
		c.WriteBulkString(t)
	}
	c.WriteSetHeader(0)
	if len(e.subs) == 0 {
		c.WriteSetHeader(0)
		return
	}
	c.WriteArrayHeader(len(e.subs))
	for _, s := range e.subs {
		writeCommandInfo(c, s)
	}
}

func writeStatusSet(c *resp.Conn, items []string) {
	c.WriteSetHeader(len(items))
	for _, s := range items {
		c.WriteStatus(s)
	}
}

// writeCommandDocs writes one command's COMMAND DOCS map: summary and
// group, and the subcommands' docs for a container. The summaries are
// this implementation's own; Redis' since, complexity, history and
// arguments are not reported.
func writeCommandDocs(c *resp.Conn, e cmdEntry) {
	m, _ := specOf(e.name)
	n := 2
	if len(e.subs) > 0 {
		n++
	}
	c.WriteMapHeader(n)
	c.WriteBulkString("summary")
	c.WriteBulkString(m.summary)
	c.WriteBulkString("group")
	c.WriteBulkString(m.group)
	if len(e.subs) > 0 {
		c.WriteBulkString("subcommands")
		c.WriteMapHeader(len(e.subs))
		for _, s := range e.subs {
			c.WriteBulkString(s.name)
			writeCommandDocs(c, s)
		}
	}
}

// command answers COMMAND, COMMAND COUNT, COMMAND LIST [FILTERBY ACLCAT
// <cat> | PATTERN <glob> | MODULE <name>], COMMAND INFO [name ...],
// COMMAND DOCS [name ...], COMMAND GETKEYS / GETKEYSANDFLAGS and COMMAND
// HELP over the Sentinel command set, in Redis 7.0's shapes. COUNT counts
// top-level commands; LIST names subcommands too ("acl|setuser"), as
// Redis 7.0 does.
func (h *handler) command(c *resp.Conn, args [][]byte) {
	entries := commandEntries()
	if len(args) == 1 {
		c.WriteArrayHeader(len(entries))
		for _, e := range entries {
			writeCommandInfo(c, e)
		}
		return
	}
	sub := strings.ToLower(string(args[1]))
	subSpec, ok := commandTable["command"].subs[sub]
	arity := subSpec.arity
	if !ok {
		c.WriteError(fmt.Sprintf("ERR unknown subcommand '%s'. Try COMMAND HELP.", clipArg(args[1], 128)))
		return
	}
	if n := len(args); (arity > 0 && n != arity) || n < -arity {
		c.WriteError(arityErrorText("command|" + sub))
		return
	}
	switch sub {
	case "count":
		c.WriteInt(int64(len(entries)))
	case "list":
		h.commandList(c, args, entries)
	case "info":
		if len(args) == 2 {
			c.WriteArrayHeader(len(entries))
			for _, e := range entries {
				writeCommandInfo(c, e)
			}
			return
		}
		c.WriteArrayHeader(len(args) - 2)
		for _, a := range args[2:] {
			if e, ok := findEntry(string(a)); ok {
				writeCommandInfo(c, e)
			} else {
				c.WriteNull()
			}
		}
	case "docs":
		want := entries
		if len(args) > 2 {
			want = nil
			for _, a := range args[2:] {
				if e, ok := findEntry(string(a)); ok {
					want = append(want, e)
				}
			}
		}
		c.WriteMapHeader(len(want))
		for _, e := range want {
			c.WriteBulkString(e.name)
			writeCommandDocs(c, e)
		}
	case "getkeys", "getkeysandflags":
		if _, errText := lookupCommand(args[2:]); errText != "" {
			c.WriteError("ERR Invalid command specified")
			return
		}
		c.WriteError("ERR The command has no key arguments")
	case "help":
		writeHelp(c, "COMMAND", []string{
			"(no subcommand)", "    Return details about all commands.",
			"COUNT", "    Return the total number of commands.",
			"DOCS [<command-name> ...]", "    Return documentary information about commands.",
			"GETKEYS <full-command>", "    Return the keys of a command (there are none here).",
			"GETKEYSANDFLAGS <full-command>", "    Return the keys of a command and their flags (none here).",
			"INFO [<command-name> ...]", "    Return details about the named commands, or all.",
			"LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
			"    Return the names of all commands, or of those matching the filter.",
		})
	}
}

// commandList answers COMMAND LIST [FILTERBY ...].
func (h *handler) commandList(c *resp.Conn, args [][]byte, entries []cmdEntry) {
	keep := func(string) bool { return true }
	switch {
	case len(args) == 2:
	case len(args) == 5 && strings.EqualFold(string(args[2]), "filterby"):
		val := string(args[4])
		switch strings.ToLower(string(args[3])) {
		case "aclcat":
			keep = func(n string) bool { return slices.Contains(acl.Categories(n), strings.ToLower(val)) }
		case "pattern":
			keep = func(n string) bool { return resp.Match(strings.ToLower(val), n) }
		case "module":
			keep = func(string) bool { return false } // no modules
		default:
			c.WriteError("ERR syntax error")
			return
		}
	default:
		c.WriteError("ERR syntax error")
		return
	}
	var names []string
	for _, e := range entries {
		for _, x := range append([]cmdEntry{e}, e.subs...) {
			if keep(x.name) {
				names = append(names, x.name)
			}
		}
	}
	c.WriteArrayHeader(len(names))
	for _, n := range names {
		c.WriteBulkString(n)
	}
}

// clientLine formats one CLIENT LIST / CLIENT INFO line.
func clientLine(c *resp.Conn) string {
	flags := "N"
	if c.Subscriptions() > 0 {
		flags = "P"
	}
	return fmt.Sprintf("id=%d addr=%s laddr=%s name=%s db=0 sub=%d flags=%s resp=%d\n",
		c.ID(), c.RemoteAddr(), c.LocalAddr(), c.Name(), c.Subscriptions(), flags, c.Proto())
}

// clientList answers CLIENT LIST [TYPE normal|pubsub] [ID id ...].
func (h *handler) clientList(c *resp.Conn, args [][]byte) {
	conns := c.Server().Conns()
	var typ string
	ids := map[int64]bool{}
	for i := 2; i < len(args); i++ {
		switch strings.ToLower(string(args[i])) {
		case "type":
			if i+1 >= len(args) {
				c.WriteError("ERR syntax error")
				return
			}
			typ = strings.ToLower(string(args[i+1]))
			if typ != "normal" && typ != "pubsub" && typ != "master" && typ != "replica" && typ != "slave" {
				c.WriteError(fmt.Sprintf("ERR Unknown client type '%s'", args[i+1]))
				return
			}
			i++
		case "id":
			if i+1 >= len(args) {
				c.WriteError("ERR syntax error")
				return
			}
			for i++; i < len(args); i++ {
				id, err := strconv.ParseInt(string(args[i]), 10, 64)
				if err != nil || id <= 0 {
					c.WriteError("ERR Invalid client ID")
					return
				}
				ids[id] = true
			}
		default:
			c.WriteError("ERR syntax error")
			return
		}
	}
	var b strings.Builder
	for _, x := range conns {
		if len(ids) > 0 && !ids[x.ID()] {
			continue
		}
		if typ != "" && typ != clientType(x) {
			continue
		}
		b.WriteString(clientLine(x))
	}
	c.WriteBulkString(b.String())
}

func clientType(c *resp.Conn) string {
	if c.Subscriptions() > 0 {
		return "pubsub"
	}
	return "normal"
}

// clientKill answers CLIENT KILL <addr> (old form: +OK or an error) and
// CLIENT KILL <filter> <value> ... (ID, ADDR, LADDR, TYPE, USER, SKIPME:
// the number killed; filters combine with AND, and SKIPME yes, the
// default, spares the calling connection). A connection that never
// authenticated is the "default" user's.
func (h *handler) clientKill(c *resp.Conn, args [][]byte) {
	conns := c.Server().Conns()
	if len(args) == 3 {
		for _, x := range conns {
			if x.RemoteAddr() == string(args[2]) {
				c.WriteStatus("OK")
				x.Close()
				return
			}
		}
		c.WriteError("ERR No such client")
		return
	}
	if len(args)%2 != 0 {
		c.WriteError("ERR syntax error")
		return
	}
	var id int64
	var addr, laddr, typ, user string
	skipMe := true
	for i := 2; i < len(args); i += 2 {
		val := string(args[i+1])
		switch strings.ToLower(string(args[i])) {
		case "id":
			v, err := strconv.ParseInt(val, 10, 64)
			if err != nil || v <= 0 {
				c.WriteError("ERR client-id should be greater than 0")
				return
			}
			id = v
		case "addr":
			addr = val
		case "laddr":
			laddr = val
		case "user":
			if h.user(h.b.State(), val) == nil {
				c.WriteError(fmt.Sprintf("ERR No such user '%s'", val))
				return
			}
			user = val
		case "type":
			typ = strings.ToLower(val)
			if typ != "normal" && typ != "pubsub" && typ != "master" && typ != "replica" && typ != "slave" {
				c.WriteError(fmt.Sprintf("ERR Unknown client type '%s'", val))
				return
			}
		case "skipme":
			switch strings.ToLower(val) {
			case "yes":
				skipMe = true
			case "no":
				skipMe = false
			default:
				c.WriteError("ERR syntax error")
				return
			}
		default:
			c.WriteError("ERR syntax error")
			return
		}
	}
	var victims []*resp.Conn
	for _, x := range conns {
		switch {
		case id != 0 && x.ID() != id,
			addr != "" && x.RemoteAddr() != addr,
			laddr != "" && x.LocalAddr() != laddr,
			typ != "" && typ != clientType(x),
			user != "" && h.connUserName(x) != user,
			skipMe && x == c:
			continue
		}
		victims = append(victims, x)
	}
	c.WriteInt(int64(len(victims)))
	// With SKIPME no the caller may be among them: it is closed too, and
	// its reply is lost with the connection.
	for _, x := range victims {
		x.Close()
	}
}
