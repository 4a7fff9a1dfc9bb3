package quorum

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/raftsentinel/raftsentinel/state"
)

// openSingle opens a one-voter store on dir (a fresh loopback port each
// time: a single voter needs no stable address).
func openSingle(t *testing.T, dir string) (*Store, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(Options{ID: "m1", Listener: ln, DataDir: dir,
		Peers:            []Peer{{ID: "m1", RaftAddr: ln.Addr().String()}},
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond})
	if err != nil {
		ln.Close()
		return nil, err
	}
	go func() {
		for range s.Effects() {
		}
	}()
	return s, nil
}

// seedStore writes a store with two masters, a snapshot holding the first
// and the log holding the second, and closes it.
func seedStore(t *testing.T, dir string) {
	t.Helper()
	s, err := openSingle(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eventually(t, 10*time.Second, func() error {
		if !s.IsLeader() {
			return errors.New("not leader yet")
		}
		return nil
	})
	for i, name := range []string{"first", "second"} {
		spec := &state.Master{Name: name, Addr: state.Addr{Host: "127.0.0.1", Port: 6379 + i}, Quorum: 1,
			DownAfter: time.Second, FailoverTimeout: time.Minute, ParallelSyncs: 1}
		if err := s.Propose(ctx, state.Command{Op: state.OpMonitor, Master: name, Spec: spec}); err != nil {
			t.Fatalf("monitor %s: %v", name, err)
		}
		if i == 0 {
			if err := s.raft.Snapshot().Error(); err != nil {
				t.Fatalf("snapshot: %v", err)
			}
		}
	}
}

// snapshotDir returns the one snapshot directory under dir.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*"))
	if len(m) != 1 {
		t.Fatalf("snapshots: %v", m)
	}
	return m[0]
}

// TestOpenCorruptDataDir: a data dir whose Raft store or snapshot is
// damaged makes Open fail with an error naming the file, never start
// with a silently smaller state.
func TestOpenCorruptDataDir(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, dir string)
		want    []string
	}{
		{"bolt garbage", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "raft.db"), []byte(strings.Repeat("garbage!", 4096)))
		}, []string{"raft.db"}},
		{"bolt truncated", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, "raft.db"), 100)
		}, []string{"raft.db"}},
		{"bolt empty", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, "raft.db"), 0)
		}, []string{"raft.db"}},
		{"snapshot state truncated", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(snapshotDir(t, dir), "state.bin"), 10)
		}, []string{"snapshot"}},
		{"snapshot state garbage", func(t *testing.T, dir string) {
			p := filepath.Join(snapshotDir(t, dir), "state.bin")
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, p, []byte(strings.Repeat("x", int(st.Size()))))
		}, []string{"snapshot"}},
		{"snapshot meta garbage", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(snapshotDir(t, dir), "meta.json"), []byte("{not json"))
		}, []string{"snapshot", "meta.json"}},
		{"snapshot meta missing", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(snapshotDir(t, dir), "meta.json")); err != nil {
				t.Fatal(err)
			}
		}, []string{"snapshot", "meta.json"}},
		{"snapshots lost after compaction", func(t *testing.T, dir string) {
			// As raft compacts: the entries the snapshot holds leave the log.
			snap := snapshotDir(t, dir)
			b, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
			if err != nil {
				t.Fatal(err)
			}
			if err := b.DeleteRange(1, 2); err != nil {
				t.Fatal(err)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(snap); err != nil {
				t.Fatal(err)
			}
		}, []string{"raft.db", "starts at index 3", "snapshot"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			seedStore(t, dir)
			tc.corrupt(t, dir)
			s, err := openSingle(t, dir)
			if err == nil {
				names := s.State().MasterNames()
				_ = s.Close()
				t.Fatalf("Open succeeded on a corrupt data dir; state has masters %v", names)
			}
			for _, w := range append(tc.want, dir) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// TestOpenIntactAfterSeed is the control of TestOpenCorruptDataDir: the
// seeded store reopens with both masters.
func TestOpenIntactAfterSeed(t *testing.T) {
	dir := t.TempDir()
	seedStore(t, dir)
	s, err := openSingle(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eventually(t, 10*time.Second, func() error {
		if got := strings.Join(s.State().MasterNames(), ","); got != "first,second" {
			return errors.New("masters " + got)
		}
		return nil
	})
}

// TestOpenUnwritableDataDir: a data dir that cannot be created or written
// fails Open with an error naming it.
func TestOpenUnwritableDataDir(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	writeFile(t, file, []byte("x"))
	ro := filepath.Join(base, "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	// A path under a regular file fails for everyone; root ignores
	// permission bits, so the read-only cases only apply to other users.
	cases := []string{filepath.Join(file, "data")}
	if os.Geteuid() != 0 {
		cases = append(cases, ro, filepath.Join(ro, "sub"))
	}
	for _, dir := range cases {
		_, err := openSingle(t, dir)
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("Open(%s) = %v, want an error naming the dir", dir, err)
		}
	}
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, p string, n int64) {
	t.Helper()
	if err := os.Truncate(p, n); err != nil {
		t.Fatal(err)
	}
}
