package failover

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/state"
)

type periodProber struct {
	*fakeProber
	mu         sync.Mutex
	ping, info time.Duration
}

func (p *periodProber) SetPeriods(ping, info time.Duration) {
	p.mu.Lock()
	p.ping, p.info = ping, info
	p.mu.Unlock()
}

// TestMonitorTimersReportAndChange: the real values are reported (TILT's,
// the scripts' limits), and SetTimer changes what the monitor uses: the
// prober's periods, the OnTimer hook, the tilt check, and the defaults of
// SENTINEL MONITOR.
func TestMonitorTimersReportAndChange(t *testing.T) {
	clk := &clock{t: now0}
	st, fp := setup(t, clk)
	pr := &periodProber{fakeProber: fp}
	var hooked []string
	var hmu sync.Mutex
	m := New(st, pr, Options{Self: state.Monitor{ID: "m1", RunID: "m1"}, Now: clk.now,
		Defaults: state.Master{DownAfter: 30 * time.Second, FailoverTimeout: 3 * time.Minute},
		OnTimer: func(name string, d time.Duration) {
			hmu.Lock()
			hooked = append(hooked, name+"="+d.String())
			hmu.Unlock()
		}})
	got := map[string]int64{}
	var names []string
	for _, tm := range m.Timers() {
		got[tm.Name] = tm.Ms
		names = append(names, tm.Name)
	}
	if strings.Join(names, ",") != strings.Join(timerOrder, ",") {
		t.Fatalf("order %v", names)
	}
	for n, want := range map[string]int64{TimerTiltTrigger: 2000, TimerTiltPeriod: 30000, TimerScriptMaxRuntime: 60000,
		TimerScriptRetryDelay: 30000, TimerPingPeriod: 100, TimerInfoPeriod: 1000, TimerDefaultDownAfter: 30000,
		TimerDefaultFailoverTimeout: 180000, TimerMinLinkReconnectPeriod: 0} {
		if got[n] != want {
			t.Errorf("%s = %d, want %d", n, got[n], want)
		}
	}

	if m.SetTimer("nosuch", 1) || m.SetTimer("ping-period", 0) {
		t.Fatal("SetTimer accepted a bad timer")
	}
	if !m.SetTimer("ping-period", 700) || !m.SetTimer("INFO-period", 3000) {
		t.Fatal("SetTimer refused a good timer")
	}
	pr.mu.Lock()
	ping, info := pr.ping, pr.info
	pr.mu.Unlock()
	if ping != 700*time.Millisecond || info != 3*time.Second {
		t.Fatalf("prober periods %v %v", ping, info)
	}
	m.SetTimer("script-max-runtime", 5000)
	hmu.Lock()
	h := strings.Join(hooked, " ")
	hmu.Unlock()
	if !strings.Contains(h, "SCRIPT-MAX-RUNTIME=5s") || !strings.Contains(h, "PING-PERIOD=700ms") {
		t.Fatalf("OnTimer calls %q", h)
	}
	// A huge value is reported as set and saturates as a duration.
	m.SetTimer("tilt-period", 1<<62)
	if d := m.timer(TimerTiltPeriod); d <= 0 {
		t.Fatalf("tilt period %v", d)
	}

	// TILT-TRIGGER: a 3 s gap no longer tilts with a 5 s trigger; then a
	// 6 s gap does.
	ctx := context.Background()
	m.SetTimer("tilt-trigger", 5000)
	m.step(ctx)
	clk.add(3 * time.Second)
	m.step(ctx)
	if _, on := m.Tilt(); on {
		t.Fatal("tilted on a gap below TILT-TRIGGER")
	}
	clk.add(6 * time.Second)
	m.step(ctx)
	if _, on := m.Tilt(); !on {
		t.Fatal("no tilt on a gap above TILT-TRIGGER")
	}
}

// TestTimersConcurrent runs SetTimer beside the brain loop (for -race).
func TestTimersConcurrent(t *testing.T) {
	clk := &clock{t: now0}
	st, pr := setup(t, clk)
	m := newTestMonitor(st, pr, clk)
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 200 {
			m.SetTimer(timerOrder[i%len(timerOrder)], int64(100+i))
			_ = m.Timers()
		}
	}()
	for range 200 {
		m.step(ctx)
	}
	wg.Wait()
}
