package resp

import (
	"strings"
	"testing"
	"time"
)

// TestOptionsDefaultsAndValidate: the defaults validate and are what
// NewServer takes for zero limits (a zero timeout stays no bound); a
// negative option is an error naming the field.
func TestOptionsDefaultsAndValidate(t *testing.T) {
	d := DefaultOptions()
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	o := Options{}.withDefaults()
	if o.MaxBulk != d.MaxBulk || o.MaxArgs != d.MaxArgs || o.OutputLimit != d.OutputLimit || o.MaxClients != d.MaxClients ||
		o.WriteTimeout != 0 || o.IdleTimeout != 0 || o.Logger == nil {
		t.Fatalf("zero options become %+v", o)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{MaxClients: -1}, "resp: Options.MaxClients must not be negative"},
		{Options{WriteTimeout: -time.Second}, "resp: Options.WriteTimeout must not be negative"},
	} {
		if err := tc.o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}
