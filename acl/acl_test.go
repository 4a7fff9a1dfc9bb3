package acl

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAndAllows(t *testing.T) {
	for _, tc := range []struct {
		rules string
		allow []string
		deny  []string
	}{
		{"+@all", []string{"ping", "sentinel|failover", "client|kill", "subscribe"}, nil},
		{"-@all", nil, []string{"ping", "sentinel|masters", "info"}},
		{"allcommands -sentinel|failover", []string{"sentinel|masters", "ping"}, []string{"sentinel|failover"}},
		{"-@all +ping +sentinel|get-master-addr-by-name", []string{"ping", "sentinel|get-master-addr-by-name"},
			[]string{"sentinel|masters", "info", "subscribe", "client|id"}},
		{"+sentinel -sentinel|remove", []string{"sentinel|masters", "sentinel|monitor", "sentinel|help"},
			[]string{"sentinel|remove", "ping"}},
		// Order matters: a later rule overrides an earlier one.
		{"-sentinel|set +sentinel", []string{"sentinel|set"}, nil},
		// As in Redis, a category matching the parent (SENTINEL is @dangerous)
		// covers every subcommand, SENTINEL HELP (only @slow) included.
		{"+@all -@dangerous", []string{"ping", "subscribe", "client|id"},
			[]string{"sentinel|masters", "sentinel|help", "info", "role", "client|kill", "client|list"}},
		{"-@all +@slow", []string{"sentinel|help", "sentinel|masters", "client|id", "command|count", "info"}, []string{"ping", "role"}},
		{"-@all +command", []string{"command", "command|count", "command|info"}, []string{"ping"}},
		{"+@all -command|docs", []string{"command", "command|count"}, []string{"command|docs"}},
		{"+@all -@admin", []string{"info", "ping"}, []string{"sentinel|myid", "role", "client|kill"}},
		{"+@pubsub", []string{"subscribe", "psubscribe", "unsubscribe", "punsubscribe", "publish"}, []string{"ping"}},
		{"+@connection", []string{"ping", "client|setname", "client|kill", "command"}, []string{"sentinel|masters", "info"}},
		{"+@fast", []string{"ping", "role", "publish"}, []string{"info", "subscribe"}},
		{"+@all -@slow +sentinel|get-master-addr-by-name", []string{"ping", "sentinel|get-master-addr-by-name"}, []string{"sentinel|masters", "info"}},
		{"+@keyspace", nil, []string{"ping"}}, // a Redis category no Sentinel command is in
		{"  +PING   +Sentinel|MyID ", []string{"ping", "sentinel|myid"}, []string{"sentinel|masters"}},
		{"nocommands +info", []string{"info"}, []string{"ping"}},
	} {
		r, err := Parse(tc.rules)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.rules, err)
			continue
		}
		for _, c := range tc.allow {
			if !r.Allows(c) {
				t.Errorf("%q denies %s", tc.rules, c)
			}
		}
		for _, c := range tc.deny {
			if r.Allows(c) {
				t.Errorf("%q allows %s", tc.rules, c)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ rules, want string }{
		{"", "no rules"},
		{"   ", "no rules"},
		{"ping", `rule "ping": must start with + or -`},
		{"+", `rule "+": must start with + or -`},
		{"+@nosuch", `rule "+@nosuch": unknown category "nosuch"`},
		{"+get", `rule "+get": unknown command "get"`},
		{"+sentinel|nosuch", `rule "+sentinel|nosuch": unknown command or subcommand "sentinel|nosuch"`},
		{"+ping|x", `unknown command or subcommand "ping|x"`},
		{"+@all ~*", `rule "~*": must start with + or -`},
		{"allchannels &foo", `rule "&foo": a channel pattern after allchannels`},
	} {
		_, err := Parse(tc.rules)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an ErrInvalid containing %q", tc.rules, err, tc.want)
		}
	}
}

func TestNilRulesAllowEverything(t *testing.T) {
	var r *Rules
	if !r.Allows("sentinel|failover") || r.String() != "+@all" {
		t.Fatal("nil rules must allow every command")
	}
	r, _ = Parse("-@all")
	if r.Allows("nosuch") {
		t.Fatal("unknown names must be denied")
	}
}

func TestChannels(t *testing.T) {
	for _, tc := range []struct {
		rules    string
		all      bool
		patterns []string
	}{
		{"+@all", false, nil}, // Redis 7.0: acl-pubsub-default resetchannels
		{"+@all allchannels", true, nil},
		{"+@all &*", true, nil},
		{"+@all &+switch-master &__sentinel__:* resetchannels &Foo*", false, []string{"Foo*"}},
		{"&a &b", false, []string{"a", "b"}},
		{"allchannels resetchannels", false, nil},
	} {
		r, err := Parse(tc.rules)
		if err != nil {
			t.Fatal(err)
		}
		all, patterns := r.Channels()
		if all != tc.all || strings.Join(patterns, " ") != strings.Join(tc.patterns, " ") {
			t.Errorf("%q: Channels() = %v %q, want %v %q", tc.rules, all, patterns, tc.all, tc.patterns)
		}
	}
	var none *Rules
	if all, _ := none.Channels(); !all {
		t.Error("nil rules must allow every channel")
	}
}

// TestCategoriesMatchRedis pins the categories read from redis-sentinel
// 7.0.15 (COMMAND INFO) for a few representative commands.
func TestCategoriesMatchRedis(t *testing.T) {
	for name, want := range map[string]string{
		"sentinel|get-master-addr-by-name": "admin slow dangerous",
		"sentinel|help":                    "slow",
		"ping":                             "fast connection",
		"info":                             "slow dangerous",
		"role":                             "admin fast dangerous",
		"subscribe":                        "pubsub slow",
		"publish":                          "pubsub fast",
		"client|kill":                      "admin slow dangerous connection",
		"client|id":                        "slow connection",
	} {
		if got := strings.Join(Categories(name), " "); got != want {
			t.Errorf("Categories(%s) = %q, want %q", name, got, want)
		}
	}
}

// FuzzParse: any rule string compiles or fails with ErrInvalid, never
// panics; compiled rules answer for every known command, and re-parsing
// String() gives the same decisions.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"+@all", "-@all +ping", "+sentinel -sentinel|set", "+@dangerous -@nosuch",
		"allcommands nocommands", "+|", "-@", "+sentinel|", "+SENTINEL|GET-MASTER-ADDR-BY-NAME \t +@PubSub"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rules string) {
		r, err := Parse(rules)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		again, err := Parse(r.String())
		if err != nil {
			t.Fatalf("String() %q does not parse: %v", r.String(), err)
		}
		for _, c := range Commands() {
			if r.Allows(c) != again.Allows(c) {
				t.Fatalf("%q and its String() %q differ on %s", rules, r.String(), c)
			}
		}
	})
}
