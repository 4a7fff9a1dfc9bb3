package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func writeConfFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sentinel.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadSentinelConfDerives: directives in any order; node id from myid;
// data dir under dir; raft and http ports derived from port; the announced
// host from the master route when no bind/announce-ip; expected monitors
// from known-sentinel lines; state and scripts kept.
func TestLoadSentinelConfDerives(t *testing.T) {
	dir := t.TempDir()
	p := writeConfFile(t, "sentinel known-replica mymaster 10.0.0.3 6379\n"+
		"sentinel known-sentinel mymaster 10.0.0.6 26379 fedcba9876543210fedcba9876543210fedcba98\n"+
		"sentinel known-sentinel mymaster 10.0.0.7 26379 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"+
		"sentinel down-after-milliseconds mymaster 2000\n"+
		"port 26400\ndir "+dir+"\n"+
		"sentinel myid 0123456789ABCDEF0123456789abcdef01234567\n"+
		"sentinel current-epoch 7\n"+
		"sentinel master-reboot-down-after-period mymaster 15000\n"+
		"sentinel notification-script mymaster /bin/notify.sh\n"+
		"sentinel client-reconfig-script mymaster /bin/reconf.sh\n"+
		"sentinel monitor mymaster 10.0.0.2 6379 2\n")
	cfg, notes, err := LoadSentinelConf(p, nil, func(string) string { return "10.0.0.5" })
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.DropIn
	switch {
	case !d.Enabled || cfg.NodeID != "0123456789abcdef0123456789abcdef01234567":
		t.Fatalf("node id %q enabled %v", cfg.NodeID, d.Enabled)
	case cfg.DataDir != filepath.Join(dir, "raftsentinel"):
		t.Fatalf("data dir %q", cfg.DataDir)
	case cfg.Listen != "0.0.0.0:26400" || cfg.Announce != "10.0.0.5:26400":
		t.Fatalf("listen %q announce %q", cfg.Listen, cfg.Announce)
	case cfg.RaftAddr != "10.0.0.5:36400" || cfg.HTTPAddr != "10.0.0.5:46400":
		t.Fatalf("raft %q http %q", cfg.RaftAddr, cfg.HTTPAddr)
	case d.ExpectedMonitors != 3 || d.CurrentEpoch != 7 || d.KnownReplicas["mymaster"][0] != "10.0.0.3:6379":
		t.Fatalf("state %+v", d)
	case d.NotificationScripts["mymaster"] != "/bin/notify.sh" || d.ReconfigScripts["mymaster"] != "/bin/reconf.sh" || !d.DenyScriptsReconfig:
		t.Fatalf("scripts %+v", d)
	case cfg.Masters[0].DownAfter != 2*time.Second || d.ForgetAfter != DefaultForgetAfter || d.RebootDownAfter["mymaster"] != 15*time.Second:
		t.Fatalf("master %+v forget %v", cfg.Masters[0], d.ForgetAfter)
	}
	if len(notes) == 0 {
		t.Fatal("no notes for the state lines")
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("drop-in config without peers does not validate: %v", err)
	}
}

// TestLoadSentinelConfOverrides: announce-ip wins over the route, and the
// environment and flags override the derived addresses.
func TestLoadSentinelConfOverrides(t *testing.T) {
	p := writeConfFile(t, "port 26379\nbind 192.0.2.1 ::1\nsentinel announce-ip 198.51.100.1\nsentinel monitor m 10.0.0.2 6379 1\n")
	t.Setenv("RAFTSENTINEL_RAFT_ADDR", "198.51.100.1:7000")
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	BindFlags(fs)
	if err := fs.Parse([]string{"--http-addr", "198.51.100.1:7001"}); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := LoadSentinelConf(p, fs, func(string) string { return "10.9.9.9" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Announce != "198.51.100.1:26379" || cfg.RaftAddr != "198.51.100.1:7000" || cfg.HTTPAddr != "198.51.100.1:7001" || cfg.Listen != "192.0.2.1:26379" {
		t.Fatalf("announce %q raft %q http %q listen %q", cfg.Announce, cfg.RaftAddr, cfg.HTTPAddr, cfg.Listen)
	}
	if cfg.DropIn.ExpectedMonitors != DefaultExpectedMonitors || cfg.NodeID != "" {
		t.Fatalf("expected %d node id %q", cfg.DropIn.ExpectedMonitors, cfg.NodeID)
	}
}

func TestLoadSentinelConfErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"port 60000\nsentinel monitor m 10.0.0.2 6379 1\n", "port"},
		{"sentinel monitor m 10.0.0.2 6379 1\nsentinel myid xyz\n", "myid"},
		{"sentinel monitor m 10.0.0.2 6379 1\nsentinel deny-scripts-reconfig maybe\n", "deny-scripts-reconfig"},
		{"sentinel monitor m 10.0.0.2 6379 1\nsentinel notification-script other /x\n", "no `sentinel monitor other`"},
	} {
		_, _, err := LoadSentinelConf(writeConfFile(t, tc.text), nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %q", tc.text, err, tc.want)
		}
	}
}

// TestLoadDebianSentinelConf: the sentinel.conf the Debian redis-sentinel
// package installs loads as it is (redis-sentinel is installed wherever
// the tests run; the test fails, not skips, without it).
func TestLoadDebianSentinelConf(t *testing.T) {
	const p = "/etc/redis/sentinel.conf"
	cfg, notes, err := LoadSentinelConf(p, nil, func(string) string { return "127.0.0.1" })
	if err != nil {
		t.Fatalf("%s (install: apt-get install -y redis-sentinel): %v", p, err)
	}
	cfg.NodeID = "0123456789abcdef0123456789abcdef01234567"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if m := cfg.Masters[0]; m.Name != "mymaster" || m.Addr != "127.0.0.1:6379" || m.Quorum != 2 || m.DownAfter != 30*time.Second ||
		cfg.DropIn.PidFile != "/run/sentinel/redis-sentinel.pid" || cfg.DropIn.LogFile != "/var/log/redis/redis-sentinel.log" ||
		cfg.DataDir != "/var/lib/redis/raftsentinel" || cfg.RaftAddr != "127.0.0.1:36379" {
		t.Fatalf("Debian sentinel.conf loaded as %+v", cfg)
	}
	joined := strings.Join(notes, "\n")
	for _, want := range []string{"protected-mode", "acllog-max-len", "daemonize"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no note for %s:\n%s", want, joined)
		}
	}
}

// TestLoadSentinelConfTLSAndHostnames: the file's tls-* lines are
// raftsentinel's keys of the same names; "port 0" with a tls-port serves
// TLS only (ports derived from the TLS port); resolve-hostnames and
// announce-hostnames are kept to be committed as group settings.
func TestLoadSentinelConfTLSAndHostnames(t *testing.T) {
	dir := t.TempDir()
	p := writeConfFile(t, "port 0\ntls-port 26380\ndir "+dir+"\n"+
		"tls-cert-file /etc/redis/node.crt\ntls-key-file /etc/redis/node.key\n"+
		"tls-ca-cert-file /etc/redis/ca.crt\ntls-auth-clients optional\ntls-replication yes\n"+
		"sentinel resolve-hostnames yes\nsentinel announce-hostnames YES\n"+
		"sentinel myid 0123456789abcdef0123456789abcdef01234567\n"+
		"sentinel monitor mymaster redis-0.redis 6379 2\n")
	cfg, _, err := LoadSentinelConf(p, nil, func(string) string { return "10.0.0.5" })
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case cfg.TLSPort != 26380 || cfg.TLSCertFile != "/etc/redis/node.crt" || cfg.TLSKeyFile != "/etc/redis/node.key" ||
		cfg.TLSCACertFile != "/etc/redis/ca.crt" || cfg.TLSAuthClients != "optional" || cfg.TLSReplication != "yes":
		t.Fatalf("tls settings: %+v", cfg)
	case cfg.Listen != "" || cfg.Announce != "10.0.0.5:26380":
		t.Fatalf("TLS only: listen %q announce %q", cfg.Listen, cfg.Announce)
	case cfg.RaftAddr != "10.0.0.5:36380" || cfg.HTTPAddr != "10.0.0.5:46380":
		t.Fatalf("ports derived from the TLS port: raft %q http %q", cfg.RaftAddr, cfg.HTTPAddr)
	}
	want := [][2]string{{"resolve-hostnames", "yes"}, {"announce-hostnames", "yes"}}
	if got := cfg.DropIn.SentinelConfig; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("SentinelConfig = %v, want %v", got, want)
	}
	bad := writeConfFile(t, "sentinel monitor m 10.0.0.2 6379 2\nsentinel announce-hostnames maybe\n")
	if _, _, err := LoadSentinelConf(bad, nil, nil); err == nil || !strings.Contains(err.Error(), "announce-hostnames yes|no") {
		t.Fatalf("announce-hostnames maybe: %v", err)
	}
}

// TestLoadSentinelConfResolvesAgainstDir: relative logfile, pidfile and
// script paths are resolved against the file's dir, as Sentinel (it
// chdir()s to dir while loading, and uses the paths after the whole file,
// so from the last dir): also when logfile comes before the dir line;
// several dir lines chain; absolute paths stay; without dir the working
// directory is the base.
func TestLoadSentinelConfResolvesAgainstDir(t *testing.T) {
	base := t.TempDir()
	p := writeConfFile(t, "logfile sentinel.log\n"+
		"pidfile run/sentinel.pid\n"+
		"dir "+base+"\n"+
		"dir s1\n"+
		"sentinel monitor mymaster 127.0.0.1 6379 2\n"+
		"sentinel notification-script mymaster ./notify.sh\n"+
		"sentinel client-reconfig-script mymaster /abs/reconf.sh\n")
	cfg, _, err := LoadSentinelConf(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, want := cfg.DropIn, filepath.Join(base, "s1")
	switch {
	case cfg.DataDir != filepath.Join(want, "raftsentinel"):
		t.Fatalf("data dir %q", cfg.DataDir)
	case d.LogFile != filepath.Join(want, "sentinel.log"):
		t.Fatalf("logfile %q", d.LogFile)
	case d.PidFile != filepath.Join(want, "run", "sentinel.pid"):
		t.Fatalf("pidfile %q", d.PidFile)
	case d.NotificationScripts["mymaster"] != filepath.Join(want, "notify.sh"):
		t.Fatalf("notification-script %q", d.NotificationScripts["mymaster"])
	case d.ReconfigScripts["mymaster"] != "/abs/reconf.sh":
		t.Fatalf("client-reconfig-script %q", d.ReconfigScripts["mymaster"])
	}

	// Without dir: the working directory, made absolute; an empty logfile
	// (stdout) stays empty.
	p = writeConfFile(t, "logfile \"\"\nsentinel monitor mymaster 127.0.0.1 6379 2\n"+
		"sentinel notification-script mymaster notify.sh\n")
	cfg, _, err = LoadSentinelConf(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if cfg.DropIn.LogFile != "" || cfg.DropIn.NotificationScripts["mymaster"] != filepath.Join(wd, "notify.sh") {
		t.Fatalf("logfile %q script %q", cfg.DropIn.LogFile, cfg.DropIn.NotificationScripts["mymaster"])
	}
}

// TestImportSentinelConfChainsDir: a relative dir is relative to the one
// before it; an absolute one starts over.
func TestImportSentinelConfChainsDir(t *testing.T) {
	for text, want := range map[string]string{
		"dir /a\ndir b\ndir c\n": "/a/b/c",
		"dir /a\ndir /b\n":       "/b",
		"dir a\ndir ../b\n":      "b",
		"dir x\n":                "x",
	} {
		im, err := ImportSentinelConf(strings.NewReader(text + "sentinel monitor m 127.0.0.1 6379 1\n"))
		if err != nil {
			t.Fatal(err)
		}
		if im.Config.DataDir != want {
			t.Errorf("%q: dir %q, want %q", text, im.Config.DataDir, want)
		}
	}
}
