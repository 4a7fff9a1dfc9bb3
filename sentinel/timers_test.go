package sentinel

import (
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
