package resp

import (
	"fmt"
	"log/slog"
	"time"
)

// The defaults NewServer takes for a zero MaxBulk, MaxArgs, OutputLimit
// and MaxClients.
const (
	defaultMaxBulk     = 1 << 20
	defaultMaxArgs     = 1024
	defaultOutputLimit = 4 << 20
	defaultMaxClients  = 10000
	// defaultWriteTimeout is the recommended WriteTimeout; a zero one
	// means no bound, so NewServer does not fill it in.
	defaultWriteTimeout = time.Minute
)

// DefaultOptions are the recommended options: Redis' limits (1 MiB bulk
// arguments, 1024 arguments, 10000 clients), a 4 MiB output queue and a
// 60s write timeout; no idle timeout. config builds its maxclients and
// client-write-timeout defaults from them.
func DefaultOptions() Options {
	return Options{MaxBulk: defaultMaxBulk, MaxArgs: defaultMaxArgs, OutputLimit: defaultOutputLimit,
		MaxClients: defaultMaxClients, WriteTimeout: defaultWriteTimeout}
}

// Validate reports options no server can run with. Zero values are
// defaults (or, for the timeouts, no bound), not errors; negative ones
// are.
func (o Options) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"MaxBulk", o.MaxBulk}, {"MaxArgs", o.MaxArgs}, {"OutputLimit", o.OutputLimit}, {"MaxClients", o.MaxClients}} {
		if f.v < 0 {
			return fmt.Errorf("resp: Options.%s must not be negative, got %d", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"IdleTimeout", o.IdleTimeout}, {"WriteTimeout", o.WriteTimeout}} {
		if f.v < 0 {
			return fmt.Errorf("resp: Options.%s must not be negative, got %v", f.name, f.v)
		}
	}
	return nil
}

// withDefaults fills in a nil Logger (slog.Default()) and the zero limits
// from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBulk <= 0 {
		o.MaxBulk = d.MaxBulk
	}
	if o.MaxArgs <= 0 {
		o.MaxArgs = d.MaxArgs
	}
	if o.OutputLimit <= 0 {
		o.OutputLimit = d.OutputLimit
	}
	if o.MaxClients <= 0 {
		o.MaxClients = d.MaxClients
	}
	return o
}
