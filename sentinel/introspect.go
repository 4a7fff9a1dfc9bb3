package sentinel

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/raftsentinel/raftsentinel/sentinel/resp"
)

// COMMAND and CLIENT LIST/KILL: what a client or an operator's tool asks
// about the server itself.

func init() {
	// Registered here: the COMMAND handler reads commandTable itself.
	commandTable["command"] = cmdSpec{arity: -1, run: (*handler).command}
	commandTable["client"].subs["list"] = cmdSpec{arity: -2, run: (*handler).clientList}
	commandTable["client"].subs["kill"] = cmdSpec{arity: -3, run: (*handler).clientKill}
	numberCommands()
}

// commandNamesByID names each call counter: "ping", "sentinel|masters", ...
// specsByID holds the command of each id.
// commandIndex finds a command's id by name, subIndex[id] the subcommands
// of command id (nil when it has none).
var (
	commandNamesByID []string
	specsByID        []cmdSpec
	commandIndex     nameIndex
	subIndex         []*nameIndex
)

// numberCommands gives every command and subcommand its counter index.
// It runs once, at package initialisation; the table is fixed after it.
func numberCommands() {
	for _, name := range commandNames() {
		spec := commandTable[name]
		spec.id = len(commandNamesByID)
		commandNamesByID = append(commandNamesByID, name)
		specsByID = append(specsByID, spec)
		subIndex = append(subIndex, nil)
		commandIndex.add(name, spec.id)
		subs := make([]string, 0, len(spec.subs))
		for s := range spec.subs {
			subs = append(subs, s)
		}
		sort.Strings(subs)
		for _, s := range subs {
			sub := spec.subs[s]
			sub.id = len(commandNamesByID)
			commandNamesByID = append(commandNamesByID, name+"|"+s)
			specsByID = append(specsByID, sub)
			subIndex = append(subIndex, nil)
			spec.subs[s] = sub
			if subIndex[spec.id] == nil {
				subIndex[spec.id] = &nameIndex{}
			}
			subIndex[spec.id].add(s, sub.id)
		}
		commandTable[name] = spec
	}
}

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

// commandFlags are the COMMAND INFO flags we report per command.
func commandFlags(name string) []string {
	switch name {
	case "auth", "hello":
		return []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}
	case "ping", "role", "publish":
		return []string{"fast", "sentinel"}
	case "subscribe", "psubscribe", "unsubscribe", "punsubscribe":
		return []string{"pubsub", "noscript", "loading", "stale", "sentinel"}
	}
	return []string{"sentinel"}
}

// writeCommandInfo writes Redis 7's 10-element command description.
func writeCommandInfo(c *resp.Conn, name string, spec cmdSpec) {
	c.WriteArrayHeader(10)
	c.WriteBulkString(name)
	c.WriteInt(int64(spec.arity))
	flags := commandFlags(strings.SplitN(name, "|", 2)[0])
	c.WriteArrayHeader(len(flags))
	for _, f := range flags {
		c.WriteStatus(f)
	}
	c.WriteInt(0) // first key
	c.WriteInt(0) // last key
	c.WriteInt(0) // step
	c.WriteArrayHeader(0)
	c.WriteArrayHeader(0)
	c.WriteArrayHeader(0)
	subs := make([]string, 0, len(spec.subs))
	for s := range spec.subs {
		subs = append(subs, s)
	}
	sort.Strings(subs)
	c.WriteArrayHeader(len(subs))
	for _, s := range subs {
		writeCommandInfo(c, name+"|"+s, spec.subs[s])
	}
}

// command answers COMMAND, COMMAND COUNT, COMMAND LIST, COMMAND INFO
// [name ...] and COMMAND DOCS [name ...] over the Sentinel command set.
func (h *handler) command(c *resp.Conn, args [][]byte) {
	names := commandNames()
	if len(args) == 1 {
		c.WriteArrayHeader(len(names))
		for _, n := range names {
			writeCommandInfo(c, n, commandTable[n])
		}
		return
	}
	sub := strings.ToLower(string(args[1]))
	switch sub {
	case "count":
		if len(args) != 2 {
			c.WriteError(arityErrorText("command|count"))
			return
		}
		c.WriteInt(int64(len(names)))
	case "list":
		c.WriteArrayHeader(len(names))
		for _, n := range names {
			c.WriteBulkString(n)
		}
	case "info":
		want := names
		if len(args) > 2 {
			want = want[:0:0]
			for _, a := range args[2:] {
				want = append(want, strings.ToLower(string(a)))
			}
		}
		c.WriteArrayHeader(len(want))
		for _, n := range want {
			if spec, ok := commandTable[n]; ok {
				writeCommandInfo(c, n, spec)
			} else {
				c.WriteNullArray()
			}
		}
	case "docs":
		want := names
		if len(args) > 2 {
			want = want[:0:0]
			for _, a := range args[2:] {
				if _, ok := commandTable[strings.ToLower(string(a))]; ok {
					want = append(want, strings.ToLower(string(a)))
				}
			}
		}
		c.WriteMapHeader(len(want))
		for _, n := range want {
			c.WriteBulkString(n)
			c.WriteMapHeader(2)
			c.WriteBulkString("summary")
			c.WriteBulkString("Sentinel-protocol command " + strings.ToUpper(n))
			c.WriteBulkString("group")
			c.WriteBulkString("sentinel")
		}
	case "help":
		writeHelp(c, "COMMAND", []string{
			"(no subcommand)", "    Return details about all commands.",
			"COUNT", "    Return the total number of commands.",
			"DOCS [<command-name> ...]", "    Return documentary information about commands.",
			"INFO [<command-name> ...]", "    Return details about the named commands, or all.",
			"LIST", "    Return the names of all commands.",
		})
	default:
		c.WriteError(fmt.Sprintf("ERR unknown subcommand '%s'. Try COMMAND HELP.", clipArg(args[1], 128)))
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
