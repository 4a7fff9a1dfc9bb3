package discovery

import (
	"strings"
	"testing"
	"time"
)

// TestOptionsDefaultsAndValidate: the defaults validate and are what New
// takes for zero options; a bad option is an error naming the field.
func TestOptionsDefaultsAndValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	o := Options{}.withDefaults()
	if o.Expected != DefaultExpected || o.Period != DefaultPeriod || o.ForgetAfter != DefaultForgetAfter ||
		o.Settle != 3*DefaultPeriod || o.ForeignWindow != 10*time.Second {
		t.Fatalf("zero options become %+v", o)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Expected: -1}, "Options.Expected must not be negative"},
		{Options{Settle: -time.Second}, "Options.Settle must not be negative"},
		{Options{Period: time.Minute, ForgetAfter: time.Minute}, "Options.ForgetAfter (1m0s) must be longer than Period (1m0s)"},
	} {
		if err := tc.o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}
