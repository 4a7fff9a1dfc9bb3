package failover

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/probe"
	"github.com/raftsentinel/raftsentinel/state"
)

// Action is one thing a decision asks the executor to do: a plain value.
// Some actions only change this monitor's soft state (Local); the others
// are the executor's I/O (a proposal, a commit, a Redis command, an event,
// a log line), carried out in the order Decide returned them. String
// describes an action for the scenario tests.
type Action interface {
	String() string
}

// softAction is an Action that changes Local. The executor applies the
// soft part of a batch under its lock, before any I/O of that batch;
// Decide applies it to its scratch copy as it emits it, so that its later
// decisions see it.
type softAction interface {
	Action
	remember(l *Local)
}

// remember applies the soft part of every action of acts (not of the
// branches of a Commit: they apply when the commit's result is known).
func remember(l *Local, acts []Action) {
	for _, a := range acts {
		if s, ok := a.(softAction); ok {
			s.remember(l)
		}
	}
}

// Watch has the prober probe Node with Auth (again, when the link
// settings changed). Since, when set, records that Node is probed from
// then on (SDOWN counts from it until a first reply).
type Watch struct {
	Node  string
	Auth  probe.Auth
	Since time.Time
}

// Unwatch has the prober stop probing Node; everything this monitor
// remembers of it is forgotten.
type Unwatch struct{ Node string }

// SetTilt records the time of this tick and the TILT window.
type SetTilt struct{ LastStep, Since, Until time.Time }

// SetSDown marks Node subjectively down since Since, or not down (zero).
type SetSDown struct {
	Node  string
	Since time.Time
}

// SetRunID records the run id Node last reported.
type SetRunID struct{ Node, RunID string }

// SetRole records the role Node last reported.
type SetRole struct{ Node, Role string }

// SetReboot records that master node Node restarted at Since (its run id
// changed) and may still be loading; zero clears the mark.
type SetReboot struct {
	Node  string
	Since time.Time
}

// SetMasterSeen records the address this monitor considers the master of
// a group, and since when.
type SetMasterSeen struct {
	Master string
	Seen   MasterSeen
}

// SetBackoff defers the next reconfiguration of Node until Until.
type SetBackoff struct {
	Node  string
	Until time.Time
}

// Block records why a down master is not failed over (Kind, one of the
// Block* reasons, and Detail) and is logged and counted: Decide emits it
// once per change of reason.
type Block struct{ Master, Kind, Detail string }

// Unblock forgets the blocking reason of Master (the episode is over).
type Unblock struct{ Master string }

// Propose queues Cmd for the proposal loop, replacing any pending command
// with the same Key (proposals are coalesced; a failed one is dropped and
// decided again on a later tick).
type Propose struct {
	Key string
	Cmd state.Command
}

// Publish sends a Sentinel event: Inst (announced) followed by Text, or
// Text alone when Inst is InstNone.
type Publish struct {
	Channel string
	Inst    Inst
	Text    string
}

// Log writes a log line. Args are slog's key-value pairs; an Inst value is
// written as its announced instance details.
type Log struct {
	Level slog.Level
	Msg   string
	Args  []any
}

// Prune removes from the state, through proposals, the Members that are
// not in the Raft configuration (read by the executor); At is recorded as
// the time of the last pruning.
type Prune struct {
	At      time.Time
	Members []string
}

// Commit applies Cmd through Raft on the leader, bound to its leadership.
// If it commits, the executor carries out OK; if not, it logs Fail with
// the error appended ("err") and carries out Else. Decide fills both
// branches from the state it saw: a branch's soft changes are visible
// within the branch only.
type Commit struct {
	Cmd  state.Command
	OK   []Action
	Fail Log
	Else []Action
}

// Drive starts the driver of the failover of Master (its stage machine,
// NextStep) in a goroutine bound to the leadership, unless one runs.
type Drive struct{ Master string }

// CrashPoint stops this monitor if the SENTINEL SIMULATE-FAILURE Point is
// armed; the rest of the actions of its list are then not carried out.
type CrashPoint struct{ Point string }

// Repoint sends REPLICAOF To to Node (a replica of master Master with link
// settings Auth), in the background, without waiting for it to follow.
type Repoint struct {
	Node   state.Addr
	Master string
	To     state.Addr
	Auth   probe.Auth
}

func (a Watch) remember(l *Local) {
	if !a.Since.IsZero() {
		l.WatchedSince[a.Node] = a.Since
	}
	l.WatchAuth[a.Node] = a.Auth
}

func (a Unwatch) remember(l *Local) {
	for _, m := range []map[string]time.Time{l.WatchedSince, l.SDownSince, l.RebootSince} {
		delete(m, a.Node)
	}
	delete(l.WatchAuth, a.Node)
	delete(l.RunIDs, a.Node)
	delete(l.Roles, a.Node)
}

func (a SetTilt) remember(l *Local) {
	l.LastStep, l.TiltSince, l.TiltUntil = a.LastStep, a.Since, a.Until
}
func (a SetSDown) remember(l *Local) { setOrDelete(l.SDownSince, a.Node, a.Since) }
func (a SetRunID) remember(l *Local) { l.RunIDs[a.Node] = a.RunID }
func (a SetRole) remember(l *Local)  { l.Roles[a.Node] = a.Role }
func (a SetReboot) remember(l *Local) {
	setOrDelete(l.RebootSince, a.Node, a.Since)
}
func (a SetMasterSeen) remember(l *Local) { l.MasterSince[a.Master] = a.Seen }
func (a SetBackoff) remember(l *Local)    { l.Backoff[a.Node] = a.Until }
func (a Block) remember(l *Local)         { l.Blocked[a.Master] = a.Kind + ": " + a.Detail }
func (a Unblock) remember(l *Local)       { delete(l.Blocked, a.Master) }
func (a Prune) remember(l *Local)         { l.LastPrune = a.At }

func setOrDelete(m map[string]time.Time, k string, t time.Time) {
	if t.IsZero() {
		delete(m, k)
		return
	}
	m[k] = t
}

// stamp writes a time of an action: the clock time to the millisecond,
// enough for the scenarios (their day is fixed).
func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("15:04:05.000")
}

// The String methods write an action as the scenario tests print it.

func (a Watch) String() string {
	s := "watch " + a.Node + authString(a.Auth)
	if !a.Since.IsZero() {
		s += " since=" + stamp(a.Since)
	}
	return s
}

func authString(a probe.Auth) string {
	var s string
	if a.User != "" {
		s += " user=" + a.User
	}
	if a.Pass != "" {
		s += " pass=" + a.Pass
	}
	if len(a.Renames) > 0 {
		s += fmt.Sprintf(" renames=%v", a.Renames)
	}
	return s
}

func (a Unwatch) String() string { return "unwatch " + a.Node }
func (a SetTilt) String() string {
	return fmt.Sprintf("tilt since=%s until=%s", stamp(a.Since), stamp(a.Until))
}
func (a SetSDown) String() string {
	if a.Since.IsZero() {
		return "sdown " + a.Node + " cleared"
	}
	return "sdown " + a.Node + " since=" + stamp(a.Since)
}
func (a SetRunID) String() string { return "run-id " + a.Node + " " + a.RunID }
func (a SetRole) String() string  { return "role " + a.Node + " " + a.Role }
func (a SetReboot) String() string {
	if a.Since.IsZero() {
		return "reboot " + a.Node + " cleared"
	}
	return "reboot " + a.Node + " since=" + stamp(a.Since)
}
func (a SetMasterSeen) String() string {
	return "master-seen " + a.Master + " " + a.Seen.Addr.String() + " since=" + stamp(a.Seen.Since)
}
func (a SetBackoff) String() string { return "backoff " + a.Node + " until=" + stamp(a.Until) }
func (a Block) String() string      { return "block " + a.Master + " " + a.Kind + ": " + a.Detail }
func (a Unblock) String() string    { return "unblock " + a.Master }
func (a Propose) String() string    { return "propose " + a.Key + " " + cmdString(a.Cmd) }
func (a Publish) String() string {
	msg := a.Text
	if a.Inst.Kind != InstNone {
		msg = a.Inst.String() + a.Text
	}
	return "publish " + a.Channel + " " + msg
}
func (a Log) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "log %s %q", strings.ToLower(a.Level.String()), a.Msg)
	for i := 0; i+1 < len(a.Args); i += 2 {
		fmt.Fprintf(&b, " %v=%v", a.Args[i], a.Args[i+1])
	}
	return b.String()
}
func (a Prune) String() string      { return "prune members=" + strings.Join(a.Members, ",") }
func (a Drive) String() string      { return "drive " + a.Master }
func (a CrashPoint) String() string { return "crash-point " + a.Point }
func (a Repoint) String() string {
	return "repoint " + a.Node.String() + " to " + a.To.String() + " (" + a.Master + ")"
}

// String writes the commit with its branches indented below it.
func (a Commit) String() string {
	var b strings.Builder
	b.WriteString("commit " + cmdString(a.Cmd))
	branch := func(name string, acts []Action) {
		if len(acts) == 0 {
			return
		}
		b.WriteString("\n  " + name + ":")
		for _, x := range acts {
			b.WriteString("\n    " + strings.ReplaceAll(x.String(), "\n", "\n    "))
		}
	}
	branch("ok", a.OK)
	b.WriteString("\n  fail: " + a.Fail.String())
	branch("else", a.Else)
	return b.String()
}

// cmdString describes a command by its op and the fields decisions set.
func cmdString(c state.Command) string {
	s := string(c.Op)
	add := func(k, v string) {
		if v != "" {
			s += " " + k + "=" + v
		}
	}
	add("master", c.Master)
	add("monitor", c.MonitorID)
	if !c.Addr.IsZero() {
		add("addr", c.Addr.String())
	}
	if !c.To.IsZero() {
		add("to", c.To.String())
	}
	switch c.Op {
	case state.OpOpinion, state.OpODown:
		add("down", fmt.Sprint(c.Down))
	}
	if c.Op == state.OpODown {
		add("votes", fmt.Sprint(c.Votes))
	}
	add("id", c.FailoverID)
	if c.Term != 0 {
		add("term", fmt.Sprint(c.Term))
	}
	add("stage", string(c.Stage))
	add("reason", c.Reason)
	for _, r := range c.Replicas {
		add("replica", r.String())
	}
	if c.Spec != nil {
		add("spec", c.Spec.Name)
	}
	if c.Monitor != nil {
		add("record", c.Monitor.ID)
	}
	return s
}
