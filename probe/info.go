package probe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadInfo is wrapped by ParseInfo when an INFO reply cannot be used.
var ErrBadInfo = errors.New("probe: malformed INFO reply")

// ErrBadRole is wrapped by ParseRole when a ROLE reply cannot be used.
var ErrBadRole = errors.New("probe: malformed ROLE reply")

// Info is what the prober takes from one INFO reply.
type Info struct {
	RunID            string
	Role             string // "master" or "slave"
	MasterHost       string // replicas
	MasterPort       int    // replicas
	MasterLinkUp     bool   // replicas: master_link_status:up
	MasterLinkDownMs int64  // replicas: master_link_down_since_seconds*1000; 0 when up; -1 when never connected
	ReplOffset       int64  // replicas: slave_repl_offset; masters: master_repl_offset
	Priority         int    // slave_priority / replica_priority; 100 when absent
	ReplicaAnnounced bool   // replica_announced; true when absent
	Replicas         []ReplicaEntry
	RedisVersion     string
	Loading          bool // loading:1
}

// ParseInfo parses the text of an INFO reply (any set of sections; CRLF or
// LF line ends). It is lenient the way Sentinel is: unknown fields and
// malformed slaveN lines are skipped. It fails, wrapping ErrBadInfo, when
// there is no role field or a numeric field it uses is not a number.
func ParseInfo(text string) (Info, error) {
	in := Info{Priority: 100, ReplicaAnnounced: true}
	var (
		sawRole        bool
		masterOffset   int64
		slaveOffset    int64
		sawSlaveOffset bool
	)
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var err error
		switch key {
		case "run_id":
			in.RunID = val
		case "redis_version":
			in.RedisVersion = val
		case "role":
			switch val {
			case "master", "slave":
			case "replica":
				val = "slave"
			default:
				return Info{}, fmt.Errorf("%w: role %q", ErrBadInfo, val)
			}
			in.Role, sawRole = val, true
		case "master_host":
			in.MasterHost = val
		case "master_port":
			in.MasterPort, err = strconv.Atoi(val)
		case "master_link_status":
			in.MasterLinkUp = val == "up"
		case "master_link_down_since_seconds":
			var secs int64
			secs, err = strconv.ParseInt(val, 10, 64)
			if err == nil {
				if secs < 0 {
					in.MasterLinkDownMs = -1
				} else {
					in.MasterLinkDownMs = secs * 1000
				}
			}
		case "slave_repl_offset":
			slaveOffset, err = strconv.ParseInt(val, 10, 64)
			sawSlaveOffset = err == nil
		case "master_repl_offset":
			masterOffset, err = strconv.ParseInt(val, 10, 64)
		case "slave_priority", "replica_priority":
			in.Priority, err = strconv.Atoi(val)
		case "replica_announced":
			in.ReplicaAnnounced = val != "0"
		case "loading":
			in.Loading = val == "1"
		default:
			if r, ok := parseSlaveLine(key, val); ok {
				in.Replicas = append(in.Replicas, r)
			}
		}
		if err != nil {
			return Info{}, fmt.Errorf("%w: %s: %w", ErrBadInfo, key, err)
		}
	}
	if !sawRole {
		return Info{}, fmt.Errorf("%w: no role field", ErrBadInfo)
	}
	in.settleRole(masterOffset, slaveOffset, sawSlaveOffset)
	return in, nil
}

// settleRole fills ReplOffset from the offset fields the role uses (a
// replica's own offset, else the master's) and clears the master link
// fields of a master.
func (in *Info) settleRole(masterOffset, slaveOffset int64, sawSlaveOffset bool) {
	if in.Role != "slave" {
		in.ReplOffset = masterOffset
		in.MasterHost, in.MasterPort, in.MasterLinkUp, in.MasterLinkDownMs = "", 0, false, 0
		return
	}
	if sawSlaveOffset {
		in.ReplOffset = slaveOffset
	} else {
		in.ReplOffset = masterOffset
	}
	if in.MasterLinkUp {
		in.MasterLinkDownMs = 0
	}
}

// parseSlaveLine parses "slaveN:ip=..,port=..,state=..,offset=..,lag=.."
// (Redis >= 2.8) and the old "slaveN:ip,port,state" form. ok is false for
// other keys and for lines without a usable ip and port.
func parseSlaveLine(key, val string) (ReplicaEntry, bool) {
	n, ok := strings.CutPrefix(key, "slave")
	if !ok || n == "" {
		return ReplicaEntry{}, false
	}
	if _, err := strconv.Atoi(n); err != nil {
		return ReplicaEntry{}, false
	}
	var r ReplicaEntry
	parts := strings.Split(val, ",")
	if !strings.Contains(val, "=") {
		// Old form: ip,port,state
		if len(parts) < 3 {
			return ReplicaEntry{}, false
		}
		port, err := strconv.Atoi(parts[1])
		if err != nil || parts[0] == "" {
			return ReplicaEntry{}, false
		}
		return ReplicaEntry{Host: parts[0], Port: port, State: parts[2]}, true
	}
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		switch k {
		case "ip":
			r.Host = v
		case "port":
			r.Port, _ = strconv.Atoi(v)
		case "state":
			r.State = v
		case "offset":
			r.Offset, _ = strconv.ParseInt(v, 10, 64)
		case "lag":
			r.Lag, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if r.Host == "" || r.Port <= 0 {
		return ReplicaEntry{}, false
	}
	return r, true
}

// Role is a parsed ROLE reply.
type Role struct {
	Role       string         // "master", "slave" or "sentinel"
	Offset     int64          // master: master_repl_offset; slave: processed offset (-1 while connecting)
	MasterHost string         // slave
	MasterPort int            // slave
	LinkState  string         // slave: connect|connecting|sync|connected (handshake on some versions)
	Replicas   []ReplicaEntry // master: Host, Port, Offset (State and Lag are not in ROLE)
}

// ParseRole parses the reply of ROLE as go-redis returns it ([]any of
// string and int64; numbers inside the replica list are strings).
func ParseRole(reply any) (Role, error) {
	arr, ok := reply.([]any)
	if !ok || len(arr) == 0 {
		return Role{}, fmt.Errorf("%w: %T %v", ErrBadRole, reply, reply)
	}
	kind, ok := arr[0].(string)
	if !ok {
		return Role{}, fmt.Errorf("%w: role is %T", ErrBadRole, arr[0])
	}
	var r Role
	var err error
	switch kind {
	case "master":
		if len(arr) < 3 {
			return Role{}, fmt.Errorf("%w: master reply has %d elements", ErrBadRole, len(arr))
		}
		r.Role = kind
		if r.Offset, err = toInt64(arr[1]); err != nil {
			return Role{}, fmt.Errorf("%w: master offset: %w", ErrBadRole, err)
		}
		list, ok := arr[2].([]any)
		if !ok && arr[2] != nil {
			return Role{}, fmt.Errorf("%w: replica list is %T", ErrBadRole, arr[2])
		}
		for i, e := range list {
			fields, ok := e.([]any)
			if !ok || len(fields) < 3 {
				return Role{}, fmt.Errorf("%w: replica %d: %v", ErrBadRole, i, e)
			}
			host, ok := fields[0].(string)
			if !ok {
				return Role{}, fmt.Errorf("%w: replica %d host is %T", ErrBadRole, i, fields[0])
			}
			port, err := toInt64(fields[1])
			if err != nil {
				return Role{}, fmt.Errorf("%w: replica %d port: %w", ErrBadRole, i, err)
			}
			off, err := toInt64(fields[2])
			if err != nil {
				return Role{}, fmt.Errorf("%w: replica %d offset: %w", ErrBadRole, i, err)
			}
			r.Replicas = append(r.Replicas, ReplicaEntry{Host: host, Port: int(port), Offset: off})
		}
	case "slave", "replica":
		if len(arr) < 5 {
			return Role{}, fmt.Errorf("%w: slave reply has %d elements", ErrBadRole, len(arr))
		}
		r.Role = "slave"
		if r.MasterHost, ok = arr[1].(string); !ok {
			return Role{}, fmt.Errorf("%w: master host is %T", ErrBadRole, arr[1])
		}
		port, err := toInt64(arr[2])
		if err != nil {
			return Role{}, fmt.Errorf("%w: master port: %w", ErrBadRole, err)
		}
		r.MasterPort = int(port)
		if r.LinkState, ok = arr[3].(string); !ok {
			return Role{}, fmt.Errorf("%w: link state is %T", ErrBadRole, arr[3])
		}
		if r.Offset, err = toInt64(arr[4]); err != nil {
			return Role{}, fmt.Errorf("%w: offset: %w", ErrBadRole, err)
		}
	case "sentinel":
		r.Role = kind
	default:
		return Role{}, fmt.Errorf("%w: unknown role %q", ErrBadRole, kind)
	}
	return r, nil
}

func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case string:
		return strconv.ParseInt(x, 10, 64)
	default:
		return 0, fmt.Errorf("unexpected %T", v)
	}
}

// majorVersion returns the major number of a redis_version string, 0 if
// unknown.
func majorVersion(v string) int {
	head, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(head)
	if err != nil {
		return 0
	}
	return n
}
