package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/raftsentinel/raftsentinel/acl"
)

// The fuzz targets' seed corpora are the test files (testdata/good,
// testdata/bad, the sentinel.conf examples) plus the files under
// testdata/fuzz/<target>. `make fuzz` runs each target for a short time.

func addFiles(f *testing.F, pattern string) {
	files, _ := filepath.Glob(pattern)
	if len(files) == 0 {
		f.Fatalf("no seed files match %s", pattern)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzImportSentinelConf: any input yields an Imported or an error
// wrapping ErrInvalid, never a panic; an accepted file's masters have
// unique names and a quorum of at least 1, its users unique names, a
// password and rules that Validate accepts.
func FuzzImportSentinelConf(f *testing.F) {
	for _, s := range []string{
		"sentinel monitor mymaster 127.0.0.1 6379 2\nsentinel down-after-milliseconds mymaster 5000\n",
		"port 26380\nbind 0.0.0.0 ::1\nsentinel announce-ip 10.0.0.1\nsentinel announce-port 26381\n",
		"sentinel monitor m \"10.0.0.1\" 6379 1\nsentinel auth-pass m \"p\\x41ss\"\nsentinel auth-user m 'u'\n",
		"requirepass \"a b\"\ndir /tmp\nsentinel myid 0123456789abcdef0123456789abcdef01234567\n",
		"sentinel monitor m ::1 6379 1\nsentinel parallel-syncs m 0\nsentinel failover-timeout m -1\n",
		"sentinel monitor m 127.0.0.1 99999999999999999999 1\n",
		"\"unterminated\n'x\\'\nsentinel\n\x00\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		imp, err := ImportSentinelConf(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, m := range imp.Config.Masters {
			if seen[m.Name] {
				t.Fatalf("duplicate master %q", m.Name)
			}
			seen[m.Name] = true
			if m.Quorum < 1 {
				t.Fatalf("master %q quorum %d", m.Name, m.Quorum)
			}
		}
		users := map[string]bool{}
		for _, u := range imp.Config.Users {
			if users[u.Name] || u.Name == "default" || u.Password == "" {
				t.Fatalf("imported user %+v (duplicate, default or without password)", u)
			}
			users[u.Name] = true
			if _, err := acl.Parse(u.Commands); err != nil {
				t.Fatalf("imported user %s has rules Validate rejects: %v", u.Name, err)
			}
		}
	})
}

// FuzzLoad writes the input as a YAML config file and loads it: Load
// returns a valid Config or an error wrapping ErrInvalid, never panics.
func FuzzLoad(f *testing.F) {
	addFiles(f, "testdata/good/*.yaml")
	addFiles(f, "testdata/bad/*.yaml")
	f.Add([]byte("masters: [{name: a, addr: '1.2.3.4:5', quorum: 99999999999999999999}]"))
	f.Add([]byte("raft: {snapshot-threshold: -1, heartbeat-timeout: 1e309}"))
	f.Add([]byte("&a [*a, *a]"))
	f.Add([]byte("users: [{name: a, password: b, commands: '+@all -sentinel|x'}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(p, nil)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted a config that Validate rejects: %v", err)
		}
	})
}
