package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/raftsentinel/raftsentinel/sentinelconf"
)

// Imported is the result of ImportSentinelConf: the settings a Redis
// sentinel.conf carries, as a raftsentinel configuration, and a note for
// every line that has no raftsentinel equivalent or is state.
type Imported struct {
	Config Config
	Notes  []string
}

// ImportSentinelConf reads a Redis Sentinel configuration file
// ([sentinelconf.Parse]) and returns the matching raftsentinel settings
// ([FromSentinelConf]) with the parser's notes. The monitor id, the Raft
// addresses and the peers are not in a sentinel.conf: the caller fills
// them in. A refused line is an error wrapping [ErrInvalid] that names the
// line; an error reading r is returned as it is.
func ImportSentinelConf(r io.Reader) (Imported, error) {
	f, err := sentinelconf.Parse(r)
	if err != nil {
		if _, ok := errors.AsType[*sentinelconf.LineError](err); ok {
			return Imported{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return Imported{}, err
	}
	return Imported{Config: FromSentinelConf(f), Notes: f.Notes}, nil
}

// FromSentinelConf returns [Default] with the settings of a parsed
// sentinel.conf: each master (a sentinel.conf master keeps Sentinel's
// default down-after, 30s, rather than raftsentinel's), port/bind as the
// listen address, announce-ip/-port over the announce address derived
// from it, dir as the data directory, requirepass, the users, the log
// level (Sentinel's debug and verbose: debug, notice: info, warning: warn),
// the tls-* settings, and the drop-in settings (scripts, state, renamed
// commands, ...) in DropIn. It does not validate.
func FromSentinelConf(f *sentinelconf.File) Config {
	c := Default()
	c.DataDir = f.Dir
	c.RequirePass = f.RequirePass
	if lvl, ok := f.Level(); ok {
		c.Log.Level = strings.ToLower(lvl.String())
	}
	c.TLSPort, c.TLSCertFile, c.TLSKeyFile, c.TLSCACertFile = f.TLS.Port, f.TLS.CertFile, f.TLS.KeyFile, f.TLS.CACertFile
	c.TLSAuthClients, c.TLSReplication = f.TLS.AuthClients, f.TLS.Replication
	for _, u := range f.Users {
		c.Users = append(c.Users, User{Name: u.Name, Password: u.Password, Commands: u.Commands})
	}
	for _, fm := range f.Masters {
		m := DefaultMaster()
		m.Name, m.Addr, m.Quorum = fm.Name, fm.Addr, fm.Quorum
		m.DownAfter, m.FailoverTimeout, m.ParallelSyncs = fm.DownAfter, fm.FailoverTimeout, fm.ParallelSyncs
		m.AuthUser, m.AuthPass = fm.AuthUser, fm.AuthPass
		c.Masters = append(c.Masters, m)
	}
	c.DropIn = dropInOf(f)
	c.Listen, c.Announce = sentinelConfAddrs(f)
	return c
}

// dropInOf is the drop-in part of a parsed sentinel.conf, before
// LoadSentinelConf derives the rest.
func dropInOf(f *sentinelconf.File) DropIn {
	d := DropIn{MyID: f.State.MyID, CurrentEpoch: f.State.CurrentEpoch, KnownReplicas: f.State.KnownReplicas,
		SentinelConfig: f.SentinelConfig, DenyScriptsReconfig: f.DenyScriptsReconfig, LogFile: f.LogFile, PidFile: f.PidFile}
	for _, k := range f.State.KnownSentinels {
		if id := strings.ToLower(k.RunID); !slices.Contains(d.KnownSentinels, id) {
			d.KnownSentinels = append(d.KnownSentinels, id)
		}
	}
	for _, m := range f.Masters {
		if m.RebootDownAfter != 0 {
			setKey(&d.RebootDownAfter, m.Name, m.RebootDownAfter)
		}
		if m.RenameCommands != nil {
			setKey(&d.RenameCommands, m.Name, m.RenameCommands)
		}
		if p, ok := m.Scripts[sentinelconf.NotificationScript]; ok {
			setKey(&d.NotificationScripts, m.Name, p)
		}
		if p, ok := m.Scripts[sentinelconf.ReconfigScript]; ok {
			setKey(&d.ReconfigScripts, m.Name, p)
		}
	}
	return d
}

// sentinelConfAddrs are the listen and announce addresses of a parsed
// sentinel.conf: listen is bind (any address when none) and port; announce
// is derived from it ([deriveAnnounce]; from the TLS port for "port 0"
// with a tls-port, TLS only as in Redis), announce-ip and a non-zero
// announce-port replacing its host and port.
func sentinelConfAddrs(f *sentinelconf.File) (listen, announce string) {
	host := f.Bind
	if host == "" || host == "*" {
		host = "0.0.0.0"
	}
	listen = net.JoinHostPort(host, f.Port)
	announce = deriveAnnounce(listen)
	if f.Port == "0" && f.TLS.Port > 0 {
		announce = deriveAnnounce(net.JoinHostPort(host, strconv.Itoa(f.TLS.Port)))
	}
	if f.AnnounceIP != "" || f.AnnouncePort != "" {
		h, p, _ := net.SplitHostPort(announce)
		if f.AnnounceIP != "" {
			h = f.AnnounceIP
		}
		if f.AnnouncePort != "" && f.AnnouncePort != "0" {
			p = f.AnnouncePort
		}
		announce = net.JoinHostPort(h, p)
	}
	return listen, announce
}

// setKey sets (*m)[k] = v, making the map if needed.
func setKey[V any](m *map[string]V, k string, v V) {
	if *m == nil {
		*m = map[string]V{}
	}
	(*m)[k] = v
}
