package benchutil

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Main runs a benchmark program and exits with the code run returns. run
// gets a context that ends on SIGINT or SIGTERM (a second signal kills the
// program as usual), the arguments after the program name, and the
// standard output and error.
func Main(run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// QuietRedisLogs silences go-redis's logger for the whole program: it
// reports every failed dial, and after a kill those are expected.
func QuietRedisLogs() { redis.SetLogger(quietLogger{}) }

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// NewFlagSet is a flag set named prog that returns its errors (among them
// flag.ErrHelp for -h) and prints usage and errors to stderr.
func NewFlagSet(prog string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// ParseFlags parses args with fs and refuses positional arguments.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

// FlagExit is the exit code of a program whose flags did not parse: 0 for
// flag.ErrHelp (the flag set printed the usage already), else 2 after
// "prog: err" on stderr.
func FlagExit(stderr io.Writer, prog string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, prog+":", err)
	return 2
}

// KeepHint ends the message of a failure: unless the working directory is
// kept (-keep), it says how to keep it.
func KeepHint(keep bool) string {
	if keep {
		return ""
	}
	return " (rerun with -keep to keep the monitors' configs and logs)"
}

// ExitCode is the exit code of a benchmark made of independent runs (the
// noun names one, as "drill"), after telling stderr how it ended: 1 after
// "prog: err" when the benchmark itself could not run (err not nil), 1
// after "prog: N noun(s) failed" and [KeepHint] when failed runs > 0, else
// 0 and nothing.
func ExitCode(stderr io.Writer, prog, noun string, failed int, err error, keep bool) int {
	switch {
	case err != nil:
		fmt.Fprintln(stderr, prog+":", err)
		return 1
	case failed > 0:
		fmt.Fprintf(stderr, "%s: %d %s(s) failed%s\n", prog, failed, noun, KeepHint(keep))
		return 1
	}
	return 0
}
