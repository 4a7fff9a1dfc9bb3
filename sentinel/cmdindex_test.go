package sentinel

import (
	"strings"
	"testing"
)

// TestLookupEveryCommandAnyCase: every command and subcommand of the table
// is found by its name in upper, lower and mixed case, and resolves to its
// own spec (its id); near misses are not found.
func TestLookupEveryCommandAnyCase(t *testing.T) {
	mixed := func(s string) string {
		b := []byte(s)
		for i := 0; i < len(b); i += 2 {
			b[i] = strings.ToUpper(string(b[i]))[0]
		}
		return string(b)
	}
	for name, spec := range commandTable {
		for _, n := range []string{name, strings.ToUpper(name), mixed(name)} {
			if id, ok := commandIndex.find([]byte(n)); !ok || id != spec.id {
				t.Errorf("find(%q) = %d, %v; want %d", n, id, ok, spec.id)
			}
		}
		for sub, s := range spec.subs {
			for _, n := range []string{sub, strings.ToUpper(sub), mixed(sub)} {
				if id, ok := subIndex[spec.id].find([]byte(n)); !ok || id != s.id {
					t.Errorf("%s: find(%q) = %d, %v; want %d", name, n, id, ok, s.id)
				}
			}
		}
	}
	for _, n := range []string{"", "pin", "pingg", "p1ng", "PING\x00", "sentinel ", "\xc3\xa9", strings.Repeat("x", 300)} {
		if id, ok := commandIndex.find([]byte(n)); ok {
			t.Errorf("find(%q) found id %d", n, id)
		}
	}
	// Only A-Z are folded: '\r' is '-' minus 0x20 and must not match it.
	if _, ok := subIndex[commandTable["sentinel"].id].find([]byte("get\rmaster-addr-by-name")); ok {
		t.Error("a CR matched '-'")
	}
}

// TestLookupCommandErrors: the unknown-command, unknown-subcommand and
// arity errors keep Redis' texts (names lower-cased in arity errors).
func TestLookupCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"SeNtInEl", "Get-Master-Addr-By-Name", "m"}, ""},
		{[]string{"PING"}, ""},
		{[]string{"nope", "a"}, "ERR unknown command 'nope', with args beginning with: 'a' "},
		{[]string{"SENTINEL", "nope"}, "ERR unknown subcommand 'nope'. Try SENTINEL HELP."},
		{[]string{"SENTINEL", "Get-Master-Addr-By-Name"}, "ERR wrong number of arguments for 'sentinel|get-master-addr-by-name' command"},
		{[]string{"ROLE", "x"}, "ERR wrong number of arguments for 'role' command"},
	} {
		args := make([][]byte, len(c.args))
		for i, a := range c.args {
			args[i] = []byte(a)
		}
		if _, got := lookupCommand(args); got != c.want {
			t.Errorf("%q: %q, want %q", c.args, got, c.want)
		}
	}
}
