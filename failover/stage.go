package failover

import (
	"time"

	"github.com/raftsentinel/raftsentinel/state"
)

// StepKind is what the failover driver does next.
type StepKind int

// The driver's steps. Each commits before the Redis command it guards,
// and each is idempotent, so a new leader resumes from the committed
// stage whatever its predecessor had done.
const (
	// StepDone: no failover of the master is in progress; the driver ends.
	StepDone StepKind = iota
	// StepPromote: make the candidate the master (REPLICAOF NO ONE, or
	// the old master's FAILOVER TO when Coordinated), unless it already
	// reports role master, and verify it with ROLE.
	StepPromote
	// StepRetry: the promotion failed before the give-up deadline: wait
	// Wait, then read the committed stage again.
	StepRetry
	// StepAbort: the promotion failed past the give-up deadline (GiveUpAt):
	// commit the failover's end as aborted, with Reason.
	StepAbort
	// StepCommitPromoted: the candidate is the master: commit the switch
	// of address (SIMULATE-FAILURE crash-after-promotion before it,
	// crash-after-switch after it).
	StepCommitPromoted
	// StepReconfigure: the switch is committed: point the other replicas
	// at the new master, then commit the failover's completion.
	StepReconfigure
)

// retryPromotion is the pause between two promotion attempts.
const retryPromotion = 200 * time.Millisecond

// Step is the driver's next step.
type Step struct {
	Kind        StepKind
	Coordinated bool          // StepPromote: a planned switchover (FAILOVER TO)
	Wait        time.Duration // StepRetry
	Reason      string        // StepAbort: the reason committed with the abort
}

// Attempt is the outcome of the promotion just attempted at the committed
// stage, if any.
type Attempt struct {
	Made bool  // a promotion was attempted
	Err  error // and failed, nil if it succeeded
}

// NextStep is the driver's stage machine: the next step for the failover
// committed on ms (nil: the master is gone), given the outcome of the
// promotion attempted at this stage (none: a zero Attempt), at now.
func NextStep(ms *state.Master, at Attempt, now time.Time) Step {
	if ms == nil || !ms.Failover.InProgress() {
		return Step{Kind: StepDone}
	}
	f := ms.Failover
	if f.Stage == state.StagePromoted {
		return Step{Kind: StepReconfigure}
	}
	switch {
	case !at.Made:
		return Step{Kind: StepPromote, Coordinated: f.Coordinated}
	case at.Err == nil:
		return Step{Kind: StepCommitPromoted}
	case now.After(GiveUpAt(f, ms.DownAfter)):
		// Given up: the candidate stayed unreachable; another may do.
		return Step{Kind: StepAbort, Reason: "promotion failed: " + at.Err.Error()}
	}
	return Step{Kind: StepRetry, Wait: retryPromotion}
}

// String names the step for the scenario tests.
func (s Step) String() string {
	switch s.Kind {
	case StepPromote:
		if s.Coordinated {
			return "promote coordinated"
		}
		return "promote"
	case StepRetry:
		return "retry after " + s.Wait.String()
	case StepAbort:
		return "abort: " + s.Reason
	case StepCommitPromoted:
		return "commit promoted"
	case StepReconfigure:
		return "reconfigure replicas, then commit completed"
	}
	return "done"
}
