package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/raftsentinel/raftsentinel/acl"
)

// importUser turns a sentinel.conf ACL line, `user <name> <rule>...`, into
// a users[] entry with its command and channel rules (users[].commands):
//
//   - on/off: an "off" user is not imported (a note says so);
//   - >password: the password (one; more are noted and the first is used);
//     nopass, #<sha256> and !<sha256> passwords cannot be expressed: the
//     user is not imported, with a note;
//   - command rules (+..., -..., allcommands, nocommands) and channel rules
//     (&..., allchannels, resetchannels) go to commands, in order; a user
//     without command rules gets "nocommands" (a Redis user with no rule
//     may run nothing, whereas an empty users[].commands allows all);
//   - key patterns (~..., %..., allkeys, resetkeys), sanitize-payload,
//     skip-sanitize-payload and reset* of what Sentinel has no use for are
//     dropped; selectors "(...)" are dropped with a note.
//
// The "default" user's >password becomes requirepass (nopass or a hashed
// password leave requirepass to the requirepass line). Its
// rules cannot be expressed (the default user may always run everything),
// so anything narrower than +@all with all channels is noted.
// A rule acl.Parse rejects is an error, as Redis Sentinel rejects it at start.
func importUser(c *Config, args []string, note func(string)) error {
	name := args[1]
	var pass []string
	var rules []string
	enabled, hasCmdRule, nopass, hashed := false, false, false, false
	for _, tok := range args[2:] {
		lt := strings.ToLower(tok)
		switch {
		case lt == "on":
			enabled = true
		case lt == "off":
			enabled = false
		case strings.HasPrefix(tok, ">"):
			if tok == ">" {
				note(fmt.Sprintf("user %s: an empty password is not supported; dropped", name))
				continue
			}
			pass = append(pass, tok[1:])
		case strings.HasPrefix(tok, "<"):
			pass = removeString(pass, tok[1:])
		case strings.HasPrefix(tok, "#"), strings.HasPrefix(tok, "!"):
			hashed = true
		case lt == "nopass":
			nopass, pass = true, nil
		case lt == "resetpass":
			nopass, hashed, pass = false, false, nil
		case lt == "reset":
			enabled, nopass, hashed, hasCmdRule, pass, rules = false, false, false, false, nil, nil
		case strings.HasPrefix(tok, "+"), strings.HasPrefix(tok, "-"), lt == "allcommands", lt == "nocommands":
			rules, hasCmdRule = append(rules, tok), true
		case strings.HasPrefix(tok, "&"), lt == "allchannels", lt == "resetchannels":
			rules = append(rules, tok)
		case strings.HasPrefix(tok, "~"), strings.HasPrefix(tok, "%"), lt == "allkeys", lt == "resetkeys",
			lt == "sanitize-payload", lt == "skip-sanitize-payload", lt == "clearselectors":
			// Sentinel has no keys and no payloads to sanitize.
		case strings.HasPrefix(tok, "("):
			note(fmt.Sprintf("user %s: selector %s is not supported; dropped", name, tok))
		default:
			return fmt.Errorf("user %s: unknown ACL rule %q", name, tok)
		}
	}
	if !hasCmdRule {
		rules = append([]string{"nocommands"}, rules...)
	}
	text := strings.Join(rules, " ")
	if _, err := acl.Parse(text); err != nil {
		return fmt.Errorf("user %s: %w", name, err)
	}
	if name == "default" {
		switch {
		case !enabled:
			note("user default is off: raftsentinel's default user cannot be disabled")
		case len(pass) > 0:
			c.RequirePass = pass[0]
		}
		if full, _ := acl.Parse("allcommands allchannels"); !sameRules(text, full) {
			note("user default: rules narrower than +@all allchannels are not supported; the default user may run every command")
		}
		return nil
	}
	for _, u := range c.Users {
		if u.Name == name {
			return errors.New("duplicate user " + name)
		}
	}
	switch {
	case !enabled:
		note(fmt.Sprintf("user %s is off: not imported", name))
		return nil
	case len(pass) == 0:
		why := "has no password"
		if nopass {
			why = "is nopass"
		} else if hashed {
			why = "has only hashed (#/!) passwords"
		}
		note(fmt.Sprintf("user %s %s, which raftsentinel cannot express: not imported", name, why))
		return nil
	case len(pass) > 1 || hashed:
		note(fmt.Sprintf("user %s: only its first >password is used", name))
	}
	c.Users = append(c.Users, User{Name: name, Password: pass[0], Commands: text})
	return nil
}

// sameRules reports whether rules text allows exactly what want allows.
func sameRules(text string, want *acl.Rules) bool {
	r, err := acl.Parse(text)
	if err != nil {
		return false
	}
	for _, cmd := range acl.Commands() {
		if r.Allows(cmd) != want.Allows(cmd) {
			return false
		}
	}
	ra, _ := r.Channels()
	wa, _ := want.Channels()
	return ra == wa
}

func removeString(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}
