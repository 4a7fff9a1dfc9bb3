package sentinel

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/state"
)

// TestSentinelDebugSet checks SENTINEL DEBUG <timer> <ms> against Redis
// Sentinel 7.0's rules: +OK, case-insensitive names, its two error texts
// (naming the argument as sent), strict integers, and pairs applied in
// order up to the first bad one.
func TestSentinelDebugSet(t *testing.T) {
	b := newFakeBackend()
	_, addr := startSentinel(t, b, HandlerOptions{})
	c := dialRaw(t, addr)
	for _, s := range []struct {
		args []string
		want string
	}{
		{[]string{"SENTINEL", "DEBUG", "ping-period", "250"}, "+OK\r\n"},
		{[]string{"SENTINEL", "DEBUG", "Info-Period", "2000", "PING-PERIOD", "300"}, "+OK\r\n"},
		{[]string{"SENTINEL", "DEBUG"}, "*4\r\n$11\r\nINFO-PERIOD\r\n$4\r\n2000\r\n$11\r\nPING-PERIOD\r\n$3\r\n300\r\n"},
		{[]string{"SENTINEL", "DEBUG", "NoSuch", "1"}, "-ERR Unknown option or number of arguments for SENTINEL DEBUG 'NoSuch'\r\n"},
		{[]string{"SENTINEL", "DEBUG", "ping-period"}, "-ERR Unknown option or number of arguments for SENTINEL DEBUG 'ping-period'\r\n"},
		{[]string{"SENTINEL", "DEBUG", "PING-period", "0"}, "-ERR Invalid argument '0' for SENTINEL DEBUG 'PING-period'\r\n"},
		{[]string{"SENTINEL", "DEBUG", "ping-period", "-5"}, "-ERR Invalid argument '-5' for SENTINEL DEBUG 'ping-period'\r\n"},
		{[]string{"SENTINEL", "DEBUG", "ping-period", "+5"}, "-ERR Invalid argument '+5' for SENTINEL DEBUG 'ping-period'\r\n"},
		{[]string{"SENTINEL", "DEBUG", "ping-period", "05"}, "-ERR Invalid argument '05' for SENTINEL DEBUG 'ping-period'\r\n"},
		{[]string{"SENTINEL", "DEBUG", "ping-period", "1.5"}, "-ERR Invalid argument '1.5' for SENTINEL DEBUG 'ping-period'\r\n"},
		{[]string{"SENTINEL", "DEBUG", "ping-period", "99999999999999999999"}, "-ERR Invalid argument '99999999999999999999' for SENTINEL DEBUG 'ping-period'\r\n"},
		// In order: info-period applies, then the unknown name stops.
		{[]string{"SENTINEL", "DEBUG", "info-period", "1500", "nosuch", "1", "ping-period", "1"}, "-ERR Unknown option or number of arguments for SENTINEL DEBUG 'nosuch'\r\n"},
		// A missing value after good pairs: the good ones apply.
		{[]string{"SENTINEL", "DEBUG", "ping-period", "400", "info-period"}, "-ERR Unknown option or number of arguments for SENTINEL DEBUG 'info-period'\r\n"},
		{[]string{"SENTINEL", "DEBUG"}, "*4\r\n$11\r\nINFO-PERIOD\r\n$4\r\n1500\r\n$11\r\nPING-PERIOD\r\n$3\r\n400\r\n"},
	} {
		c.do(s.args...)
		c.expect(s.want)
	}
}

func TestRedisInt(t *testing.T) {
	for s, want := range map[string]bool{"1": true, "0": true, "-7": true, "9223372036854775807": true,
		"": false, "-": false, "+1": false, "01": false, "-0": false, " 1": false, "1 ": false, "0x1": false,
		"9223372036854775808": false} {
		if _, ok := redisInt([]byte(s)); ok != want {
			t.Errorf("redisInt(%q) ok=%v, want %v", s, ok, want)
		}
	}
}

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

// TestMonitorUsesDebugDefaults: SENTINEL MONITOR after SENTINEL DEBUG
// DEFAULT-DOWN-AFTER / DEFAULT-FAILOVER-TIMEOUT adds the master with them.
func TestMonitorUsesDebugDefaults(t *testing.T) {
	b := newFakeBackend()
	b.timers = []Timer{{TimerDefaultDownAfter, 30000}, {TimerDefaultFailoverTimeout, 180000}}
	_, addr := startSentinel(t, b, HandlerOptions{MasterDefaults: state.Master{DownAfter: 30 * time.Second,
		FailoverTimeout: 3 * time.Minute, ParallelSyncs: 1}})
	c := dialRaw(t, addr)
	c.do("SENTINEL", "DEBUG", "default-down-after", "1234", "default-failover-timeout", "5678")
	c.expect("+OK\r\n")
	c.do("SENTINEL", "MONITOR", "later", "127.0.0.1", "7009", "2")
	c.expect("+OK\r\n")
	m := b.State().Masters["later"]
	if m == nil || m.DownAfter != 1234*time.Millisecond || m.FailoverTimeout != 5678*time.Millisecond || m.ParallelSyncs != 1 {
		t.Fatalf("added master %+v", m)
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
