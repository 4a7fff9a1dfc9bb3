package quorum

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/raftsentinel/raftsentinel/acl"
	"github.com/raftsentinel/raftsentinel/state"
)

// TestFSMUsers: ACL SETUSER / DELUSER entries build the run-time users
// deterministically, start from the proposer's file user when the group
// has none, refuse clear-text passwords, keep deleted names as
// tombstones, and survive a snapshot and restore.
func TestFSMUsers(t *testing.T) {
	f := NewFSM(nil)
	var got []state.Effect
	hash := acl.HashPassword([]byte("s3cret"))
	base := &acl.User{Name: "ops", On: true, Passwords: []string{acl.HashPassword([]byte("file"))}, AllChannels: true, Commands: []string{"+@all"}}
	runSteps(t, f, &got, []step{
		{cmd: state.Command{Op: state.OpSetUser, User: "app", Rules: []string{"on", "#" + hash, "-@all", "+ping"}}},
		{cmd: state.Command{Op: state.OpSetUser, User: "app", Rules: []string{"+role", "!" + strings.Repeat("0", 64)}}, wantErr: acl.ErrInvalid},
		{cmd: state.Command{Op: state.OpSetUser, User: "app", Rules: []string{">plain"}}, wantErr: acl.ErrInvalid},
		{cmd: state.Command{Op: state.OpSetUser, User: "ops", Base: base, Rules: []string{"-sentinel|failover"}}},
		{cmd: state.Command{Op: state.OpSetUser, User: "bad name"}, wantErr: state.ErrBadCommand},
		{cmd: state.Command{Op: state.OpDelUser, Names: []string{"default", "app"}}, wantErr: state.ErrDefaultUser},
		{cmd: state.Command{Op: state.OpDelUser, Names: []string{"ops", "fileonly"}}},
	})
	st := f.State()
	app := st.Users["app"]
	if app == nil || !app.CheckPassword([]byte("s3cret")) || app.CommandText() != "-@all +ping" {
		t.Fatalf("app = %+v", app)
	}
	if _, ok := st.Users["ops"]; ok {
		t.Fatalf("ops survived DELUSER")
	}
	if u, known := st.User("fileonly"); u != nil || !known {
		t.Fatalf("fileonly: %v %v, want a tombstone", u, known)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(snap.(snapshot), []byte("s3cret")) || bytes.Contains(snap.(snapshot), []byte("plain")) {
		t.Fatalf("a clear-text password is in the snapshot: %s", snap.(snapshot))
	}
	g := NewFSM(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(snap.(snapshot)))); err != nil {
		t.Fatal(err)
	}
	if r := g.State(); r.Users["app"].Describe() != app.Describe() || !r.DeletedUsers["ops"] || !r.DeletedUsers["fileonly"] {
		t.Fatalf("restored users %+v deleted %v", r.Users, r.DeletedUsers)
	}
	// SETUSER brings a deleted name back (from scratch, not from the base).
	res := g.Apply(logOf(t, state.Command{Op: state.OpSetUser, User: "ops", Base: base, Rules: []string{"on"}}, t0, 99))
	if err, _ := res.(error); err != nil {
		t.Fatal(err)
	}
	if u, _ := g.State().User("ops"); u == nil || g.State().DeletedUsers["ops"] {
		t.Fatalf("ops not back: %+v", g.State())
	}
	bad := []byte(`{"users":{"x":{"name":"x","passwords":["nothex"]}}}`)
	if err := NewFSM(nil).Restore(io.NopCloser(bytes.NewReader(bad))); !errors.Is(err, state.ErrBadSnapshot) {
		t.Fatalf("restore of a user with a clear-text password: %v", err)
	}
}
