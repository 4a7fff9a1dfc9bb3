package sentinel

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/quorum"
	"github.com/raftsentinel/raftsentinel/resp"
	"github.com/raftsentinel/raftsentinel/state"
)

// proposeTimeout bounds how long a state-changing command waits for its
// Raft commit before the client gets an error.
const proposeTimeout = 5 * time.Second

// propose commits cmd and writes the reply: ok on success, otherwise an
// error whose text is Redis' where one exists.
func (h *handler) propose(c *resp.Conn, cmd state.Command, ok func()) {
	ctx, cancel := context.WithTimeout(context.Background(), proposeTimeout)
	defer cancel()
	err := h.b.Propose(ctx, cmd)
	var se *state.SettingError
	switch {
	case err == nil:
		ok()
	case errors.As(err, &se):
		c.WriteError("ERR " + se.Msg)
	case errors.Is(err, state.ErrNoSuchMaster):
		c.WriteError("ERR No such master with that name")
	case errors.Is(err, state.ErrDuplicateMaster):
		c.WriteError("ERR Duplicate master name.")
	case errors.Is(err, state.ErrFailoverInProg):
		c.WriteError("INPROG Failover already in progress")
	case errors.Is(err, quorum.ErrNoLeader), errors.Is(err, quorum.ErrNotLeader), errors.Is(err, context.DeadlineExceeded):
		c.WriteError("NOQUORUM the monitor group has no leader reachable from this monitor; the change was not committed")
	default:
		c.WriteError("ERR " + err.Error())
	}
}

func writeOK(c *resp.Conn) func() { return func() { c.WriteStatus("OK") } }

// errSaveConfig is Sentinel's reply when the config file rewrite after a
// change fails (sentinelFlushConfigAndReply).
const errSaveConfig = "ERR Failed to save config file. Check server logs."

// writeSaved is the reply of a committed configuration change (MONITOR,
// REMOVE, SET, CONFIG SET): the config file is rewritten first, as
// Sentinel does, and a failed rewrite answers Sentinel's error — the
// change itself is committed all the same (it lives in Raft; the file is a
// copy for a return to Sentinel, rewritten again at the next change).
func (h *handler) writeSaved(c *resp.Conn) func() {
	return func() {
		if h.opt.FlushConfig != nil {
			if err := h.opt.FlushConfig(); err != nil {
				h.opt.Logger.Warn("the change is committed but the config file could not be rewritten", "err", err)
				c.WriteError(errSaveConfig)
				return
			}
		}
		c.WriteStatus("OK")
	}
}

// sentinelMonitor: SENTINEL MONITOR <name> <ip> <port> <quorum>.
func (h *handler) sentinelMonitor(c *resp.Conn, args [][]byte) {
	quorumN, err := strconv.ParseInt(string(args[5]), 10, 64)
	if err != nil {
		c.WriteError("ERR Invalid quorum")
		return
	}
	port, err := strconv.ParseInt(string(args[4]), 10, 64)
	if err != nil {
		c.WriteError("ERR Invalid port")
		return
	}
	if quorumN <= 0 {
		c.WriteError("ERR Quorum must be 1 or greater.")
		return
	}
	host := string(args[3])
	st := h.b.State()
	if net.ParseIP(host) == nil && st.ConfigValue(h.b.Self().ID, "resolve-hostnames") != "yes" {
		c.WriteError("ERR Invalid IP address or hostname specified")
		return
	}
	name := string(args[2])
	if port <= 0 || port > 65535 {
		c.WriteError("ERR Invalid port number.")
		return
	}
	spec := h.opt.MasterDefaults
	// SENTINEL DEBUG DEFAULT-DOWN-AFTER / DEFAULT-FAILOVER-TIMEOUT apply to
	// masters added from now on, as in Sentinel.
	ts := h.b.Timers()
	if d := timerValue(ts, TimerDefaultDownAfter); d > 0 {
		spec.DownAfter = d
	}
	if d := timerValue(ts, TimerDefaultFailoverTimeout); d > 0 {
		spec.FailoverTimeout = d
	}
	spec.Name, spec.Addr, spec.Quorum = name, state.Addr{Host: host, Port: int(port)}, int(quorumN)
	h.propose(c, state.Command{Op: state.OpMonitor, Spec: &spec}, h.writeSaved(c))
}

// sentinelRemove: SENTINEL REMOVE <name>.
func (h *handler) sentinelRemove(c *resp.Conn, args [][]byte) {
	if h.masterOrError(c, h.b.State(), args[2]) == nil {
		return
	}
	h.propose(c, state.Command{Op: state.OpRemove, Master: string(args[2])}, h.writeSaved(c))
}

// sentinelSet: SENTINEL SET <name> <option> <value> [...]. Unlike Redis,
// the options apply all or none.
func (h *handler) sentinelSet(c *resp.Conn, args [][]byte) {
	st := h.b.State()
	m := h.masterOrError(c, st, args[2])
	if m == nil {
		return
	}
	rest := make([]string, 0, len(args)-3)
	for _, a := range args[3:] {
		rest = append(rest, string(a))
	}
	opts, err := state.ParseSetArgs(rest)
	// Script paths are this monitor's own (HandlerOptions.CheckScript and
	// SetScript): they are checked here, never committed, and kept once
	// the rest is.
	var shared, own []state.SetOption
	for _, o := range opts {
		if isScriptOption(o.Name) && h.opt.SetScript != nil {
			own = append(own, o)
		} else {
			shared = append(shared, o)
		}
	}
	if err == nil {
		trial := *m
		for _, o := range shared {
			if err = state.ApplySetOption(&trial, o); err != nil {
				break
			}
		}
	}
	resolved := make([]string, len(own))
	for i := 0; err == nil && i < len(own); i++ {
		resolved[i], err = h.opt.CheckScript(own[i].Name, own[i].Values[0])
	}
	if err != nil {
		c.WriteError("ERR " + err.Error())
		return
	}
	setOwn := func() {
		for i, o := range own {
			if err := h.opt.SetScript(m.Name, o.Name, resolved[i]); err != nil {
				h.opt.Logger.Warn("SENTINEL SET: could not keep a script path", "master", m.Name, "option", o.Name, "err", err)
				c.WriteError(errSaveConfig)
				return
			}
		}
		h.writeSaved(c)()
	}
	if len(shared) == 0 {
		setOwn()
		return
	}
	h.propose(c, state.Command{Op: state.OpSet, Master: m.Name, Options: shared}, setOwn)
}

// isScriptOption reports whether a SENTINEL SET option is a script path.
func isScriptOption(name string) bool {
	return name == "notification-script" || name == "client-reconfig-script"
}

// sentinelReset: SENTINEL RESET <pattern> replies the number of masters
// reset.
func (h *handler) sentinelReset(c *resp.Conn, args [][]byte) {
	var names []string
	for _, n := range h.b.State().MasterNames() {
		if resp.Match(string(args[2]), n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		c.WriteInt(0)
		return
	}
	h.propose(c, state.Command{Op: state.OpReset, Names: names}, func() { c.WriteInt(int64(len(names))) })
}

// sentinelConfig: SENTINEL CONFIG GET <pattern> [...] | SET <key> <value> [...].
func (h *handler) sentinelConfig(c *resp.Conn, args [][]byte) {
	sub := strings.ToLower(string(args[2]))
	switch {
	case sub == "get" && len(args) >= 4:
		st := h.b.State()
		self := h.b.Self().ID
		var pairs [][2]string
		seen := map[string]bool{}
		for _, pat := range args[3:] {
			for _, k := range state.ConfigKeys {
				if !seen[k] && resp.Match(strings.ToLower(string(pat)), k) {
					seen[k] = true
					pairs = append(pairs, [2]string{k, st.ConfigValue(self, k)})
				}
			}
		}
		c.WriteMapHeader(len(pairs))
		for _, kv := range pairs {
			c.WriteBulkString(kv[0])
			c.WriteBulkString(kv[1])
		}
	case sub == "set" && len(args) >= 5:
		rest := make([]string, 0, len(args)-3)
		for _, a := range args[3:] {
			rest = append(rest, string(a))
		}
		pairs, err := state.ValidateConfigSet(rest)
		if err != nil {
			c.WriteError("ERR " + err.Error())
			return
		}
		h.propose(c, state.Command{Op: state.OpConfigSet, MonitorID: h.b.Self().ID, Config: pairs}, h.writeSaved(c))
	default:
		c.WriteError("ERR Only SENTINEL CONFIG GET <option> / SET <option> <value> are supported.")
	}
}

// sentinelFailover: SENTINEL FAILOVER <name> [COORDINATED] starts a
// failover without agreement that the master is down. The candidate is
// chosen here by Sentinel's rules; the Raft leader carries the failover
// out. COORDINATED (as Valkey 9) makes it a lossless switchover: the old
// master pauses writes until the candidate has them all, then they swap.
func (h *handler) sentinelFailover(c *resp.Conn, args [][]byte) {
	coordinated := false
	switch {
	case len(args) == 4 && strings.EqualFold(string(args[3]), "coordinated"):
		coordinated = true
	case len(args) != 3:
		c.WriteError("ERR syntax error")
		return
	}
	if h.masterOrError(c, h.b.State(), args[2]) == nil {
		return
	}
	cmd, err := h.b.ManualFailover(string(args[2]), coordinated)
	switch {
	case errors.Is(err, state.ErrFailoverInProg):
		c.WriteError("INPROG Failover already in progress")
	case errors.Is(err, state.ErrNoGoodReplica):
		c.WriteError("NOGOODSLAVE No suitable replica to promote")
	case err != nil:
		c.WriteError("ERR No such master with that name")
	default:
		h.propose(c, cmd, writeOK(c))
	}
}

// sentinelFlushConfig: the state lives in Raft, which persists every
// commit before acknowledging it, so there is nothing to flush.
func (h *handler) sentinelFlushConfig(c *resp.Conn, _ [][]byte) {
	if h.opt.FlushConfig != nil {
		if err := h.opt.FlushConfig(); err != nil {
			h.opt.Logger.Warn("SENTINEL FLUSHCONFIG: the config file could not be rewritten", "err", err)
			c.WriteError(errSaveConfig)
			return
		}
	}
	c.WriteStatus("OK")
}

// sentinelPendingScripts lists the scripts queued or running, in
// Sentinel's shape: per script a map of argv, flags (running or
// scheduled), pid, run-time or run-delay (ms) and retry-num. Without
// scripts (HandlerOptions.PendingScripts nil) the list is empty.
func (h *handler) sentinelPendingScripts(c *resp.Conn, _ [][]byte) {
	var list []PendingScript
	if h.opt.PendingScripts != nil {
		list = h.opt.PendingScripts()
	}
	c.WriteArrayHeader(len(list))
	for _, p := range list {
		c.WriteMapHeader(5)
		c.WriteBulkString("argv")
		c.WriteArrayHeader(len(p.Argv))
		for _, a := range p.Argv {
			c.WriteBulkString(a)
		}
		c.WriteBulkString("flags")
		if p.Running {
			c.WriteBulkString("running")
		} else {
			c.WriteBulkString("scheduled")
		}
		c.WriteBulkString("pid")
		c.WriteInt(int64(p.Pid))
		if p.Running {
			c.WriteBulkString("run-time")
			c.WriteInt(p.RunTime.Milliseconds())
		} else {
			c.WriteBulkString("run-delay")
			c.WriteInt(max(p.RunDelay, 0).Milliseconds())
		}
		c.WriteBulkString("retry-num")
		c.WriteInt(int64(p.Retries))
	}
}

// sentinelInfoCache: SENTINEL INFO-CACHE name [name ...] replies, per master,
// its name and an array of [age_ms, INFO text] for the master and each
// replica (null INFO when never fetched).
func (h *handler) sentinelInfoCache(c *resp.Conn, args [][]byte) {
	st := h.b.State()
	var names []string
	for _, a := range args[2:] {
		if _, ok := st.Masters[string(a)]; ok {
			names = append(names, string(a))
		}
	}
	now := h.opt.Now()
	c.WriteArrayHeader(2 * len(names))
	for _, n := range names {
		m := st.Masters[n]
		c.WriteBulkString(n)
		nodes := append([]state.Addr{m.Addr}, listedReplicas(m)...)
		c.WriteArrayHeader(len(nodes))
		for _, a := range nodes {
			c.WriteArrayHeader(2)
			o, ok := h.b.Observe(a.String())
			// The cached text is the last full INFO (the periodic INFO
			// replication does not replace it): its age is the text's.
			if !ok || o.InfoTextAt.IsZero() {
				c.WriteInt(0)
				c.WriteNull()
				continue
			}
			c.WriteInt(now.Sub(o.InfoTextAt).Milliseconds())
			c.WriteBulkString(o.InfoText)
		}
	}
}

// sentinelDebug: without arguments, the timers as a map (Redis' names and
// order). With <timer> <ms> pairs it sets this monitor's timers, as Redis
// Sentinel 7.0 does: names are case-insensitive, each value must be a
// positive integer (Redis' strict syntax: no sign, no leading zero), the
// pairs apply in order, and the first bad pair stops with an error, the
// pairs before it staying applied. +OK when all applied.
func (h *handler) sentinelDebug(c *resp.Conn, args [][]byte) {
	if len(args) == 2 {
		ts := h.b.Timers()
		c.WriteMapHeader(len(ts))
		for _, t := range ts {
			c.WriteBulkString(t.Name)
			c.WriteBulkString(strconv.FormatInt(t.Ms, 10))
		}
		return
	}
	for i := 2; i < len(args); i += 2 {
		if !isTimer(h.b.Timers(), string(args[i])) || i+1 >= len(args) {
			c.WriteError(fmt.Sprintf("ERR Unknown option or number of arguments for SENTINEL DEBUG '%s'", args[i]))
			return
		}
		v, ok := redisInt(args[i+1])
		if !ok || v <= 0 || !h.b.SetTimer(string(args[i]), v) {
			c.WriteError(fmt.Sprintf("ERR Invalid argument '%s' for SENTINEL DEBUG '%s'", args[i+1], args[i]))
			return
		}
	}
	c.WriteStatus("OK")
}

func isTimer(ts []Timer, name string) bool {
	for _, t := range ts {
		if strings.EqualFold(t.Name, name) {
			return true
		}
	}
	return false
}

// timerValue is the named timer of ts as a duration, 0 if absent.
func timerValue(ts []Timer, name string) time.Duration {
	for _, t := range ts {
		if t.Name == name && t.Ms > 0 && t.Ms <= math.MaxInt64/int64(time.Millisecond) {
			return time.Duration(t.Ms) * time.Millisecond
		}
	}
	return 0
}

// redisInt parses b as Redis' string2ll does: an optional '-', then digits
// without a leading zero (only "0" itself), no sign '+', no spaces, and
// within int64.
func redisInt(b []byte) (int64, bool) {
	s := string(b)
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || (digits[0] == '0' && s != "0") {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// sentinelSimulateFailure arms crash points, as Sentinel: the monitor stops
// at once (the process exits 99) when, as leader, it reaches the point
// during a failover. Points: crash-after-election, crash-after-promotion,
// and raftsentinel's crash-after-switch. Each call replaces the armed set.
func (h *handler) sentinelSimulateFailure(c *resp.Conn, args [][]byte) {
	var points []string
	for _, a := range args[2:] {
		switch p := strings.ToLower(string(a)); p {
		case "help":
			c.WriteArrayHeader(3)
			c.WriteBulkString(CrashAfterElection)
			c.WriteBulkString(CrashAfterPromotion)
			c.WriteBulkString(CrashAfterSwitch)
			return
		case CrashAfterElection, CrashAfterPromotion, CrashAfterSwitch:
			points = append(points, p)
		default:
			c.WriteError("ERR Unknown failure simulation specified")
			return
		}
	}
	if err := h.b.SimulateFailure(points); err != nil {
		c.WriteError("ERR " + err.Error())
		return
	}
	c.WriteStatus("OK")
}
