package scripts

import (
	"strings"
	"testing"
	"time"
)

// TestOptionsDefaultsAndValidate: the defaults (Sentinel's limits)
// validate and are what New takes for zero options; a negative option is
// an error naming the field.
func TestOptionsDefaultsAndValidate(t *testing.T) {
	d := DefaultOptions()
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	o := Options{}.withDefaults()
	if o.MaxRunning != d.MaxRunning || o.MaxQueue != d.MaxQueue || o.MaxRuntime != d.MaxRuntime ||
		o.MaxRetries != d.MaxRetries || o.RetryDelay != d.RetryDelay || o.Logger == nil {
		t.Fatalf("zero options become %+v", o)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{MaxQueue: -1}, "scripts: Options.MaxQueue must not be negative"},
		{Options{RetryDelay: -time.Second}, "scripts: Options.RetryDelay must not be negative"},
	} {
		if err := tc.o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}
