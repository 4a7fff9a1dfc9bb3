package discovery

import (
	"fmt"
	"strconv"
	"strings"
)

// helloTag marks the extra fields of a raftsentinel hello.
const helloTag = "raftsentinel1"

// Hello is one parsed hello message. The first eight fields are Redis
// Sentinel's (src/sentinel.c, sentinelSendHello):
//
//	ip,port,runid,current_epoch,master_name,master_ip,master_port,master_config_epoch
//
// A raftsentinel monitor appends five more:
//
//	raftsentinel1,node_id,raft_addr,http_addr,group
//
// Redis Sentinel processes a hello only when it splits into exactly eight
// comma-separated tokens (sentinelProcessHelloMessage: numtokens == 8), so
// real Sentinels ignore raftsentinel hellos, while raftsentinel recognises
// theirs.
type Hello struct {
	IP           string
	Port         int
	RunID        string
	CurrentEpoch uint64
	MasterName   string
	MasterIP     string
	MasterPort   int
	ConfigEpoch  uint64

	// Raftsentinel is false for a Redis Sentinel's hello; the fields below
	// are set only when it is true.
	Raftsentinel bool
	NodeID       string
	RaftAddr     string
	HTTPAddr     string
	// Group is the id of the group the sender belongs to, "" while it has
	// none (a fresh monitor waiting for the group to form).
	Group string
}

// Format returns the wire form of h.
func (h Hello) Format() string {
	s := fmt.Sprintf("%s,%d,%s,%d,%s,%s,%d,%d", h.IP, h.Port, h.RunID, h.CurrentEpoch,
		h.MasterName, h.MasterIP, h.MasterPort, h.ConfigEpoch)
	if h.Raftsentinel {
		s += "," + strings.Join([]string{helloTag, h.NodeID, h.RaftAddr, h.HTTPAddr, h.Group}, ",")
	}
	return s
}

// ParseHello parses a hello: eight fields (a Redis Sentinel) or thirteen
// beginning the ninth with "raftsentinel1" (a raftsentinel monitor).
func ParseHello(s string) (Hello, error) {
	f := strings.Split(s, ",")
	if len(f) != 8 && !(len(f) == 13 && f[8] == helloTag) {
		return Hello{}, fmt.Errorf("discovery: hello with %d fields", len(f))
	}
	var h Hello
	var err error
	num := func(i int) uint64 {
		v, e := strconv.ParseUint(f[i], 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("discovery: hello field %d %q is not a number", i, f[i])
		}
		return v
	}
	h.IP, h.RunID, h.MasterName, h.MasterIP = f[0], f[2], f[4], f[5]
	h.Port, h.CurrentEpoch, h.MasterPort, h.ConfigEpoch = int(num(1)), num(3), int(num(6)), num(7)
	if err != nil {
		return Hello{}, err
	}
	if h.IP == "" || h.RunID == "" || h.MasterName == "" {
		return Hello{}, fmt.Errorf("discovery: hello with an empty ip, run id or master name")
	}
	if len(f) == 13 {
		h.Raftsentinel = true
		h.NodeID, h.RaftAddr, h.HTTPAddr, h.Group = f[9], f[10], f[11], f[12]
		if h.NodeID == "" || h.RaftAddr == "" || h.HTTPAddr == "" {
			return Hello{}, fmt.Errorf("discovery: raftsentinel hello without node id or addresses")
		}
	}
	return h, nil
}
