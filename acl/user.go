package acl

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// User is one user of the Sentinel-protocol port as ACL SETUSER builds it:
// the Redis 7.0 user attributes this port has a use for (no selectors).
// Passwords are kept only as SHA-256 hex digests, as Redis stores them,
// so a User can be replicated and logged without exposing a password.
//
// A User is a plain value: methods that change it are not safe for
// concurrent use; callers share only users they no longer modify.
type User struct {
	Name string `json:"name"`
	On   bool   `json:"on,omitempty"`
	// NoPass: any password authenticates (Redis' nopass).
	NoPass bool `json:"nopass,omitempty"`
	// Passwords are SHA-256 hex digests, in the order they were added.
	Passwords []string `json:"passwords,omitempty"`
	// Keys are the key patterns as given (~*, ~k*, %R~k*). The port has no
	// keys: they are kept for ACL LIST and ACL GETUSER only.
	Keys []string `json:"keys,omitempty"`
	// AllChannels (&*, allchannels) or Channels (glob patterns) are the
	// Pub/Sub channels the user may use.
	AllChannels bool     `json:"allchannels,omitempty"`
	Channels    []string `json:"channels,omitempty"`
	// Commands are the command rules (see the package comment), lower
	// case, each once, starting with +@all or -@all.
	Commands []string `json:"commands,omitempty"`
	// Payload is "sanitize-payload", "skip-sanitize-payload" or "" (never
	// set): a flag with no effect here (no RESTORE), shown as Redis does.
	Payload string `json:"payload,omitempty"`
}

// ModifierError is the error of [User.Apply] for one rejected modifier.
// Msg is Redis 7.0's text for the reason; the full Redis reply is
// "ERR Error in ACL SETUSER modifier '<Modifier>': <Msg>".
type ModifierError struct {
	Modifier string
	Msg      string
}

func (e *ModifierError) Error() string {
	return fmt.Sprintf("Error in ACL SETUSER modifier '%s': %s", e.Modifier, e.Msg)
}

// Is makes every ModifierError match ErrInvalid.
func (e *ModifierError) Is(target error) bool { return target == ErrInvalid }

// Redis 7.0's texts for rejected modifiers.
const (
	msgSyntax      = "Syntax error"
	msgUnknownCmd  = "Unknown command or category name in ACL"
	msgBadHash     = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
	msgNoSuchPass  = "The password you are trying to remove from the user does not exist"
	msgKeysAfter   = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
	msgChansAfter  = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
	msgPlainInLog  = "a clear-text password cannot be applied here: hash it first (HashPasswords)"
	msgNoSelectors = "Selectors are not supported on this port"
)

// NewUser returns the user "ACL SETUSER name" creates in Redis 7.0: off,
// no password, no key, no channel (acl-pubsub-default resetchannels), no
// command.
func NewUser(name string) *User {
	return &User{Name: name, Commands: []string{"-@all"}}
}

// Clone returns a deep copy of u.
func (u *User) Clone() *User {
	c := *u
	c.Passwords = slices.Clone(u.Passwords)
	c.Keys = slices.Clone(u.Keys)
	c.Channels = slices.Clone(u.Channels)
	c.Commands = slices.Clone(u.Commands)
	return &c
}

// HashPassword returns the SHA-256 hex digest of a password, as Redis
// stores it.
func HashPassword(pass []byte) string {
	sum := sha256.Sum256(pass)
	return hex.EncodeToString(sum[:])
}

// HashPasswords rewrites the clear-text password modifiers of mods
// (">pass" and "<pass") into their hashed forms ("#hash", "!hash"), so
// that the modifiers can be replicated and logged. Other modifiers are
// returned unchanged.
func HashPasswords(mods []string) []string {
	out := make([]string, len(mods))
	for i, m := range mods {
		switch {
		case strings.HasPrefix(m, ">"):
			out[i] = "#" + HashPassword([]byte(m[1:]))
		case strings.HasPrefix(m, "<"):
			out[i] = "!" + HashPassword([]byte(m[1:]))
		default:
			out[i] = m
		}
	}
	return out
}

// Apply applies ACL SETUSER modifiers to u, left to right, all or none: on
// error u is unchanged and the error is a *ModifierError naming the first
// rejected modifier. Clear-text password modifiers (">", "<") are rejected:
// pass them through [HashPasswords] first. Supported: on, off, nopass,
// resetpass, #<hash>, !<hash>, allkeys, resetkeys, ~<pattern>,
// %<perm>~<pattern>, allchannels, resetchannels, &<pattern>, allcommands,
// nocommands, +/-@<category>, +/-<cmd>, +/-<cmd>|<sub>, reset,
// sanitize-payload and skip-sanitize-payload (flags only: there are no
// payloads here) and clearselectors (there are no selectors).
func (u *User) Apply(mods ...string) error {
	t := u.Clone()
	for _, m := range mods {
		if msg := t.apply(m); msg != "" {
			return &ModifierError{Modifier: m, Msg: msg}
		}
	}
	*u = *t
	return nil
}

// apply applies one modifier, returning Redis' error text or "".
func (u *User) apply(m string) string {
	lm := strings.ToLower(m)
	switch lm {
	case "on":
		u.On = true
	case "off":
		u.On = false
	case "nopass":
		u.NoPass, u.Passwords = true, nil
	case "resetpass":
		u.NoPass, u.Passwords = false, nil
	case "allkeys":
		u.Keys = []string{"~*"}
	case "resetkeys":
		u.Keys = nil
	case "allchannels":
		u.AllChannels, u.Channels = true, nil
	case "resetchannels":
		u.AllChannels, u.Channels = false, nil
	case "allcommands":
		u.Commands = []string{"+@all"}
	case "nocommands":
		u.Commands = []string{"-@all"}
	case "reset":
		*u = *NewUser(u.Name)
		u.Payload = "sanitize-payload"
	case "sanitize-payload", "skip-sanitize-payload":
		u.Payload = lm
	case "clearselectors":
	default:
		return u.applyPattern(m, lm)
	}
	return ""
}

func (u *User) applyPattern(m, lm string) string {
	if m == "" || strings.ContainsAny(m, " \t\r\n") {
		return msgSyntax
	}
	switch m[0] {
	case '#', '!':
		h := m[1:]
		if !validHash(h) {
			return msgBadHash
		}
		i := slices.Index(u.Passwords, h)
		if m[0] == '#' {
			if i < 0 {
				u.Passwords = append(u.Passwords, h)
			}
			u.NoPass = false
			return ""
		}
		if i < 0 {
			return msgNoSuchPass
		}
		u.Passwords = slices.Delete(u.Passwords, i, i+1)
		return ""
	case '>', '<':
		return msgPlainInLog
	case '~', '%':
		if m[0] == '%' {
			perm, _, ok := strings.Cut(m[1:], "~")
			if !ok || perm == "" || strings.Trim(strings.ToUpper(perm), "RW") != "" {
				return msgSyntax
			}
		}
		if slices.Contains(u.Keys, "~*") {
			return msgKeysAfter
		}
		if m == "~*" {
			u.Keys = []string{"~*"}
		} else if !slices.Contains(u.Keys, m) {
			u.Keys = append(u.Keys, m)
		}
		return ""
	case '&':
		if u.AllChannels {
			return msgChansAfter
		}
		if m == "&*" {
			u.AllChannels, u.Channels = true, nil
		} else if !slices.Contains(u.Channels, m[1:]) {
			u.Channels = append(u.Channels, m[1:])
		}
		return ""
	case '(':
		return msgNoSelectors
	case '+', '-':
		if _, err := Parse(lm); err != nil || lm == "+" || lm == "-" {
			return msgUnknownCmd
		}
		u.addCommandRule(lm)
		return ""
	}
	return msgSyntax
}

// addCommandRule appends a valid command rule: +@all and -@all restart
// the list; a rule for a command or subcommand replaces an earlier rule
// for the same name.
func (u *User) addCommandRule(r string) {
	if r == "+@all" || r == "-@all" {
		u.Commands = []string{r}
		return
	}
	if !strings.HasPrefix(r[1:], "@") {
		u.Commands = slices.DeleteFunc(u.Commands, func(x string) bool { return x[1:] == r[1:] })
	}
	if len(u.Commands) == 0 {
		u.Commands = []string{"-@all"}
	}
	u.Commands = append(u.Commands, r)
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, ch := range []byte(h) {
		if (ch < '0' || ch > '9') && (ch < 'a' || ch > 'f') {
			return false
		}
	}
	return true
}

// CheckPassword reports whether pass authenticates u: u is on and has
// nopass or pass's digest among its passwords (compared in constant time).
func (u *User) CheckPassword(pass []byte) bool {
	if u == nil || !u.On {
		return false
	}
	if u.NoPass {
		return true
	}
	h := []byte(HashPassword(pass))
	ok := false
	for _, p := range u.Passwords {
		if subtle.ConstantTimeCompare(h, []byte(p)) == 1 {
			ok = true
		}
	}
	return ok
}

// CommandText is the user's command rules as ACL GETUSER's "commands"
// gives them, e.g. "-@all +ping".
func (u *User) CommandText() string {
	if len(u.Commands) == 0 {
		return "-@all"
	}
	return strings.Join(u.Commands, " ")
}

// ChannelText is ACL GETUSER's "channels": "&*" or the patterns, each
// with its "&".
func (u *User) ChannelText() string {
	if u.AllChannels {
		return "&*"
	}
	parts := make([]string, len(u.Channels))
	for i, c := range u.Channels {
		parts[i] = "&" + c
	}
	return strings.Join(parts, " ")
}

// Flags are ACL GETUSER's "flags", in Redis' order: on or off, then
// nopass and the payload flag if set.
func (u *User) Flags() []string {
	f := []string{"off"}
	if u.On {
		f[0] = "on"
	}
	if u.NoPass {
		f = append(f, "nopass")
	}
	if u.Payload != "" {
		f = append(f, u.Payload)
	}
	return f
}

// Describe returns the user as an ACL LIST line, in Redis 7.0's order:
// "user default on nopass ~* &* +@all".
func (u *User) Describe() string {
	parts := append([]string{"user", u.Name}, u.Flags()...)
	for _, p := range u.Passwords {
		parts = append(parts, "#"+p)
	}
	parts = append(parts, u.Keys...)
	if !u.AllChannels {
		parts = append(parts, "resetchannels")
	}
	if c := u.ChannelText(); c != "" {
		parts = append(parts, c)
	}
	parts = append(parts, u.CommandText())
	return strings.Join(parts, " ")
}

// Rules compiles the user's command and channel rules (see [Parse]); nil
// (every command and channel allowed) for +@all with every channel.
func (u *User) Rules() (*Rules, error) {
	if u.AllChannels && len(u.Commands) == 1 && u.Commands[0] == "+@all" {
		return nil, nil
	}
	text := u.CommandText()
	if u.AllChannels {
		text += " allchannels"
	}
	for _, c := range u.Channels {
		text += " &" + c
	}
	r, err := Parse(text)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", u.Name, err)
	}
	return r, nil
}

// Validate checks a user decoded from elsewhere (a snapshot, a log entry):
// a name without spaces, hashed passwords, rules that compile.
func (u *User) Validate() error {
	if u == nil {
		return fmt.Errorf("%w: null user", ErrInvalid)
	}
	if u.Name == "" || strings.ContainsAny(u.Name, " \t\r\n") {
		return fmt.Errorf("%w: bad user name %q", ErrInvalid, u.Name)
	}
	if u.Payload != "" && u.Payload != "sanitize-payload" && u.Payload != "skip-sanitize-payload" {
		return fmt.Errorf("%w: user %q: bad payload flag %q", ErrInvalid, u.Name, u.Payload)
	}
	for _, p := range u.Passwords {
		if !validHash(p) {
			return fmt.Errorf("%w: user %q: a password is not a SHA-256 hex digest", ErrInvalid, u.Name)
		}
	}
	if _, err := u.Rules(); err != nil {
		return err
	}
	return nil
}

// ErrNoCategory is returned by [CategoryCommands] for an unknown category.
var ErrNoCategory = errors.New("unknown category")

// CategoryNames returns Redis 7.0's ACL categories in ACL CAT's order.
func CategoryNames() []string { return slices.Clone(knownCategories) }

// CategoryCommands returns the commands and subcommands ("cmd|sub") in
// category cat, as ACL CAT <cat> lists them: a command with subcommands is
// listed itself when it is in the category, and so is each of its
// subcommands that is.
func CategoryCommands(cat string) ([]string, error) {
	cat = strings.ToLower(cat)
	if !slices.Contains(knownCategories, cat) {
		return nil, fmt.Errorf("%w %q", ErrNoCategory, cat)
	}
	seen := map[string]bool{}
	for _, m := range []map[string][]string{parents, commands} {
		for c, cats := range m {
			if slices.Contains(cats, cat) {
				seen[c] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	slices.Sort(out)
	return out, nil
}
