//go:build integration

package oracle

import (
	"strings"
	"testing"
)

// TestDifferentialReadOnly compares the connection-level and read-only
// commands, in RESP2 and RESP3, between a raftsentinel monitor and a
// Redis Sentinel. Every row runs on a fresh connection per system and
// protocol.
//
// Decisions where the two cannot or need not match exactly:
//   - COMMAND COUNT: the reply type must match; the count is logged
//     (raftsentinel has its own command set).
//   - INFO / INFO server: see info_test.go (omitted build-specific keys
//     are logged; invented keys, reordering and missing required keys
//     fail).
//   - CLIENT SETINFO: Redis 7.0.15 does not have it; raftsentinel accepts
//     the Redis >= 7.2 form that go-redis, redis-py and rueidis send on
//     connect. Logged as an accepted divergence.
//   - QUIT: Sentinel 7.0.15 has no QUIT (unknown command error; clients
//     such as redis-cli handle it locally); raftsentinel answers +OK and
//     closes, as a Redis server does. Logged as an accepted divergence.
func TestDifferentialReadOnly(t *testing.T) {
	p := startPair(t, false)
	rec := &recorder{}
	runCases(t, p, rec, readOnlyCases())
	rec.summary(t)
}

func readOnlyCases() []diffCase {
	long := strings.Repeat("x", 200)
	helloNorm := maskKeys("id")
	return []diffCase{
		{name: "PING", steps: []step{cmd("PING")}},
		{name: "PING msg", steps: []step{cmd("PING", "hello world")}},
		{name: "PING arity", steps: []step{cmd("PING", "a", "b")}},
		{name: "HELLO", steps: []step{cmd("HELLO")}, norm: helloNorm},
		{name: "HELLO 2", steps: []step{cmd("HELLO", "2"), cmd("PING")}, norm: helloNorm},
		{name: "HELLO 3", steps: []step{cmd("HELLO", "3"), cmd("PING")}, norm: helloNorm},
		{name: "HELLO 4", steps: []step{cmd("HELLO", "4"), cmd("PING")}},
		{name: "HELLO not a number", steps: []step{cmd("HELLO", "x")}},
		{name: "HELLO AUTH missing args", steps: []step{cmd("HELLO", "3", "AUTH")}},
		{name: "HELLO AUTH default (nopass)", steps: []step{cmd("HELLO", "2", "AUTH", "default", "whatever")}, norm: helloNorm},
		{name: "HELLO SETNAME", steps: []step{cmd("HELLO", "2", "SETNAME", "conn1"), cmd("CLIENT", "GETNAME")}, norm: helloNorm},
		{name: "HELLO SETNAME invalid", steps: []step{cmd("HELLO", "2", "SETNAME", "a b")}},
		{name: "AUTH without password configured", steps: []step{cmd("AUTH", "secret")}},
		{name: "AUTH wrong user", steps: []step{cmd("AUTH", "bob", "secret")}},
		{name: "AUTH default user (nopass)", steps: []step{cmd("AUTH", "default", "whatever")}},
		{name: "AUTH arity", steps: []step{cmd("AUTH")}},
		{name: "ROLE", steps: []step{cmd("ROLE")}, norm: sortNested(1)},
		{name: "ROLE arity", steps: []step{cmd("ROLE", "x")}},
		{name: "INFO", steps: []step{cmd("INFO").withCmp(cmpInfo)}},
		{name: "INFO default", steps: []step{cmd("INFO", "default").withCmp(cmpInfo)}},
		{name: "INFO sentinel", steps: []step{cmd("INFO", "sentinel").withCmp(cmpInfo)}},
		{name: "INFO server", steps: []step{cmd("INFO", "server").withCmp(cmpInfo)}},
		{name: "INFO clients", steps: []step{cmd("INFO", "clients").withCmp(cmpInfo)}},
		{name: "INFO server sentinel", steps: []step{cmd("INFO", "server", "sentinel").withCmp(cmpInfo)}},
		{name: "INFO replication (empty)", steps: []step{cmd("INFO", "replication")}},
		{name: "INFO unknown sections", steps: []step{cmd("INFO", "nosuch", "keyspace")}},
		{name: "COMMAND COUNT", steps: []step{cmd("COMMAND", "COUNT").withCmp(cmpTypeOnly)}},
		{name: "CLIENT SETNAME GETNAME ID", steps: []step{
			cmd("CLIENT", "GETNAME"),
			cmd("CLIENT", "SETNAME", "myconn"),
			cmd("CLIENT", "GETNAME"),
			cmd("CLIENT", "ID").with(classifyAll),
			cmd("CLIENT", "SETNAME", ""),
			cmd("CLIENT", "GETNAME"),
		}},
		{name: "CLIENT SETNAME invalid", steps: []step{cmd("CLIENT", "SETNAME", "a b")}},
		{name: "CLIENT SETNAME arity", steps: []step{cmd("CLIENT", "SETNAME")}},
		{name: "CLIENT GETNAME arity", steps: []step{cmd("CLIENT", "GETNAME", "x")}},
		{name: "CLIENT ID arity", steps: []step{cmd("CLIENT", "ID", "x")}},
		{name: "CLIENT arity", steps: []step{cmd("CLIENT")}},
		{name: "CLIENT unknown subcommand", steps: []step{cmd("CLIENT", "NOSUCH")}},
		{name: "CLIENT SETINFO", steps: []step{cmd("CLIENT", "SETINFO", "lib-name", "oracle")},
			accepted: "Redis 7.0.15 has no CLIENT SETINFO (added in 7.2); raftsentinel accepts it for the clients that send it"},
		{name: "SENTINEL MASTERS", steps: []step{cmd("SENTINEL", "MASTERS")}, norm: instanceList},
		{name: "SENTINEL MASTER mymaster", steps: []step{cmd("SENTINEL", "MASTER", "mymaster")}, norm: instanceMap},
		{name: "SENTINEL MASTER nosuch", steps: []step{cmd("SENTINEL", "MASTER", "nosuch")}},
		{name: "SENTINEL REPLICAS mymaster", steps: []step{cmd("SENTINEL", "REPLICAS", "mymaster")}, norm: instanceList},
		{name: "SENTINEL SLAVES mymaster", steps: []step{cmd("SENTINEL", "SLAVES", "mymaster")}, norm: instanceList},
		{name: "SENTINEL REPLICAS nosuch", steps: []step{cmd("SENTINEL", "REPLICAS", "nosuch")}},
		{name: "SENTINEL SENTINELS mymaster", steps: []step{cmd("SENTINEL", "SENTINELS", "mymaster")}, norm: instanceList},
		{name: "SENTINEL SENTINELS nosuch", steps: []step{cmd("SENTINEL", "SENTINELS", "nosuch")}},
		{name: "GET-MASTER-ADDR-BY-NAME mymaster", steps: []step{cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")}, norm: classifyAll},
		{name: "GET-MASTER-ADDR-BY-NAME nosuch", steps: []step{cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nosuch")}},
		{name: "SENTINEL MYID", steps: []step{cmd("SENTINEL", "MYID")}, norm: classifyAll},
		{name: "SENTINEL CKQUORUM mymaster", steps: []step{cmd("SENTINEL", "CKQUORUM", "mymaster")}},
		{name: "SENTINEL CKQUORUM nosuch", steps: []step{cmd("SENTINEL", "CKQUORUM", "nosuch")}},
		{name: "IS-MASTER-DOWN-BY-ADDR master", steps: []step{cmd("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "{masterip}", "{masterport}", "0", "*")}},
		{name: "IS-MASTER-DOWN-BY-ADDR unknown addr", steps: []step{cmd("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "1", "0", "*")}},
		{name: "IS-MASTER-DOWN-BY-ADDR bad port", steps: []step{cmd("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "x", "0", "*")}},
		{name: "IS-MASTER-DOWN-BY-ADDR arity", steps: []step{cmd("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "1", "0")}},
		{name: "SENTINEL HELP", steps: []step{cmd("SENTINEL", "HELP")}, norm: onlyFirst},
		{name: "SENTINEL unknown subcommand", steps: []step{cmd("SENTINEL", "nosuch")}},
		{name: "SENTINEL arity", steps: []step{cmd("SENTINEL")}},
		{name: "SENTINEL MASTERS extra arg", steps: []step{cmd("SENTINEL", "MASTERS", "extra")}},
		{name: "SENTINEL MASTER arity", steps: []step{cmd("SENTINEL", "MASTER")}},
		{name: "SENTINEL MYID arity", steps: []step{cmd("SENTINEL", "MYID", "x")}},
		{name: "unknown command", steps: []step{cmd("GET", "foo")}},
		{name: "unknown command lower case", steps: []step{cmd("get", "foo")}},
		{name: "unknown command no args", steps: []step{cmd("FLUSHALL")}},
		{name: "unknown command long args", steps: []step{cmd("SET", long, long)}},
		{name: "PUBLISH non-hello channel", steps: []step{cmd("PUBLISH", "foo", "bar")}},
		{name: "PUBLISH hello channel", steps: []step{cmd("PUBLISH", "__sentinel__:hello", "garbage")}},
		{name: "PUBLISH arity", steps: []step{cmd("PUBLISH", "foo")}},
		{name: "SUBSCRIBE arity", steps: []step{cmd("SUBSCRIBE")}},
		{name: "PSUBSCRIBE arity", steps: []step{cmd("PSUBSCRIBE")}},
		{name: "UNSUBSCRIBE when not subscribed", steps: []step{
			cmd("UNSUBSCRIBE"),
			cmd("PUNSUBSCRIBE"),
			frames(2, "UNSUBSCRIBE", "a", "b"),
			cmd("PING"),
		}},
		{name: "SUBSCRIBE mode", steps: []step{
			frames(2, "SUBSCRIBE", "a", "b"),
			cmd("PING"),
			cmd("PING", "x"),
			cmd("SENTINEL", "MASTERS").with(instanceList),
			cmd("ROLE"),
			cmd("GET", "foo"),
			cmd("SENTINEL", "MASTERS", "x"),
			cmd("PSUBSCRIBE", "p*"),
			frames(2, "UNSUBSCRIBE").with(maskElem(1, "<a or b>")),
			cmd("PUNSUBSCRIBE"),
			cmd("UNSUBSCRIBE"),
			cmd("PING"),
		}},
		{name: "PSUBSCRIBE mode", steps: []step{
			frames(2, "PSUBSCRIBE", "+*", "-*"),
			cmd("PING"),
			cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster").with(classifyAll),
			cmd("PUNSUBSCRIBE", "+*"),
			cmd("PUNSUBSCRIBE", "nosuch"),
			cmd("UNSUBSCRIBE"),
			cmd("PUNSUBSCRIBE"),
		}},
		{name: "QUIT", steps: []step{cmd("QUIT")},
			accepted: "Sentinel 7.0.15 has no QUIT command; raftsentinel accepts it like a Redis server"},
	}
}
