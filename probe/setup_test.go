//go:build integration

package probe

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestConnectionSetup: the probe connection sends AUTH (user and
// password, renamed as Auth says) and CLIENT SETNAME before its first
// probes. A refused AUTH fails the probes; an error reply to CLIENT
// SETNAME fails them too unless CLIENT is renamed (then it is ignored, as
// Sentinel ignores it).
func TestConnectionSetup(t *testing.T) {
	opt := testOptions()
	f := newFakeRedis(t, "+PONG")
	p := newProber(t, opt)
	auth := Auth{User: "probe", Pass: "pw", Renames: map[string]string{"auth": "xauth"}}
	p.Watch(f.addr(), auth)
	waitObs(t, p, f.addr(), 5*time.Second, "healthy", func(o Observation) bool { return o.Connected && !o.InfoAt.IsZero() })
	if got := f.commands("xauth"); len(got) == 0 || !slices.Equal(got[0].args, []string{"probe", "pw"}) {
		t.Fatalf("renamed AUTH = %v", got)
	}
	if got := f.commands("CLIENT"); len(got) == 0 || !slices.Equal(got[0].args, []string{"SETNAME", testClientName}) {
		t.Fatalf("CLIENT SETNAME = %v", got)
	}

	// CLIENT unknown to the node, the monitor not told: no valid PING.
	f.setReply("CLIENT", "-ERR unknown command 'CLIENT', with args beginning with: 'SETNAME'")
	p.Watch(f.addr(), Auth{})
	mark := time.Now()
	o, _ := waitObs(t, p, f.addr(), 5*time.Second, "SETNAME refused", func(o Observation) bool {
		return strings.Contains(o.LastError, "unknown command 'CLIENT'") && o.LastPingReply.After(mark)
	})
	if !o.LastOKPing.Before(mark) || !strings.Contains(o.InfoError, "unknown command 'CLIENT'") {
		t.Fatalf("with CLIENT SETNAME refused: %+v", o)
	}

	// Renamed CLIENT: an error reply to it is ignored.
	f.setReply("XCLIENT", "-ERR unknown command 'XCLIENT'")
	p.Watch(f.addr(), Auth{Renames: map[string]string{"client": "xclient"}})
	mark = time.Now()
	waitObs(t, p, f.addr(), 5*time.Second, "healthy with the renamed CLIENT refused", func(o Observation) bool {
		return o.Connected && o.LastOKPing.After(mark) && o.InfoAt.After(mark) && o.LastError == ""
	})

	// A refused AUTH: every probe behind it fails with the refusal.
	f.setReply("AUTH", "-WRONGPASS invalid username-password pair or user is disabled.")
	p.Watch(f.addr(), Auth{Pass: "wrong"})
	mark = time.Now()
	o, _ = waitObs(t, p, f.addr(), 5*time.Second, "AUTH refused", func(o Observation) bool {
		return o.AuthRefused && o.LastPingReply.After(mark)
	})
	if o.Connected || !strings.HasPrefix(o.LastError, "WRONGPASS") || !strings.HasPrefix(o.InfoError, "WRONGPASS") {
		t.Fatalf("with AUTH refused: %+v", o)
	}
}
