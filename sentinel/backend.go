package sentinel

import (
	"context"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// Backend is what the Sentinel-protocol command handlers read. The brain
// (failover.Brain) implements it; tests may supply a fake. Its methods use
// plain and state types only, so this package does not know the brain.
//
// All methods must be safe for concurrent use and must not block on network
// I/O: they read committed state and monitor-local soft state only.
type Backend interface {
	// State returns the committed replicated state. It is shared and
	// read-only: callers must not modify it.
	State() *state.State
	// Announce returns the address of a Redis node as replies give it:
	// with announce-hostnames no, a hostname becomes the IP address it last
	// resolved to; otherwise a as it is. Only the first time a hostname is
	// met may this wait for a lookup (at most 2 s).
	Announce(a state.Addr) state.Addr
	// AnnounceMayWait reports whether Announce may wait for a lookup for
	// some Redis node of the current state (a hostname not resolved yet).
	AnnounceMayWait() bool
	// Self describes this monitor (its RunID is SENTINEL MYID).
	Self() state.Monitor
	// Observe returns this monitor's latest probe observation of a Redis
	// node (host:port), and false if the node is not probed.
	Observe(addr string) (probe.Observation, bool)
	// SDown reports whether this monitor currently sees addr (a Redis node
	// host:port) as subjectively down, and since when.
	SDown(addr string) (since time.Time, down bool)
	// PeerSeen returns when this monitor last had evidence that the monitor
	// with the given id was alive (zero if never).
	PeerSeen(id string) time.Time
	// Propose commits a state change through Raft from any monitor (it is
	// forwarded to the leader). It blocks until committed or ctx is done;
	// FSM rejections come back as quorum's error values.
	Propose(ctx context.Context, cmd state.Command) error
	// ManualFailover returns the command that starts a manual failover of
	// master name (SENTINEL FAILOVER), toward the replica this monitor would
	// promote now; coordinated: a planned switchover. It fails with
	// state.ErrNoSuchMaster, state.ErrFailoverInProg or
	// state.ErrNoGoodReplica. The caller proposes the command.
	ManualFailover(name string, coordinated bool) (state.Command, error)
	// Cutoff reports how long this monitor has been without contact with
	// the Raft majority, and whether that is longer than its stale-after
	// limit: its committed view may then be outdated.
	Cutoff() (since time.Duration, stale bool)
	// SimulateFailure arms SENTINEL SIMULATE-FAILURE points (CrashAfter*,
	// replacing earlier ones); an error if this monitor cannot crash
	// itself.
	SimulateFailure(points []string) error
	// Tilt reports whether this monitor is in TILT mode (it stalled, so its
	// own judgements are suspended), and since when.
	Tilt() (since time.Time, on bool)
	// Loading reports whether this monitor belongs to a group whose state
	// has not reached it yet: replies about masters would be empty, so
	// they get Redis' -LOADING instead.
	Loading() bool
	// Held reports whether this monitor belongs to no group yet and serves
	// the configuration it took itself (no failover can be authorized).
	Held() bool
	// Timers returns the timing settings reported by SENTINEL DEBUG, in
	// milliseconds, in Redis' order.
	Timers() []Timer
	// SetTimer sets the timer of that name (case-insensitive) to ms
	// milliseconds for this monitor (SENTINEL DEBUG <timer> <ms>); false,
	// changing nothing, when name is not one of Timers or ms <= 0.
	SetTimer(name string, ms int64) bool
}
