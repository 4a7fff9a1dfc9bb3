package config

import (
	"strings"
	"testing"

	"github.com/raftsentinel/raftsentinel/discovery"
	"github.com/raftsentinel/raftsentinel/resp"
	"github.com/raftsentinel/raftsentinel/sentinelconf"
)

// TestServerAndDropInDefaultsComeFromTheComponents: maxclients and
// client-write-timeout are resp's defaults, the drop-in group defaults
// discovery's, a master's failover-timeout and parallel-syncs Sentinel's.
func TestServerAndDropInDefaultsComeFromTheComponents(t *testing.T) {
	c, r, d, m := Default(), resp.DefaultOptions(), discovery.DefaultOptions(), DefaultMaster()
	if c.MaxClients != r.MaxClients || c.ClientWriteTimeout != r.WriteTimeout {
		t.Fatalf("maxclients %d, client-write-timeout %v; resp's %d, %v", c.MaxClients, c.ClientWriteTimeout, r.MaxClients, r.WriteTimeout)
	}
	if DefaultExpectedMonitors != d.Expected || DefaultHelloPeriod != d.Period || DefaultForgetAfter != d.ForgetAfter {
		t.Fatalf("drop-in defaults %d %v %v; discovery's %+v", DefaultExpectedMonitors, DefaultHelloPeriod, DefaultForgetAfter, d)
	}
	if m.FailoverTimeout != sentinelconf.DefaultFailoverTimeout || m.ParallelSyncs != sentinelconf.DefaultParallelSyncs {
		t.Fatalf("master defaults %+v", m)
	}
	for _, err := range []error{r.Validate(), d.Validate()} {
		if err != nil {
			t.Fatalf("a component's defaults do not validate: %v", err)
		}
	}
}

// TestValidateDropInDiscovery: a drop-in monitor's discovery settings are
// checked by discovery's Validate, the error naming the field.
func TestValidateDropInDiscovery(t *testing.T) {
	p := writeConfFile(t, "port 26379\nbind 127.0.0.1\ndir "+t.TempDir()+"\n")
	c, _, err := LoadSentinelConf(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.NodeID = "0123456789012345678901234567890123456789"
	if err := c.Validate(); err != nil {
		t.Fatalf("drop-in defaults: %v", err)
	}
	c.DropIn.ForgetAfter = c.DropIn.HelloPeriod
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "drop-in: discovery: Options.ForgetAfter") {
		t.Fatalf("forget-after not longer than the hello period: %v", err)
	}
}
