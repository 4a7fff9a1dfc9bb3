package resp

import (
	"log/slog"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/options"
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
	if err := options.NonNegative("resp", options.F("MaxBulk", o.MaxBulk), options.F("MaxArgs", o.MaxArgs),
		options.F("OutputLimit", o.OutputLimit), options.F("MaxClients", o.MaxClients)); err != nil {
		return err
	}
	return options.NonNegative("resp", options.F("IdleTimeout", o.IdleTimeout), options.F("WriteTimeout", o.WriteTimeout))
}

// withDefaults fills in a nil Logger (slog.Default()) and the zero limits
// from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	options.Default(&o.MaxBulk, d.MaxBulk)
	options.Default(&o.MaxArgs, d.MaxArgs)
	options.Default(&o.OutputLimit, d.OutputLimit)
	options.Default(&o.MaxClients, d.MaxClients)
	return o
}
