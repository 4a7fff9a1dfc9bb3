package sentinelconf

import (
	"reflect"
	"strings"
	"testing"
)

// TestSplitLineAsRedis pins SplitLine to Redis' sdssplitargs, the
// reader of sentinel.conf: escapes in double quotes (CONFIG REWRITE writes
// passwords with them), \' in single quotes, # only as a whole-line
// comment (ACL "#<sha256>" passwords, passwords containing #).
func TestSplitLineAsRedis(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{`sentinel monitor m 10.0.0.1 6379 2`, []string{"sentinel", "monitor", "m", "10.0.0.1", "6379", "2"}},
		{"  \tport   26379 \r", []string{"port", "26379"}},
		{`sentinel auth-pass m "s3cr\"et with spaces"`, []string{"sentinel", "auth-pass", "m", `s3cr"et with spaces`}},
		{`requirepass "a\x41\x00b\n\\"`, []string{"requirepass", "aA\x00b\n\\"}},
		{`requirepass "\xZZ\q"`, []string{"requirepass", "xZZq"}},
		{`requirepass 'it\'s \n'`, []string{"requirepass", `it's \n`}},
		{`requirepass abc#def`, []string{"requirepass", "abc#def"}},
		{`user bob on #30c9 -@all`, []string{"user", "bob", "on", "#30c9", "-@all"}},
		{`  # a comment "unbalanced`, nil},
		{`dir ab"c d"`, []string{"dir", "abc d"}},
		{`requirepass ""`, []string{"requirepass", ""}},
		{``, nil},
	} {
		got, err := SplitLine(tc.line)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitLine(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ line, want string }{
		{`requirepass "abc`, "unbalanced quotes"},
		{`requirepass 'abc`, "unbalanced quotes"},
		{`requirepass "abc\"`, "unbalanced quotes"},
		{`requirepass "a"b`, "closing quote must be followed by a space"},
		{`requirepass 'a'b`, "closing quote must be followed by a space"},
	} {
		if _, err := SplitLine(tc.line); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SplitLine(%q) error %v, want %q", tc.line, err, tc.want)
		}
	}
}

// FuzzQuoteRoundTrip: whatever a rewrite writes with Quote, SplitLine (and
// so Redis Sentinel, whose sdssplitargs it follows) reads back unchanged.
func FuzzQuoteRoundTrip(f *testing.F) {
	for _, s := range []string{"", "plain", "s p", `a"b`, `a\b`, "it's", "tab\there", "\x00\x7f\xff", "é", "#hash", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := SplitLine("sentinel auth-pass m " + Quote(s))
		if err != nil || len(args) != 4 || args[3] != s {
			t.Fatalf("Quote(%q) = %s reads back as %q, %v", s, Quote(s), args, err)
		}
	})
}
