package failover

import (
	"context"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

func TestMasterRoleDown(t *testing.T) {
	t0 := now0
	da, ip := 5*time.Second, time.Second // limit 7 s
	slave := probe.Observation{Connected: true, Role: "slave", RoleChangedAt: t0}
	for _, c := range []struct {
		name        string
		o           probe.Observation
		now, master time.Time
		want        bool
	}{
		{"reports master", probe.Observation{Connected: true, Role: "master", RoleChangedAt: t0}, t0.Add(time.Hour), t0, false},
		{"no INFO yet", probe.Observation{Connected: true}, t0.Add(time.Hour), t0, false},
		{"slave at the limit", slave, t0.Add(7 * time.Second), t0, false},
		{"slave past the limit", slave, t0.Add(7*time.Second + time.Millisecond), t0, true},
		// The address became the master later than the role report: the
		// count starts then (a promoted replica's old reports).
		{"newly the master", slave, t0.Add(8 * time.Second), t0.Add(5 * time.Second), false},
		{"newly the master, past", slave, t0.Add(13 * time.Second), t0.Add(5 * time.Second), true},
	} {
		if got := MasterRoleDown(c.o, c.now, c.master, da, ip); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestMasterReportingSlaveIsSDown: the committed master that answers PINGs
// but reports role slave becomes SDOWN after down-after + 2 × INFO period
// (and this monitor's opinion says down); a replica reporting slave never
// is; nor is the master while a failover of it is in progress; and after a
// switch the new master's old slave reports do not count.
func TestMasterReportingSlaveIsSDown(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk) // down-after 1 s; INFO period 1 s: limit 3 s
	ctx := context.Background()
	pr.mu.Lock()
	pr.nodes[addrA.String()].obs = probe.Observation{Connected: true, LastOKPing: clk.now(), InfoAt: clk.now(),
		Role: "slave", RoleChangedAt: clk.now(), MasterHost: "10.9.9.9", MasterPort: 6379}
	pr.mu.Unlock()
	fresh := func() {
		pr.mu.Lock()
		for _, n := range pr.nodes {
			n.obs.LastOKPing, n.obs.InfoAt = clk.now(), clk.now()
		}
		pr.mu.Unlock()
	}
	m := newTestMonitor(st, pr, clk)
	down := func(a state.Addr) bool { _, d := m.SDown(a.String()); return d }
	for range 29 { // 2.9 s
		m.evaluateLocal(ctx, st.State(), clk.now())
		clk.add(100 * time.Millisecond)
		fresh()
	}
	if down(addrA) {
		t.Fatal("SDOWN before down-after + 2 × INFO period")
	}
	clk.add(200 * time.Millisecond)
	fresh()
	m.evaluateLocal(ctx, st.State(), clk.now())
	if !down(addrA) || down(addrB) || down(addrC) {
		t.Fatalf("sdown A=%v B=%v C=%v, want only A", down(addrA), down(addrB), down(addrC))
	}
	m.mu.Lock()
	_, queued := m.pending["opinion/mymaster"]
	m.mu.Unlock()
	if !queued {
		t.Fatal("no down opinion for a master reporting slave")
	}

	// While a failover of it runs, the rule does not apply.
	must(t, st.Apply(ctx, state.Command{Op: state.OpFailoverStart, Master: "mymaster", Addr: addrA, To: addrC, FailoverID: "f1"}))
	m.evaluateLocal(ctx, st.State(), clk.now())
	if down(addrA) {
		t.Fatal("role rule applied during a failover")
	}
}

// TestPromotedReplicaNotRoleDown: after the committed master changes to a
// replica that reported slave for long (its INFO not yet refreshed), the
// new master is not SDOWN: the count starts when it became the master.
var addrD = state.Addr{Host: "10.0.0.4", Port: 6379}

func TestPromotedReplicaNotRoleDown(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	ctx := context.Background()
	pr.mu.Lock()
	pr.nodes[addrA.String()].obs = probe.Observation{Connected: true, LastOKPing: clk.now(), InfoAt: clk.now(), Role: "master", RoleChangedAt: clk.now()}
	pr.nodes[addrD.String()] = healthyReplica(clk.now(), addrA, 50)
	pr.nodes[addrD.String()].obs.RoleChangedAt = clk.now()
	pr.mu.Unlock()
	m := newTestMonitor(st, pr, clk)
	m.evaluateLocal(ctx, st.State(), clk.now())
	clk.add(time.Minute) // D has reported slave for a minute
	pr.mu.Lock()
	for _, n := range pr.nodes {
		n.obs.LastOKPing, n.obs.InfoAt = clk.now(), clk.now()
	}
	pr.mu.Unlock()
	must(t, st.Apply(ctx, state.Command{Op: state.OpAddMaster, Spec: &state.Master{Name: "second", Addr: addrD,
		Quorum: 2, DownAfter: time.Second, FailoverTimeout: time.Minute, ParallelSyncs: 1}}))
	m.evaluateLocal(ctx, st.State(), clk.now())
	if _, d := m.SDown(addrD.String()); d {
		t.Fatal("a node that just became a master is SDOWN for its earlier slave reports")
	}
	clk.add(3100 * time.Millisecond)
	pr.mu.Lock()
	for _, n := range pr.nodes {
		n.obs.LastOKPing, n.obs.InfoAt = clk.now(), clk.now()
	}
	pr.mu.Unlock()
	m.evaluateLocal(ctx, st.State(), clk.now())
	if _, d := m.SDown(addrD.String()); !d {
		t.Fatal("not SDOWN 3.1 s after becoming the master while reporting slave")
	}
}
