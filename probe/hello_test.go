//go:build integration

package probe

import (
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// TestHelloBusAuthChange: Watch with other credentials replaces the node's
// client, so a subscription and PUBLISH refused with a wrong password work
// once the right one is given.
func TestHelloBusAuthChange(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	s := startRedis(t, ctx, redisproc.Options{Extra: []string{"requirepass sekret"}})
	b := NewHelloBus(200*time.Millisecond, nil)
	defer b.Close()

	b.Watch(s.Addr(), Auth{Pass: "wrong"})
	err := b.Publish(ctx, s.Addr(), "refused")
	if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("PUBLISH with a wrong password: %v", err)
	}

	b.Watch(s.Addr(), Auth{Pass: "sekret"})
	b.Watch(s.Addr(), Auth{Pass: "sekret"}) // same credentials: no-op
	if got := b.Watched(); len(got) != 1 || got[0] != s.Addr() {
		t.Fatalf("Watched = %v", got)
	}
	// The subscription is made asynchronously: publish until a hello comes
	// back through it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := b.Publish(ctx, s.Addr(), "hello"); err != nil {
			t.Fatalf("PUBLISH with the right password: %v", err)
		}
		select {
		case m := <-b.Messages():
			if m.Node != s.Addr() || m.Payload != "hello" {
				t.Fatalf("message %+v", m)
			}
			return
		case <-time.After(50 * time.Millisecond): // one poll interval
		}
		if time.Now().After(deadline) {
			t.Fatal("no hello received with the right password")
		}
	}
}
