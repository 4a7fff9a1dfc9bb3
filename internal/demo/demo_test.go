//go:build integration

package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDrill runs exactly what `make demo` runs and checks the printed
// timeline tells the whole story.
func TestDrill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, Options{Out: &out, Dir: t.TempDir()}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"killed", "+sdown", "+odown", "+try-failover", "+promoted-slave", "+switch-master",
		"answers get-master-addr-by-name", "client write through the FailoverClient accepted",
		"old master restarted", "+convert-to-slave", "is a replica of", "result:",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("timeline lacks %q:\n%s", want, text)
		}
	}
	// Every monitor announces the switch to its own subscribers.
	for _, m := range []string{"m1  +switch-master", "m2  +switch-master", "m3  +switch-master"} {
		if !strings.Contains(text, m) {
			t.Errorf("timeline lacks %q", m)
		}
	}
}
