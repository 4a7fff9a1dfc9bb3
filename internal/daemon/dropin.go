package daemon

import (
	"context"

	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/discovery"
	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/quorum"
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
func newDiscovery(d *Daemon, cfg config.Config, self quorum.Monitor, reg prometheus.Registerer) (*discovery.Discoverer, *probe.HelloBus) {
	bus := probe.NewHelloBus(time.Second, d.log)
	var masters []discovery.Master
	for _, m := range cfg.Masters {
		a, err := quorum.ParseAddr(m.Addr)
		if err != nil {
			continue // New has validated the addresses already
		}
		dm := discovery.Master{Name: m.Name, Addr: a, Auth: probe.Auth{User: m.AuthUser, Pass: m.AuthPass}}
		for _, r := range cfg.DropIn.KnownReplicas[m.Name] {
			if ra, err := quorum.ParseAddr(r); err == nil {
				dm.Replicas = append(dm.Replicas, ra)
			}
		}
		masters = append(masters, dm)
	}
	fwd := quorum.HTTPForwarder(&http.Client{Timeout: 3 * time.Second})
	join := func(ctx context.Context, httpAddr string, self quorum.Monitor) error {
		_, err := fwd(ctx, quorum.Monitor{ID: httpAddr, HTTPAddr: httpAddr},
			quorum.Command{Op: quorum.OpJoin, Monitor: &quorum.Monitor{ID: self.ID, RaftAddr: self.RaftAddr}})
		return err
	}
	disc := discovery.New(d.store, bus, discovery.Options{
		Self: self, Masters: masters, Expected: cfg.DropIn.ExpectedMonitors, Period: cfg.DropIn.HelloPeriod,
		ForgetAfter: cfg.DropIn.ForgetAfter, GroupFile: discovery.GroupFile(cfg.DataDir), Join: join,
		Logger: d.log, Registry: reg,
	})
	return disc, bus
}
