package sentinel

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
)

// effectEvents translates one committed effect into the Sentinel events
// monitor self publishes for it. st is the state after the effect's entry
// was applied (used for instance details).
func effectEvents(e state.Effect, st *state.State, self string, an *announcer) [][2]string {
	var out [][2]string
	add := func(ch, msg string) { out = append(out, [2]string{ch, msg}) }
	switch e.Kind {
	case state.EffODown:
		add(EvODown, fmt.Sprintf("%s #quorum %d/%d", an.masterInst(e.Master, e.Addr), e.Votes, e.Quorum))
	case state.EffODownCleared:
		add(EvODownCleared, an.masterInst(e.Master, e.Addr))
	case state.EffNewEpoch:
		add(EvNewEpoch, strconv.FormatUint(e.Epoch, 10))
	case state.EffSwitchMaster:
		// Observers say whose configuration they adopt, as Sentinel's do.
		if f := e.Failover; f != nil && f.Leader != "" && f.Leader != self {
			if mon, ok := st.Monitors[f.Leader]; ok {
				add(EvConfigUpdate, an.sentinelInst(mon, e.Master, e.From))
			}
		}
		add(EvSwitchMaster, an.switchMasterPayload(e.Master, e.From, e.To))
		// Then every replica of the new master is (re)announced.
		if ms, ok := st.Masters[e.Master]; ok {
			for _, r := range ms.Replicas {
				add(EvSlave, an.replicaInst(r, e.Master, e.To))
			}
		}
	case state.EffFailoverEnd:
		// As Sentinel, the instance details are the master as it was.
		from := e.Addr
		if e.Failover != nil {
			from = e.Failover.From
		}
		add(EvFailoverEnd, an.masterInst(e.Master, from))
	case state.EffFailoverAbort:
		add(EvAbortTimeout, an.masterInst(e.Master, e.Addr))
	case state.EffReplicaAdded:
		add(EvSlave, an.replicaInst(e.Addr, e.Master, e.From))
	case state.EffMasterAdded:
		add(EvMonitor, fmt.Sprintf("%s quorum %d", an.masterInst(e.Master, e.Addr), e.Quorum))
	case state.EffMasterRemoved:
		add(EvRemoved, an.masterInst(e.Master, e.Addr))
	case state.EffSet:
		add(EvSet, an.masterInst(e.Master, e.Addr)+" "+e.Option+" "+e.Value)
	case state.EffReset:
		add(EvResetMaster, an.masterInst(e.Master, e.Addr))
	case state.EffMonitorAdded:
		mon, ok := st.Monitors[e.Monitor]
		if !ok {
			break
		}
		for _, name := range st.MasterNames() {
			add(EvSentinel, an.sentinelInst(mon, name, st.Masters[name].Addr))
		}
	}
	return out
}
