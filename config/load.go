package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Load builds the configuration of a monitor and validates it.
//
// Sources, from lowest to highest precedence:
//
//  1. the defaults of [Default];
//  2. the YAML file at path, unless path is "";
//  3. RAFTSENTINEL_* environment variables, one per scalar key: the key
//     upper-cased with "." and "-" replaced by "_" ("node-id" ->
//     RAFTSENTINEL_NODE_ID, "raft.heartbeat-timeout" ->
//     RAFTSENTINEL_RAFT_HEARTBEAT_TIMEOUT); empty variables are ignored, and
//     the list keys (peers, masters) have none;
//  4. the flags of fs that were set explicitly (fs may be nil), as defined by
//     [BindFlags]; --peer and --master replace the whole list.
//
// List items (masters) start from [DefaultMaster], so a master that omits
// down-after gets the default. When announce is set by no source, it is
// derived from the final listen.
//
// Loading is strict. An unknown key in the file is an error naming its full
// path (`config file monitor.yaml: unknown key "masters[0].qourum" (did you
// mean "quorum"?)`), and so is a value of the wrong type. Durations need a
// unit ("500ms", "5s"); a bare number is rejected. Keys are matched without
// regard to case. Integers must be integers (2.5 and true are rejected),
// strings must be strings (quote a numeric node id).
//
// Every error wraps [ErrInvalid]; errors about values name the key and the
// source (config file, environment variable or flag). If the sources are
// well-formed, the result of [Config.Validate] is returned with the config.
// On error the returned Config is the zero value.
//
// Load reads the file and the environment and nothing else; it keeps no
// state and is safe to call concurrently.
func Load(path string, fs *pflag.FlagSet) (Config, error) {
	cfg, err := overlay(defaults(), path, fs)
	if err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// overlay decodes the YAML file at path (unless ""), the environment and
// the set flags of fs onto base, and derives an unset announce. It does not
// validate. Masters given by a source replace base's.
func overlay(base Config, path string, fs *pflag.FlagSet) (Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if path != "" {
		if err := readConfigFile(v, path); err != nil {
			return Config{}, err
		}
	}
	keys := scalarKeys()
	for _, k := range keys {
		if err := v.BindEnv(k.key, envName(k.key)); err != nil {
			return Config{}, fmt.Errorf("%w: %s: %w", ErrInvalid, k.key, err) // cannot happen: key is given
		}
	}
	if fs != nil {
		if err := setFlags(v, fs, keys); err != nil {
			return Config{}, err
		}
	}
	cfg, err := decode(v, base, sources{path: path, fs: fs})
	if err != nil {
		return Config{}, err
	}
	if cfg.Announce == "" {
		cfg.Announce = deriveAnnounce(cfg.Listen)
		if cfg.Listen == "" && cfg.TLSPort > 0 {
			cfg.Announce = deriveAnnounce(cfg.TLSListen())
		}
	}
	return cfg, nil
}

// readConfigFile reads the YAML file at path into v, refusing the keys
// Config does not have.
func readConfigFile(v *viper.Viper, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: reading config file: %w", ErrInvalid, err)
	}
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		var pe viper.ConfigParseError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			err = pe.Unwrap()
		}
		return fmt.Errorf("%w: config file %s: %w", ErrInvalid, path, err)
	}
	// Only the file has been read so far, so these are its keys.
	var p problems
	checkKeys(&p, "", v.AllSettings(), reflect.TypeFor[Config]())
	for i, e := range p {
		p[i] = fmt.Errorf("config file %s: %w", path, e)
	}
	return p.err()
}

// setFlags sets in v the flags of fs that were set: the scalar keys, and
// --peer and --master, which replace the whole list.
func setFlags(v *viper.Viper, fs *pflag.FlagSet, keys []scalarKey) error {
	for _, k := range keys {
		if f := fs.Lookup(k.key); f != nil && f.Changed {
			v.Set(k.key, f.Value.String())
		}
	}
	if f := fs.Lookup(peerFlag); f != nil && f.Changed {
		items, err := parsePeerFlags(flagValues(f))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		v.Set("peers", items)
	}
	if f := fs.Lookup(masterFlag); f != nil && f.Changed {
		items, err := parseMasterFlags(flagValues(f))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		v.Set("masters", items)
	}
	return nil
}

// decode decodes v onto base strictly (see strictHook); src names the
// source of a bad value.
func decode(v *viper.Viper, base Config, src sources) (Config, error) {
	cfg := base
	cfg.Masters = slices.Clone(base.Masters)
	cfg.Peers = slices.Clone(base.Peers)
	// Decoding into existing slice elements keeps their defaults for the
	// keys an item leaves out.
	if list := reflect.ValueOf(v.Get("masters")); list.Kind() == reflect.Slice {
		cfg.Masters = make([]Master, list.Len())
		for i := range cfg.Masters {
			cfg.Masters[i] = DefaultMaster()
		}
	}
	err := v.Unmarshal(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.DecodeHook = mapstructure.DecodeHookFuncValue(strictHook)
		dc.WeaklyTypedInput = false
		dc.ErrorUnused = true
		dc.ZeroFields = false
	})
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(src.describe(err)...))
	}
	return cfg, nil
}

// sources tells which source a decoding error came from.
type sources struct {
	path string
	fs   *pflag.FlagSet
}

// describe rewrites the (joined) errors of mapstructure into one error per
// problem of the form "<source>: <key>: <problem>".
func (s sources) describe(err error) []error {
	var out []error
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case *mapstructure.DecodeError:
			name := e.Name()
			if name == "" {
				out = append(out, fmt.Errorf("%s: %w", s.origin(name), e.Unwrap()))
			} else {
				out = append(out, fmt.Errorf("%s: %s: %w", s.origin(name), name, e.Unwrap()))
			}
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		default:
			// Decode wraps several errors in "decoding failed due to...":
			// look through such a wrapper.
			var de *mapstructure.DecodeError
			if inner := errors.Unwrap(err); inner != nil && errors.As(inner, &de) {
				walk(inner)
				return
			}
			out = append(out, err)
		}
	}
	walk(err)
	return out
}

// origin names the source that supplied the value of key, a decoded field
// name such as "probe.timeout" or "masters[1].quorum". Defaults never fail
// to decode, so a key no flag or variable supplies came from the file.
func (s sources) origin(key string) string {
	top, _, _ := strings.Cut(key, "[")
	flagName := top
	switch top {
	case "peers":
		flagName = peerFlag
	case "masters":
		flagName = masterFlag
	}
	if s.fs != nil {
		if f := s.fs.Lookup(flagName); f != nil && f.Changed {
			return "flag --" + flagName
		}
	}
	if top != "peers" && top != "masters" {
		if val, ok := os.LookupEnv(envName(top)); ok && val != "" {
			return "environment variable " + envName(top)
		}
	}
	if s.path == "" {
		return "config"
	}
	return "config file " + s.path
}

// checkKeys records a problem for every key of m (read from the file) that
// the struct type t does not have, and for every section or list that has
// the wrong shape. prefix is the key path of m.
func checkKeys(p *problems, prefix string, m map[string]any, t reflect.Type) {
	fields := make(map[string]reflect.Type, t.NumField())
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("mapstructure")
		if name == "-" {
			continue
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		ft, ok := fields[strings.ToLower(k)]
		if !ok {
			if s := closest(strings.ToLower(k), names); s != "" {
				p.addf("unknown key %q (did you mean %q?)", path, s)
			} else {
				p.addf("unknown key %q", path)
			}
			continue
		}
		val := m[k]
		if val == nil {
			continue // "key:" with no value: keeps the default
		}
		switch {
		case isSection(ft):
			sub, ok := val.(map[string]any)
			if !ok {
				p.addf("%s: expected a mapping (key: value lines), got %s", path, describe(reflect.ValueOf(val)))
				continue
			}
			checkKeys(p, path, sub, ft)
		case ft.Kind() == reflect.Slice && isSection(ft.Elem()):
			list, ok := val.([]any)
			if !ok {
				p.addf("%s: expected a list, got %s", path, describe(reflect.ValueOf(val)))
				continue
			}
			for i, item := range list {
				itemPath := fmt.Sprintf("%s[%d]", path, i)
				sub, ok := item.(map[string]any)
				if !ok {
					p.addf("%s: expected a mapping (key: value lines), got %s", itemPath, describe(reflect.ValueOf(item)))
					continue
				}
				checkKeys(p, itemPath, sub, ft.Elem())
			}
		}
	}
}

// closest returns the name within edit distance 2 of s (adjacent
// transpositions count as one edit), or "" if there is none.
func closest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance between ra[:i] and rb[:j].
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// strictHook converts a raw value (from YAML, an environment variable or a
// flag) to the type of the field it is decoded into, or explains why it
// cannot. It replaces mapstructure's weak typing: strings are parsed into
// numbers and durations (environment variables and flags are strings), but
// a number is never taken as a string or a duration, a float or bool never
// as an integer.
func strictHook(from, to reflect.Value) (any, error) {
	data := from.Interface()
	if to.Type() == durationType {
		return toDuration(from)
	}
	switch to.Kind() {
	case reflect.String:
		if from.Kind() != reflect.String {
			return nil, fmt.Errorf("expected a string, got %s (quote it)", describe(from))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := toInt(from)
		if err != nil {
			return nil, err
		}
		if to.OverflowInt(n) {
			return nil, fmt.Errorf("%d is out of range", n)
		}
		return n, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := toUint(from)
		if err != nil {
			return nil, err
		}
		if to.OverflowUint(u) {
			return nil, fmt.Errorf("%d is out of range", u)
		}
		return u, nil
	case reflect.Struct:
		if from.Kind() != reflect.Map && from.Kind() != reflect.Struct {
			return nil, fmt.Errorf("expected a mapping (key: value lines), got %s", describe(from))
		}
	case reflect.Slice:
		if from.Kind() != reflect.Slice {
			return nil, fmt.Errorf("expected a list, got %s", describe(from))
		}
	}
	return data, nil
}

func toDuration(from reflect.Value) (any, error) {
	if from.Type() == durationType {
		return from.Interface(), nil
	}
	switch from.Kind() {
	case reflect.String:
		s := strings.TrimSpace(from.String())
		d, err := time.ParseDuration(s)
		if err == nil {
			return d, nil
		}
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return nil, fmt.Errorf("invalid duration %q: missing unit (use a unit, e.g. 5s)", s)
		}
		return nil, fmt.Errorf("invalid duration %q (use a number with a unit, e.g. 500ms, 5s, 1m)", s)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return nil, fmt.Errorf("expected a duration, got the bare number %v (use a unit, e.g. 5s)", from.Interface())
	}
	return nil, fmt.Errorf("expected a duration such as 5s, got %s", describe(from))
}

func toInt(from reflect.Value) (int64, error) {
	switch from.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return from.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if from.Uint() > math.MaxInt64 {
			return 0, fmt.Errorf("%d is out of range", from.Uint())
		}
		return int64(from.Uint()), nil
	case reflect.String:
		s := strings.TrimSpace(from.String())
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("expected an integer, got %q", s)
		}
		return n, nil
	}
	return 0, fmt.Errorf("expected an integer, got %s", describe(from))
}

func toUint(from reflect.Value) (uint64, error) {
	switch from.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return from.Uint(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if from.Int() < 0 {
			return 0, fmt.Errorf("must not be negative, got %d", from.Int())
		}
		return uint64(from.Int()), nil
	case reflect.String:
		s := strings.TrimSpace(from.String())
		u, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			if strings.HasPrefix(s, "-") {
				return 0, fmt.Errorf("must not be negative, got %q", s)
			}
			return 0, fmt.Errorf("expected a non-negative integer, got %q", s)
		}
		return u, nil
	}
	return 0, fmt.Errorf("expected a non-negative integer, got %s", describe(from))
}

// describe names the kind and value of a raw value for error messages.
func describe(v reflect.Value) string {
	if !v.IsValid() {
		return "nothing"
	}
	switch v.Kind() {
	case reflect.String:
		return fmt.Sprintf("the string %q", v.String())
	case reflect.Bool:
		return fmt.Sprintf("the boolean %v", v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("the number %v", v.Interface())
	case reflect.Float32, reflect.Float64:
		return fmt.Sprintf("the decimal number %v", v.Float())
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return fmt.Sprintf("a %s", v.Type())
}
