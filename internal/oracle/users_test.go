//go:build integration

package oracle

import (
	"sort"
	"strings"
	"testing"
)

// TestDifferentialUsers compares ACL, CLIENT KILL, SHUTDOWN (its error
// forms only: a valid one stops the oracle) and COMMAND introspection.
// ACL SETUSER sent to one Redis Sentinel changes that sentinel only; a
// raftsentinel group replicates it, which the replies of the monitor
// asked cannot show. Every case leaves the users as it found them (it
// runs once per protocol).
//
// Decisions where the two need not match exactly:
//   - COMMAND DOCS: raftsentinel documents its commands in its own words
//     (summary and group, subcommands for containers) without Redis'
//     since/complexity/history/arguments; compared by shape of the
//     missing-name case only, the rest is an accepted divergence.
//   - COMMAND INFO sentinel: SENTINEL FAILOVER's arity (see the case).
//   - COMMAND LIST / COMMAND INFO client / ACL CAT connection: Redis 7.0 lists CLIENT
//     subcommands this port does not have (PAUSE, UNPAUSE, REPLY, ...)
//     and lacks CLIENT SETINFO and QUIT; accepted divergences.
func TestDifferentialUsers(t *testing.T) {
	p := startPair(t, false)
	rec := &recorder{}
	runCases(t, p, rec, userCases())
	runCases(t, p, rec, commandIntrospectionCases())
	rec.summary(t)
}

// maskLog hides the values of an ACL LOG reply that depend on time and
// on the connection (age-seconds, client-info).
func maskLog(r *Reply) {
	if r == nil || !r.Kind.aggregate() {
		return
	}
	for _, e := range r.Elems {
		kv, ok := e.KV()
		if !ok {
			continue
		}
		for _, p := range kv {
			if p[0].Str == "age-seconds" || p[0].Str == "client-info" {
				p[1].Kind, p[1].Str = KBulk, "<masked>"
			}
		}
	}
}

// sortAll sorts an aggregate's elements (lists in dict order).
func sortAll(r *Reply) {
	if r != nil && r.Kind.aggregate() {
		sortElems(r)
	}
}

// sortSubcommands sorts the subcommand list (element 9) of every command
// description of a COMMAND INFO reply, and the descriptions themselves.
func sortSubcommands(r *Reply) {
	if r == nil || !r.Kind.aggregate() {
		return
	}
	for _, e := range r.Elems {
		if e.Kind.aggregate() && len(e.Elems) == 10 && e.Elems[9].Kind.aggregate() {
			sortElems(e.Elems[9])
		}
	}
	sortElems(r)
}

// ruleTokensSorted sorts the space-separated tokens of every text in r
// (GETUSER's "commands", ACL LIST's lines). Redis 7.0 lists a user's
// commands in its command dictionary's iteration order, which follows the
// process's random hash seed: two runs of redis-sentinel need not agree on
// it ("-@all +role +ping" in one, "-@all +ping +role" in the next), so
// only the set of rules is compared.
func ruleTokensSorted(r *Reply) {
	if r == nil {
		return
	}
	if r.Kind.aggregate() {
		for _, e := range r.Elems {
			ruleTokensSorted(e)
		}
		return
	}
	if f := strings.Fields(r.Str); len(f) > 1 {
		sort.Strings(f)
		r.Str = strings.Join(f, " ")
	}
}

func userCases() []diffCase {
	const noFile = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."
	return []diffCase{
		{name: "ACL WHOAMI USERS LIST", steps: []step{
			cmd("ACL", "WHOAMI"), cmd("ACL", "USERS"), cmd("ACL", "LIST").with(ruleTokensSorted),
			cmd("ACL", "GETUSER", "default").with(ruleTokensSorted), cmd("ACL", "GETUSER", "nosuch"),
		}},
		{name: "ACL SETUSER lifecycle", steps: []step{
			ok("ACL", "SETUSER", "u1", "on", ">pw", "-@all", "+ping"),
			cmd("ACL", "GETUSER", "u1").with(ruleTokensSorted),
			cmd("ACL", "LIST").with(ruleTokensSorted),
			cmd("ACL", "USERS"),
			ok("ACL", "SETUSER", "u1", "+role", "&chan*", "~*"),
			cmd("ACL", "GETUSER", "u1").with(ruleTokensSorted),
			ok("ACL", "SETUSER", "u1", "<pw", ">pw2", ">pw3", "allchannels"),
			cmd("ACL", "GETUSER", "u1").with(ruleTokensSorted),
			cmd("ACL", "LIST").with(ruleTokensSorted),
			ok("ACL", "SETUSER", "u1", "nopass", "resetchannels", "resetkeys", "+@all"),
			cmd("ACL", "GETUSER", "u1").with(ruleTokensSorted),
			ok("ACL", "SETUSER", "u1", "reset"),
			cmd("ACL", "LIST").with(ruleTokensSorted),
			ok("ACL", "SETUSER", "u0"),
			cmd("ACL", "GETUSER", "u0").with(ruleTokensSorted),
			cmd("ACL", "DELUSER", "u1", "nosuch", "u0").expect(":2"),
			cmd("ACL", "GETUSER", "u1").with(ruleTokensSorted),
			cmd("ACL", "DELUSER", "nosuch").expect(":0"),
		}},
		{name: "ACL SETUSER errors", steps: []step{
			fails("ERR Error in ACL SETUSER modifier 'badrule': Syntax error", "ACL", "SETUSER", "x", "badrule"),
			fails("ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL", "ACL", "SETUSER", "x", "+nosuch"),
			fails("ERR Error in ACL SETUSER modifier '+@nosuch': Unknown command or category name in ACL", "ACL", "SETUSER", "x", "+@nosuch"),
			fails("ERR Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters", "ACL", "SETUSER", "x", "#abc"),
			fails("ERR Error in ACL SETUSER modifier '<nosuch': The password you are trying to remove from the user does not exist", "ACL", "SETUSER", "x", "on", "<nosuch"),
			cmd("ACL", "GETUSER", "x"), // not created
			fails("ERR The 'default' user cannot be removed", "ACL", "DELUSER", "default"),
			fails("ERR wrong number of arguments for 'acl|setuser' command", "ACL", "SETUSER"),
			fails("ERR wrong number of arguments for 'acl|deluser' command", "ACL", "DELUSER"),
			fails("ERR wrong number of arguments for 'acl|getuser' command", "ACL", "GETUSER"),
		}},
		{name: "ACL misc", steps: []step{
			fails(noFile, "ACL", "SAVE"),
			fails(noFile, "ACL", "LOAD"),
			fails("ERR wrong number of arguments for 'acl|save' command", "ACL", "SAVE", "x"),
			fails("ERR wrong number of arguments for 'acl' command", "ACL"),
			fails("ERR unknown subcommand 'NOSUCH'. Try ACL HELP.", "ACL", "NOSUCH"),
			fails("ERR wrong number of arguments for 'acl|whoami' command", "ACL", "WHOAMI", "x"),
			fails("ERR wrong number of arguments for 'acl|users' command", "ACL", "USERS", "x"),
			fails("ERR wrong number of arguments for 'acl|list' command", "ACL", "LIST", "x"),
			cmd("ACL", "CAT"),
			cmd("ACL", "CAT", "pubsub").with(sortAll),
			fails("ERR Unknown category 'nosuch'", "ACL", "CAT", "nosuch"),
			fails("ERR unknown subcommand or wrong number of arguments for 'CAT'. Try ACL HELP.", "ACL", "CAT", "a", "b"),
			fails("ERR value is not an integer or out of range", "ACL", "LOG", "x"),
			fails("ERR unknown subcommand or wrong number of arguments for 'LOG'. Try ACL HELP.", "ACL", "LOG", "1", "2"),
			fails("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096", "ACL", "GENPASS", "0"),
			fails("ERR value is not an integer or out of range", "ACL", "GENPASS", "x"),
			fails("ERR User 'nosuch' not found", "ACL", "DRYRUN", "nosuch", "ping"),
			fails("ERR Command 'nosuch' not found", "ACL", "DRYRUN", "default", "nosuch"),
			ok("ACL", "DRYRUN", "default", "role"),
			cmd("ACL", "HELP").with(onlyFirst),
		}},
		{name: "ACL AUTH and LOG", steps: []step{
			ok("ACL", "LOG", "RESET"),
			ok("ACL", "SETUSER", "u2", "on", ">pw", "-@all", "+ping", "+acl|whoami"),
			fails("WRONGPASS invalid username-password pair or user is disabled.", "AUTH", "u2", "bad"),
			ok("AUTH", "u2", "pw"),
			cmd("ACL", "WHOAMI"),
			fails("NOPERM this user has no permissions to run the 'role' command", "ROLE"),
			ok("AUTH", "default", "x"),
			cmd("ACL", "DRYRUN", "u2", "role"),
			cmd("ACL", "LOG").with(maskLog),
			cmd("ACL", "LOG", "1").with(maskLog),
			ok("ACL", "SETUSER", "u2", "off"),
			fails("WRONGPASS invalid username-password pair or user is disabled.", "AUTH", "u2", "pw"),
			cmd("ACL", "DELUSER", "u2").expect(":1"),
			fails("WRONGPASS invalid username-password pair or user is disabled.", "AUTH", "u2", "pw"),
			ok("ACL", "LOG", "RESET"),
			cmd("ACL", "LOG"),
		}},
		{name: "CLIENT KILL filters", steps: []step{
			fails("ERR No such user 'nosuch'", "CLIENT", "KILL", "USER", "nosuch"),
			ok("ACL", "SETUSER", "k", "on", ">pw", "+@all"),
			cmd("CLIENT", "KILL", "USER", "k").expect(":0"),
			cmd("CLIENT", "KILL", "USER", "k", "SKIPME", "no").expect(":0"),
			cmd("ACL", "DELUSER", "k").expect(":1"),
			fails("ERR No such client", "CLIENT", "KILL", "1.2.3.4:5"),
			fails("ERR No such client", "CLIENT", "KILL", "ID"),
			fails("ERR client-id should be greater than 0", "CLIENT", "KILL", "ID", "x"),
			fails("ERR client-id should be greater than 0", "CLIENT", "KILL", "ID", "0"),
			cmd("CLIENT", "KILL", "ID", "999999").expect(":0"),
			fails("ERR syntax error", "CLIENT", "KILL", "SKIPME", "x"),
			cmd("CLIENT", "KILL", "ADDR", "1.2.3.4:5", "SKIPME", "yes").expect(":0"),
			cmd("CLIENT", "KILL", "LADDR", "1.2.3.4:5").expect(":0"),
			fails("ERR syntax error", "CLIENT", "KILL", "MAXAGE", "10"),
			fails("ERR syntax error", "CLIENT", "KILL", "foo", "bar"),
			fails("ERR Unknown client type 'foo'", "CLIENT", "KILL", "TYPE", "foo"),
			fails("ERR syntax error", "CLIENT", "KILL", "ID", "1", "ADDR"),
		}},
		{name: "SHUTDOWN errors", steps: []step{
			fails("ERR syntax error", "SHUTDOWN", "x"),
			fails("ERR syntax error", "SHUTDOWN", "NOSAVE", "SAVE"),
			fails("ERR syntax error", "SHUTDOWN", "NOW", "x"),
			fails("ERR syntax error", "SHUTDOWN", "ABORT", "NOW"),
			fails("ERR syntax error", "SHUTDOWN", "NOSAVE", "NOW", "FORCE", "ABORT"),
			fails("ERR No shutdown in progress.", "SHUTDOWN", "ABORT"),
			fails("ERR No shutdown in progress.", "SHUTDOWN", "ABORT", "ABORT"),
		}},
		{name: "SHUTDOWN needs @admin", steps: []step{
			ok("ACL", "SETUSER", "na", "on", ">pw", "+@all", "-@admin"),
			ok("AUTH", "na", "pw"),
			fails("NOPERM this user has no permissions to run the 'shutdown' command", "SHUTDOWN"),
			fails("NOPERM this user has no permissions to run the 'acl|setuser' command", "ACL", "SETUSER", "na", "off"),
			cmd("ACL", "WHOAMI"),
			ok("AUTH", "default", "x"),
			cmd("ACL", "DELUSER", "na").expect(":1"),
		}},
	}
}

func commandIntrospectionCases() []diffCase {
	var cases []diffCase
	for _, name := range []string{"ping", "auth", "hello", "info", "role", "publish", "subscribe", "psubscribe",
		"unsubscribe", "punsubscribe", "shutdown", "acl", "command",
		"acl|setuser", "acl|whoami", "client|kill", "client|list", "client|id", "client|info", "client|getname",
		"client|setname", "client|help", "client|tracking", "sentinel|help", "sentinel|masters", "command|list", "nosuch"} {
		cases = append(cases, diffCase{name: "COMMAND INFO " + name, steps: []step{cmd("COMMAND", "INFO", name).with(sortSubcommands)}})
	}
	return append(cases,
		diffCase{name: "COMMAND INFO several", steps: []step{cmd("COMMAND", "INFO", "ping", "nosuch", "ACL|CAT")}},
		diffCase{name: "COMMAND LIST FILTERBY", steps: []step{
			cmd("COMMAND", "LIST", "FILTERBY", "PATTERN", "acl|*").with(sortAll),
			cmd("COMMAND", "LIST", "FILTERBY", "PATTERN", "s*").with(sortAll),
			cmd("COMMAND", "LIST", "FILTERBY", "ACLCAT", "pubsub").with(sortAll),
			cmd("COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch"),
			cmd("COMMAND", "LIST", "FILTERBY", "MODULE", "x"),
			fails("ERR syntax error", "COMMAND", "LIST", "FILTERBY"),
			fails("ERR syntax error", "COMMAND", "LIST", "FILTERBY", "x", "y"),
			fails("ERR syntax error", "COMMAND", "LIST", "x"),
		}},
		diffCase{name: "COMMAND errors", steps: []step{
			fails("ERR The command has no key arguments", "COMMAND", "GETKEYS", "ping", "x", "y"),
			fails("ERR Invalid command specified", "COMMAND", "GETKEYS", "nosuch", "x", "y"),
			fails("ERR The command has no key arguments", "COMMAND", "GETKEYSANDFLAGS", "ping", "x", "y"),
			fails("ERR wrong number of arguments for 'command|getkeys' command", "COMMAND", "GETKEYS", "ping"),
			fails("ERR wrong number of arguments for 'command|help' command", "COMMAND", "HELP", "x"),
			fails("ERR wrong number of arguments for 'command|count' command", "COMMAND", "COUNT", "x"),
			fails("ERR unknown subcommand 'NOSUCH'. Try COMMAND HELP.", "COMMAND", "NOSUCH"),
			cmd("COMMAND", "DOCS", "nosuch"),
		}},
		diffCase{name: "COMMAND LIST", steps: []step{cmd("COMMAND", "LIST").with(sortAll)},
			accepted: "Redis 7.0 lists CLIENT subcommands this port does not have (PAUSE, REPLY, ...) and has no CLIENT SETINFO or QUIT"},
		diffCase{name: "ACL CAT connection dangerous", steps: []step{
			cmd("ACL", "CAT", "connection").with(sortAll),
			cmd("ACL", "CAT", "dangerous").with(sortAll),
		}, accepted: "Redis 7.0 has CLIENT subcommands this port does not have (PAUSE, REPLY, ...)"},
		diffCase{name: "COMMAND INFO client", steps: []step{cmd("COMMAND", "INFO", "client").with(sortSubcommands)},
			accepted: "Redis 7.0 has CLIENT subcommands this port does not have (PAUSE, REPLY, ...) and no CLIENT SETINFO"},
		diffCase{name: "COMMAND INFO sentinel", steps: []step{cmd("COMMAND", "INFO", "sentinel").with(sortSubcommands)},
			accepted: "SENTINEL FAILOVER takes an optional COORDINATED here (arity -3; Redis 7.0: 3)"},
		diffCase{name: "COMMAND DOCS ping", steps: []step{cmd("COMMAND", "DOCS", "ping")},
			accepted: "raftsentinel's COMMAND DOCS gives its own summary and the group only (no since, complexity, history or arguments)"},
	)
}
