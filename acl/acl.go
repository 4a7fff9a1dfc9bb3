// Package acl compiles and evaluates per-user command rules of the
// Sentinel-protocol port, a subset of Redis ACL command rules:
//
//	+@all / allcommands   allow every command
//	-@all / nocommands    deny every command
//	+@<category>          allow every command in the category
//	-@<category>          deny every command in the category
//	+<cmd>                allow the command and all its subcommands
//	-<cmd>                deny the command and all its subcommands
//	+<cmd>|<sub>          allow one subcommand
//	-<cmd>|<sub>          deny one subcommand
//
// and the Pub/Sub channel rules
//
//	allchannels / &*      allow every channel
//	resetchannels         allow no channel
//	&<pattern>            allow channels matching the glob pattern
//
// Rules are separated by spaces and applied left to right on a user that
// starts with no command and no channel allowed, as a new Redis 7.0 ACL user
// ("ACL SETUSER name" without rules; acl-pubsub-default resetchannels).
// Command names are case-insensitive, channel patterns are not. The
// categories of each command are those Redis 7.0 gives it in sentinel mode
// (COMMAND INFO on redis-sentinel 7.0.15); see [Categories]. As in Redis, a
// category rule also applies to every subcommand of a command that is
// itself in the category: every SENTINEL subcommand is @admin @dangerous
// for -@admin/-@dangerous, SENTINEL HELP included.
//
// Commands flagged no-auth in Redis (AUTH, HELLO, QUIT) are never subject to
// rules, as in Redis: a user can always re-authenticate or leave.
//
// The package has no state beyond the read-only command table.
package acl

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ErrInvalid is wrapped by every error of [Parse].
var ErrInvalid = errors.New("invalid command rules")

// commands lists each Sentinel command (or subcommand, as "cmd|sub") and its
// Redis ACL categories without the "@".
var commands = map[string][]string{
	"ping":         {"fast", "connection"},
	"auth":         {"fast", "connection"},
	"hello":        {"fast", "connection"},
	"quit":         {"fast", "connection"},
	"info":         {"slow", "dangerous"},
	"role":         {"admin", "fast", "dangerous"},
	"publish":      {"pubsub", "fast"},
	"subscribe":    {"pubsub", "slow"},
	"psubscribe":   {"pubsub", "slow"},
	"unsubscribe":  {"pubsub", "slow"},
	"punsubscribe": {"pubsub", "slow"},
	"command":      {"slow", "connection"},

	"command|count":           {"slow", "connection"},
	"command|info":            {"slow", "connection"},
	"command|docs":            {"slow", "connection"},
	"command|list":            {"slow", "connection"},
	"command|getkeys":         {"slow", "connection"},
	"command|getkeysandflags": {"slow", "connection"},
	"command|help":            {"slow", "connection"},

	"client|id":       {"slow", "connection"},
	"client|getname":  {"slow", "connection"},
	"client|setname":  {"slow", "connection"},
	"client|setinfo":  {"slow", "connection"}, // 7.2's categories (not in 7.0)
	"client|tracking": {"slow", "connection"},
	"client|info":     {"slow", "connection"},
	"client|help":     {"slow", "connection"},
	"client|list":     {"admin", "slow", "dangerous", "connection"},
	"client|kill":     {"admin", "slow", "dangerous", "connection"},

	"sentinel|help": {"slow"},

	"shutdown": {"admin", "slow", "dangerous"},

	"acl|whoami":  {"slow"},
	"acl|cat":     {"slow"},
	"acl|help":    {"slow"},
	"acl|genpass": {"slow"},
}

// parents are the categories of the commands that have subcommands; a
// category rule matching a parent applies to all its subcommands (Redis'
// ACLSetSelectorCommandBitsForCategory).
var parents = map[string][]string{
	"sentinel": {"admin", "slow", "dangerous"},
	"client":   {"slow"},
	"command":  {"slow", "connection"},
	"acl":      {"slow"},
}

// sentinelAdminSubs are the SENTINEL subcommands, all @admin @slow
// @dangerous in Redis 7.0 (only SENTINEL HELP is not).
var sentinelAdminSubs = []string{
	"masters", "master", "replicas", "slaves", "sentinels",
	"get-master-addr-by-name", "myid", "ckquorum", "is-master-down-by-addr",
	"monitor", "remove", "set", "reset", "config", "failover", "flushconfig",
	"pending-scripts", "info-cache", "debug", "simulate-failure",
}

// aclAdminSubs are the ACL subcommands that are @admin @slow @dangerous
// in Redis 7.0 (the others are only @slow).
var aclAdminSubs = []string{"save", "load", "setuser", "deluser", "getuser", "list", "users", "log", "dryrun"}

func init() {
	for _, s := range aclAdminSubs {
		commands["acl|"+s] = []string{"admin", "slow", "dangerous"}
	}
	for _, s := range sentinelAdminSubs {
		commands["sentinel|"+s] = []string{"admin", "slow", "dangerous"}
	}
}

// knownCategories are Redis 7.0's ACL categories (ACL CAT). A category no
// Sentinel command belongs to is accepted and matches nothing.
var knownCategories = []string{
	"keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
	"bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast",
	"slow", "blocking", "dangerous", "connection", "transaction", "scripting",
}

// Commands returns every command name the rules know, subcommands as
// "cmd|sub", sorted. The sentinel package's tests keep it in step with the
// command table.
func Commands() []string {
	out := make([]string, 0, len(commands))
	for c := range commands {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// Categories returns the ACL categories (without "@") of a command or
// "cmd|sub" (a command with subcommands has its own, e.g. "sentinel"),
// nil if unknown.
func Categories(name string) []string {
	name = strings.ToLower(name)
	if c, ok := commands[name]; ok {
		return slices.Clone(c)
	}
	return slices.Clone(parents[name])
}

// Rules is a compiled rule list, made by [Parse]. A nil *Rules allows
// every command (a user without rules). A *Rules is immutable and safe for
// concurrent use.
type Rules struct {
	allowed     map[string]bool // full names ("cmd" or "cmd|sub")
	allChannels bool
	channels    []string // glob patterns, when not allChannels
	text        string
}

// Parse compiles rules (see the package comment). An empty string is an
// error: "no rules" is expressed by not calling Parse (the caller's
// all-allowed default). Errors name the offending rule and wrap ErrInvalid.
func Parse(rules string) (*Rules, error) {
	fields := strings.Fields(rules)
	if len(fields) == 0 {
		return nil, fmt.Errorf("%w: no rules", ErrInvalid)
	}
	r := &Rules{allowed: map[string]bool{}, text: strings.Join(fields, " ")}
	for _, f := range fields {
		var err error
		switch lf := strings.ToLower(f); {
		case lf == "allchannels" || f == "&*":
			r.allChannels, r.channels = true, nil
		case lf == "resetchannels":
			r.allChannels, r.channels = false, nil
		case strings.HasPrefix(f, "&"):
			if r.allChannels {
				err = errors.New("a channel pattern after allchannels (or &*) has no effect; use resetchannels first")
			} else {
				r.channels = append(r.channels, f[1:])
			}
		default:
			err = r.apply(lf)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: rule %q: %s", ErrInvalid, f, err)
		}
	}
	return r, nil
}

func (r *Rules) setAll(v bool) {
	for c := range commands {
		r.allowed[c] = v
	}
}

func (r *Rules) apply(rule string) error {
	switch rule {
	case "allcommands":
		r.setAll(true)
		return nil
	case "nocommands":
		r.setAll(false)
		return nil
	}
	if len(rule) < 2 || (rule[0] != '+' && rule[0] != '-') {
		return errors.New("must start with + or - (or be allcommands/nocommands)")
	}
	allow, name := rule[0] == '+', rule[1:]
	if cat, ok := strings.CutPrefix(name, "@"); ok {
		if cat == "all" {
			r.setAll(allow)
			return nil
		}
		if !slices.Contains(knownCategories, cat) {
			return fmt.Errorf("unknown category %q", cat)
		}
		for c, cats := range commands {
			if slices.Contains(cats, cat) {
				r.allowed[c] = allow
			}
		}
		for p, cats := range parents {
			if slices.Contains(cats, cat) {
				r.setCommand(p, allow)
			}
		}
		return nil
	}
	if strings.Contains(name, "|") {
		if _, ok := commands[name]; !ok {
			return fmt.Errorf("unknown command or subcommand %q", name)
		}
		r.allowed[name] = allow
		return nil
	}
	if !r.setCommand(name, allow) {
		return fmt.Errorf("unknown command %q", name)
	}
	return nil
}

// setCommand sets name and all its subcommands; false if none is known.
func (r *Rules) setCommand(name string, allow bool) bool {
	found := false
	for c := range commands {
		if c == name || strings.HasPrefix(c, name+"|") {
			r.allowed[c], found = allow, true
		}
	}
	return found
}

// Allows reports whether the rules allow fullName, the lower-case command
// name or "cmd|sub". A nil *Rules allows everything (a user without
// rules). Unknown names are denied.
func (r *Rules) Allows(fullName string) bool {
	if r == nil {
		return true
	}
	return r.allowed[fullName]
}

// Channels reports the Pub/Sub channels the rules allow: all, or those
// matching one of patterns (glob patterns, as Redis' &<pattern>). A nil
// *Rules allows all. Redis matches a PSUBSCRIBE pattern literally against
// the patterns and a channel (SUBSCRIBE, PUBLISH) as a glob; the caller
// does the matching.
func (r *Rules) Channels() (all bool, patterns []string) {
	if r == nil {
		return true, nil
	}
	return r.allChannels, slices.Clone(r.channels)
}

// String returns the rules as given, normalised to single spaces.
func (r *Rules) String() string {
	if r == nil {
		return "+@all"
	}
	return r.text
}
