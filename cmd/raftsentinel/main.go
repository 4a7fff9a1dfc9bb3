// Command raftsentinel is a Redis failover daemon: a Raft group of monitors
// that speaks the Redis Sentinel protocol.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/internal/demo"
	"github.com/raftsentinel/raftsentinel/state"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "raftsentinel:", err)
		if errors.Is(err, daemon.ErrSimulatedCrash) {
			os.Exit(99) // as Redis Sentinel's SIMULATE-FAILURE
		}
		os.Exit(1)
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "raftsentinel",
		Short:         "Redis failover daemon: Raft-backed monitors speaking the Sentinel protocol",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	dropIn(root, stderr)
	root.AddCommand(newRunCmd(stderr), newDemoCmd(stdout, stderr), newLeaveCmd(), newJoinCmd(), newStatusCmd(), newFailoverCmd(), newImportCmd(), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "raftsentinel %s (Sentinel protocol %s)\n", version, daemon.Version)
		},
	})
	return root
}

func newRunCmd(stderr io.Writer) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run one monitor",
		Long: "Run one monitor. Configuration comes from --config (YAML), then RAFTSENTINEL_* environment\n" +
			"variables, then flags; a flag beats a variable, which beats the file.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path, cmd.Flags())
			if err != nil {
				return err
			}
			level := new(slog.LevelVar)
			level.Set(cfg.LogLevel())
			log := newLogger(stderr, cfg, level)
			redis.SetLogger(redisLogger{log})
			d, err := daemon.New(cfg, daemon.Options{Logger: log, Level: level})
			if err != nil {
				return err
			}
			// SIGHUP: read the file again, validate, apply what can change.
			return runMonitor(cmd.Context(), d, log, func() {
				next, err := config.Load(path, cmd.Flags())
				if err != nil {
					d.ReloadFailed(err)
					return
				}
				_ = d.Reload(cmd.Context(), next)
			})
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "YAML configuration file")
	config.BindFlags(cmd.Flags())
	return cmd
}

// runMonitor runs d until ctx ends, calling onHUP for every SIGHUP.
func runMonitor(ctx context.Context, d *daemon.Daemon, log *slog.Logger, onHUP func()) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				onHUP()
			}
		}
	}()
	if err := d.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	var opt demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start a master, a replica and three monitors on loopback and run a failover drill",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opt.Out = stdout
			if opt.Verbose {
				opt.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
				redis.SetLogger(redisLogger{opt.Logger})
			} else {
				// The drill kills a master: go-redis's dial failures are
				// expected, and the timeline stays readable.
				redis.SetLogger(redisLogger{slog.New(slog.DiscardHandler)})
			}
			return demo.Run(cmd.Context(), opt)
		},
	}
	cmd.Flags().BoolVar(&opt.Keep, "keep", false, "leave everything running after the drill (until Ctrl-C) and print redis-cli commands")
	cmd.Flags().DurationVar(&opt.DownAfter, "down-after", 0, "down-after of the demo master (default 1s)")
	cmd.Flags().BoolVarP(&opt.Verbose, "verbose", "v", false, "show the monitors' logs")
	cmd.Flags().StringVar(&opt.Dir, "dir", "", "working directory (default: a new temporary directory, removed afterwards)")
	return cmd
}

func newLeaveCmd() *cobra.Command {
	var l monitorLink
	cmd := &cobra.Command{
		Use:   "leave ID",
		Short: "Remove monitor ID from the group (membership shrinks; refused below a master's quorum)",
		Long: "Remove monitor ID from the Raft group and from SENTINEL SENTINELS. Ask any member through\n" +
			"its http-addr (--via). Stop the removed monitor's process afterwards.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := l.propose(cmd.Context(), state.Command{Op: state.OpLeave, MonitorID: args[0]}); err != nil {
				return fmt.Errorf("leave %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s left the group\n", args[0])
			return nil
		},
	}
	l.addFlags(cmd, "any member")
	return cmd
}

func newLogger(w io.Writer, cfg config.Config, level slog.Leveler) *slog.Logger {
	hopt := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, hopt))
	}
	return slog.New(slog.NewTextHandler(w, hopt))
}

// redisLogger passes go-redis's process-wide log lines (connection pool
// and dial errors) to the monitor's log, at WARN with component=go-redis.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, args ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, args...), "component", "go-redis")
}
