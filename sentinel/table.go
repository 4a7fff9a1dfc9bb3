package sentinel

import (
	"sort"
	"strings"

	"github.com/raftsentinel/raftsentinel/resp"
)

// The command table: every command and subcommand of the Sentinel port in
// one place — its Redis arity, how it is admitted and served, and what
// COMMAND INFO and COMMAND DOCS report of it. Lookup (cmdindex.go), the
// call counters, the ACL check (perms.go), COMMAND (introspect.go) and the
// RESP server's error texts (FullName) all read this table. The ACL
// categories of each command are package acl's (the replicated state checks
// ACL SETUSER rules without this package); TestACLKnowsEveryCommand keeps
// the two in step.

// cmdFunc runs one validated command.
type cmdFunc func(h *handler, c *resp.Conn, args [][]byte)

// cmdSpec describes a command or a subcommand.
type cmdSpec struct {
	// arity is Redis': n > 0 exactly n arguments including the name (and
	// the subcommand); n < 0 at least -n.
	arity int
	// noAuth: allowed before authentication, and never subject to ACL
	// rules (AUTH, HELLO, QUIT).
	noAuth bool
	// blocks: waits for a Raft commit or the disk (resp.Blocker).
	blocks bool
	// announces: the reply names Redis nodes (Backend.Announce), which may
	// wait for a first hostname lookup.
	announces bool
	// run serves the command; nil for the commands the RESP server
	// executes itself (they are here so that Admit knows them) and for
	// containers, whose subcommands run.
	run  cmdFunc
	subs map[string]cmdSpec
	// parsesSubs: the command's own run parses its subcommands (COMMAND,
	// whose subcommand errors have their own texts). Lookup does not
	// resolve them; subs still lists them for COMMAND INFO and the ACL.
	parsesSubs bool

	// flags, tips, summary and group are what COMMAND INFO and COMMAND
	// DOCS say: Redis 7.0's flags and command tips (as redis-sentinel
	// 7.0.15 reports them); the summaries are this implementation's own.
	flags   []string
	tips    []string
	summary string
	group   string

	id int // index of the command's call counter (see numberCommands)
}

// Flag and tip sets of Redis 7.0's sentinel command table.
var (
	flagsLS      = []string{"loading", "stale"}
	flagsNLS     = []string{"noscript", "loading", "stale"}
	flagsANLS    = []string{"admin", "noscript", "loading", "stale"}
	flagsNoAuth  = []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}
	flagsPubSub  = []string{"pubsub", "noscript", "loading", "stale"}
	tipsOutOrder = []string{"nondeterministic_output_order"}
	tipsOutput   = []string{"nondeterministic_output"}
)

// sentinelSub is a SENTINEL subcommand as Redis 7.0 describes every one but
// HELP: flag "admin", no tips.
func sentinelSub(arity int, run cmdFunc, blocks, announces bool) cmdSpec {
	return cmdSpec{arity: arity, run: run, blocks: blocks, announces: announces, flags: []string{"admin"}, group: "sentinel"}
}

// commandTable is the Sentinel command set by lower-case name, fixed once
// the package is initialised (it is built in init: COMMAND's handler reads
// the table, which a variable's initialiser could not refer to).
var commandTable map[string]cmdSpec

func init() {
	commandTable = newCommandTable()
	numberCommands()
}

func newCommandTable() map[string]cmdSpec {
	return map[string]cmdSpec{
		"ping": {arity: -1, run: (*handler).ping, flags: []string{"fast"},
			tips:    []string{"request_policy:all_shards", "response_policy:all_succeeded"},
			summary: "Answer PONG, or echo the message", group: "connection"},
		"auth": {arity: -2, noAuth: true, run: (*handler).auth, flags: flagsNoAuth,
			summary: "Authenticate the connection as a user", group: "connection"},
		"hello": {arity: -1, noAuth: true, run: (*handler).hello, flags: flagsNoAuth,
			summary: "Choose the protocol version, optionally authenticating and naming the connection", group: "connection"},
		"quit": {arity: -1, noAuth: true, flags: flagsNoAuth, summary: "Close the connection", group: "connection"},
		"info": {arity: -1, announces: true, run: (*handler).info, flags: flagsLS,
			tips:    []string{"nondeterministic_output", "request_policy:all_shards", "response_policy:special"},
			summary: "Report information and statistics about this monitor", group: "server"},
		"role": {arity: 1, run: (*handler).role, flags: []string{"noscript", "loading", "stale", "fast"},
			summary: "Report the sentinel role and the monitored master names", group: "server"},
		"publish": {arity: 3, run: (*handler).publish, flags: []string{"pubsub", "loading", "stale", "fast"},
			summary: "Post a message to a channel", group: "pubsub"},
		"shutdown": {arity: -1, run: (*handler).shutdown, flags: []string{"admin", "noscript", "loading", "stale", "no_multi", "allow_busy"},
			summary: "Stop this monitor", group: "server"},

		"subscribe":    {arity: -2, flags: flagsPubSub, summary: "Listen to channels", group: "pubsub"},
		"psubscribe":   {arity: -2, flags: flagsPubSub, summary: "Listen to channels matching patterns", group: "pubsub"},
		"unsubscribe":  {arity: -1, flags: flagsPubSub, summary: "Stop listening to channels", group: "pubsub"},
		"punsubscribe": {arity: -1, flags: flagsPubSub, summary: "Stop listening to channel patterns", group: "pubsub"},

		"acl":      {arity: -2, summary: "Container of the access control list commands", group: "server", subs: aclSubs()},
		"client":   {arity: -2, summary: "Container of the connection commands", group: "connection", subs: clientSubs()},
		"command":  commandSpec(),
		"sentinel": {arity: -2, flags: []string{"admin"}, summary: "Container of the Sentinel commands", group: "sentinel", subs: sentinelSubs()},
	}
}

func aclSubs() map[string]cmdSpec {
	return map[string]cmdSpec{
		"cat":     {arity: -2, run: (*handler).aclCat, flags: flagsNLS, summary: "List the ACL categories, or the commands of one", group: "server"},
		"deluser": {arity: -3, blocks: true, run: (*handler).aclDelUser, flags: flagsANLS, summary: "Delete users", group: "server"},
		"dryrun":  {arity: -4, run: (*handler).aclDryRun, flags: flagsANLS, summary: "Tell whether a user may run a command, without running it", group: "server"},
		"genpass": {arity: -2, run: (*handler).aclGenPass, flags: flagsNLS, summary: "Generate a random password", group: "server"},
		"getuser": {arity: 3, run: (*handler).aclGetUser, flags: flagsANLS, summary: "Describe one user", group: "server"},
		"help":    {arity: 2, run: (*handler).aclHelp, flags: flagsLS, summary: "Describe the ACL subcommands", group: "server"},
		"list":    {arity: 2, run: (*handler).aclList, flags: flagsANLS, summary: "Describe every user, one rule line each", group: "server"},
		"load":    {arity: 2, run: (*handler).aclNoFile, flags: flagsANLS, summary: "Reload the users from the ACL file (there is none)", group: "server"},
		"log":     {arity: -2, run: (*handler).aclLogCmd, flags: flagsANLS, summary: "List the recent denied commands and failed authentications", group: "server"},
		"save":    {arity: 2, run: (*handler).aclNoFile, flags: flagsANLS, summary: "Save the users to the ACL file (there is none)", group: "server"},
		"setuser": {arity: -3, blocks: true, run: (*handler).aclSetUser, flags: flagsANLS, summary: "Create or change a user, for every monitor of the group", group: "server"},
		"users":   {arity: 2, run: (*handler).aclUsers, flags: flagsANLS, summary: "List the user names", group: "server"},
		"whoami":  {arity: 2, run: (*handler).aclWhoami, flags: flagsNLS, summary: "Name the user of this connection", group: "server"},
	}
}

func clientSubs() map[string]cmdSpec {
	return map[string]cmdSpec{
		"id":       {arity: 2, run: (*handler).clientID, flags: flagsNLS, summary: "Return the connection's id", group: "connection"},
		"getname":  {arity: 2, run: (*handler).clientGetName, flags: flagsNLS, summary: "Return the connection's name", group: "connection"},
		"setname":  {arity: 3, run: (*handler).clientSetName, flags: flagsNLS, summary: "Name the connection", group: "connection"},
		"setinfo":  {arity: 4, run: (*handler).clientSetInfo, flags: flagsNLS, summary: "Accept client library information (not kept)", group: "connection"},
		"tracking": {arity: -3, run: (*handler).clientTracking, flags: flagsNLS, summary: "Accept tracking settings (there are no keys to track)", group: "connection"},
		"info":     {arity: 2, run: (*handler).clientInfo, flags: flagsNLS, tips: tipsOutput, summary: "Describe this connection", group: "connection"},
		"help":     {arity: 2, run: (*handler).clientHelp, flags: flagsLS, summary: "Describe the CLIENT subcommands", group: "connection"},
		"list":     {arity: -2, run: (*handler).clientList, flags: flagsANLS, tips: tipsOutput, summary: "Describe the open connections", group: "connection"},
		"kill":     {arity: -3, run: (*handler).clientKill, flags: flagsANLS, summary: "Close connections by address, id, user or type", group: "connection"},
	}
}

// commandSpec is COMMAND: its run parses the subcommands itself.
func commandSpec() cmdSpec {
	sub := func(arity int, tips []string, summary string) cmdSpec {
		return cmdSpec{arity: arity, flags: flagsLS, tips: tips, summary: summary, group: "server"}
	}
	return cmdSpec{arity: -1, run: (*handler).command, parsesSubs: true, flags: flagsLS, tips: tipsOutOrder,
		summary: "Describe every command", group: "server",
		subs: map[string]cmdSpec{
			"count":           sub(2, nil, "Count the commands"),
			"docs":            sub(-2, tipsOutOrder, "Document commands"),
			"getkeys":         sub(-4, nil, "Extract the keys of a command (none here)"),
			"getkeysandflags": sub(-4, nil, "Extract the keys of a command and their flags (none here)"),
			"help":            sub(2, nil, "Describe the COMMAND subcommands"),
			"info":            sub(-2, tipsOutOrder, "Describe commands"),
			"list":            sub(-2, tipsOutOrder, "List the command names, optionally filtered"),
		}}
}

func sentinelSubs() map[string]cmdSpec {
	h := (*handler).sentinelHelp
	subs := map[string]cmdSpec{
		"masters":                 sentinelSub(2, (*handler).sentinelMasters, false, true),
		"master":                  sentinelSub(3, (*handler).sentinelMaster, false, true),
		"replicas":                sentinelSub(3, (*handler).sentinelReplicas, false, true),
		"slaves":                  sentinelSub(3, (*handler).sentinelReplicas, false, true),
		"sentinels":               sentinelSub(3, (*handler).sentinelSentinels, false, false),
		"get-master-addr-by-name": sentinelSub(3, (*handler).sentinelGetMasterAddr, false, true),
		"myid":                    sentinelSub(2, (*handler).sentinelMyID, false, false),
		"ckquorum":                sentinelSub(3, (*handler).sentinelCKQuorum, false, false),
		"is-master-down-by-addr":  sentinelSub(6, (*handler).sentinelIsMasterDown, false, true),
		"help":                    {arity: 2, run: h, flags: flagsLS, summary: "Describe the SENTINEL subcommands", group: "sentinel"},
		"monitor":                 sentinelSub(6, (*handler).sentinelMonitor, true, false),
		"remove":                  sentinelSub(3, (*handler).sentinelRemove, true, false),
		"set":                     sentinelSub(-5, (*handler).sentinelSet, true, false),
		"reset":                   sentinelSub(3, (*handler).sentinelReset, true, false),
		"config":                  sentinelSub(-3, (*handler).sentinelConfig, true, false),
		"failover":                sentinelSub(-3, (*handler).sentinelFailover, true, false),
		"flushconfig":             sentinelSub(2, (*handler).sentinelFlushConfig, true, false),
		"pending-scripts":         sentinelSub(2, (*handler).sentinelPendingScripts, false, false),
		"info-cache":              sentinelSub(-3, (*handler).sentinelInfoCache, false, false),
		"debug":                   sentinelSub(-2, (*handler).sentinelDebug, false, false),
		"simulate-failure":        sentinelSub(-3, (*handler).sentinelSimulateFailure, true, false),
	}
	for name, sub := range subs {
		if sub.summary == "" {
			sub.summary = "Sentinel subcommand " + strings.ToUpper(name)
			subs[name] = sub
		}
	}
	return subs
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

// specOf returns the spec of a command or "cmd|sub" (lower case).
func specOf(full string) (cmdSpec, bool) {
	top, sub, hasSub := strings.Cut(full, "|")
	spec, ok := commandTable[top]
	if !ok || !hasSub {
		return spec, ok
	}
	spec, ok = spec.subs[sub]
	return spec, ok
}

// FullName implements resp.Namer: the command's name as Redis' errors give
// it, "cmd|sub" for a subcommand of a container.
func (h *handler) FullName(args [][]byte) string {
	name := strings.ToLower(string(args[0]))
	if spec, ok := commandTable[name]; ok && spec.subs != nil && len(args) > 1 {
		return name + "|" + strings.ToLower(string(args[1]))
	}
	return name
}
