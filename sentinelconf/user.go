package sentinelconf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/raftsentinel/raftsentinel/acl"
)

// aclLine is a `user <name> <rule>...` line's rules applied left to
// right, as Redis applies them.
type aclLine struct {
	name                                string
	pass                                []string // plain-text passwords (>pw), in order
	rules                               []string // command and channel rules, in order
	enabled, hasCmdRule, nopass, hashed bool
}

// apply applies one rule; note receives what is dropped.
func (u *aclLine) apply(tok string, note func(string)) error {
	lt := strings.ToLower(tok)
	switch {
	case lt == "on":
		u.enabled = true
	case lt == "off":
		u.enabled = false
	case strings.HasPrefix(tok, ">"):
		if tok == ">" {
			note(fmt.Sprintf("user %s: an empty password is not supported; dropped", u.name))
			return nil
		}
		u.pass = append(u.pass, tok[1:])
	case strings.HasPrefix(tok, "<"):
		u.pass = removeString(u.pass, tok[1:])
	case strings.HasPrefix(tok, "#"), strings.HasPrefix(tok, "!"):
		u.hashed = true
	case lt == "nopass":
		u.nopass, u.pass = true, nil
	case lt == "resetpass":
		u.nopass, u.hashed, u.pass = false, false, nil
	case lt == "reset":
		*u = aclLine{name: u.name}
	case strings.HasPrefix(tok, "+"), strings.HasPrefix(tok, "-"), lt == "allcommands", lt == "nocommands":
		u.rules, u.hasCmdRule = append(u.rules, tok), true
	case strings.HasPrefix(tok, "&"), lt == "allchannels", lt == "resetchannels":
		u.rules = append(u.rules, tok)
	case strings.HasPrefix(tok, "~"), strings.HasPrefix(tok, "%"), lt == "allkeys", lt == "resetkeys",
		lt == "sanitize-payload", lt == "skip-sanitize-payload", lt == "clearselectors":
		// Sentinel has no keys and no payloads to sanitize.
	case strings.HasPrefix(tok, "("):
		note(fmt.Sprintf("user %s: selector %s is not supported; dropped", u.name, tok))
	default:
		return fmt.Errorf("user %s: unknown ACL rule %q", u.name, tok)
	}
	return nil
}

// commands are the rules as users[].commands takes them: a user without
// command rules gets "nocommands" first (a Redis user with no rule may run
// nothing, whereas an empty users[].commands allows all).
func (u *aclLine) commands() string {
	rules := u.rules
	if !u.hasCmdRule {
		rules = append([]string{"nocommands"}, rules...)
	}
	return strings.Join(rules, " ")
}

// readUser reads a sentinel.conf ACL line, `user <name> <rule>...`, into
// File.Users with its command and channel rules:
//
//   - on/off: an "off" user is not taken (a note says so);
//   - >password: the password (one; more are noted and the first is used);
//     nopass, #<sha256> and !<sha256> passwords cannot be expressed: the
//     user is not taken, with a note;
//   - command rules (+..., -..., allcommands, nocommands) and channel rules
//     (&..., allchannels, resetchannels) go to Commands, in order (see
//     aclLine.commands);
//   - key patterns (~..., %..., allkeys, resetkeys), sanitize-payload,
//     skip-sanitize-payload and reset* of what Sentinel has no use for are
//     dropped; selectors "(...)" are dropped with a note.
//
// The "default" user's >password becomes RequirePass (nopass or a hashed
// password leave it to the requirepass line). Its rules cannot be
// expressed (the default user may always run everything), so anything
// narrower than +@all with all channels is noted. A rule acl.Parse
// rejects is an error, as Redis Sentinel rejects it at start, and so is a
// second line for a user already taken.
func readUser(p *parser, l line) error {
	u := aclLine{name: l.args[1]}
	note := func(why string) { p.note(l, why) }
	for _, tok := range l.args[2:] {
		if err := u.apply(tok, note); err != nil {
			return l.refuse(err)
		}
	}
	text := u.commands()
	if _, err := acl.Parse(text); err != nil {
		return l.refuse(fmt.Errorf("user %s: %w", u.name, err))
	}
	if u.name == "default" {
		p.readDefaultUser(u, text, note)
		return nil
	}
	for _, x := range p.f.Users {
		if x.Name == u.name {
			return l.refuse(errors.New("duplicate user " + u.name))
		}
	}
	if why := u.unexpressed(); why != "" {
		note(why)
		return nil
	}
	if len(u.pass) > 1 || u.hashed {
		note(fmt.Sprintf("user %s: only its first >password is used", u.name))
	}
	p.f.Users = append(p.f.Users, User{Name: u.name, Password: u.pass[0], Commands: text})
	return nil
}

// unexpressed says why a user other than default cannot be taken, "" when
// it can.
func (u *aclLine) unexpressed() string {
	switch {
	case !u.enabled:
		return fmt.Sprintf("user %s is off: not imported", u.name)
	case len(u.pass) > 0:
		return ""
	case u.nopass:
		return fmt.Sprintf("user %s is nopass, which raftsentinel cannot express: not imported", u.name)
	case u.hashed:
		return fmt.Sprintf("user %s has only hashed (#/!) passwords, which raftsentinel cannot express: not imported", u.name)
	}
	return fmt.Sprintf("user %s has no password, which raftsentinel cannot express: not imported", u.name)
}

func (p *parser) readDefaultUser(u aclLine, text string, note func(string)) {
	switch {
	case !u.enabled:
		note("user default is off: raftsentinel's default user cannot be disabled")
	case len(u.pass) > 0:
		p.f.RequirePass = u.pass[0]
	}
	if full, _ := acl.Parse("allcommands allchannels"); !sameRules(text, full) {
		note("user default: rules narrower than +@all allchannels are not supported; the default user may run every command")
	}
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
