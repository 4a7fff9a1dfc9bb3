package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/raftsentinel/raftsentinel/acl"
)

// TestImportSentinelConfUsers: `user` lines become users[] with their
// command and channel rules; what raftsentinel cannot express is noted.
func TestImportSentinelConfUsers(t *testing.T) {
	conf := `sentinel monitor mymaster 127.0.0.1 6379 1
user default on nopass sanitize-payload ~* &* +@all
user app on >apppw ~* resetchannels &+switch-master -@all +sentinel|get-master-addr-by-name +@connection
user ops on >opspw >second allkeys allchannels +@all -sentinel|remove
user bare on >pw
user empty on > +@all
user off off >pw +@all
user hashed on #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 +@all
user free on nopass +@all
user sel on >pw +@all (+ping ~x)
`
	im, err := ImportSentinelConf(strings.NewReader(conf))
	if err != nil {
		t.Fatal(err)
	}
	want := []User{
		{Name: "app", Password: "apppw", Commands: "resetchannels &+switch-master -@all +sentinel|get-master-addr-by-name +@connection"},
		{Name: "ops", Password: "opspw", Commands: "allchannels +@all -sentinel|remove"},
		{Name: "bare", Password: "pw", Commands: "nocommands"},
		{Name: "sel", Password: "pw", Commands: "+@all"},
	}
	if !reflect.DeepEqual(im.Config.Users, want) {
		t.Fatalf("users = %+v\nwant %+v", im.Config.Users, want)
	}
	if im.Config.RequirePass != "" {
		t.Errorf("requirepass %q", im.Config.RequirePass)
	}
	notes := strings.Join(im.Notes, "\n")
	for _, w := range []string{
		"user ops: only its first >password is used",
		"user off is off: not imported",
		"user hashed has only hashed (#/!) passwords, which raftsentinel cannot express: not imported",
		"user free is nopass, which raftsentinel cannot express: not imported",
		"user sel: selector (+ping is not supported; dropped",
		"user empty: an empty password is not supported; dropped",
		"user empty has no password, which raftsentinel cannot express: not imported",
	} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes lack %q:\n%s", w, notes)
		}
	}
	if strings.Contains(notes, "user default") {
		t.Errorf("the standard default user line got a note:\n%s", notes)
	}
	// The imported users pass Validate's check of users[].commands.
	for _, u := range im.Config.Users {
		if _, err := acl.Parse(u.Commands); err != nil {
			t.Errorf("user %s: %v", u.Name, err)
		}
	}
}

func TestImportSentinelConfUserDefaultAndErrors(t *testing.T) {
	const monitor = "sentinel monitor m 127.0.0.1 6379 1\n"
	im, err := ImportSentinelConf(strings.NewReader(monitor + "user default on >topsecret -@all +ping\n"))
	if err != nil {
		t.Fatal(err)
	}
	if im.Config.RequirePass != "topsecret" {
		t.Errorf("requirepass = %q", im.Config.RequirePass)
	}
	if !strings.Contains(strings.Join(im.Notes, "\n"), "user default: rules narrower than +@all allchannels are not supported") {
		t.Errorf("notes: %q", im.Notes)
	}
	for _, tc := range []struct{ conf, want string }{
		{"user a on >p +get\n", `line 2 (user a on >p +get): user a: invalid command rules: rule "+get": unknown command "get"`},
		{"user a on >p +@nosuch\n", `unknown category "nosuch"`},
		{"user a on >p bogus\n", `user a: unknown ACL rule "bogus"`},
		{"user a on >p +@all\nuser a on >q +@all\n", `line 3 (user a on >q +@all): duplicate user a`},
	} {
		_, err := ImportSentinelConf(strings.NewReader(monitor + tc.conf))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.conf, err, tc.want)
		}
	}
}
