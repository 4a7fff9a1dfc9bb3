//go:build integration

package oracle

import (
	"fmt"
	"testing"
	"time"
)

// TestDifferentialMutating compares the state-changing SENTINEL
// subcommands. Every oracle reply that is a status, error or integer is
// pinned (step.expect) to what Redis Sentinel 7.0.15 was observed to
// answer, so the table doubles as the list of verified expectations.
//
// The whole table runs twice on fresh connections: in RESP2 on a master
// named "m2" and in RESP3 on "m3" (each monitoring a standalone
// redis-server of its own system), then SENTINEL FAILOVER of mymaster runs
// once at the end.
//
// Architectural difference, normalized away: SENTINEL MONITOR sent to one
// Redis Sentinel adds the master to that sentinel only, whereas a
// raftsentinel group replicates it to every monitor; num-other-sentinels
// of the new master is therefore classified, not compared.
func TestDifferentialMutating(t *testing.T) {
	p := startPair(t, true)
	rec := &recorder{}
	runCases(t, p, rec, mutatingCases("m2", 2))
	runCases(t, p, rec, mutatingCases("m3", 3))
	runCases(t, p, rec, failoverCases())
	rec.summary(t)
}

func ok(args ...string) step { return cmd(args...).expect("+OK") }

func fails(text string, args ...string) step { return cmd(args...).expect("-" + text) }

// newMasterNorm normalizes SENTINEL MASTER of a master added by MONITOR.
func newMasterNorm(r *Reply) {
	instanceMap(r)
	maskKeys("num-other-sentinels")(r)
}

// maskSecond classifies the second element of an array reply (the port of
// GET-MASTER-ADDR-BY-NAME: each system monitors its own redis-server) and
// keeps the first exact.
func maskSecond(r *Reply) {
	if r != nil && r.Kind.aggregate() && len(r.Elems) == 2 {
		r.Elems[1].Str = classify(r.Elems[1].Str)
	}
}

// masterKnown holds once a MASTER reply shows the master's run id.
func masterKnown(r *Reply) bool {
	return fieldText(r, "runid") != "" && fieldText(r, "runid") != "<absent>"
}

func mutatingCases(m string, proto int) []diffCase {
	protos := []int{proto}
	set := func(args ...string) []string { return append([]string{"SENTINEL", "SET", m}, args...) }
	invalid := func(v, opt string) step {
		return fails(fmt.Sprintf("ERR Invalid argument '%s' for SENTINEL SET '%s'", v, opt), set(opt, v)...)
	}
	const denied = "ERR Reconfiguration of scripts path is denied for security reasons. Check the deny-scripts-reconfig configuration directive in your Sentinel configuration"
	const onlyGetSet = "ERR Only SENTINEL CONFIG GET <option> / SET <option> <value> are supported."
	return []diffCase{
		{name: "MONITOR " + m, protos: protos, steps: []step{
			ok("SENTINEL", "MONITOR", m, "{extraip}", "{extraport}", "2"),
			fails("ERR Duplicate master name.", "SENTINEL", "MONITOR", m, "{extraip}", "{extraport}", "3"),
			fails("ERR Duplicate master name.", "SENTINEL", "MONITOR", m, "{extraip}", "1", "2"),
			fails("ERR Duplicate master name.", "SENTINEL", "MONITOR", "mymaster", "{extraip}", "{extraport}", "2"),
			fails("ERR Invalid IP address or hostname specified", "SENTINEL", "MONITOR", m+"x", "not-an-ip", "{extraport}", "2"),
			fails("ERR Invalid IP address or hostname specified", "SENTINEL", "MONITOR", m+"x", "256.1.1.1", "{extraport}", "2"),
			fails("ERR Invalid IP address or hostname specified", "SENTINEL", "MONITOR", m+"x", "localhost", "{extraport}", "2"),
			fails("ERR Invalid port", "SENTINEL", "MONITOR", m+"x", "{extraip}", "abc", "2"),
			fails("ERR Invalid port number.", "SENTINEL", "MONITOR", m+"x", "{extraip}", "70000", "2"),
			fails("ERR Invalid port number.", "SENTINEL", "MONITOR", m+"x", "{extraip}", "-1", "2"),
			fails("ERR Quorum must be 1 or greater.", "SENTINEL", "MONITOR", m+"x", "{extraip}", "{extraport}", "0"),
			fails("ERR Quorum must be 1 or greater.", "SENTINEL", "MONITOR", m+"x", "{extraip}", "{extraport}", "-1"),
			fails("ERR Invalid quorum", "SENTINEL", "MONITOR", m+"x", "{extraip}", "{extraport}", "x"),
			fails("ERR Invalid quorum", "SENTINEL", "MONITOR", m+"x", "{extraip}", "abc", "x"),
			fails("ERR Invalid IP address or hostname specified", "SENTINEL", "MONITOR", m, "not-an-ip", "{extraport}", "2"),
			fails("ERR wrong number of arguments for 'sentinel|monitor' command", "SENTINEL", "MONITOR", m+"x", "{extraip}", "{extraport}"),
			cmd("ROLE").with(sortNested(1)),
			cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", m).with(classifyAll),
			cmd("SENTINEL", "REPLICAS", m).with(instanceList),
		}},
		{name: "MONITOR again " + m, protos: protos, steps: []step{
			fails("ERR Duplicate master name.", "SENTINEL", "MONITOR", m, "{extraip}", "{extraport}", "2"),
		}, accepted: "the state is shared: a MONITOR identical to the committed master (name, address, " +
			"quorum) is the definition a tool sends to every sentinel, and answers +OK on each monitor; another " +
			"address or quorum answers Duplicate master name. as in Sentinel"},
		{name: "MONITOR defaults " + m, protos: protos, steps: []step{
			cmd("SENTINEL", "MASTER", m).with(newMasterNorm).waitUntil(15*time.Second, masterKnown),
		}, accepted: "a master added with SENTINEL MONITOR gets raftsentinel's default down-after, 5 s " +
			"(Sentinel: 30 s), so that a failover fits the product's 30 s promise"},
		{name: "MONITOR port 0 " + m, protos: protos, steps: []step{
			ok("SENTINEL", "MONITOR", m+"p0", "{extraip}", "0", "2"),
			ok("SENTINEL", "REMOVE", m+"p0"),
		}, accepted: "no Redis listens on port 0: raftsentinel rejects it as bad input (-ERR Invalid port number.)"},
		{name: "SET " + m, protos: protos, steps: []step{
			ok(set("down-after-milliseconds", "2000")...),
			ok(set("failover-timeout", "5000")...),
			ok(set("parallel-syncs", "2")...),
			ok(set("quorum", "3")...),
			ok(set("QUORUM", "2")...),
			ok(set("quorum", "3", "parallel-syncs", "3")...),
			invalid("0", "down-after-milliseconds"),
			invalid("x", "down-after-milliseconds"),
			invalid("1.5", "down-after-milliseconds"),
			invalid("99999999999999999999", "down-after-milliseconds"),
			invalid("0", "failover-timeout"),
			invalid("-5", "failover-timeout"),
			invalid("0", "parallel-syncs"),
			invalid("0", "quorum"),
			invalid("-1", "quorum"),
			ok(set("auth-pass", "secret")...),
			ok(set("auth-pass", "")...),
			ok(set("auth-user", "bob")...),
			ok(set("auth-user", "")...),
			ok(set("rename-command", "CONFIG", "XCONFIG")...),
			fails("ERR Unknown option or number of arguments for SENTINEL SET 'rename-command'", set("rename-command", "CONFIG")...),
			fails("ERR Unknown option or number of arguments for SENTINEL SET 'y'", set("rename-command", "config", "x", "y")...),
			ok(set("master-reboot-down-after-period", "0")...),
			ok(set("master-reboot-down-after-period", "100")...),
			invalid("-1", "master-reboot-down-after-period"),
			fails(denied, set("notification-script", "/bin/true")...),
			fails(denied, set("client-reconfig-script", "/bin/true")...),
			fails("ERR Unknown option or number of arguments for SENTINEL SET 'nosuchopt'", set("nosuchopt", "1")...),
			fails("ERR wrong number of arguments for 'sentinel|set' command", set("quorum")...),
			fails("ERR No such master with that name", "SENTINEL", "SET", "nosuch", "quorum", "2"),
		}},
		{name: "SET atomicity " + m, protos: protos, steps: []step{
			// Sentinel: not atomic, the first option stays applied.
			fails("ERR Invalid argument 'x' for SENTINEL SET 'parallel-syncs'", set("quorum", "2", "parallel-syncs", "x")...),
			fails("ERR Unknown option or number of arguments for SENTINEL SET 'quorum'", set("down-after-milliseconds", "3000", "quorum")...),
			// Sentinel: quorum 2 (partial SET above), down-after 3000,
			// failover-timeout 5000, parallel-syncs 3. (auth and
			// rename-command changes make Sentinel drop and reopen its
			// links: wait for "master" without "disconnected".)
			cmd("SENTINEL", "MASTER", m).with(newMasterNorm).waitUntil(10*time.Second, func(r *Reply) bool {
				return fieldText(r, "flags") == "master"
			}),
		}, accepted: "raftsentinel commits SENTINEL SET as one Raft entry, all options or none; " +
			"Sentinel keeps the options before the failing one"},
		{name: "CONFIG GET/SET " + m, protos: protos, steps: []step{
			cmd("SENTINEL", "CONFIG", "GET", "announce-ip"),
			cmd("SENTINEL", "CONFIG", "GET", "announce-*"),
			cmd("SENTINEL", "CONFIG", "GET", "ANNOUNCE-PORT"),
			cmd("SENTINEL", "CONFIG", "GET", "nosuch"),
			ok("SENTINEL", "CONFIG", "SET", "announce-ip", "127.0.0.1"),
			cmd("SENTINEL", "CONFIG", "GET", "announce-ip"),
			ok("SENTINEL", "CONFIG", "SET", "announce-ip", ""),
			cmd("SENTINEL", "CONFIG", "GET", "announce-ip"),
			ok("SENTINEL", "CONFIG", "SET", "announce-port", "0"),
			ok("SENTINEL", "CONFIG", "SET", "ANNOUNCE-PORT", "0"),
			ok("SENTINEL", "CONFIG", "SET", "resolve-hostnames", "no"),
			fails("ERR Invalid value 'x' to SENTINEL CONFIG SET 'announce-port'", "SENTINEL", "CONFIG", "SET", "announce-port", "x"),
			fails("ERR Invalid value '70000' to SENTINEL CONFIG SET 'announce-port'", "SENTINEL", "CONFIG", "SET", "announce-port", "70000"),
			fails("ERR Invalid value '-1' to SENTINEL CONFIG SET 'announce-port'", "SENTINEL", "CONFIG", "SET", "announce-port", "-1"),
			fails("ERR Invalid value 'maybe' to SENTINEL CONFIG SET 'resolve-hostnames'", "SENTINEL", "CONFIG", "SET", "resolve-hostnames", "maybe"),
			fails("ERR Invalid argument 'nosuch' to SENTINEL CONFIG SET", "SENTINEL", "CONFIG", "SET", "nosuch", "x"),
			fails(onlyGetSet, "SENTINEL", "CONFIG", "SET", "announce-ip"),
			fails(onlyGetSet, "SENTINEL", "CONFIG", "GET"),
			fails(onlyGetSet, "SENTINEL", "CONFIG", "FOO", "x"),
			fails("ERR wrong number of arguments for 'sentinel|config' command", "SENTINEL", "CONFIG"),
		}},
		{name: "hostnames " + m, protos: protos, steps: []step{
			// A master added by hostname is announced by IP address until
			// announce-hostnames is yes, then by its name.
			ok("SENTINEL", "CONFIG", "SET", "resolve-hostnames", "yes"),
			ok("SENTINEL", "MONITOR", m+"h", "localhost", "{extraport}", "2"),
			cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", m+"h").with(maskSecond),
			ok("SENTINEL", "CONFIG", "SET", "announce-hostnames", "yes"),
			cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", m+"h").with(maskSecond),
			ok("SENTINEL", "CONFIG", "SET", "announce-hostnames", "no"),
			cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", m+"h").with(maskSecond),
			ok("SENTINEL", "REMOVE", m+"h"),
			ok("SENTINEL", "CONFIG", "SET", "resolve-hostnames", "no"),
		}},
		{name: "CONFIG 7.2 forms " + m, protos: protos, steps: []step{
			cmd("SENTINEL", "CONFIG", "GET", "*"),
			fails(onlyGetSet, "SENTINEL", "CONFIG", "SET", "announce-port", "0", "announce-ip", ""),
			fails(onlyGetSet, "SENTINEL", "CONFIG", "GET", "announce-ip", "announce-port"),
		}, accepted: "raftsentinel follows Redis 7.2 here: multi-parameter SENTINEL CONFIG GET/SET and the " +
			"loglevel parameter; the oracle is Sentinel 7.0.15"},
		{name: "DEBUG set " + m, protos: protos, steps: []step{
			// Values equal to both systems' defaults, so later cases are
			// not disturbed; names in any case; pairs apply in order.
			ok("SENTINEL", "DEBUG", "publish-period", "2000"),
			ok("SENTINEL", "DEBUG", "Tilt-Period", "30000", "TILT-TRIGGER", "2000"),
			ok("SENTINEL", "DEBUG", "script-max-runtime", "60000", "Script-Retry-Delay", "30000"),
			fails("ERR Invalid argument '0' for SENTINEL DEBUG 'publish-period'", "SENTINEL", "DEBUG", "publish-period", "0"),
			fails("ERR Invalid argument '-1' for SENTINEL DEBUG 'TILT-period'", "SENTINEL", "DEBUG", "TILT-period", "-1"),
			fails("ERR Invalid argument '+5' for SENTINEL DEBUG 'tilt-trigger'", "SENTINEL", "DEBUG", "tilt-trigger", "+5"),
			fails("ERR Invalid argument '02000' for SENTINEL DEBUG 'tilt-trigger'", "SENTINEL", "DEBUG", "tilt-trigger", "02000"),
			fails("ERR Invalid argument '1.5' for SENTINEL DEBUG 'ping-period'", "SENTINEL", "DEBUG", "ping-period", "1.5"),
			fails("ERR Unknown option or number of arguments for SENTINEL DEBUG 'NoSuch'",
				"SENTINEL", "DEBUG", "publish-period", "2000", "NoSuch", "1"),
			fails("ERR Unknown option or number of arguments for SENTINEL DEBUG 'tilt-period'",
				"SENTINEL", "DEBUG", "publish-period", "2000", "tilt-period"),
		}},
		{name: "DEBUG " + m, protos: protos, steps: []step{
			cmd("SENTINEL", "DEBUG").with(classifyAll),
			fails("ERR Unknown option or number of arguments for SENTINEL DEBUG 'nosuch'", "SENTINEL", "DEBUG", "nosuch", "1"),
			fails("ERR Invalid argument 'x' for SENTINEL DEBUG 'info-period'", "SENTINEL", "DEBUG", "info-period", "x"),
			fails("ERR Unknown option or number of arguments for SENTINEL DEBUG 'info-period'", "SENTINEL", "DEBUG", "info-period"),
		}},
		{name: "INFO-CACHE " + m, protos: protos, steps: []step{
			cmd("SENTINEL", "INFO-CACHE", "mymaster").with(infoCacheNorm),
			cmd("SENTINEL", "INFO-CACHE", "mymaster", "nosuch").with(infoCacheNorm),
			cmd("SENTINEL", "INFO-CACHE", "nosuch"),
			fails("ERR wrong number of arguments for 'sentinel|info-cache' command", "SENTINEL", "INFO-CACHE").with(infoCacheNorm),
		}},
		{name: "SIMULATE-FAILURE HELP " + m, protos: protos, steps: []step{
			cmd("SENTINEL", "SIMULATE-FAILURE", "HELP"),
		}, accepted: "raftsentinel lists a third point of its own, crash-after-switch (after the new address is " +
			"committed, before replicas are repointed)"},
		{name: "SIMULATE-FAILURE " + m, protos: protos, steps: []step{
			fails("ERR Unknown failure simulation specified", "SENTINEL", "SIMULATE-FAILURE", "nosuch"),
			fails("ERR wrong number of arguments for 'sentinel|simulate-failure' command", "SENTINEL", "SIMULATE-FAILURE"),
		}},
		{name: "PENDING-SCRIPTS " + m, protos: protos, steps: []step{
			cmd("SENTINEL", "PENDING-SCRIPTS"),
			fails("ERR wrong number of arguments for 'sentinel|pending-scripts' command", "SENTINEL", "PENDING-SCRIPTS", "x"),
		}},
		{name: "FLUSHCONFIG " + m, protos: protos, steps: []step{
			ok("SENTINEL", "FLUSHCONFIG"),
			fails("ERR wrong number of arguments for 'sentinel|flushconfig' command", "SENTINEL", "FLUSHCONFIG", "x"),
		}},
		{name: "FAILOVER without good replica " + m, protos: protos, steps: []step{
			fails("NOGOODSLAVE No suitable replica to promote", "SENTINEL", "FAILOVER", m),
			fails("ERR No such master with that name", "SENTINEL", "FAILOVER", "nosuch"),
			fails("ERR wrong number of arguments for 'sentinel|failover' command", "SENTINEL", "FAILOVER"),
		}},
		{name: "RESET " + m, protos: protos, steps: []step{
			cmd("SENTINEL", "RESET", "nosuch*").expect(":0"),
			cmd("SENTINEL", "RESET", m).expect(":1"),
			cmd("SENTINEL", "RESET", "*[0-9]").expect(":1"),
			fails("ERR wrong number of arguments for 'sentinel|reset' command", "SENTINEL", "RESET"),
			fails("ERR wrong number of arguments for 'sentinel|reset' command", "SENTINEL", "RESET", "a", "b"),
		}},
		{name: "REMOVE " + m, protos: protos, steps: []step{
			ok("SENTINEL", "REMOVE", m),
			fails("ERR No such master with that name", "SENTINEL", "REMOVE", m),
			fails("ERR No such master with that name", "SENTINEL", "MASTER", m),
			fails("ERR wrong number of arguments for 'sentinel|remove' command", "SENTINEL", "REMOVE"),
			cmd("ROLE").with(sortNested(1)),
		}},
	}
}

// failoverCases start a manual failover of mymaster on a healthy master:
// +OK, then -INPROG while it runs, then the end state.
func failoverCases() []diffCase {
	done := func(r *Reply) bool {
		return fieldText(r, "flags") == "master" && fieldText(r, "config-epoch") != "0" && masterKnown(r) &&
			fieldText(r, "role-reported") == "master"
	}
	return []diffCase{
		{name: "FAILOVER mymaster", protos: []int{2}, steps: []step{
			ok("SENTINEL", "FAILOVER", "mymaster"),
			fails("INPROG Failover already in progress", "SENTINEL", "FAILOVER", "mymaster"),
			cmd("SENTINEL", "MASTER", "mymaster").with(instanceMap).waitUntil(30*time.Second, done),
			cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster").with(classifyAll),
		}},
	}
}

// infoCacheNorm masks INFO-CACHE's ages and INFO texts, keeping the shape:
// [name, [[age, info-or-null] for the master then each replica], ...].
func infoCacheNorm(r *Reply) {
	if r.Kind != KArray {
		return
	}
	for i := 1; i < len(r.Elems); i += 2 {
		list := r.Elems[i]
		for _, e := range list.Elems {
			if e.Kind != KArray || len(e.Elems) != 2 {
				continue
			}
			e.Elems[0].Str = classify(e.Elems[0].Str)
			if e.Elems[1].Kind == KBulk {
				e.Elems[1].Str = fmt.Sprintf("<INFO text, role:%s>", infoRole(e.Elems[1].Str))
			}
		}
		sortElems(list)
	}
}

func infoRole(s string) string {
	secs, _ := parseInfo(s)
	for _, sec := range secs {
		if v, ok := sec.vals["role"]; ok {
			return v
		}
	}
	return "?"
}
