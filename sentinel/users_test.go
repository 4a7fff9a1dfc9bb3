package sentinel

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/acl"
	"github.com/raftsentinel/raftsentinel/state"
)

func bulk(s string) string { return "$" + itoa(len(s)) + "\r\n" + s + "\r\n" }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestACLCommands: ACL SETUSER commits users (hashed) through Propose and
// AUTH, ACL LIST/GETUSER/USERS/WHOAMI/CAT/LOG/DELUSER answer Redis 7.0's
// texts and shapes, merging the file users with the run-time ones.
func TestACLCommands(t *testing.T) {
	b := newFakeBackend()
	_, addr := startSentinel(t, b, HandlerOptions{Users: map[string]string{"file": "fpw"},
		Permissions: map[string]*acl.Rules{"file": mustRules(t, "-@all +ping")}})
	c := dialRaw(t, addr)
	h := acl.HashPassword([]byte("pw"))
	fh := acl.HashPassword([]byte("fpw"))
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"ACL", "WHOAMI"}, bulk("default")},
		{[]string{"ACL", "USERS"}, "*2\r\n" + bulk("default") + bulk("file")},
		{[]string{"ACL", "LIST"}, "*2\r\n" + bulk("user default on nopass ~* &* +@all") + bulk("user file on #"+fh+" ~* resetchannels -@all +ping")},
		{[]string{"ACL", "SETUSER", "app", "on", ">pw", "-@all", "+ping", "+acl|whoami"}, "+OK\r\n"},
		{[]string{"ACL", "SETUSER", "app", "+nosuch"}, "-ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL\r\n"},
		{[]string{"ACL", "SETUSER", "app", "<nosuch"}, "-ERR Error in ACL SETUSER modifier '<nosuch': The password you are trying to remove from the user does not exist\r\n"},
		{[]string{"ACL", "SETUSER", "app", "badrule"}, "-ERR Error in ACL SETUSER modifier 'badrule': Syntax error\r\n"},
		{[]string{"ACL", "SETUSER", "a b"}, "-ERR Usernames can't contain spaces or null characters\r\n"},
		{[]string{"ACL", "GETUSER", "app"}, "*12\r\n" + bulk("flags") + "*1\r\n" + bulk("on") + bulk("passwords") + "*1\r\n" + bulk(h) +
			bulk("commands") + bulk("-@all +ping +acl|whoami") + bulk("keys") + bulk("") + bulk("channels") + bulk("") + bulk("selectors") + "*0\r\n"},
		{[]string{"ACL", "GETUSER", "nosuch"}, "$-1\r\n"},
		{[]string{"ACL", "SETUSER", "file", "+role"}, "+OK\r\n"}, // from the file's definition
		{[]string{"ACL", "LIST"}, "*3\r\n" + bulk("user app on #"+h+" resetchannels -@all +ping +acl|whoami") + bulk("user default on nopass ~* &* +@all") +
			bulk("user file on #"+fh+" ~* resetchannels -@all +ping +role")},
		{[]string{"ACL", "CAT", "nosuch"}, "-ERR Unknown category 'nosuch'\r\n"},
		{[]string{"ACL", "CAT", "a", "b"}, "-ERR unknown subcommand or wrong number of arguments for 'CAT'. Try ACL HELP.\r\n"},
		{[]string{"ACL", "SAVE"}, "-" + aclNoFile + "\r\n"},
		{[]string{"ACL", "LOAD"}, "-" + aclNoFile + "\r\n"},
		{[]string{"ACL", "LOG", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"ACL", "LOG"}, "*0\r\n"},
		{[]string{"ACL", "DELUSER", "default"}, "-ERR The 'default' user cannot be removed\r\n"},
		{[]string{"ACL", "DRYRUN", "app", "role"}, bulk("This user has no permissions to run the 'role' command")},
		{[]string{"ACL", "DRYRUN", "app", "ping"}, "+OK\r\n"},
		{[]string{"ACL", "DRYRUN", "nosuch", "ping"}, "-ERR User 'nosuch' not found\r\n"},
		{[]string{"ACL", "DRYRUN", "app", "get"}, "-ERR Command 'get' not found\r\n"},
		{[]string{"ACL", "GENPASS", "0"}, "-ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096\r\n"},
		{[]string{"ACL", "GENPASS", "5"}, ""},
	}
	for _, s := range steps {
		c.do(s.args...)
		if s.want == "" {
			if got := c.readBulk(); len(got) != 2 {
				t.Fatalf("GENPASS 5 = %q", got)
			}
			continue
		}
		c.expect(s.want)
	}
	b.mu.Lock()
	proposed := append([]state.Command(nil), b.proposed...)
	b.mu.Unlock()
	for _, p := range proposed {
		for _, r := range p.Rules {
			if strings.Contains(r, "pw") {
				t.Fatalf("a clear-text password was proposed: %+v", p)
			}
		}
	}

	// The run-time user authenticates; its rules apply; denials are logged.
	u := dialRaw(t, addr)
	u.do("AUTH", "app", "wrong")
	u.expect("-" + wrongPassText + "\r\n")
	u.do("AUTH", "app", "pw")
	u.expect("+OK\r\n")
	u.do("ACL", "WHOAMI")
	u.expect(bulk("app"))
	u.do("ROLE")
	u.expect("-NOPERM this user has no permissions to run the 'role' command\r\n")
	c.do("ACL", "LOG", "1")
	c.expect("*1\r\n*14\r\n" + bulk("count") + ":1\r\n" + bulk("reason") + bulk("command") + bulk("context") + bulk("toplevel") +
		bulk("object") + bulk("role") + bulk("username") + bulk("app") + bulk("age-seconds") + bulk("0") + bulk("client-info"))
	c.readBulk()
	c.do("ACL", "LOG", "RESET")
	c.expect("+OK\r\n")
	c.do("ACL", "LOG")
	c.expect("*0\r\n")

	// CLIENT KILL USER.
	c.do("CLIENT", "KILL", "USER", "nosuch")
	c.expect("-ERR No such user 'nosuch'\r\n")
	c.do("CLIENT", "KILL", "USER", "default")
	c.expect(":0\r\n") // only c itself, skipped
	c.do("CLIENT", "KILL", "USER", "app", "SKIPME", "yes")
	c.expect(":1\r\n")

	// DELUSER removes the run-time user and hides the file one; a
	// connection of a deleted user is closed at its next command.
	f := dialRaw(t, addr)
	f.do("AUTH", "file", "fpw")
	f.expect("+OK\r\n")
	c.do("ACL", "DELUSER", "app", "file", "nosuch", "file")
	c.expect(":2\r\n")
	c.do("ACL", "USERS")
	c.expect("*1\r\n" + bulk("default"))
	f.do("PING")
	_ = f.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := f.rd.ReadByte(); err == nil {
		t.Fatalf("a deleted user's connection still answers")
	}
	x := dialRaw(t, addr)
	x.do("AUTH", "file", "fpw")
	x.expect("-" + wrongPassText + "\r\n")
	// The default user can be given a password at run time.
	c.do("ACL", "SETUSER", "default", "resetpass", ">top")
	c.expect("+OK\r\n")
	y := dialRaw(t, addr)
	y.do("PING")
	y.expect("-NOAUTH Authentication required.\r\n")
	y.do("AUTH", "top")
	y.expect("+OK\r\n")
}

// TestShutdownCommand: Redis 7.0's argument rules; a valid SHUTDOWN calls
// HandlerOptions.Shutdown and closes the connection without a reply.
func TestShutdownCommand(t *testing.T) {
	var called atomic.Int32
	_, addr := startSentinel(t, newFakeBackend(), HandlerOptions{Shutdown: func() { called.Add(1) }})
	c := dialRaw(t, addr)
	for _, s := range []struct{ args, want string }{
		{"SHUTDOWN x", "-ERR syntax error\r\n"},
		{"SHUTDOWN NOSAVE SAVE", "-ERR syntax error\r\n"},
		{"SHUTDOWN ABORT NOW", "-ERR syntax error\r\n"},
		{"SHUTDOWN ABORT", "-ERR No shutdown in progress.\r\n"},
	} {
		c.do(strings.Fields(s.args)...)
		c.expect(s.want)
	}
	if called.Load() != 0 {
		t.Fatal("SHUTDOWN called on an error")
	}
	c.do("SHUTDOWN", "NOSAVE", "NOW", "FORCE")
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := c.rd.ReadByte(); err == nil {
		t.Fatalf("SHUTDOWN replied (%q)", b)
	}
	if called.Load() != 1 {
		t.Fatalf("Shutdown called %d times", called.Load())
	}
	// A user without @admin may not.
	_, addr2 := startSentinel(t, newFakeBackend(), HandlerOptions{RequirePass: "p", Users: map[string]string{"u": "p"},
		Permissions: map[string]*acl.Rules{"u": mustRules(t, "+@all -@admin")}, Shutdown: func() { called.Add(1) }})
	d := dialRaw(t, addr2)
	d.do("AUTH", "u", "p")
	d.expect("+OK\r\n")
	d.do("SHUTDOWN")
	d.expect("-NOPERM this user has no permissions to run the 'shutdown' command\r\n")
}
