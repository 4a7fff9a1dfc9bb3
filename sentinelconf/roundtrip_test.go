package sentinelconf

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/state"
)

// view is what a rewritten sentinel.conf records of the state, compared
// between the state Render wrote and the File Parse reads back.
type view struct {
	MyID         string
	CurrentEpoch uint64
	Masters      map[string]masterView
}

type masterView struct {
	Addr                       string
	Quorum                     int
	DownAfter, FailoverTimeout time.Duration
	ParallelSyncs              int
	AuthUser, AuthPass         string
	ConfigEpoch, LeaderEpoch   uint64
	Replicas, Sentinels        []string // host:port; "host:port runid"
	Scripts                    map[string]string
}

// viewOfState is what Render writes of st (the arguments as Render's).
func viewOfState(st *state.State, selfID, myID string, base uint64, scripts func(string) (string, string)) view {
	v := view{MyID: myID, CurrentEpoch: base + st.CurrentEpoch, Masters: map[string]masterView{}}
	var others []*state.Monitor
	for id, m := range st.Monitors {
		if id != selfID && m.RunID != "" {
			others = append(others, m)
		}
	}
	slices.SortFunc(others, func(a, b *state.Monitor) int { return strings.Compare(a.ID, b.ID) })
	for name, ms := range st.Masters {
		mv := masterView{Addr: ms.Addr.String(), Quorum: ms.Quorum, DownAfter: ms.DownAfter, FailoverTimeout: ms.FailoverTimeout,
			ParallelSyncs: ms.ParallelSyncs, AuthUser: ms.AuthUser, AuthPass: ms.AuthPass,
			ConfigEpoch: base + ms.ConfigEpoch, LeaderEpoch: base + ms.ConfigEpoch}
		for _, r := range ms.Replicas {
			if r != ms.Addr {
				mv.Replicas = append(mv.Replicas, r.String())
			}
		}
		for _, m := range others {
			mv.Sentinels = append(mv.Sentinels, m.Announced().String()+" "+m.RunID)
		}
		if scripts != nil {
			n, r := scripts(name)
			for k, p := range map[string]string{NotificationScript: n, ReconfigScript: r} {
				if p != "" {
					if mv.Scripts == nil {
						mv.Scripts = map[string]string{}
					}
					mv.Scripts[k] = p
				}
			}
		}
		v.Masters[name] = mv
	}
	return v
}

// viewOfFile is what Parse read.
func viewOfFile(f *File) view {
	v := view{MyID: f.State.MyID, CurrentEpoch: f.State.CurrentEpoch, Masters: map[string]masterView{}}
	for _, m := range f.Masters {
		mv := masterView{Addr: m.Addr, Quorum: m.Quorum, DownAfter: m.DownAfter, FailoverTimeout: m.FailoverTimeout,
			ParallelSyncs: m.ParallelSyncs, AuthUser: m.AuthUser, AuthPass: m.AuthPass,
			ConfigEpoch: f.State.ConfigEpochs[m.Name], LeaderEpoch: f.State.LeaderEpochs[m.Name],
			Replicas: f.State.KnownReplicas[m.Name], Scripts: m.Scripts}
		for _, k := range f.State.KnownSentinels {
			if k.Master == m.Name {
				mv.Sentinels = append(mv.Sentinels, k.Addr+" "+k.RunID)
			}
		}
		v.Masters[m.Name] = mv
	}
	return v
}

// TestParseRenderRoundTrip: Parse(Render(x)) is x for the files the daemon
// writes: from a file the operator wrote (its own lines kept, stale state
// lines dropped), from an empty one (every master added at run time), with
// an epoch base and this monitor's script paths; masters, addresses,
// quorums, settings, awkward passwords, epochs, known replicas and
// sentinels, scripts. Rendering what was read again changes nothing.
func TestParseRenderRoundTrip(t *testing.T) {
	const self = "1111111111111111111111111111111111111111"
	st := &state.State{CurrentEpoch: 3, Masters: map[string]*state.Master{
		"a": {Name: "a", Addr: state.Addr{Host: "10.0.0.2", Port: 6380}, Quorum: 2, DownAfter: 1500 * time.Millisecond,
			FailoverTimeout: time.Minute, ParallelSyncs: 2, ConfigEpoch: 3,
			Replicas: []state.Addr{{Host: "10.0.0.1", Port: 6379}, {Host: "10.0.0.2", Port: 6380}}},
		"b": {Name: "b", Addr: state.Addr{Host: "::1", Port: 7000}, Quorum: 1, DownAfter: 5 * time.Second,
			FailoverTimeout: 3 * time.Minute, ParallelSyncs: 1, AuthUser: "u", AuthPass: "p \"w\\d\" é\u2028\t#"},
	}, Monitors: map[string]*state.Monitor{
		"self":  {ID: "self", RunID: self},
		"other": {ID: "other", RunID: "2222222222222222222222222222222222222222", Announce: state.Addr{Host: "10.0.0.5", Port: 26379}},
		"third": {ID: "third", RunID: "3333333333333333333333333333333333333333", Announce: state.Addr{Host: "10.0.0.6", Port: 26379}, AnnounceIP: "192.0.2.9"},
	}}
	scripts := func(m string) (string, string) {
		if m == "a" {
			return "/bin/notify me.sh", ""
		}
		return "", "/bin/reconf.sh"
	}
	for _, tc := range []struct {
		name    string
		orig    string
		base    uint64
		scripts func(string) (string, string)
	}{
		{"operator file", "port 26379\nbind 127.0.0.1\n# a comment\nsentinel monitor a 10.0.0.1 6379 2\n" +
			"sentinel down-after-milliseconds a 30000\nsentinel monitor gone 10.0.0.9 6379 1\n" +
			"sentinel rename-command a CONFIG my-config\nsentinel myid 0000000000000000000000000000000000000001\n" +
			"sentinel known-replica a 10.0.0.7 6379\nsentinel current-epoch 9\n", 0, nil},
		{"empty file, base and scripts", "", 4, scripts},
		{"script lines kept and cleared", "sentinel monitor a 10.0.0.1 6379 2\nsentinel notification-script a /old.sh\n" +
			"sentinel client-reconfig-script a /old-reconf.sh\n", 1, scripts},
	} {
		out := Render([]byte(tc.orig), st, "self", self, tc.base, tc.scripts)
		f, err := Parse(strings.NewReader(string(out)))
		if err != nil {
			t.Fatalf("%s: the rendered file does not parse: %v\n%s", tc.name, err, out)
		}
		scriptsOf := tc.scripts
		if scriptsOf == nil {
			// Without this monitor's paths the file's script lines stay.
			scriptsOf = func(string) (string, string) { return "", "" }
		}
		if got, want := viewOfFile(f), viewOfState(st, "self", self, tc.base, scriptsOf); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: reads back as\n%+v\nrendered from\n%+v\n%s", tc.name, got, want, out)
		}
		if again := Render(out, st, "self", self, tc.base, tc.scripts); string(again) != string(out) {
			t.Errorf("%s: rendering is not idempotent:\n%s\n---\n%s", tc.name, out, again)
		}
	}
}

// TestParseKeepsOperatorLines: what Render keeps of the operator's lines
// reads back as written (server settings, rename-command, reboot period).
func TestParseKeepsOperatorLines(t *testing.T) {
	st := &state.State{Masters: map[string]*state.Master{
		"m": {Name: "m", Addr: state.Addr{Host: "10.0.0.1", Port: 6379}, Quorum: 2, DownAfter: time.Second,
			FailoverTimeout: time.Minute, ParallelSyncs: 1},
	}}
	orig := "port 26380\nbind -10.0.0.5 ::1\ndir /var/lib/s\nloglevel warning\ntls-port 26381\ntls-auth-clients OPTIONAL\n" +
		"sentinel monitor m 10.0.0.1 6379 2\nsentinel rename-command m CONFIG cfg\n" +
		"sentinel master-reboot-down-after-period m 15000\nsentinel deny-scripts-reconfig no\nsentinel resolve-hostnames yes\n"
	f, err := Parse(strings.NewReader(string(Render([]byte(orig), st, "", "abababababababababababababababababababab", 0, nil))))
	if err != nil {
		t.Fatal(err)
	}
	m := f.Master("m")
	switch {
	case f.Port != "26380" || f.Bind != "10.0.0.5" || f.Dir != "/var/lib/s" || f.LogLevel != "warning":
		t.Fatalf("server lines: %+v", f)
	case f.TLS.Port != 26381 || f.TLS.AuthClients != "optional":
		t.Fatalf("tls lines: %+v", f.TLS)
	case m == nil || m.RenameCommands["config"] != "cfg" || m.RebootDownAfter != 15*time.Second:
		t.Fatalf("master m: %+v", m)
	case f.DenyScriptsReconfig || !reflect.DeepEqual(f.SentinelConfig, [][2]string{{"resolve-hostnames", "yes"}}):
		t.Fatalf("group settings: deny %v, %v", f.DenyScriptsReconfig, f.SentinelConfig)
	}
}
