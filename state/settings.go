package state

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SettingError is a rejected SENTINEL SET or SENTINEL CONFIG SET argument.
// Its message is Redis Sentinel's error text (without the "ERR " prefix).
type SettingError struct{ Msg string }

func (e *SettingError) Error() string { return e.Msg }

// ErrSetting matches every *SettingError with errors.Is.
var ErrSetting = errors.New("state: invalid setting")

// Is makes errors.Is(err, ErrSetting) true for setting errors.
func (e *SettingError) Is(target error) bool { return target == ErrSetting }

// SetOption is one option of SENTINEL SET with its value(s).
type SetOption struct {
	Name   string   `json:"name"` // lower case
	Values []string `json:"values"`
}

// ParseSetArgs splits the arguments of SENTINEL SET <name> after the name
// into options (rename-command takes two values, every other option one).
func ParseSetArgs(args []string) ([]SetOption, error) {
	var out []SetOption
	for i := 0; i < len(args); {
		name := strings.ToLower(args[i])
		n := 1
		if name == "rename-command" {
			n = 2
		}
		if i+n >= len(args) {
			return nil, &SettingError{fmt.Sprintf("Unknown option or number of arguments for SENTINEL SET '%s'", args[i])}
		}
		out = append(out, SetOption{Name: name, Values: append([]string(nil), args[i+1:i+1+n]...)})
		i += 1 + n
	}
	return out, nil
}

// ApplySetOption validates one option and applies it to m. Errors carry
// Redis' texts. It is deterministic (the FSM calls it).
func ApplySetOption(m *Master, o SetOption) error {
	invalid := func() error {
		return &SettingError{fmt.Sprintf("Invalid argument '%s' for SENTINEL SET '%s'", strings.Join(o.Values, " "), o.Name)}
	}
	positive := func() (int64, error) {
		v, err := strconv.ParseInt(o.Values[0], 10, 64)
		if err != nil || v <= 0 || v > 1<<40 {
			return 0, invalid()
		}
		return v, nil
	}
	want := 1
	if o.Name == "rename-command" {
		want = 2
	}
	if len(o.Values) != want { // ParseSetArgs never makes one; a log entry might
		return &SettingError{fmt.Sprintf("Unknown option or number of arguments for SENTINEL SET '%s'", o.Name)}
	}
	switch o.Name {
	case "down-after-milliseconds":
		v, err := positive()
		if err != nil {
			return err
		}
		m.DownAfter = time.Duration(v) * time.Millisecond
	case "failover-timeout":
		v, err := positive()
		if err != nil {
			return err
		}
		m.FailoverTimeout = time.Duration(v) * time.Millisecond
	case "parallel-syncs":
		v, err := positive()
		if err != nil || v > 1<<20 {
			return invalid()
		}
		m.ParallelSyncs = int(v)
	case "quorum":
		v, err := positive()
		if err != nil || v > 1<<20 {
			return invalid()
		}
		m.Quorum = int(v)
	case "auth-pass":
		m.AuthPass = o.Values[0]
	case "auth-user":
		m.AuthUser = o.Values[0]
	case "master-reboot-down-after-period":
		v, err := strconv.ParseInt(o.Values[0], 10, 64)
		if err != nil || v < 0 || v > 1<<40 {
			return invalid()
		}
		m.RebootDownAfter = time.Duration(v) * time.Millisecond
	case "rename-command":
		from, to := strings.ToLower(o.Values[0]), o.Values[1]
		if from == "" || to == "" {
			return invalid()
		}
		if m.RenameCommands == nil {
			m.RenameCommands = map[string]string{}
		}
		if strings.EqualFold(from, to) {
			delete(m.RenameCommands, from)
		} else {
			m.RenameCommands[from] = to
		}
	case "maintenance": // raftsentinel's own option
		switch strings.ToLower(o.Values[0]) {
		case "yes":
			m.Maintenance = true
		case "no":
			m.Maintenance = false
		default:
			return invalid()
		}
	case "notification-script", "client-reconfig-script":
		return &SettingError{"Reconfiguration of scripts path is denied for security reasons. " +
			"Check the deny-scripts-reconfig configuration directive in your Sentinel configuration"}
	default:
		return &SettingError{fmt.Sprintf("Unknown option or number of arguments for SENTINEL SET '%s'", o.Name)}
	}
	return nil
}

// Group-wide (State.Config) and per-monitor keys of SENTINEL CONFIG.
var (
	globalConfigDefaults = map[string]string{
		"resolve-hostnames":  "no",
		"announce-hostnames": "no",
		"sentinel-user":      "",
		"sentinel-pass":      "",
		"loglevel":           "notice",
	}
	// ConfigKeys lists every SENTINEL CONFIG key in Redis' order.
	ConfigKeys = []string{"resolve-hostnames", "announce-hostnames", "announce-ip", "announce-port",
		"sentinel-user", "sentinel-pass", "loglevel"}
)

// ConfigValue returns the value of a SENTINEL CONFIG key as monitor id
// sees it.
func (s *State) ConfigValue(monitorID, key string) string {
	switch key {
	case "announce-ip":
		if m, ok := s.Monitors[monitorID]; ok {
			return m.AnnounceIP
		}
		return ""
	case "announce-port":
		if m, ok := s.Monitors[monitorID]; ok {
			return strconv.Itoa(m.AnnouncePort)
		}
		return "0"
	}
	if v, ok := s.Config[key]; ok {
		return v
	}
	return globalConfigDefaults[key]
}

// ValidateConfigSet checks SENTINEL CONFIG SET's key/value pairs (all
// before any is applied, as Redis 7.2 does) and returns them normalized.
func ValidateConfigSet(args []string) ([][2]string, error) {
	var out [][2]string
	seen := map[string]bool{}
	for i := 0; i < len(args); i += 2 {
		key := strings.ToLower(args[i])
		if !isConfigKey(key) {
			return nil, &SettingError{fmt.Sprintf("Invalid argument '%s' to SENTINEL CONFIG SET", args[i])}
		}
		if seen[key] {
			return nil, &SettingError{fmt.Sprintf("Duplicate argument '%s' to SENTINEL CONFIG SET", args[i])}
		}
		seen[key] = true
		if i+1 >= len(args) {
			return nil, &SettingError{fmt.Sprintf("Missing argument '%s' value", args[i])}
		}
		val := args[i+1]
		bad := &SettingError{fmt.Sprintf("Invalid value '%s' to SENTINEL CONFIG SET '%s'", val, args[i])}
		switch key {
		case "resolve-hostnames", "announce-hostnames":
			v := strings.ToLower(val)
			if v != "yes" && v != "no" {
				return nil, bad
			}
			val = v
		case "announce-port":
			p, err := strconv.Atoi(val)
			if err != nil || p < 0 || p > 65535 {
				return nil, bad
			}
		case "loglevel":
			v := strings.ToLower(val)
			switch v {
			case "debug", "verbose", "notice", "warning", "nothing":
			default:
				return nil, bad
			}
			val = v
		}
		out = append(out, [2]string{key, val})
	}
	return out, nil
}

func isConfigKey(k string) bool {
	for _, c := range ConfigKeys {
		if c == k {
			return true
		}
	}
	return false
}

// applyConfigSet applies validated pairs: announce-ip/port to monitor id,
// the rest to the whole group.
func applyConfigSet(s *State, monitorID string, pairs [][2]string) error {
	for _, kv := range pairs {
		switch kv[0] {
		case "announce-ip", "announce-port":
			m, ok := s.Monitors[monitorID]
			if !ok {
				return fmt.Errorf("%w: %q", ErrInvalidMonitorID, monitorID)
			}
			if kv[0] == "announce-ip" {
				m.AnnounceIP = kv[1]
			} else {
				m.AnnouncePort, _ = strconv.Atoi(kv[1])
			}
		default:
			if s.Config == nil {
				s.Config = map[string]string{}
			}
			s.Config[kv[0]] = kv[1]
		}
	}
	return nil
}
