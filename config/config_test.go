package config

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/failover"
	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/spf13/pflag"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Hermetic: a RAFTSENTINEL_* variable of the caller's shell must not
	// change what Load returns in these tests.
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "RAFTSENTINEL_") {
			os.Unsetenv(name)
		}
	}
	goleak.VerifyTestMain(m)
}

// minimalYAML is a valid config with only the required keys.
const minimalYAML = `
node-id: m1
raft-addr: 127.0.0.1:7000
http-addr: 127.0.0.1:7001
data-dir: /tmp/m1
peers:
  - {id: m1, raft-addr: "127.0.0.1:7000"}
  - {id: m2, raft-addr: "127.0.0.1:7100"}
  - {id: m3, raft-addr: "127.0.0.1:7200"}
masters:
  - {name: mymaster, addr: "127.0.0.1:6379", quorum: 2}
`

// writeFile writes content to a file in a fresh temp dir and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "monitor.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// flags returns a FlagSet with BindFlags applied and args parsed.
func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("raftsentinel", pflag.ContinueOnError)
	BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return fs
}

// validConfig returns a programmatic config that passes Validate.
func validConfig() Config {
	c := Default()
	c.NodeID = "m1"
	c.RaftAddr = "10.0.0.1:7000"
	c.HTTPAddr = "10.0.0.1:7001"
	c.DataDir = "/data"
	c.Peers = []Peer{{"m1", "10.0.0.1:7000"}, {"m2", "10.0.0.2:7000"}, {"m3", "10.0.0.3:7000"}}
	m := DefaultMaster()
	m.Name, m.Addr, m.Quorum = "mymaster", "10.0.0.10:6379", 2
	c.Masters = []Master{m}
	return c
}

func TestDefault(t *testing.T) {
	c := Default()
	want := Config{
		Listen:   "0.0.0.0:26379",
		Announce: "127.0.0.1:26379",
		Probe:    Probe{PingPeriod: 100 * time.Millisecond, InfoPeriod: time.Second, Timeout: 80 * time.Millisecond},
		Raft: Raft{
			HeartbeatTimeout:   500 * time.Millisecond,
			ElectionTimeout:    500 * time.Millisecond,
			LeaderLeaseTimeout: 250 * time.Millisecond,
			CommitTimeout:      50 * time.Millisecond,
			SnapshotInterval:   30 * time.Second,
			SnapshotThreshold:  2048,
			ApplyTimeout:       2 * time.Second,
		},
		Log:                Log{Level: "info", Format: "text"},
		Opinion:            Opinion{Refresh: time.Second, TTL: 3 * time.Second},
		FenceAfter:         3 * time.Second,
		StaleAfter:         3 * time.Second,
		MaxClients:         10000,
		ClientWriteTimeout: time.Minute,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Default() =\n%+v\nwant\n%+v", c, want)
	}
	if got := DefaultMaster(); got != (Master{DownAfter: 5 * time.Second, FailoverTimeout: 180 * time.Second, ParallelSyncs: 1}) {
		t.Errorf("DefaultMaster() = %+v", got)
	}
	if c.LogLevel() != slog.LevelInfo {
		t.Errorf("LogLevel() = %v, want info", c.LogLevel())
	}

	// Default has no required fields: Validate names each of them, and
	// nothing else (the defaults themselves are valid).
	err := c.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Default().Validate() = %v, want ErrInvalid", err)
	}
	wantMsgs := []string{
		"node-id: must be set",
		"raft-addr: must be set (host:port)",
		"http-addr: must be set (host:port)",
		"data-dir: must be set",
		"peers: must list the initial voters",
	}
	lines := strings.Split(strings.TrimPrefix(err.Error(), "invalid configuration: "), "\n")
	if len(lines) != len(wantMsgs) {
		t.Errorf("got %d problems, want %d:\n%v", len(lines), len(wantMsgs), err)
	}
	for _, w := range wantMsgs {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}

	if err := (*Config)(nil).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil Validate() = %v", err)
	}
}

func TestLoadGood(t *testing.T) {
	full := Config{
		NodeID:   "m1",
		Listen:   "0.0.0.0:26379",
		Announce: "10.0.0.1:26379",
		RaftAddr: "10.0.0.1:7000",
		HTTPAddr: "10.0.0.1:7001",
		DataDir:  "/var/lib/raftsentinel",
		Peers: []Peer{
			{ID: "m1", RaftAddr: "10.0.0.1:7000"},
			{ID: "m2", RaftAddr: "10.0.0.2:7000"},
			{ID: "m3", RaftAddr: "10.0.0.3:7000"},
		},
		Masters: []Master{
			{
				Name: "mymaster", Addr: "10.0.0.10:6379", Quorum: 2,
				DownAfter: 5 * time.Second, FailoverTimeout: 3 * time.Minute, ParallelSyncs: 1,
				AuthUser: "sentinel", AuthPass: "s3cret",
			},
			{
				Name: "cache", Addr: "redis-cache.internal:6380", Quorum: 2,
				DownAfter: 5 * time.Second, FailoverTimeout: 180 * time.Second, ParallelSyncs: 1,
			},
		},
		Probe: Default().Probe,
		Raft:  Default().Raft,
		Log:   Log{Level: "info", Format: "text"},
		Opinion: Opinion{
			Refresh: time.Second,
			TTL:     3 * time.Second,
		},
		FenceAfter:         3 * time.Second,
		StaleAfter:         3 * time.Second,
		RequirePass:        "defaultpw",
		MaxClients:         10000,
		ClientWriteTimeout: time.Minute,
		Users: []User{
			{Name: "app", Password: "apppw", Commands: "-@all +@connection +@pubsub allchannels +sentinel|get-master-addr-by-name +sentinel|replicas +sentinel|sentinels"},
			{Name: "ops", Password: "opspw"},
		},
	}

	minimal := Default()
	minimal.NodeID = "m1"
	minimal.RaftAddr = "127.0.0.1:7000"
	minimal.HTTPAddr = "127.0.0.1:7001"
	minimal.DataDir = "/tmp/raftsentinel-m1"
	minimal.Peers = []Peer{{ID: "m1", RaftAddr: "127.0.0.1:7000"}}
	m := DefaultMaster()
	m.Name, m.Addr, m.Quorum = "mymaster", "127.0.0.1:6379", 1
	minimal.Masters = []Master{m}

	for _, tc := range []struct {
		file string
		want Config
	}{
		{"testdata/good/full.yaml", full},
		{"testdata/good/minimal.yaml", minimal},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			got, err := Load(tc.file, nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Load =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}

	// Every good file is loaded by the table above.
	files, _ := filepath.Glob("testdata/good/*.yaml")
	if len(files) != 2 {
		t.Errorf("testdata/good has %d files, the table covers 2", len(files))
	}
}

func TestLoadBad(t *testing.T) {
	cases := []struct {
		file string
		want []string // substrings of the error
	}{
		{"unknown-key.yaml", []string{`config file testdata/bad/unknown-key.yaml: unknown key "masters[0].qourum" (did you mean "quorum"?)`}},
		{"unknown-top-key.yaml", []string{`unknown key "raft-adr" (did you mean "raft-addr"?)`}},
		{"unknown-nested-key.yaml", []string{`unknown key "probe.ping"`}},
		{"bad-duration.yaml", []string{`config file testdata/bad/bad-duration.yaml: probe.ping-period: invalid duration "1x"`}},
		{"duration-no-unit.yaml", []string{`masters[0].down-after: expected a duration, got the bare number 5000 (use a unit, e.g. 5s)`}},
		{"duration-no-unit-string.yaml", []string{`masters[0].down-after: invalid duration "5000": missing unit (use a unit, e.g. 5s)`}},
		{"quorum-too-large.yaml", []string{`masters[0].quorum: must be between 1 and the number of peers (3), got 5`}},
		{"quorum-not-int.yaml", []string{`masters[0].quorum: expected an integer, got the decimal number 2.5`}},
		{"missing-node-id.yaml", []string{`node-id: must be set`}},
		{"node-id-number.yaml", []string{`node-id: expected a string, got the number 1 (quote it)`}},
		{"self-not-in-peers.yaml", []string{`peers: must include this node (id "m1", raft-addr "10.0.0.1:7000")`}},
		{"self-addr-mismatch.yaml", []string{`peers[0].raft-addr: "10.0.0.1:7999" differs from raft-addr "10.0.0.1:7000" of this node ("m1")`}},
		{"duplicate-peer-id.yaml", []string{`peers[2].id: duplicate peer id "m2" (also peers[1])`}},
		{"timeout-not-shorter.yaml", []string{`probe.timeout (100ms) must be shorter than probe.ping-period (100ms)`}},
		{"lease-exceeds-heartbeat.yaml", []string{`raft.leader-lease-timeout (600ms) must not exceed raft.heartbeat-timeout (500ms)`}},
		{"election-below-heartbeat.yaml", []string{`raft.election-timeout (500ms) must not be shorter than raft.heartbeat-timeout (1s)`}},
		{"invalid-master-name.yaml", []string{`masters[0].name: "my master" has characters outside [A-Za-z0-9._-]`}},
		{"duplicate-master-name.yaml", []string{`masters[1].name: duplicate master name "mymaster" (also masters[0])`}},
		{"bad-addr-port.yaml", []string{`masters[0].addr: invalid port "99999" in "10.0.0.10:99999" (want a number in 1-65535)`}},
		{"users-bad.yaml", []string{
			`users[0].name: "default" is the requirepass user; set requirepass instead`,
			`users[2].name: duplicate user "app"`,
			`users[3].password: must be set`,
			`users[4].commands: invalid command rules: rule "+get": unknown command "get"`,
			`users[5].commands: invalid command rules: rule "+@nosuch": unknown category "nosuch"`,
			`users[6].commands: invalid command rules: rule "~*": must start with + or - (or be allcommands/nocommands)`,
		}},
		{"maxclients-zero.yaml", []string{`maxclients (0) must be at least 1`}},
		{"addr-missing-port.yaml", []string{`masters[0].addr: "10.0.0.10" is not host:port (missing port in address)`}},
		{"raft-addr-unspecified.yaml", []string{
			`raft-addr: host in "0.0.0.0:7000" must not be empty, 0.0.0.0 or ::`,
			`peers[0].raft-addr: host in "0.0.0.0:7000" must not be empty`,
		}},
		{"probe-not-mapping.yaml", []string{`probe: expected a mapping (key: value lines), got the string "100ms"`}},
		{"masters-not-list.yaml", []string{`masters: expected a list, got a mapping`}},
		{"ttl-not-longer.yaml", []string{`opinion.ttl (1s) must be longer than opinion.refresh (1s)`}},
		{"bad-log-level.yaml", []string{`log.level: must be one of debug, info, warn, error, got "verbose"`}},
		{"negative-snapshot-threshold.yaml", []string{`raft.snapshot-threshold: must not be negative, got -1`}},
		{"ping-period-too-long.yaml", []string{`probe.ping-period: must be shorter than 1s, got 1s`}},
		{"duplicate-yaml-key.yaml", []string{`config file testdata/bad/duplicate-yaml-key.yaml:`, `"node-id" already defined`}},
		{"syntax.yaml", []string{`config file testdata/bad/syntax.yaml: yaml:`}},
		{"huge-numbers.yaml", []string{
			`masters[0].quorum: expected an integer, got the decimal number 1e+20`,
			`masters[0].down-after: invalid duration "9999999999h"`,
			`masters[0].parallel-syncs: expected an integer, got "1e400"`,
			`raft.snapshot-threshold: expected a non-negative integer, got the decimal number 1e+23`,
		}},
		{"many-problems.yaml", []string{
			`http-addr: must be set`,
			`masters[0].quorum: must be between 1 and the number of peers (1), got 3`,
			`masters[0].parallel-syncs: must be at least 1, got 0`,
			`log.format: must be text or json, got "xml"`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			cfg, err := Load(filepath.Join("testdata", "bad", tc.file), nil)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", cfg)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
			if !reflect.DeepEqual(cfg, Config{}) {
				t.Errorf("Load returned a non-zero Config with its error: %+v", cfg)
			}
		})
	}

	// The table covers every bad file, so none is forgotten.
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) != len(cases) {
		t.Errorf("testdata/bad has %d files; update the table (%d entries)", len(files), len(cases))
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing) = %v, want ErrInvalid and fs.ErrNotExist", err)
	}
}

func TestLoadNoSources(t *testing.T) {
	_, err := Load("", nil)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "node-id: must be set") {
		t.Fatalf("Load(\"\", nil) = %v", err)
	}
}

func TestLoadKeysIgnoreCase(t *testing.T) {
	path := writeFile(t, strings.Replace(minimalYAML, "node-id:", "Node-ID:", 1)+"Probe:\n  Ping-Period: 200ms\n")
	cfg, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != "m1" || cfg.Probe.PingPeriod != 200*time.Millisecond {
		t.Errorf("got node-id %q, probe.ping-period %v", cfg.NodeID, cfg.Probe.PingPeriod)
	}
}

func TestLoadEnv(t *testing.T) {
	path := writeFile(t, minimalYAML+"log:\n  level: warn\n")
	t.Setenv("RAFTSENTINEL_RAFT_HEARTBEAT_TIMEOUT", "1s")
	t.Setenv("RAFTSENTINEL_RAFT_ELECTION_TIMEOUT", "2s")
	t.Setenv("RAFTSENTINEL_RAFT_SNAPSHOT_THRESHOLD", "10")
	t.Setenv("RAFTSENTINEL_LOG_LEVEL", "debug")
	t.Setenv("RAFTSENTINEL_LISTEN", ":6000")
	t.Setenv("RAFTSENTINEL_DATA_DIR", "") // empty: ignored

	cfg, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Raft.HeartbeatTimeout != time.Second || cfg.Raft.ElectionTimeout != 2*time.Second {
		t.Errorf("raft timeouts = %v, %v; want 1s, 2s", cfg.Raft.HeartbeatTimeout, cfg.Raft.ElectionTimeout)
	}
	if cfg.Raft.SnapshotThreshold != 10 {
		t.Errorf("raft.snapshot-threshold = %d, want 10", cfg.Raft.SnapshotThreshold)
	}
	if cfg.LogLevel() != slog.LevelDebug {
		t.Errorf("log level = %v, want debug (env beats file)", cfg.LogLevel())
	}
	if cfg.Listen != ":6000" || cfg.Announce != "127.0.0.1:6000" {
		t.Errorf("listen, announce = %q, %q; want :6000, 127.0.0.1:6000 (derived)", cfg.Listen, cfg.Announce)
	}
	if cfg.DataDir != "/tmp/m1" {
		t.Errorf("data-dir = %q; an empty variable must not override the file", cfg.DataDir)
	}
	if cfg.Raft.LeaderLeaseTimeout != 250*time.Millisecond {
		t.Errorf("raft.leader-lease-timeout = %v, want the default", cfg.Raft.LeaderLeaseTimeout)
	}
}

func TestLoadEnvOnly(t *testing.T) {
	// Every scalar key can come from the environment; lists need the file
	// or flags.
	t.Setenv("RAFTSENTINEL_NODE_ID", "m1")
	t.Setenv("RAFTSENTINEL_RAFT_ADDR", "127.0.0.1:7000")
	t.Setenv("RAFTSENTINEL_HTTP_ADDR", "127.0.0.1:7001")
	t.Setenv("RAFTSENTINEL_DATA_DIR", "/d")
	fs := flags(t, "--peer", "m1=127.0.0.1:7000", "--master", "mymaster=127.0.0.1:6379,quorum=1")
	cfg, err := Load("", fs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != "m1" || cfg.RaftAddr != "127.0.0.1:7000" || cfg.DataDir != "/d" {
		t.Errorf("got %+v", cfg)
	}
}

func TestLoadEnvBad(t *testing.T) {
	path := writeFile(t, minimalYAML)
	for _, tc := range []struct {
		name, value, want string
	}{
		{"RAFTSENTINEL_PROBE_TIMEOUT", "80",
			`environment variable RAFTSENTINEL_PROBE_TIMEOUT: probe.timeout: invalid duration "80": missing unit (use a unit, e.g. 5s)`},
		{"RAFTSENTINEL_RAFT_SNAPSHOT_THRESHOLD", "lots",
			`environment variable RAFTSENTINEL_RAFT_SNAPSHOT_THRESHOLD: raft.snapshot-threshold: expected a non-negative integer, got "lots"`},
		{"RAFTSENTINEL_PROBE_PING_PERIOD", "-5ms",
			`probe.ping-period: must be greater than 0, got -5ms`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			_, err := Load(path, nil)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v\nwant error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadPrecedence(t *testing.T) {
	const key = "probe.info-period"
	for _, tc := range []struct {
		name            string
		file, env, flag string // "" = not given by that source
		want            time.Duration
	}{
		{"default", "", "", "", time.Second},
		{"file", "2s", "", "", 2 * time.Second},
		{"env beats file", "2s", "3s", "", 3 * time.Second},
		{"flag beats env and file", "2s", "3s", "4s", 4 * time.Second},
		{"flag beats file", "2s", "", "4s", 4 * time.Second},
		{"flag beats default", "", "", "4s", 4 * time.Second},
		{"env beats default", "", "3s", "", 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			content := minimalYAML
			if tc.file != "" {
				content += "probe:\n  info-period: " + tc.file + "\n"
			}
			if tc.env != "" {
				t.Setenv(envName(key), tc.env)
			}
			var args []string
			if tc.flag != "" {
				args = append(args, "--"+key+"="+tc.flag)
			}
			cfg, err := Load(writeFile(t, content), flags(t, args...))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Probe.InfoPeriod != tc.want {
				t.Errorf("%s = %v, want %v", key, cfg.Probe.InfoPeriod, tc.want)
			}
		})
	}
}

func TestLoadFlags(t *testing.T) {
	path := writeFile(t, minimalYAML)
	fs := flags(t,
		"--node-id=m2",
		"--raft-addr=127.0.0.1:7100",
		"--announce=redis-sentinel-2.example:26379",
		"--raft.snapshot-threshold=99",
		"--log.format=json",
		"--log.level=error",
	)
	cfg, err := Load(path, fs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != "m2" || cfg.RaftAddr != "127.0.0.1:7100" || cfg.Announce != "redis-sentinel-2.example:26379" {
		t.Errorf("flags did not override: %+v", cfg)
	}
	if cfg.Raft.SnapshotThreshold != 99 || cfg.Log.Format != "json" || cfg.LogLevel() != slog.LevelError {
		t.Errorf("flags did not override: %+v", cfg)
	}
	// Flags left at their defaults do not override the file.
	if cfg.HTTPAddr != "127.0.0.1:7001" || cfg.DataDir != "/tmp/m1" {
		t.Errorf("unset flags overrode the file: %+v", cfg)
	}
}

func TestLoadListFlags(t *testing.T) {
	path := writeFile(t, minimalYAML)
	fs := flags(t,
		"--peer", "m1=127.0.0.1:7000,m2=127.0.0.1:7100",
		"--master", "a=127.0.0.1:6379,quorum=2,down-after=3s,auth-pass=x",
		"--master", "b=[::1]:6380,quorum=1,failover-timeout=1m,parallel-syncs=2,auth-user=u",
	)
	cfg, err := Load(path, fs)
	if err != nil {
		t.Fatal(err)
	}
	wantPeers := []Peer{{"m1", "127.0.0.1:7000"}, {"m2", "127.0.0.1:7100"}}
	if !reflect.DeepEqual(cfg.Peers, wantPeers) {
		t.Errorf("peers = %+v, want %+v (flag replaces the file's list)", cfg.Peers, wantPeers)
	}
	a := DefaultMaster()
	a.Name, a.Addr, a.Quorum, a.DownAfter, a.AuthPass = "a", "127.0.0.1:6379", 2, 3*time.Second, "x"
	b := DefaultMaster()
	b.Name, b.Addr, b.Quorum, b.FailoverTimeout, b.ParallelSyncs, b.AuthUser = "b", "[::1]:6380", 1, time.Minute, 2, "u"
	if want := []Master{a, b}; !reflect.DeepEqual(cfg.Masters, want) {
		t.Errorf("masters = %+v\nwant %+v", cfg.Masters, want)
	}
}

func TestLoadFlagsBad(t *testing.T) {
	path := writeFile(t, minimalYAML)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--peer", "m1"}, `flag --peer "m1": want id=host:port`},
		{[]string{"--master", "mymaster"}, `flag --master "mymaster": want name=host:port,quorum=N`},
		{[]string{"--master", "m=127.0.0.1:6379,qourum=2"}, `flag --master "m=127.0.0.1:6379,qourum=2": unknown key "qourum"`},
		{[]string{"--master", "m=127.0.0.1:6379,quorum"}, `"quorum" is not key=value`},
		{[]string{"--master", "m=127.0.0.1:6379,quorum=1,quorum=2"}, `key "quorum" given twice`},
		{[]string{"--master", "m=127.0.0.1:6379,quorum=two"}, `flag --master: masters[0].quorum: expected an integer, got "two"`},
		{[]string{"--master", "m=127.0.0.1:6379,quorum=2,down-after=5"}, `flag --master: masters[0].down-after: invalid duration "5": missing unit`},
		{[]string{"--master", "m=127.0.0.1:6379,quorum=4"}, `masters[0].quorum: must be between 1 and the number of peers (3), got 4`},
		{[]string{"--listen=nonsense"}, `listen: "nonsense" is not host:port (missing port in address)`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := Load(path, flags(t, tc.args...))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v\nwant error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadForeignFlagSet(t *testing.T) {
	// A FlagSet without BindFlags, with only some of the names, is fine.
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("node-id", "", "")
	fs.Bool("verbose", false, "")
	if err := fs.Parse([]string{"--node-id=m1", "--verbose"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(writeFile(t, strings.Replace(minimalYAML, "node-id: m1", "node-id: zz", 1)), fs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != "m1" {
		t.Errorf("node-id = %q, want m1", cfg.NodeID)
	}
}

func TestBindFlags(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	BindFlags(fs)

	var keys []string
	for _, k := range scalarKeys() {
		keys = append(keys, k.key)
	}
	wantKeys := []string{
		"node-id", "listen", "announce", "raft-addr", "http-addr", "data-dir",
		"probe.ping-period", "probe.info-period", "probe.timeout",
		"raft.heartbeat-timeout", "raft.election-timeout", "raft.leader-lease-timeout",
		"raft.commit-timeout", "raft.snapshot-interval", "raft.snapshot-threshold", "raft.apply-timeout",
		"log.level", "log.format", "opinion.refresh", "opinion.ttl", "local-redis", "fence-after", "stale-after", "admin-token", "requirepass", "maxclients",
		"client-idle-timeout", "client-write-timeout",
		"tls-port", "tls-cert-file", "tls-key-file", "tls-ca-cert-file", "tls-auth-clients", "tls-replication", "tls-cluster",
		"cluster-secret", "cluster-secret-file",
	}
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("scalar keys = %q\nwant %q", keys, wantKeys)
	}
	if len(flagHelp) != len(keys) {
		t.Errorf("flagHelp has %d entries for %d keys", len(flagHelp), len(keys))
	}
	for _, k := range append(keys, "peer", "master") {
		f := fs.Lookup(k)
		if f == nil {
			t.Errorf("no flag --%s", k)
			continue
		}
		if flagHelp[k] == "" && k != "peer" && k != "master" {
			t.Errorf("no help for --%s", k)
		}
	}
	for flag, want := range map[string]string{
		"listen": "0.0.0.0:26379", "announce": "", "probe.ping-period": "100ms",
		"raft.snapshot-threshold": "2048", "log.level": "info", "opinion.ttl": "3s",
	} {
		if got := fs.Lookup(flag).DefValue; got != want {
			t.Errorf("--%s default = %q, want %q", flag, got, want)
		}
	}
	if u := fs.Lookup("raft.heartbeat-timeout").Usage; !strings.Contains(u, "RAFTSENTINEL_RAFT_HEARTBEAT_TIMEOUT") {
		t.Errorf("usage %q does not name the environment variable", u)
	}
	if got := envName("node-id"); got != "RAFTSENTINEL_NODE_ID" {
		t.Errorf("envName(node-id) = %q", got)
	}
}

func TestValidate(t *testing.T) {
	base := validConfig()
	if err := base.Validate(); err != nil {
		t.Fatalf("validConfig: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string // "" = valid
	}{
		{"listen port 0", func(c *Config) { c.Listen = "127.0.0.1:0" }, ""},
		{"http-addr any host", func(c *Config) { c.HTTPAddr = ":7001" }, `http-addr: host in ":7001" must not be empty, 0.0.0.0 or :: (other monitors forward proposals to it)`},
		{"ipv6 raft-addr", func(c *Config) {
			c.RaftAddr, c.Peers[0].RaftAddr = "[fd00::1]:7000", "[fd00::1]:7000"
		}, ""},
		{"quorum 0", func(c *Config) { c.Masters[0].Quorum = 0 },
			"masters[0].quorum: must be between 1 and the number of peers (3), got 0"},
		{"announce unspecified", func(c *Config) { c.Announce = "0.0.0.0:26379" },
			`announce: host in "0.0.0.0:26379" must not be empty, 0.0.0.0 or ::`},
		{"announce empty", func(c *Config) { c.Announce = "" }, "announce: must be set"},
		{"announce port 0", func(c *Config) { c.Announce = "10.0.0.1:0" },
			`announce: invalid port "0" in "10.0.0.1:0" (want a number in 1-65535)`},
		{"named port", func(c *Config) { c.Masters[0].Addr = "10.0.0.10:redis" }, `invalid port "redis"`},
		{"bad host", func(c *Config) { c.Masters[0].Addr = "bad host:6379" },
			`masters[0].addr: "bad host" is neither an IP address nor a host name`},
		{"node-id too long", func(c *Config) { c.NodeID = strings.Repeat("a", 65) },
			"node-id: \"" + strings.Repeat("a", 65) + "\" must be 1 to 64 characters"},
		{"duplicate peer addr", func(c *Config) { c.Peers[2].RaftAddr = c.Peers[1].RaftAddr },
			`peers[2].raft-addr: duplicate address "10.0.0.2:7000" (also peers[1])`},
		{"down-after below ping", func(c *Config) { c.Masters[0].DownAfter = 50 * time.Millisecond },
			"masters[0].down-after (50ms) must be at least probe.ping-period (100ms)"},
		{"zero failover-timeout", func(c *Config) { c.Masters[0].FailoverTimeout = 0 },
			"masters[0].failover-timeout: must be greater than 0, got 0s"},
		{"zero info-period", func(c *Config) { c.Probe.InfoPeriod = 0 },
			"probe.info-period: must be greater than 0, got 0s"},
		{"tiny heartbeat", func(c *Config) { c.Raft.HeartbeatTimeout = time.Millisecond },
			"raft.heartbeat-timeout: must be at least 5ms, got 1ms"},
		{"tiny commit timeout", func(c *Config) { c.Raft.CommitTimeout = time.Microsecond },
			"raft.commit-timeout: must be at least 1ms, got 1µs"},
		{"zero apply timeout", func(c *Config) { c.Raft.ApplyTimeout = 0 },
			"raft.apply-timeout: must be greater than 0, got 0s"},
		{"log level case", func(c *Config) { c.Log.Level = "DEBUG" }, `log.level: must be one of debug, info, warn, error, got "DEBUG"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v\nwant error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateDoesNotModify(t *testing.T) {
	c := validConfig()
	c.Announce = ""
	before := validConfig()
	before.Announce = ""
	_ = c.Validate()
	if !reflect.DeepEqual(c, before) {
		t.Errorf("Validate modified the config")
	}
}

func TestLogLevel(t *testing.T) {
	for level, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn,
		"error": slog.LevelError, "bogus": slog.LevelInfo,
	} {
		if got := (Config{Log: Log{Level: level}}).LogLevel(); got != want {
			t.Errorf("LogLevel(%q) = %v, want %v", level, got, want)
		}
	}
}

func TestDeriveAnnounce(t *testing.T) {
	for listen, want := range map[string]string{
		"0.0.0.0:26379":  "127.0.0.1:26379",
		":26379":         "127.0.0.1:26379",
		"[::]:26379":     "127.0.0.1:26379",
		"10.1.2.3:26379": "10.1.2.3:26379",
		"[fd00::1]:1":    "[fd00::1]:1",
		"nonsense":       "",
	} {
		if got := deriveAnnounce(listen); got != want {
			t.Errorf("deriveAnnounce(%q) = %q, want %q", listen, got, want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"quorum", "quorum", 0},
		{"qourum", "quorum", 1},
		{"raft-adress", "raft-addr", 4}, {"raft-adr", "raft-addr", 1},
		{"", "abc", 3},
		{"down_after", "down-after", 1},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestDefaultsComeFromTheComponents: each timing default lives in its
// component's DefaultOptions, and the configuration's defaults are those.
func TestDefaultsComeFromTheComponents(t *testing.T) {
	c := Default()
	p, q, b := probe.DefaultOptions(), quorum.DefaultOptions(), failover.DefaultOptions()
	got := []time.Duration{c.Probe.PingPeriod, c.Probe.InfoPeriod, c.Probe.Timeout, c.Raft.HeartbeatTimeout,
		c.Raft.ElectionTimeout, c.Raft.LeaderLeaseTimeout, c.Raft.CommitTimeout, c.Raft.SnapshotInterval,
		c.Raft.ApplyTimeout, c.StaleAfter, c.Opinion.Refresh, c.Opinion.TTL}
	want := []time.Duration{p.PingPeriod, p.InfoPeriod, p.Timeout, q.HeartbeatTimeout, q.ElectionTimeout,
		q.LeaderLeaseTimeout, q.CommitTimeout, q.SnapshotInterval, q.ApplyTimeout, b.StaleAfter, b.OpinionRefresh, b.OpinionTTL}
	if !reflect.DeepEqual(got, want) || c.Raft.SnapshotThreshold != q.SnapshotThreshold {
		t.Fatalf("config defaults %v, components' %v", got, want)
	}
	for _, err := range []error{p.Validate(), q.Validate(), b.Validate()} {
		if err != nil {
			t.Fatalf("a component's defaults do not validate: %v", err)
		}
	}
	if err := (probe.Options{PingPeriod: 50 * time.Millisecond, Timeout: 50 * time.Millisecond}).Validate(); err == nil {
		t.Fatal("probe: Timeout not shorter than PingPeriod was accepted")
	}
	if err := (failover.Options{OpinionRefresh: 3 * time.Second, OpinionTTL: 3 * time.Second}).Validate(); err == nil {
		t.Fatal("failover: OpinionTTL not longer than OpinionRefresh was accepted")
	}
	if err := (quorum.Options{CommitTimeout: -time.Second}).Validate(); err == nil {
		t.Fatal("quorum: a negative timeout was accepted")
	}
}
