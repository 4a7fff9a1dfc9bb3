package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Names of the two convenience flags for the list keys.
const (
	peerFlag   = "peer"
	masterFlag = "master"
)

// flagHelp is the help text of every scalar key; a test checks that it covers
// exactly the keys of Config.
var flagHelp = map[string]string{
	"node-id":                   "Raft server ID of this monitor, [A-Za-z0-9._-]{1,64} (required)",
	"listen":                    "listen address of the Sentinel-protocol (RESP) server",
	"announce":                  "host:port advertised to clients and other monitors (default: listen, with an empty/0.0.0.0/:: host replaced by 127.0.0.1)",
	"raft-addr":                 "Raft bind and advertised address host:port; the host must be reachable by the other monitors (required)",
	"http-addr":                 "listen address of the internal HTTP server: proposal forwarding, /metrics (required)",
	"data-dir":                  "directory for the Raft log, stable store and snapshots (required)",
	"probe.ping-period":         "interval between PINGs to each Redis node (< 1s)",
	"probe.info-period":         "interval between INFO/ROLE requests to each Redis node",
	"probe.timeout":             "timeout of one probe (< probe.ping-period)",
	"raft.heartbeat-timeout":    "Raft heartbeat timeout",
	"raft.election-timeout":     "Raft election timeout (>= raft.heartbeat-timeout)",
	"raft.leader-lease-timeout": "Raft leader lease timeout (<= raft.heartbeat-timeout)",
	"raft.commit-timeout":       "Raft commit timeout",
	"raft.snapshot-interval":    "how often Raft checks whether a snapshot is due",
	"raft.snapshot-threshold":   "log entries since the last snapshot that make a snapshot due",
	"raft.apply-timeout":        "timeout of one proposal to the Raft group",
	"log.level":                 "log level: debug, info, warn or error",
	"log.format":                "log format: text or json",
	"opinion.refresh":           "how often a monitor re-asserts a \"down\" opinion it still holds",
	"opinion.ttl":               "age after which a \"down\" opinion no longer counts (> opinion.refresh)",
	"requirepass":               "password of the default user on the Sentinel-protocol port",
	"maxclients":                "most clients connected at once to the Sentinel-protocol port",
	"client-idle-timeout":       "close a Sentinel-protocol client idle this long, unless subscribed (0: never)",
	"client-write-timeout":      "disconnect a client that accepts no pending output for this long (0: no bound)",
	"local-redis":               "host:port of the Redis node this monitor runs beside (enables fencing)",
	"fence-after":               "how long cut off from the monitor majority before pausing the local master's writes",
	"admin-token":               "bearer token of the admin HTTP API (empty: admin endpoints disabled)",
	"stale-after":               "how long cut off from the monitor majority before refusing master discovery (0: never, as Sentinel)",
	"tls-port":                  "port of the Sentinel-protocol server over TLS (0: off), on the host of listen",
	"tls-cert-file":             "PEM certificate of this monitor (tls-port, tls-cluster, client certificate for tls-replication)",
	"tls-key-file":              "PEM private key of tls-cert-file",
	"tls-ca-cert-file":          "PEM CA bundle verifying clients, monitors (tls-cluster) and Redis nodes (tls-replication)",
	"tls-auth-clients":          "client certificates on tls-port: yes (required), optional or no",
	"tls-replication":           "yes: connect to the Redis nodes over TLS",
	"tls-cluster":               "yes: Raft, proposal forwarding and the HTTP server over (mutual) TLS",
	"cluster-secret":            "secret every monitor-to-monitor connection must prove (>= 16 characters; empty: off)",
	"cluster-secret-file":       "file holding the cluster secret",
}

// BindFlags defines on fs one flag per scalar key of [Config], named like the
// key ("node-id", "probe.ping-period", "raft.election-timeout", "log.level",
// ...), with the default of [Default] (announce has none: it is derived) and
// help text that names the environment variable too. Pass fs to [Load]: only
// the flags the user set explicitly override the file and the environment.
//
// The list keys get two convenience flags instead:
//
//	--peer id=host:port                 (repeatable, or comma-separated)
//	--master name=host:port,quorum=2[,down-after=5s][,failover-timeout=3m][,parallel-syncs=1][,auth-user=u][,auth-pass=p]
//	                                    (repeatable; one master per occurrence)
//
// When given, --peer replaces the whole peers list of the file and --master
// the whole masters list. --peer is a string slice; --master is a string array
// (its value contains commas, so occurrences are not split on commas), which
// means a password containing a comma cannot be given with --master.
//
// Like pflag, BindFlags panics if fs already defines one of these names.
func BindFlags(fs *pflag.FlagSet) {
	def := reflect.ValueOf(defaults())
	for _, l := range scalarKeys() {
		help := fmt.Sprintf("%s (env %s)", flagHelp[l.key], envName(l.key))
		v := def.FieldByIndex(l.index)
		switch {
		case l.typ == durationType:
			fs.Duration(l.key, time.Duration(v.Int()), help)
		case l.typ.Kind() == reflect.String:
			fs.String(l.key, v.String(), help)
		case l.typ.Kind() == reflect.Int:
			fs.Int(l.key, int(v.Int()), help)
		case l.typ.Kind() == reflect.Uint64:
			fs.Uint64(l.key, v.Uint(), help)
		default:
			panic(fmt.Sprintf("config: no flag type for key %q of type %v", l.key, l.typ))
		}
	}
	fs.StringSlice(peerFlag, nil,
		"initial Raft voter id=host:port, this node included; repeat or comma-separate; replaces the file's peers")
	fs.StringArray(masterFlag, nil,
		"monitored master name=host:port,quorum=N[,down-after=5s][,failover-timeout=3m][,parallel-syncs=1][,auth-user=U][,auth-pass=P]; "+
			"repeat for several; replaces the file's masters")
}

// scalarKey is one key that holds a single value (not a section, not a list).
type scalarKey struct {
	key   string       // dotted key path, e.g. "probe.ping-period"
	index []int        // field index path within Config
	typ   reflect.Type // field type
}

var durationType = reflect.TypeFor[time.Duration]()

// scalarKeys lists the scalar keys of Config in field order.
func scalarKeys() []scalarKey {
	var out []scalarKey
	var walk func(prefix string, index []int, t reflect.Type)
	walk = func(prefix string, index []int, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			key := f.Tag.Get("mapstructure")
			if key == "-" {
				continue // not a key (set by code, e.g. DropIn)
			}
			if prefix != "" {
				key = prefix + "." + key
			}
			idx := append(append([]int(nil), index...), i)
			switch {
			case isSection(f.Type):
				walk(key, idx, f.Type)
			case f.Type.Kind() == reflect.Slice:
				// list keys: only the convenience flags
			default:
				out = append(out, scalarKey{key: key, index: idx, typ: f.Type})
			}
		}
	}
	walk("", nil, reflect.TypeFor[Config]())
	return out
}

// isSection reports whether t is a nested section (a struct other than a
// duration).
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != durationType
}

// envName returns the environment variable for key: "raft.heartbeat-timeout"
// -> "RAFTSENTINEL_RAFT_HEARTBEAT_TIMEOUT".
func envName(key string) string {
	return "RAFTSENTINEL_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// flagValues returns the values of a changed flag: every element of a slice
// flag, or the single value of another flag.
func flagValues(f *pflag.Flag) []string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.GetSlice()
	}
	return []string{f.Value.String()}
}

// parsePeerFlags turns --peer values "id=host:port" into list items for the
// "peers" key.
func parsePeerFlags(values []string) ([]any, error) {
	items := make([]any, 0, len(values))
	for _, s := range values {
		id, addr, ok := strings.Cut(s, "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("flag --%s %q: want id=host:port", peerFlag, s)
		}
		items = append(items, map[string]any{"id": id, "raft-addr": addr})
	}
	return items, nil
}

// masterFlagKeys are the keys --master accepts after name=host:port.
var masterFlagKeys = []string{"quorum", "down-after", "failover-timeout", "parallel-syncs", "auth-user", "auth-pass"}

// parseMasterFlags turns --master values
// "name=host:port,quorum=2,down-after=5s" into list items for the "masters"
// key. Values stay strings; decoding converts and checks them like the
// file's.
func parseMasterFlags(values []string) ([]any, error) {
	items := make([]any, 0, len(values))
	for _, s := range values {
		parts := strings.Split(s, ",")
		name, addr, ok := strings.Cut(parts[0], "=")
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("flag --%s %q: want name=host:port,quorum=N[,key=value...]", masterFlag, s)
		}
		item := map[string]any{"name": name, "addr": addr}
		for _, kv := range parts[1:] {
			k, val, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("flag --%s %q: %q is not key=value", masterFlag, s, kv)
			}
			k = strings.ToLower(strings.TrimSpace(k))
			if !slices.Contains(masterFlagKeys, k) {
				return nil, fmt.Errorf("flag --%s %q: unknown key %q (want one of %s)",
					masterFlag, s, k, strings.Join(masterFlagKeys, ", "))
			}
			if _, dup := item[k]; dup {
				return nil, fmt.Errorf("flag --%s %q: key %q given twice", masterFlag, s, k)
			}
			item[k] = val
		}
		items = append(items, item)
	}
	return items, nil
}
