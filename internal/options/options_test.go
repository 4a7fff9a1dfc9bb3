package options

import (
	"testing"
	"time"
)

func TestDefaultAndNonNegative(t *testing.T) {
	n, d := 0, -time.Second
	Default(&n, 3)
	Default(&d, time.Minute)
	if n != 3 || d != time.Minute {
		t.Fatalf("Default: %d %v", n, d)
	}
	if err := NonNegative("p", F("A", 1), F("B", 0)); err != nil {
		t.Fatal(err)
	}
	if err := NonNegative("p", F("A", time.Second), F("B", -time.Second)); err == nil || err.Error() != "p: Options.B must not be negative, got -1s" {
		t.Fatalf("NonNegative: %v", err)
	}
}
