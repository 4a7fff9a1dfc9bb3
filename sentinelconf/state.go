package sentinelconf

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

var sentinelIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)

// stateReaders read Sentinel's state lines into File.State, by
// lower-case directive.
var stateReaders = map[string]func(s *State, args []string) error{
	"myid":           readMyID,
	"current-epoch":  readCurrentEpoch,
	"config-epoch":   func(s *State, args []string) error { setEpoch(&s.ConfigEpochs, args); return nil },
	"leader-epoch":   func(s *State, args []string) error { setEpoch(&s.LeaderEpochs, args); return nil },
	"known-replica":  readKnownReplica,
	"known-slave":    readKnownReplica,
	"known-sentinel": readKnownSentinel,
}

// readState reads a state line; every one is noted: raftsentinel keeps its
// state in Raft, the file's only seeds a first start.
func readState(p *parser, l line) error {
	if err := stateReaders[l.sub()](&p.f.State, l.args); err != nil {
		return l.refuse(err)
	}
	p.note(l, "Sentinel state: raftsentinel keeps its state in Raft")
	return nil
}

func readMyID(s *State, args []string) error {
	if len(args) != 3 || !sentinelIDPattern.MatchString(args[2]) {
		return errors.New("sentinel myid must be 40 hex characters")
	}
	s.MyID = strings.ToLower(args[2])
	return nil
}

func readCurrentEpoch(s *State, args []string) error {
	if len(args) != 3 {
		return errors.New("want: sentinel current-epoch <n>")
	}
	e, err := strconv.ParseUint(args[2], 10, 64)
	if err != nil {
		return fmt.Errorf("current-epoch %q is not a number", args[2])
	}
	s.CurrentEpoch = e
	return nil
}

// setEpoch records `sentinel config-epoch|leader-epoch <master> <epoch>`;
// a line of another shape is only noted, not refused (Sentinel writes them
// well-formed; raftsentinel's epochs start from current-epoch).
func setEpoch(m *map[string]uint64, args []string) {
	if len(args) != 4 {
		return
	}
	e, err := strconv.ParseUint(args[3], 10, 64)
	if err != nil {
		return
	}
	if *m == nil {
		*m = map[string]uint64{}
	}
	(*m)[args[2]] = e
}

func readKnownReplica(s *State, args []string) error {
	if len(args) != 5 {
		return fmt.Errorf("want: sentinel %s <master> <ip> <port>", strings.ToLower(args[1]))
	}
	if s.KnownReplicas == nil {
		s.KnownReplicas = map[string][]string{}
	}
	s.KnownReplicas[args[2]] = append(s.KnownReplicas[args[2]], net.JoinHostPort(args[3], args[4]))
	return nil
}

func readKnownSentinel(s *State, args []string) error {
	if len(args) != 6 {
		return errors.New("want: sentinel known-sentinel <master> <ip> <port> <runid>")
	}
	s.KnownSentinels = append(s.KnownSentinels, KnownSentinel{Master: args[2], Addr: net.JoinHostPort(args[3], args[4]), RunID: args[5]})
	return nil
}
