package resp

import "testing"

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "+switch-master", true},
		{"*", "", true},
		{"", "", true},
		{"", "a", false},
		{"+switch-master", "+switch-master", true},
		{"+switch-master", "+switch-maste", false},
		{"[-+]sdown", "+sdown", true},
		{"[-+]sdown", "-sdown", true},
		{"[-+]sdown", "*sdown", false},
		{"[-+]odown", "+sdown", false},
		{"+slave*", "+slave-reconf-done", true},
		{"+slave*", "+slave", true},
		{"*master", "+switch-master", true},
		{"*-master", "+switch-master", true},
		{"*-*-*", "+failover-state-reconf-slaves", true},
		{"*a*b", "xaybzab", true},
		{"*a*b", "xaybza", false},
		{"h?llo", "hello", true},
		{"h?llo", "hllo", false},
		{"h*llo", "hllo", true},
		{"h*llo", "heeeello", true},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true},
		{"h[a-b]llo", "hcllo", false},
		{"h[b-a]llo", "hallo", true}, // reversed range is swapped
		{"[a-]", "]", true},          // '-' then ']' is the range ]..a (as Redis), and
		{"[a-]", "b", false},         // the set is left unterminated:
		{"[a-]x", "]", true},         // "x" is a member, not a following literal
		{"[a-]x", "]x", false},       //
		{"[]x", "x", false},          // empty set matches nothing
		{"[]x", "]x", false},         //
		{"[^]x", "qx", true},         // negated empty set matches anything
		{"[\\]]x", "]x", true},       // escaped ] in a set
		{"[\\-a]", "-", true},
		{"[abc", "b", true}, // unterminated set runs to the end
		{"[abc", "bc", false},
		{"\\*", "*", true},
		{"\\*", "a", false},
		{"a\\?b", "a?b", true},
		{"a\\?b", "axb", false},
		{"a\\", "a\\", true}, // trailing lone backslash is literal
		{"**x", "abx", true},
		{"a*", "", false},
		{"__sentinel__:*", "__sentinel__:hello", true},
		{"*[0-9]", "master1", true},
		{"*[0-9]", "master", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("*a*[b-c]?\\*", "xxabc?*")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		Match(pattern, name) // must not panic or hang
		if !Match("*", name) {
			t.Fatal("* must match everything")
		}
		if !Match(escapeGlob(name), name) {
			t.Fatalf("escaped %q must match itself", name)
		}
	})
}

func escapeGlob(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}
