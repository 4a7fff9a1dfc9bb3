package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/daemon"
)

// dropIn makes the root command run a monitor from a Redis sentinel.conf,
// as redis-sentinel and redis-server --sentinel do:
//
//	raftsentinel /etc/redis/sentinel.conf
//	raftsentinel --sentinel /etc/redis/sentinel.conf
//	raftsentinel /etc/redis/sentinel.conf --sentinel
func dropIn(root *cobra.Command, stderr io.Writer) {
	var sentinelMode bool
	var tune dropInTuning
	root.Use = "raftsentinel [sentinel.conf] [--sentinel]"
	root.Long = "Redis failover daemon: Raft-backed monitors speaking the Sentinel protocol.\n\n" +
		"Given a Redis sentinel.conf (as redis-sentinel is), it runs one monitor from that file (drop-in\n" +
		"mode): the monitors find each other through hello messages on the masters and form their group\n" +
		"by themselves. Raft listens on the Sentinel port + 10000, the internal HTTP server on port + 20000\n" +
		"(override with --raft-addr, --http-addr or RAFTSENTINEL_RAFT_ADDR, RAFTSENTINEL_HTTP_ADDR)."
	root.Args = cobra.MaximumNArgs(1)
	root.Flags().BoolVar(&sentinelMode, "sentinel", false, "run as a Sentinel from the sentinel.conf given as argument (accepted for redis-server --sentinel compatibility)")
	root.Flags().IntVar(&tune.expected, "expected-monitors", 0,
		"drop-in: group size to wait for before the group forms (default: known-sentinel lines + 1, or 3)")
	root.Flags().DurationVar(&tune.forgetAfter, "forget-after", config.DefaultForgetAfter,
		"drop-in: remove a member unheard for this long (at least 1m)")
	config.BindFlags(root.Flags())
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			if sentinelMode {
				return errors.New("--sentinel needs the path of a sentinel.conf")
			}
			return cmd.Help()
		}
		return runDropIn(cmd.Context(), args[0], cmd, tune, stderr)
	}
}

// dropInTuning are the drop-in settings a sentinel.conf cannot carry
// (Redis Sentinel refuses unknown directives).
type dropInTuning struct {
	expected    int
	forgetAfter time.Duration
}

func runDropIn(ctx context.Context, path string, cmd *cobra.Command, tune dropInTuning, stderr io.Writer) error {
	cfg, notes, err := config.LoadSentinelConf(path, cmd.Flags(), daemon.LocalIP)
	if err != nil {
		return err
	}
	if tune.expected < 0 {
		return fmt.Errorf("--expected-monitors: must be 1 or more, got %d", tune.expected)
	}
	if tune.expected > 0 {
		cfg.DropIn.ExpectedMonitors = tune.expected
	}
	if tune.forgetAfter < time.Minute {
		return fmt.Errorf("--forget-after: must be at least 1m, got %v", tune.forgetAfter)
	}
	cfg.DropIn.ForgetAfter = tune.forgetAfter
	if err := daemon.PrepareDropIn(&cfg); err != nil {
		return err
	}
	out := stderr
	if cfg.DropIn.LogFile != "" {
		f, err := os.OpenFile(cfg.DropIn.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
		if err != nil {
			return fmt.Errorf("logfile %s: %w", cfg.DropIn.LogFile, err)
		}
		defer f.Close()
		out = f
	}
	level := new(slog.LevelVar)
	level.Set(cfg.LogLevel())
	log := newLogger(out, cfg, level)
	redis.SetLogger(redisLogger{log})
	for _, n := range notes {
		log.Info("sentinel.conf: "+n, "file", path)
	}
	if cfg.DropIn.PidFile != "" {
		if err := os.WriteFile(cfg.DropIn.PidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("pidfile %s: %w", cfg.DropIn.PidFile, err)
		}
		defer os.Remove(cfg.DropIn.PidFile)
	}
	log.Info("drop-in mode: running from a Redis sentinel.conf", "file", path, "node_id", cfg.NodeID,
		"raft", cfg.RaftAddr, "http", cfg.HTTPAddr, "data_dir", cfg.DataDir, "expected_monitors", cfg.DropIn.ExpectedMonitors)
	d, err := daemon.New(cfg, daemon.Options{Logger: log, Level: level})
	if err != nil {
		return err
	}
	return runMonitor(ctx, d, log, func() {
		log.Warn("SIGHUP ignored: a sentinel.conf is not reloaded; restart the monitor to apply changes")
	})
}
