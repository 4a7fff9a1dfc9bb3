package sentinel

// The vocabulary of SENTINEL DEBUG and SENTINEL SIMULATE-FAILURE that the
// handler speaks. The brain (package failover) owns the timers and the
// crash points; these are the names the protocol gives them.

// Timer is one named timing setting of SENTINEL DEBUG, in milliseconds.
// It is an alias of an unnamed struct type, as failover.Timer is: the two
// are one type, so the brain satisfies Backend without either package
// importing the other.
type Timer = struct {
	Name string
	Ms   int64
}

// The SENTINEL DEBUG timers the handler reads itself: the settings of
// masters added with SENTINEL MONITOR.
const (
	TimerDefaultDownAfter       = "DEFAULT-DOWN-AFTER"
	TimerDefaultFailoverTimeout = "DEFAULT-FAILOVER-TIMEOUT"
)

// Simulation points (SENTINEL SIMULATE-FAILURE): the first two are
// Sentinel's; crash-after-switch (after the new address is committed,
// before the replicas are repointed) is raftsentinel's own.
const (
	CrashAfterElection  = "crash-after-election"
	CrashAfterPromotion = "crash-after-promotion"
	CrashAfterSwitch    = "crash-after-switch"
)
