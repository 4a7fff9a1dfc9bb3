package daemon

import (
	"context"

	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/discovery"
	"github.com/raftsentinel/raftsentinel/internal/scripts"
	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/raftsentinel/raftsentinel/sentinel"
	"github.com/raftsentinel/raftsentinel/state"
)

// PrepareDropIn completes a configuration loaded by config.LoadSentinelConf
// and validates it: it creates the data directory and makes the node id and
// the Sentinel id (SENTINEL MYID) one value: the file's `sentinel myid`
// when it has one (written to <data-dir>/myid), else the id kept in
// <data-dir>/myid, generated on the first start.
func PrepareDropIn(cfg *config.Config) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	p := filepath.Join(cfg.DataDir, "myid")
	if cfg.NodeID == "" {
		id, err := loadRunID(cfg.DataDir)
		if err != nil {
			return err
		}
		cfg.NodeID = id
	} else if b, err := os.ReadFile(p); err != nil || strings.TrimSpace(string(b)) != cfg.NodeID {
		if err := os.WriteFile(p, []byte(cfg.NodeID+"\n"), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	if err := checkScripts(*cfg); err != nil {
		return err
	}
	return cfg.Validate()
}

// LocalIP returns the local address this host uses to reach addr (no
// packet is sent), "" if it cannot tell. config.LoadSentinelConf uses it to
// find the address to announce, as Sentinel takes its own address from its
// connection to the master.
func LocalIP(addr string) string {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return ""
	}
	defer c.Close()
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
		return a.IP.String()
	}
	return ""
}

// newDiscovery builds the hello discovery of a drop-in monitor.
func newDiscovery(d *Daemon, cfg config.Config, self state.Monitor, reg prometheus.Registerer, publish func(channel, msg string)) (*discovery.Discoverer, *probe.HelloBus) {
	bus := probe.NewHelloBus(time.Second, d.log)
	var masters []discovery.Master
	for _, m := range cfg.Masters {
		a, err := state.ParseAddr(m.Addr)
		if err != nil {
			continue // New has validated the addresses already
		}
		dm := discovery.Master{Name: m.Name, Addr: a, Auth: probe.Auth{User: m.AuthUser, Pass: m.AuthPass}}
		for _, r := range cfg.DropIn.KnownReplicas[m.Name] {
			if ra, err := state.ParseAddr(r); err == nil {
				dm.Replicas = append(dm.Replicas, ra)
			}
		}
		masters = append(masters, dm)
	}
	fwd := d.forwarder(3 * time.Second) // the cluster's TLS and secret, as every join
	join := func(ctx context.Context, httpAddr string, self state.Monitor) error {
		_, err := fwd(ctx, state.Monitor{ID: httpAddr, HTTPAddr: httpAddr},
			state.Command{Op: state.OpJoin, Monitor: &state.Monitor{ID: self.ID, RaftAddr: self.RaftAddr}})
		return err
	}
	disc := discovery.New(d.store, bus, discovery.Options{
		Self: self, Masters: masters, Expected: cfg.DropIn.ExpectedMonitors, Period: cfg.DropIn.HelloPeriod,
		ForgetAfter: cfg.DropIn.ForgetAfter, GroupFile: discovery.GroupFile(cfg.DataDir), Join: join,
		Config: cfg.DropIn.SentinelConfig,
		Logger: d.log, Registry: reg, Publish: publish,
	})
	return disc, bus
}

// checkScripts refuses, as Sentinel does at load time, script paths that
// do not exist or are not executable.
func checkScripts(cfg config.Config) error {
	for _, set := range []struct {
		key string
		m   map[string]string
	}{{"notification-script", cfg.DropIn.NotificationScripts}, {"client-reconfig-script", cfg.DropIn.ReconfigScripts}} {
		for master, p := range set.m {
			st, err := os.Stat(p)
			if err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
				return fmt.Errorf("%w: sentinel %s %s %s: the script seems non existing or non executable", config.ErrInvalid, set.key, master, p)
			}
		}
	}
	return nil
}

// noticeEvents are the events Sentinel emits below the WARNING level: the
// notification script is not called for them.
var noticeEvents = map[string]bool{
	"+slave": true, "+sentinel": true, "-dup-sentinel": true, "+slave-reconf-sent": true, "+slave-reconf-inprog": true,
	"+slave-reconf-done": true, "+convert-to-slave": true, "+fix-slave-config": true, "+role-change": true,
	"-role-change": true, "+reboot": true, "-reboot": true, "+sentinel-address-switch": true, "+sentinel-invalid-addr": true,
	"+script-child": true, "-script-child": true, "-script-error": true,
}

// eventMaster returns the master an event message is about: "master <name>
// ...", "<type> <name> <ip> <port> @ <master> <ip> <port>", or
// +switch-master's "<name> <old-ip> <old-port> <new-ip> <new-port>".
func eventMaster(channel, msg string) string {
	f := strings.Fields(msg)
	switch {
	case channel == "+switch-master" && len(f) == 5:
		return f[0]
	case len(f) >= 2 && f[0] == "master":
		return f[1]
	}
	for i, x := range f {
		if x == "@" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// scriptPublisher passes every event on and runs the master's scripts as
// Sentinel does: the notification script for WARNING-level events with
// (event type, event message), the client reconfiguration script on
// +switch-master with <master> <leader|observer> start <from-ip>
// <from-port> <to-ip> <to-port> (leader: this monitor drove the failover).
type scriptPublisher struct {
	next   interface{ Publish(string, string) int }
	runner *scripts.Runner
	paths  *scriptPaths
	selfID string
	store  *quorum.Store
}

func (p *scriptPublisher) Publish(channel, msg string) int {
	n := p.next.Publish(channel, msg)
	master := eventMaster(channel, msg)
	if master == "" {
		return n
	}
	notify, reconf := p.paths.get(master)
	if path := notify; path != "" && !noticeEvents[channel] {
		p.runner.Schedule(path, channel, msg)
	}
	if path := reconf; path != "" && channel == "+switch-master" {
		f := strings.Fields(msg)
		role := "observer"
		p.store.View(func(st *state.State) {
			if ms, ok := st.Masters[master]; ok && ms.Failover != nil && ms.Failover.Leader == p.selfID {
				role = "leader"
			}
		})
		p.runner.Schedule(path, master, role, "start", f[1], f[2], f[3], f[4])
	}
	return n
}

// pendingScripts lists the runner's jobs for SENTINEL PENDING-SCRIPTS.
func pendingScripts(r *scripts.Runner) []sentinel.PendingScript {
	jobs := r.Jobs()
	out := make([]sentinel.PendingScript, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, sentinel.PendingScript{Argv: append([]string{j.Path}, j.Args...), Running: j.Running,
			Pid: j.Pid, RunTime: j.RunTime, RunDelay: j.RunDelay, Retries: j.Retries})
	}
	return out
}
