package failover

import (
	"reflect"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

var now0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func TestSDownAt(t *testing.T) {
	da := time.Second
	cases := []struct {
		name string
		obs  probe.Observation
		want bool
	}{
		{"healthy", probe.Observation{Connected: true, LastOKPing: now0.Add(-50 * time.Millisecond)}, false},
		{"ping pending but younger than down-after", probe.Observation{Connected: false, LastPingSent: now0.Add(-900 * time.Millisecond), LastOKPing: now0.Add(-950 * time.Millisecond)}, false},
		{"ping pending longer than down-after", probe.Observation{Connected: true, LastPingSent: now0.Add(-1001 * time.Millisecond), LastOKPing: now0.Add(-1100 * time.Millisecond)}, true},
		{"disconnected, last reply old", probe.Observation{Connected: false, LastOKPing: now0.Add(-2 * time.Second)}, true},
		{"never answered, watched long ago", probe.Observation{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SDownAt(c.obs, now0, now0.Add(-10*time.Second), da); got != c.want {
				t.Fatalf("SDownAt = %v, want %v", got, c.want)
			}
		})
	}
	// A node never answered but only just watched is not down yet.
	if SDownAt(probe.Observation{}, now0, now0.Add(-500*time.Millisecond), da) {
		t.Fatal("new node judged down before down-after")
	}
}

func TestODownVotes(t *testing.T) {
	members := map[string]*state.Monitor{"m1": {}, "m2": {}, "m3": {}}
	ttl := 3 * time.Second
	cases := []struct {
		name string
		ops  map[string]state.Opinion
		want int
	}{
		{"none", nil, 0},
		{"two fresh", map[string]state.Opinion{"m1": {Down: true, At: now0}, "m2": {Down: true, At: now0.Add(-2 * time.Second)}}, 2},
		{"stale opinion of a dead monitor does not count", map[string]state.Opinion{"m1": {Down: true, At: now0}, "m2": {Down: true, At: now0.Add(-4 * time.Second)}}, 1},
		{"up opinions do not count", map[string]state.Opinion{"m1": {Down: false, At: now0}, "m2": {Down: true, At: now0}}, 1},
		{"non-members do not count", map[string]state.Opinion{"x9": {Down: true, At: now0}, "m3": {Down: true, At: now0}}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &state.Master{Opinions: c.ops}
			if got := ODownVotes(m, members, now0, ttl); got != c.want {
				t.Fatalf("votes = %d, want %d", got, c.want)
			}
		})
	}
}

func replica(port int, mut func(*probe.Observation)) Candidate {
	o := probe.Observation{Connected: true, LastOKPing: now0.Add(-100 * time.Millisecond), InfoAt: now0.Add(-500 * time.Millisecond),
		Role: "slave", Priority: 100, ReplOffset: 1000, RunID: "b", MasterLinkUp: true}
	if mut != nil {
		mut(&o)
	}
	return Candidate{Addr: state.Addr{Host: "127.0.0.1", Port: port}, Obs: o, Known: true}
}

func TestSelectReplica(t *testing.T) {
	lim := SelectionLimits{MaxReplyAge: time.Second, MaxInfoAge: 5 * time.Second, DownAfter: time.Second}
	downSince := now0.Add(-2 * time.Second)
	cases := []struct {
		name     string
		cands    []Candidate
		want     int // winning port, 0 = none
		rejected int
	}{
		{"no replicas", nil, 0, 0},
		{"lower priority wins over offset", []Candidate{
			replica(1, func(o *probe.Observation) { o.ReplOffset = 5000 }),
			replica(2, func(o *probe.Observation) { o.Priority = 50 }),
		}, 2, 0},
		{"higher offset wins at equal priority", []Candidate{
			replica(1, nil),
			replica(2, func(o *probe.Observation) { o.ReplOffset = 2000 }),
		}, 2, 0},
		{"smaller run id breaks ties, empty last", []Candidate{
			replica(1, func(o *probe.Observation) { o.RunID = "" }),
			replica(2, func(o *probe.Observation) { o.RunID = "c" }),
			replica(3, func(o *probe.Observation) { o.RunID = "a" }),
		}, 3, 0},
		{"priority 0 never", []Candidate{replica(1, func(o *probe.Observation) { o.Priority = 0 })}, 0, 1},
		{"down, disconnected, unknown excluded", []Candidate{
			{Addr: state.Addr{Host: "127.0.0.1", Port: 1}, Obs: replica(1, nil).Obs, Known: true, SDown: true},
			replica(2, func(o *probe.Observation) { o.Connected = false }),
			{Addr: state.Addr{Host: "127.0.0.1", Port: 3}},
			replica(4, func(o *probe.Observation) { o.ReplOffset = 1 }),
		}, 4, 3},
		{"stale reply or INFO excluded", []Candidate{
			replica(1, func(o *probe.Observation) { o.LastOKPing = now0.Add(-2 * time.Second) }),
			replica(2, func(o *probe.Observation) { o.InfoAt = now0.Add(-6 * time.Second) }),
			replica(3, func(o *probe.Observation) { o.InfoAt = time.Time{} }),
		}, 0, 3},
		{"link down too long excluded", []Candidate{
			replica(1, func(o *probe.Observation) { o.MasterLinkDownMs = 12_001 + 1000 }),
			replica(2, func(o *probe.Observation) { o.MasterLinkDownMs = 11_000; o.ReplOffset = 1 }),
		}, 2, 1},
		{"a replica reporting master is excluded", []Candidate{replica(1, func(o *probe.Observation) { o.Role = "master" })}, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			best, rej, ok := SelectReplica(c.cands, now0, downSince, lim)
			if c.want == 0 {
				if ok {
					t.Fatalf("selected %v, want none", best.Addr)
				}
			} else if !ok || best.Addr.Port != c.want {
				t.Fatalf("selected %v (ok=%v), want port %d; rejected %v", best.Addr, ok, c.want, rej)
			}
			if len(rej) != c.rejected {
				t.Fatalf("rejected %v, want %d", rej, c.rejected)
			}
		})
	}
}

func TestEventPayloads(t *testing.T) {
	a := state.Addr{Host: "127.0.0.1", Port: 6379}
	b := state.Addr{Host: "127.0.0.1", Port: 6380}
	st := state.NewState()
	st.Masters["mymaster"] = &state.Master{Name: "mymaster", Addr: b, Replicas: []state.Addr{a}}
	st.Monitors["m2"] = &state.Monitor{ID: "m2", RunID: "abc", Announce: state.Addr{Host: "127.0.0.1", Port: 26380}}
	cases := []struct {
		e    state.Effect
		want [][2]string
	}{
		{state.Effect{Kind: state.EffSwitchMaster, Master: "mymaster", From: a, To: b},
			[][2]string{{"+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 6380"},
				{"+slave", "slave 127.0.0.1:6379 127.0.0.1 6379 @ mymaster 127.0.0.1 6380"}}},
		{state.Effect{Kind: state.EffSwitchMaster, Master: "mymaster", From: a, To: b, Failover: &state.Failover{Leader: "m2"}},
			[][2]string{{"+config-update-from", "sentinel abc 127.0.0.1 26380 @ mymaster 127.0.0.1 6379"},
				{"+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 6380"},
				{"+slave", "slave 127.0.0.1:6379 127.0.0.1 6379 @ mymaster 127.0.0.1 6380"}}},
		{state.Effect{Kind: state.EffODown, Master: "mymaster", Addr: a, Votes: 2, Quorum: 2},
			[][2]string{{"+odown", "master mymaster 127.0.0.1 6379 #quorum 2/2"}}},
		{state.Effect{Kind: state.EffODownCleared, Master: "mymaster", Addr: a},
			[][2]string{{"-odown", "master mymaster 127.0.0.1 6379"}}},
		{state.Effect{Kind: state.EffReplicaAdded, Master: "mymaster", Addr: a, From: b},
			[][2]string{{"+slave", "slave 127.0.0.1:6379 127.0.0.1 6379 @ mymaster 127.0.0.1 6380"}}},
		{state.Effect{Kind: state.EffMonitorAdded, Monitor: "m2"},
			[][2]string{{"+sentinel", "sentinel abc 127.0.0.1 26380 @ mymaster 127.0.0.1 6380"}}},
		{state.Effect{Kind: state.EffNewEpoch, Epoch: 7}, [][2]string{{"+new-epoch", "7"}}},
		{state.Effect{Kind: state.EffOpinion}, nil},
	}
	for _, c := range cases {
		var got [][2]string
		for _, a := range effectEvents(c.e, st, "m1") {
			p := a.(Publish)
			got = append(got, [2]string{p.Channel, p.Inst.format(nil) + p.Text})
		}
		if len(got) != len(c.want) {
			t.Fatalf("%s: %v, want %v", c.e.Kind, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: %q, want %q", c.e.Kind, got[i], c.want[i])
			}
		}
	}
}

func TestStaleMembers(t *testing.T) {
	got := StaleMembers([]string{"m1", "m2", "m4"}, map[string]string{"m1": "a", "m2": "b", "m3": "c"})
	if len(got) != 1 || got[0] != "m4" {
		t.Fatalf("stale members %v, want [m4]", got)
	}
}

func TestGiveUpAtCappedByDeadline(t *testing.T) {
	f := &state.Failover{StartedAt: now0, Deadline: now0.Add(time.Minute)}
	if got := GiveUpAt(f, time.Second); !got.Equal(now0.Add(5 * time.Second)) {
		t.Errorf("down-after 1s: give up at %v", got)
	}
	if got := GiveUpAt(f, 10*time.Second); !got.Equal(now0.Add(20 * time.Second)) {
		t.Errorf("down-after 10s: give up at %v", got)
	}
	if got := GiveUpAt(f, time.Hour); !got.Equal(f.Deadline) {
		t.Errorf("down-after 1h: give up at %v, want the deadline", got)
	}
}

// TestTunings: every node's PING bound is a tenth of its master's
// down-after (1 s at most), and the nodes of a master this monitor sees
// SDOWN, that is ODOWN or failing over are urgent; the others are not.
func TestTunings(t *testing.T) {
	a := func(p int) state.Addr { return state.Addr{Host: "10.0.0.1", Port: p} }
	st := state.NewState()
	st.Masters["calm"] = &state.Master{Name: "calm", Addr: a(1), Replicas: []state.Addr{a(2)}, DownAfter: 5 * time.Second}
	st.Masters["odown"] = &state.Master{Name: "odown", Addr: a(3), Replicas: []state.Addr{a(4)}, DownAfter: 30 * time.Second, ODown: true}
	st.Masters["moving"] = &state.Master{Name: "moving", Addr: a(5), Replicas: []state.Addr{a(6)}, DownAfter: time.Second,
		Failover: &state.Failover{Stage: state.StagePromoted}}
	st.Masters["suspect"] = &state.Master{Name: "suspect", Addr: a(7), Replicas: []state.Addr{a(8)}, DownAfter: 2 * time.Second}
	got := Tunings(st, map[string]time.Time{a(7).String(): time.Unix(1, 0), a(2).String(): time.Unix(1, 0)})
	want := map[string]Tuning{
		a(1).String(): {PingBound: 500 * time.Millisecond}, a(2).String(): {PingBound: 500 * time.Millisecond},
		a(3).String(): {PingBound: time.Second, Urgent: true}, a(4).String(): {PingBound: time.Second, Urgent: true},
		a(5).String(): {PingBound: 100 * time.Millisecond, Urgent: true}, a(6).String(): {PingBound: 100 * time.Millisecond, Urgent: true},
		a(7).String(): {PingBound: 200 * time.Millisecond, Urgent: true}, a(8).String(): {PingBound: 200 * time.Millisecond, Urgent: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Tunings:\n got %v\nwant %v", got, want)
	}
}
