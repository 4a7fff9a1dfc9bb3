package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/daemon"
	"github.com/raftsentinel/raftsentinel/state"
)

// newStatusCmd prints a monitor's view of the group as a table.
func newStatusCmd() *cobra.Command {
	var l monitorLink
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each master, its replicas with lag, and the monitors (which one leads)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := l.open(); err != nil {
				return err
			}
			defer l.close()
			var st daemon.Status
			if err := l.getJSON(cmd.Context(), http.MethodGet, "/v1/status", &st); err != nil {
				return err
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	l.addFlags(cmd, "any monitor")
	return cmd
}

func printStatus(w io.Writer, st daemon.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "MASTER\tADDRESS\tEPOCH\tSTATE\tFAILOVER\n")
	for _, m := range st.Masters {
		state := "ok"
		switch {
		case m.ODown:
			state = "odown"
		case m.SDown:
			state = "sdown"
		}
		if m.Maintenance {
			state += ",maintenance"
		}
		fo := "-"
		if f := m.Failover; f != nil {
			fo = fmt.Sprintf("%s %s -> %s (epoch %d)", f.Stage, f.From.String(), f.To.String(), f.Epoch)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", m.Name, m.Addr, m.ConfigEpoch, state, fo)
		for _, r := range m.Replicas {
			link := "link down"
			if r.LinkUp {
				link = "link up"
			}
			if r.Down {
				link = "DOWN"
			}
			fmt.Fprintf(tw, "  replica\t%s\t\t%s, %s\tlag %d bytes\n", r.Addr, r.Role, link, r.LagBytes)
		}
	}
	fmt.Fprintf(tw, "\nMONITOR\tANNOUNCE\tLEADER\tLAST SEEN\n")
	for _, m := range st.Monitors {
		lead := ""
		if m.Leader {
			lead = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%dms ago\n", m.ID, m.Announce, lead, m.SeenMs)
	}
	if st.Stale {
		fmt.Fprintf(tw, "\nWARNING: monitor %s is cut off from the majority; its view may be outdated\n", st.Monitor)
	}
	tw.Flush()
}

// newFailoverCmd starts a failover or a lossless switchover through the
// admin API.
func newFailoverCmd() *cobra.Command {
	var l monitorLink
	var coordinated bool
	cmd := &cobra.Command{
		Use:   "failover NAME",
		Short: "Fail master NAME over now (--coordinated: lossless switchover)",
		Long: "Fail master NAME over now. With --coordinated, the master pauses writes until the chosen replica\n" +
			"has them all, then they swap roles (no acknowledged write is lost). Needs the admin token\n" +
			"(--token, RAFTSENTINEL_ADMIN_TOKEN, or the admin-token of --config). Progress is shown until\n" +
			"every change is committed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if l.token == "" {
				l.token = os.Getenv("RAFTSENTINEL_ADMIN_TOKEN")
			}
			if err := l.open(); err != nil {
				return err
			}
			defer l.close()
			action := "failover"
			if coordinated {
				action = "switchover"
			}
			var before daemon.Status
			if err := l.getJSON(cmd.Context(), http.MethodGet, "/v1/status", &before); err != nil {
				return err
			}
			var res map[string]string
			if err := l.getJSON(cmd.Context(), http.MethodPost, "/v1/masters/"+args[0]+"/"+action, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s of %s started\n", action, args[0])
			deadline := time.Now().Add(60 * time.Second)
			last := ""
			for time.Now().Before(deadline) {
				var st daemon.Status
				if err := l.getJSON(cmd.Context(), http.MethodGet, "/v1/status", &st); err == nil {
					for _, m := range st.Masters {
						if m.Name != args[0] || m.Failover == nil {
							continue
						}
						line := fmt.Sprintf("  %s: %s -> %s", m.Failover.Stage, m.Failover.From.String(), m.Failover.To.String())
						if line != last {
							fmt.Fprintln(out, line)
							last = line
						}
						if !m.Failover.InProgress() {
							fmt.Fprintf(out, "done: %s is now at %s (epoch %d)\n", m.Name, m.Addr, m.ConfigEpoch)
							return nil
						}
					}
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(100 * time.Millisecond):
				}
			}
			return fmt.Errorf("the failover of %s did not finish within 60s (see raftsentinel status)", args[0])
		},
	}
	l.addFlags(cmd, "any monitor")
	cmd.Flags().StringVar(&l.token, "token", "", "admin token (default $RAFTSENTINEL_ADMIN_TOKEN, else the admin-token of --config)")
	cmd.Flags().BoolVar(&coordinated, "coordinated", false, "lossless switchover (Redis FAILOVER TO)")
	return cmd
}

// newImportCmd converts a Redis sentinel.conf into a raftsentinel YAML
// configuration on stdout; notes about skipped lines go to stderr.
func newImportCmd() *cobra.Command {
	var nodeID string
	return &cobra.Command{
		Use:   "import sentinel.conf",
		Short: "Convert a Redis sentinel.conf to raftsentinel YAML (stdout)",
		Long: "Convert a Redis sentinel.conf to a raftsentinel YAML configuration. The masters, listen and\n" +
			"announce addresses, data dir, password and ACL users (`user` lines) come from the file; node-id, raft-addr, http-addr and\n" +
			"peers are not in a sentinel.conf and are written as placeholders to fill in.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			im, err := config.ImportSentinelConf(f)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			for _, n := range im.Notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "note:", n)
			}
			writeYAML(cmd.OutOrStdout(), im.Config, nodeID)
			return nil
		},
	}
}

// writeYAML renders the settings an import produces.
func writeYAML(w io.Writer, c config.Config, nodeID string) {
	q := func(s string) string { return strconv.Quote(s) }
	if nodeID == "" {
		nodeID = "m1"
	}
	fmt.Fprintf(w, "# Imported from a Redis sentinel.conf by raftsentinel import.\n")
	fmt.Fprintf(w, "# Fill in node-id, raft-addr, http-addr and peers (the same list on every monitor).\n")
	fmt.Fprintf(w, "node-id: %s\nlisten: %s\nannounce: %s\n", nodeID, q(c.Listen), q(c.Announce))
	fmt.Fprintf(w, "raft-addr: \"CHANGE-ME-%s:7000\"\nhttp-addr: \"CHANGE-ME-%s:7001\"\n", nodeID, nodeID)
	dataDir := c.DataDir
	if dataDir == "" {
		dataDir = "/var/lib/raftsentinel"
	}
	fmt.Fprintf(w, "data-dir: %s\n", q(dataDir))
	fmt.Fprintf(w, "peers: # the initial voters, this monitor included; three or five\n")
	for _, id := range []string{"m1", "m2", "m3"} {
		if id == "m1" {
			id = nodeID
		}
		fmt.Fprintf(w, "  - {id: %s, raft-addr: \"CHANGE-ME-%s:7000\"}\n", id, id)
	}
	if c.RequirePass != "" {
		fmt.Fprintf(w, "requirepass: %s\n", q(c.RequirePass))
	}
	if len(c.Users) > 0 {
		fmt.Fprintf(w, "users:\n")
		for _, u := range c.Users {
			fmt.Fprintf(w, "  - name: %s\n    password: %s\n    commands: %s\n", q(u.Name), q(u.Password), q(u.Commands))
		}
	}
	fmt.Fprintf(w, "log:\n  level: %s\nmasters:\n", c.Log.Level)
	for _, m := range c.Masters {
		fmt.Fprintf(w, "  - name: %s\n    addr: %s\n    quorum: %d\n    down-after: %s\n    failover-timeout: %s\n    parallel-syncs: %d\n",
			q(m.Name), q(m.Addr), m.Quorum, m.DownAfter, m.FailoverTimeout, m.ParallelSyncs)
		if m.AuthUser != "" {
			fmt.Fprintf(w, "    auth-user: %s\n", q(m.AuthUser))
		}
		if m.AuthPass != "" {
			fmt.Fprintf(w, "    auth-pass: %s\n", q(m.AuthPass))
		}
	}
}

// newJoinCmd asks the group to add a monitor as a voter.
func newJoinCmd() *cobra.Command {
	var l monitorLink
	cmd := &cobra.Command{
		Use:   "join ID RAFT-ADDR",
		Short: "Add monitor ID (listening for Raft on RAFT-ADDR) to the group as a voter",
		Long: "Add a monitor to the group. A monitor started with `join: [<http-addr>]` in its configuration\n" +
			"does this by itself; this command is for doing it by hand.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m := &state.Monitor{ID: args[0], RaftAddr: args[1]}
			if err := l.propose(cmd.Context(), state.Command{Op: state.OpJoin, Monitor: m}); err != nil {
				return fmt.Errorf("join %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s joined the group\n", args[0])
			return nil
		},
	}
	l.addFlags(cmd, "any member")
	return cmd
}
