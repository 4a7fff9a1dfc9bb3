package failover

import (
	"fmt"
	"strconv"

	"github.com/raftsentinel/raftsentinel/state"
)

// Event channel names, as Redis Sentinel publishes them.
const (
	EvSwitchMaster    = "+switch-master"
	EvSDown           = "+sdown"
	EvSDownCleared    = "-sdown"
	EvODown           = "+odown"
	EvODownCleared    = "-odown"
	EvNewEpoch        = "+new-epoch"
	EvTryFailover     = "+try-failover"
	EvElectedLeader   = "+elected-leader"
	EvSelectSlave     = "+failover-state-select-slave"
	EvSelectedSlave   = "+selected-slave"
	EvSendSlaveofNone = "+failover-state-send-slaveof-noone"
	EvWaitPromotion   = "+failover-state-wait-promotion"
	EvPromotedSlave   = "+promoted-slave"
	EvReconfSlaves    = "+failover-state-reconf-slaves"
	EvSlaveReconfSent = "+slave-reconf-sent"
	EvSlaveReconfDone = "+slave-reconf-done"
	EvSlaveReconfProg = "+slave-reconf-inprog"
	EvRoleChange      = "+role-change"
	EvRoleChangeWrong = "-role-change"
	EvFailoverEnd     = "+failover-end"
	EvAbortNoGood     = "-failover-abort-no-good-slave"
	EvAbortTimeout    = "-failover-abort-slave-timeout"
	EvConvertToSlave  = "+convert-to-slave"
	EvFixSlaveConfig  = "+fix-slave-config"
	EvSlave           = "+slave"
	EvSentinel        = "+sentinel"
	EvMonitor         = "+monitor"
	EvRemoved         = "-monitor"
	EvSet             = "+set"
	EvResetMaster     = "+reset-master"
	EvReboot          = "+reboot"
	EvConfigUpdate    = "+config-update-from"
	EvTilt            = "+tilt"
	EvTiltCleared     = "-tilt"
	// Fence events are raftsentinel's own (Sentinel has no fencing).
	EvFenced   = "+fenced"
	EvUnfenced = "-fenced"
)

// InstKind says how an Inst is written.
type InstKind int

// Kinds of instance details, in Sentinel's formats.
const (
	InstNone     InstKind = iota // no instance: a message is its Text alone
	InstMaster                   // "master <name> <ip> <port>"
	InstReplica                  // "slave <ip:port> <ip> <port> @ <name> <mip> <mport>"
	InstSentinel                 // "sentinel <runid> <ip> <port> @ <name> <mip> <mport>"
	InstSwitch                   // +switch-master's "<name> <old-ip> <old-port> <new-ip> <new-port>"
)

// Inst is the instance details of an event or a log line, kept as data:
// the executor writes it with the addresses announced (announce-hostnames
// no: a hostname becomes the IP it resolved to), so that no decision ever
// waits for a name lookup.
type Inst struct {
	Kind   InstKind
	Master string     // the master's name
	Addr   state.Addr // the master, the replica, or the old master (InstSwitch)
	Of     state.Addr // the master a replica or monitor is listed under, or the new master (InstSwitch)
	RunID  string     // InstSentinel: the monitor's run id
	At     state.Addr // InstSentinel: the monitor's announced address
}

func masterInst(name string, a state.Addr) Inst {
	return Inst{Kind: InstMaster, Master: name, Addr: a}
}

func replicaInst(a state.Addr, master string, ma state.Addr) Inst {
	return Inst{Kind: InstReplica, Master: master, Addr: a, Of: ma}
}

func sentinelInst(m *state.Monitor, master string, ma state.Addr) Inst {
	return Inst{Kind: InstSentinel, Master: master, Of: ma, RunID: m.RunID, At: m.Announced()}
}

func switchInst(name string, from, to state.Addr) Inst {
	return Inst{Kind: InstSwitch, Master: name, Addr: from, Of: to}
}

// format writes i as Sentinel does, with an's announced addresses (a nil
// announcer: the addresses as they are).
func (i Inst) format(an *announcer) string {
	switch i.Kind {
	case InstMaster:
		n := an.addr(i.Addr)
		return "master " + i.Master + " " + n.Host + " " + strconv.Itoa(n.Port)
	case InstReplica:
		n, ma := an.addr(i.Addr), an.addr(i.Of)
		return fmt.Sprintf("slave %s %s %d @ %s %s %d", n.String(), n.Host, n.Port, i.Master, ma.Host, ma.Port)
	case InstSentinel:
		ma := an.addr(i.Of)
		return fmt.Sprintf("sentinel %s %s %d @ %s %s %d", i.RunID, i.At.Host, i.At.Port, i.Master, ma.Host, ma.Port)
	case InstSwitch:
		from, to := an.addr(i.Addr), an.addr(i.Of)
		return i.Master + " " + from.Host + " " + strconv.Itoa(from.Port) + " " + to.Host + " " + strconv.Itoa(to.Port)
	}
	return ""
}

// String is the instance with its addresses as they are.
func (i Inst) String() string { return i.format(nil) }

// effectEvents translates one committed effect into the Sentinel events
// monitor self publishes for it. st is the state after the effect's entry
// was applied (used for instance details).
func effectEvents(e state.Effect, st *state.State, self string) []Action {
	var out []Action
	add := func(ch string, i Inst, text string) { out = append(out, Publish{Channel: ch, Inst: i, Text: text}) }
	switch e.Kind {
	case state.EffODown:
		add(EvODown, masterInst(e.Master, e.Addr), fmt.Sprintf(" #quorum %d/%d", e.Votes, e.Quorum))
	case state.EffODownCleared:
		add(EvODownCleared, masterInst(e.Master, e.Addr), "")
	case state.EffNewEpoch:
		add(EvNewEpoch, Inst{}, strconv.FormatUint(e.Epoch, 10))
	case state.EffSwitchMaster:
		// Observers say whose configuration they adopt, as Sentinel's do.
		if f := e.Failover; f != nil && f.Leader != "" && f.Leader != self {
			if mon, ok := st.Monitors[f.Leader]; ok {
				add(EvConfigUpdate, sentinelInst(mon, e.Master, e.From), "")
			}
		}
		add(EvSwitchMaster, switchInst(e.Master, e.From, e.To), "")
		// Then every replica of the new master is (re)announced.
		if ms, ok := st.Masters[e.Master]; ok {
			for _, r := range ms.Replicas {
				add(EvSlave, replicaInst(r, e.Master, e.To), "")
			}
		}
	case state.EffFailoverEnd:
		// As Sentinel, the instance details are the master as it was.
		from := e.Addr
		if e.Failover != nil {
			from = e.Failover.From
		}
		add(EvFailoverEnd, masterInst(e.Master, from), "")
	case state.EffFailoverAbort:
		add(EvAbortTimeout, masterInst(e.Master, e.Addr), "")
	case state.EffReplicaAdded:
		add(EvSlave, replicaInst(e.Addr, e.Master, e.From), "")
	case state.EffMasterAdded:
		add(EvMonitor, masterInst(e.Master, e.Addr), fmt.Sprintf(" quorum %d", e.Quorum))
	case state.EffMasterRemoved:
		add(EvRemoved, masterInst(e.Master, e.Addr), "")
	case state.EffSet:
		add(EvSet, masterInst(e.Master, e.Addr), " "+e.Option+" "+e.Value)
	case state.EffReset:
		add(EvResetMaster, masterInst(e.Master, e.Addr), "")
	case state.EffMonitorAdded:
		mon, ok := st.Monitors[e.Monitor]
		if !ok {
			break
		}
		for _, name := range st.MasterNames() {
			add(EvSentinel, sentinelInst(mon, name, st.Masters[name].Addr), "")
		}
	}
	return out
}
