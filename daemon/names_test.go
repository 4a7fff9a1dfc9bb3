package daemon

import (
	"testing"

	"github.com/raftsentinel/raftsentinel/failover"
	"github.com/raftsentinel/raftsentinel/sentinel"
)

// TestProtocolNamesAgree: the names the Sentinel handler accepts for
// SENTINEL SIMULATE-FAILURE and reads among the SENTINEL DEBUG timers are
// the brain's (each package keeps its own: neither imports the other).
func TestProtocolNamesAgree(t *testing.T) {
	for _, p := range [][2]string{
		{sentinel.CrashAfterElection, failover.CrashAfterElection},
		{sentinel.CrashAfterPromotion, failover.CrashAfterPromotion},
		{sentinel.CrashAfterSwitch, failover.CrashAfterSwitch},
		{sentinel.TimerDefaultDownAfter, failover.TimerDefaultDownAfter},
		{sentinel.TimerDefaultFailoverTimeout, failover.TimerDefaultFailoverTimeout},
	} {
		if p[0] != p[1] {
			t.Errorf("sentinel says %q, the brain %q", p[0], p[1])
		}
	}
}
