package state

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/raftsentinel/raftsentinel/acl"
)

// Op names a replicated command.
type Op string

// Replicated commands. Each is applied deterministically by the FSM.
const (
	// OpRegisterMonitor upserts Command.Monitor into the member list.
	OpRegisterMonitor Op = "register-monitor"
	// OpAddMaster adds Command.Spec if no master of that name exists (the
	// first committed definition wins; later ones are ignored).
	OpAddMaster Op = "add-master"
	// OpOpinion records Command.MonitorID's view (Down) of master
	// Command.Master at address Command.Addr. Opinions about an address that
	// is no longer the master's are ignored.
	OpOpinion Op = "opinion"
	// OpReplicas adds Command.Replicas to the master's known replicas.
	OpReplicas Op = "replicas"
	// OpODown commits the leader's judgement (Command.Down) that a quorum
	// (Command.Votes fresh opinions) sees Command.Addr down.
	OpODown Op = "odown"
	// OpFailoverStart starts a failover from Command.Addr to Command.To with
	// id Command.FailoverID. The FSM assigns the epoch and deadline.
	OpFailoverStart Op = "failover-start"
	// OpFailoverPromoted records that Command.To of failover
	// Command.FailoverID was verified as master: the master address switches.
	OpFailoverPromoted Op = "failover-promoted"
	// OpFailoverEnd ends failover Command.FailoverID as Command.Stage
	// (StageCompleted or StageAborted) with Command.Reason.
	OpFailoverEnd Op = "failover-end"
	// OpMonitor adds Command.Spec like OpAddMaster (SENTINEL MONITOR). A
	// master of that name with the same address and quorum is the same
	// definition told to another monitor, as Sentinel tools do: nothing
	// changes and no error. Any other master of that name fails with
	// ErrDuplicateMaster.
	OpMonitor Op = "monitor"
	// OpMerge brings a master that monitor Command.MonitorID took with
	// SENTINEL MONITOR before it belonged to a group into the group: added
	// if no master of that name exists (even one seeded and removed
	// before: the user named it at run time); a master of that name with
	// the same address and quorum is the same definition (no change); any
	// other fails with ErrMergeConflict, naming the committed definition,
	// which wins.
	OpMerge Op = "merge-master"
	// OpRemove removes master Command.Master (SENTINEL REMOVE).
	OpRemove Op = "remove"
	// OpSet applies Command.Options to master Command.Master, all or none
	// (SENTINEL SET).
	OpSet Op = "set"
	// OpReset forgets the replicas, opinions and unpromoted failover of the
	// masters named in Command.Names (SENTINEL RESET).
	OpReset Op = "reset"
	// OpConfigSet applies Command.Config pairs (SENTINEL CONFIG SET) as seen
	// from monitor Command.MonitorID.
	OpConfigSet Op = "config-set"
	// OpRemoveMonitor drops member Command.MonitorID from the state (after
	// it left the Raft configuration).
	OpRemoveMonitor Op = "remove-monitor"
	// OpSync changes nothing. A follower that proposes it and sees it
	// applied (Propose waits for that) has applied everything the leader
	// had committed before: a read barrier for followers.
	OpSync Op = "sync"
	// OpBatch applies Command.Batch, a monitor's routine proposals of one
	// moment (its registration, masters from its file, its opinions,
	// discovered replicas, pruned members), in order, as one log entry. Each
	// applies as if it were its own entry: one that fails changes nothing
	// and is skipped, and the batch still succeeds. Only the batchable ops
	// (see Batchable) may be in a batch; any other fails the whole batch
	// before anything applies. Proposers send batches only when every
	// member's Protocol is at least BatchProtocol.
	OpBatch Op = "batch"

	// OpSetUser applies the ACL SETUSER modifiers Command.Rules, left to
	// right and all or none, to run-time user Command.User (ACL SETUSER).
	// A user without a run-time record starts from Command.Base (the
	// proposing monitor's configuration-file user of that name, if any;
	// ignored for a deleted name), else from a new Redis user (off, nothing allowed). Clear-text
	// password modifiers (">", "<") are refused: the proposer hashes them
	// (acl.HashPasswords), so no password reaches the log. A rejected
	// modifier fails the whole command with an *acl.ModifierError.
	OpSetUser Op = "acl-setuser"
	// OpDelUser deletes the users Command.Names (ACL DELUSER): their
	// run-time records go, and each name is remembered as deleted so that
	// a configuration-file user of that name stays hidden too. "default"
	// cannot be deleted.
	OpDelUser Op = "acl-deluser"

	// OpJoin and OpLeave are not FSM commands: the leader turns them into
	// Raft membership changes (AddVoter for Command.Monitor, RemoveServer
	// for Command.MonitorID, then OpRemoveMonitor). They are proposed like
	// commands so that any member can take them.
	OpJoin  Op = "join"
	OpLeave Op = "leave"
)

// IsConfig reports whether op is a configuration change: SENTINEL
// MONITOR, SET, REMOVE, RESET, CONFIG SET or a configuration file's
// master. These are the changes a monitor holds before it belongs to a
// group; every other op needs the group.
func (op Op) IsConfig() bool {
	switch op {
	case OpAddMaster, OpMonitor, OpSet, OpRemove, OpReset, OpConfigSet:
		return true
	}
	return false
}

// Command is one replicated state change. Which fields matter depends on Op.
type Command struct {
	Op         Op       `json:"op"`
	Master     string   `json:"master,omitempty"`
	Monitor    *Monitor `json:"monitor,omitempty"`
	Spec       *Master  `json:"spec,omitempty"`
	MonitorID  string   `json:"monitor_id,omitempty"`
	Addr       Addr     `json:"addr,omitempty"`
	To         Addr     `json:"to,omitempty"`
	Down       bool     `json:"down,omitempty"`
	Votes      int      `json:"votes,omitempty"`
	Replicas   []Addr   `json:"replicas,omitempty"`
	FailoverID string   `json:"failover_id,omitempty"`
	Term       uint64   `json:"term,omitempty"`
	Stage      Stage    `json:"stage,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	// Force skips the anti-flap window (a manual failover).
	Force       bool        `json:"force,omitempty"`
	Coordinated bool        `json:"coordinated,omitempty"`
	Options     []SetOption `json:"options,omitempty"`
	Names       []string    `json:"names,omitempty"`
	Config      [][2]string `json:"config,omitempty"`
	// User, Rules and Base are OpSetUser's user name, modifiers and
	// starting point.
	User  string    `json:"user,omitempty"`
	Rules []string  `json:"rules,omitempty"`
	Base  *acl.User `json:"base,omitempty"`
	// Batch holds OpBatch's commands.
	Batch []Command `json:"batch,omitempty"`
}

// Protocol is the version of the replicated commands this build applies;
// each monitor registers it (Monitor.Protocol). BatchProtocol is the first
// that has OpBatch.
const (
	Protocol      = 2
	BatchProtocol = 2
)

// Batchable reports whether op may be part of an OpBatch: the proposals a
// monitor makes on its own, none of which needs its result reported.
func Batchable(op Op) bool {
	switch op {
	case OpRegisterMonitor, OpAddMaster, OpOpinion, OpReplicas, OpRemoveMonitor:
		return true
	}
	return false
}

// Encode returns the wire form of c.
func (c Command) Encode() ([]byte, error) { return json.Marshal(c) }

// DecodeCommand parses the wire form of a command.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return Command{}, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	if c.Op == "" {
		return Command{}, fmt.Errorf("%w: missing op", ErrBadCommand)
	}
	return c, nil
}

// Errors returned by Apply (the FSM hands them back as an entry's result).
var (
	ErrBadCommand       = errors.New("state: malformed command")
	ErrUnknownOp        = errors.New("state: unknown command op")
	ErrNoSuchMaster     = errors.New("state: no such master")
	ErrFailoverInProg   = errors.New("state: failover already in progress")
	ErrStaleAddress     = errors.New("state: address is not the current master")
	ErrNoSuchFailover   = errors.New("state: not the current failover")
	ErrTooSoon          = errors.New("state: a failover of this master happened within failover-timeout")
	ErrWrongStage       = errors.New("state: failover is not at the stage this step needs")
	ErrInvalidMonitorID = errors.New("state: invalid monitor")
	ErrDuplicateMaster  = errors.New("state: duplicate master name")
	ErrMergeConflict    = errors.New("state: the group has another definition of this master")
	ErrDefaultUser      = errors.New("state: the 'default' user cannot be removed")
)

// ErrNoGoodReplica: no replica qualifies for promotion (Sentinel's
// NOGOODSLAVE). The FSM never returns it: a monitor's brain does, when it
// builds a manual failover, and the Sentinel handler maps it to
// -NOGOODSLAVE without knowing the brain.
var ErrNoGoodReplica = errors.New("no suitable replica to promote")

// EffectKind names something an applied command changed that monitors
// announce to their clients.
type EffectKind string

// Effects produced by Apply.
const (
	EffMasterAdded    EffectKind = "master-added"
	EffMonitorAdded   EffectKind = "monitor-added"
	EffReplicaAdded   EffectKind = "replica-added"
	EffODown          EffectKind = "odown"  // Addr entered ODOWN (Votes/Quorum)
	EffODownCleared   EffectKind = "-odown" // Addr left ODOWN
	EffFailoverStart  EffectKind = "failover-start"
	EffSwitchMaster   EffectKind = "switch-master" // From -> To
	EffFailoverEnd    EffectKind = "failover-end"
	EffFailoverAbort  EffectKind = "failover-abort"
	EffNewEpoch       EffectKind = "new-epoch"
	EffStateRestored  EffectKind = "restored"
	EffMonitorUpdated EffectKind = "monitor-updated"
	EffOpinion        EffectKind = "opinion" // Monitor's opinion on Addr changed to Down
	EffMasterRemoved  EffectKind = "master-removed"
	EffSet            EffectKind = "set"   // Option set to Value
	EffReset          EffectKind = "reset" // master reset
)

// Effect is a change made by one applied log entry. Every monitor produces
// the same effects for the same entry.
type Effect struct {
	Kind     EffectKind
	Index    uint64 // raft log index of the entry
	Master   string
	Addr     Addr
	From, To Addr
	Down     bool
	Option   string
	Value    string
	Votes    int
	Quorum   int
	Epoch    uint64
	Monitor  string
	Failover *Failover
}
