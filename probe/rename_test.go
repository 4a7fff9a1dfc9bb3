package probe

import (
	"testing"
)

func TestAuthCmdAndEqual(t *testing.T) {
	none := Auth{User: "u", Pass: "p"}
	ren := Auth{User: "u", Pass: "p", Renames: map[string]string{"ping": "renamed-ping", "config": "XCONFIG"}}
	for _, c := range []struct {
		a          Auth
		name, want string
	}{
		{none, "PING", "PING"},
		{ren, "PING", "renamed-ping"},
		{ren, "ping", "renamed-ping"},
		{ren, "Config", "XCONFIG"},
		{ren, "INFO", "INFO"},
		// an empty rename (not possible through SET) sends the original
		{Auth{Renames: map[string]string{"info": ""}}, "INFO", "INFO"},
	} {
		if got := c.a.Cmd(c.name); got != c.want {
			t.Errorf("%v.Cmd(%q) = %q, want %q", c.a.Renames, c.name, got, c.want)
		}
	}
	if !none.Equal(Auth{User: "u", Pass: "p", Renames: map[string]string{}}) {
		t.Error("nil and empty Renames differ")
	}
	if none.Equal(ren) || ren.Equal(none) {
		t.Error("a rename makes no difference")
	}
	other := Auth{User: "u", Pass: "p", Renames: map[string]string{"ping": "yping", "config": "XCONFIG"}}
	if ren.Equal(other) {
		t.Error("a different rename makes no difference")
	}
	if (Auth{Pass: "q"}).Equal(Auth{Pass: "p"}) {
		t.Error("a different password makes no difference")
	}
}

func TestReplicaOfVerb(t *testing.T) {
	for _, c := range []struct {
		renames map[string]string
		major   int
		want    string
	}{
		{nil, 7, "REPLICAOF"},
		{nil, 0, "REPLICAOF"}, // version unknown
		{nil, 4, "SLAVEOF"},
		{map[string]string{"replicaof": "xr"}, 7, "xr"},
		{map[string]string{"slaveof": "xs"}, 7, "xs"}, // renamed for Sentinel, which sends SLAVEOF
		{map[string]string{"slaveof": "xs", "replicaof": "xr"}, 7, "xr"},
		{map[string]string{"slaveof": "xs", "replicaof": "xr"}, 4, "xs"},
		{map[string]string{"replicaof": "xr"}, 4, "SLAVEOF"},
	} {
		if got := (Auth{Renames: c.renames}).replicaOfVerb(c.major); got != c.want {
			t.Errorf("renames %v, Redis %d: verb %q, want %q", c.renames, c.major, got, c.want)
		}
	}
}
