package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/sentinelconf"
	"github.com/raftsentinel/raftsentinel/state"
)

// TestImportRenderRoundTrip: a file sentinelconf.Render writes from a
// state reads back through ImportSentinelConf as that state: masters,
// addresses, quorums, settings, awkward passwords, known replicas and
// sentinels, epochs; and rendering what was read changes nothing.
func TestImportRenderRoundTrip(t *testing.T) {
	orig := "port 26379\nbind 127.0.0.1\nsentinel monitor a 10.0.0.1 6379 2\n"
	st := &state.State{CurrentEpoch: 3, Masters: map[string]*state.Master{
		"a": {Name: "a", Addr: state.Addr{Host: "10.0.0.2", Port: 6380}, Quorum: 2, DownAfter: 1500 * time.Millisecond,
			FailoverTimeout: time.Minute, ParallelSyncs: 2, ConfigEpoch: 3,
			Replicas: []state.Addr{{Host: "10.0.0.1", Port: 6379}}},
		"b": {Name: "b", Addr: state.Addr{Host: "10.0.0.9", Port: 7000}, Quorum: 1, DownAfter: 5 * time.Second,
			FailoverTimeout: 3 * time.Minute, ParallelSyncs: 1, AuthUser: "u", AuthPass: "p \"w\\d\" é\u2028\t#"},
	}, Monitors: map[string]*state.Monitor{
		"self":  {ID: "self", RunID: "1111111111111111111111111111111111111111"},
		"other": {ID: "other", RunID: "2222222222222222222222222222222222222222", Announce: state.Addr{Host: "10.0.0.5", Port: 26379}},
	}}
	out := sentinelconf.Render([]byte(orig), st, "self", "1111111111111111111111111111111111111111", 0, nil)
	im, err := config.ImportSentinelConf(strings.NewReader(string(out)))
	if err != nil {
		t.Fatalf("the rendered file does not read back: %v\n%s", err, out)
	}
	got := map[string]config.Master{}
	for _, m := range im.Config.Masters {
		got[m.Name] = m
	}
	for name, want := range st.Masters {
		m, ok := got[name]
		if !ok || m.Addr != want.Addr.String() || m.Quorum != want.Quorum || m.DownAfter != want.DownAfter ||
			m.FailoverTimeout != want.FailoverTimeout || m.ParallelSyncs != want.ParallelSyncs ||
			m.AuthUser != want.AuthUser || m.AuthPass != want.AuthPass {
			t.Errorf("master %s reads back as %+v, rendered from %+v", name, m, want)
		}
	}
	d := im.Config.DropIn
	if d.MyID != "1111111111111111111111111111111111111111" || d.CurrentEpoch != 3 ||
		len(d.KnownReplicas["a"]) != 1 || d.KnownReplicas["a"][0] != "10.0.0.1:6379" || len(d.KnownSentinels) == 0 {
		t.Errorf("state lines read back as %+v", d)
	}
	if again := sentinelconf.Render(out, st, "self", "1111111111111111111111111111111111111111", 0, nil); string(again) != string(out) {
		t.Errorf("rendering is not idempotent:\n%s\n---\n%s", out, again)
	}
}
