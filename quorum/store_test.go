package quorum

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftsentinel/raftsentinel/internal/testing/wait"
	"github.com/raftsentinel/raftsentinel/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type node struct {
	store *Store
	http  *httptest.Server
	dir   string
	id    string
	tr    *http.Transport // the forwarder's, when it is not the default
}

// startGroup starts n stores bootstrapped as one group, each with an HTTP
// server for forwarded proposals, and returns them once a leader is known.
func startGroup(t *testing.T, dirs []string, raftAddrs []string) []*node {
	t.Helper()
	return startGroupWith(t, dirs, raftAddrs, groupNet{})
}

// groupNet is how a test group's monitors talk to each other.
type groupNet struct {
	sec       Security    // raft transport and proposal handler
	httpTLS   *tls.Config // the proposal servers' TLS (nil: plain HTTP)
	clientTLS *tls.Config // the forwarders' TLS client config
	// wrap, when set, wraps each node's forwarder.
	wrap func(Forwarder) Forwarder
	// commitTimeout, when set, is every store's Options.CommitTimeout.
	commitTimeout time.Duration
}

// Forwarder is the type of Options.Forward.
type Forwarder = func(ctx context.Context, leader state.Monitor, cmd state.Command) (uint64, error)

// startGroupWith is startGroup with TLS and a cluster secret.
func startGroupWith(t *testing.T, dirs []string, raftAddrs []string, gn groupNet) []*node {
	t.Helper()
	n := len(dirs)
	lns := make([]net.Listener, n)
	peers := make([]Peer, n)
	for i := range n {
		a := "127.0.0.1:0"
		if raftAddrs != nil {
			a = raftAddrs[i]
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		peers[i] = Peer{ID: fmt.Sprintf("m%d", i+1), RaftAddr: ln.Addr().String()}
	}
	nodes := make([]*node, n)
	for i := range n {
		nd := &node{dir: dirs[i], id: peers[i].ID}
		fwd := ForwardOptions{Secret: gn.sec.Secret}
		if gn.clientTLS != nil {
			fwd.TLS = true
			nd.tr = &http.Transport{TLSClientConfig: gn.clientTLS}
			fwd.Client = &http.Client{Transport: nd.tr}
		}
		forward := NewHTTPForwarder(fwd)
		if gn.wrap != nil {
			forward = gn.wrap(forward)
		}
		s, err := Open(Options{ID: nd.id, Listener: lns[i], DataDir: nd.dir, Peers: peers,
			HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
			LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: gn.commitTimeout,
			Forward: forward, Security: gn.sec})
		if err != nil {
			t.Fatal(err)
		}
		nd.store = s
		nd.http = httptest.NewUnstartedServer(s.ProposeHandler())
		if gn.httpTLS != nil {
			nd.http.TLS = gn.httpTLS
			nd.http.StartTLS()
		} else {
			nd.http.Start()
		}
		nodes[i] = nd
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.http.Close()
			if err := nd.store.Close(); err != nil {
				t.Errorf("close %s: %v", nd.id, err)
			}
			if nd.tr != nil {
				nd.tr.CloseIdleConnections()
			}
		}
	})
	go drainEffects(nodes)
	// Every node registers itself (the leader directly, followers through it).
	// Registration runs on all nodes at once, as it does in the daemon: a
	// follower can only forward once the leader has registered itself.
	errc := make(chan error, n)
	for _, nd := range nodes {
		m := &state.Monitor{ID: nd.id, RunID: "run-" + nd.id, RaftAddr: nd.store.RaftAddr(), HTTPAddr: nd.http.Listener.Addr().String()}
		go func() {
			deadline := time.Now().Add(10 * time.Second)
			for {
				err := nd.store.Propose(context.Background(), state.Command{Op: state.OpRegisterMonitor, Monitor: m})
				if err == nil || time.Now().After(deadline) {
					errc <- err
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	for range nodes {
		if err := <-errc; err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	return nodes
}

func drainEffects(nodes []*node) {
	for _, nd := range nodes {
		go func(ch <-chan state.Effect) {
			for range ch {
			}
		}(nd.store.Effects())
	}
}

// eventually retries fn until it returns nil or the deadline passes.
func eventually(t *testing.T, d time.Duration, fn func() error) {
	t.Helper()
	wait.Until(t, d, "condition", fn)
}

// leaderOf returns the node that is Raft leader now, or nil.
func leaderOf(nodes []*node) *node {
	for _, nd := range nodes {
		if nd.store.IsLeader() {
			return nd
		}
	}
	return nil
}

func follower(nodes []*node) *node {
	for _, nd := range nodes {
		if !nd.store.IsLeader() {
			return nd
		}
	}
	return nil
}

func TestGroupForwardingAndRestart(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	ctx := context.Background()
	var raftAddrs []string
	func() {
		nodes := startGroup(t, dirs, nil)
		for _, nd := range nodes {
			raftAddrs = append(raftAddrs, nd.store.RaftAddr())
		}
		f := follower(nodes)
		spec := &state.Master{Name: "mymaster", Addr: addr(1), Quorum: 2, FailoverTimeout: time.Minute}
		if err := f.store.Propose(ctx, state.Command{Op: state.OpAddMaster, Spec: spec}); err != nil {
			t.Fatal(err)
		}
		// Read-your-writes: once Propose returns on a follower, the
		// follower's own state has the change.
		if _, ok := f.store.State().Masters["mymaster"]; !ok {
			t.Fatal("follower's state lacks the change it just proposed")
		}
		// The FSM's verdict travels back through forwarding as the same error value.
		err := f.store.Propose(ctx, state.Command{Op: state.OpFailoverPromoted, Master: "nope", FailoverID: "x"})
		if !errors.Is(err, state.ErrNoSuchMaster) {
			t.Fatalf("forwarded rejection: %v", err)
		}
		if err := f.store.Propose(ctx, state.Command{Op: state.OpFailoverStart, Master: "mymaster", Addr: addr(1), To: addr(2), FailoverID: "f1"}); err != nil {
			t.Fatal(err)
		}
		if err := f.store.Propose(ctx, state.Command{Op: state.OpFailoverPromoted, Master: "mymaster", FailoverID: "f1"}); err != nil {
			t.Fatal(err)
		}
		for _, nd := range nodes {
			eventually(t, 5*time.Second, func() error {
				st := nd.store.State()
				m, ok := st.Masters["mymaster"]
				if !ok || m.Addr != addr(2) || m.ConfigEpoch != 1 || len(st.Monitors) != 3 {
					return fmt.Errorf("%s: state not converged: %+v", nd.id, st)
				}
				return nil
			})
		}
		for _, nd := range nodes {
			nd.http.Close()
			if err := nd.store.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}()

	// Restart every node from its data dir (same raft addresses): the state
	// comes back from disk, without bootstrapping again.
	nodes := startGroup(t, dirs, raftAddrs)
	for _, nd := range nodes {
		eventually(t, 5*time.Second, func() error {
			m, ok := nd.store.State().Masters["mymaster"]
			if !ok || m.Addr != addr(2) || m.ConfigEpoch != 1 || m.Failover.Stage != state.StagePromoted {
				return fmt.Errorf("%s: state after restart: %+v", nd.id, m)
			}
			return nil
		})
	}
}

// TestFollowersLearnCommitsAtOnce stretches raft's periodic commit-index
// announcement to a minute: a change committed on the leader must still
// reach every follower's state, and a Propose forwarded from a follower
// (which waits until the follower has applied it) must still return, in
// about a round trip, because the leader announces each commit as it
// happens. Without that, the followers learn of the commit only with
// raft's next periodic announcement (the test then fails at its 5 s poll).
func TestFollowersLearnCommitsAtOnce(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes := startGroupWith(t, dirs, nil, groupNet{commitTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leader := leaderOf(nodes)
	if leader == nil {
		t.Fatal("no leader after startGroup")
	}
	spec := &state.Master{Name: "fast", Addr: addr(1), Quorum: 2, FailoverTimeout: time.Minute}
	if err := leader.store.Propose(ctx, state.Command{Op: state.OpAddMaster, Spec: spec}); err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes {
		eventually(t, 5*time.Second, func() error {
			if _, ok := nd.store.State().Masters["fast"]; !ok {
				return fmt.Errorf("%s has not applied the leader's commit", nd.id)
			}
			return nil
		})
	}
	f := follower(nodes)
	start := time.Now()
	if err := f.store.Propose(ctx, state.Command{Op: state.OpRemove, Master: "fast"}); err != nil {
		t.Fatalf("forwarded propose: %v (after %v)", err, time.Since(start))
	}
	if _, ok := f.store.State().Masters["fast"]; ok {
		t.Fatal("the follower's state still has the master its own proposal removed")
	}
}

func TestProposeHandlerRejectsBadRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(Options{ID: "solo", Listener: ln, DataDir: t.TempDir(), Peers: []Peer{{ID: "solo", RaftAddr: ln.Addr().String()}},
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range s.Effects() {
		}
	}()
	defer s.Close()
	srv := httptest.NewServer(s.ProposeHandler())
	defer srv.Close()
	eventually(t, 5*time.Second, func() error {
		if !s.IsLeader() {
			return errors.New("not leader yet")
		}
		return nil
	})
	for _, c := range []struct {
		method, body string
		want         int
	}{
		{http.MethodGet, "", http.StatusMethodNotAllowed},
		{http.MethodPost, "{", http.StatusBadRequest},
		{http.MethodPost, `{"op":"opinion","master":"none"}`, http.StatusConflict},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+ProposePath, stringsReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %q: %d, want %d", c.method, c.body, resp.StatusCode, c.want)
		}
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// TestLeaderLeavesItself: a leader asked to remove itself reports success.
// Raft shuts such a leader down as soon as the new configuration commits,
// which can happen before the removal's own future is answered; the leave
// must not then be reported as failed ("store closed") when it committed.
// The race is timing-bound, so several groups are tried.
func TestLeaderLeavesItself(t *testing.T) {
	ctx := context.Background()
	for round := range 4 {
		nodes := startGroup(t, []string{t.TempDir(), t.TempDir(), t.TempDir()}, nil)
		lead := leaderOf(nodes)
		if lead == nil {
			t.Fatalf("round %d: no leader after start", round)
		}
		if err := lead.store.Apply(ctx, state.Command{Op: state.OpLeave, MonitorID: lead.id}); err != nil {
			t.Fatalf("round %d: leader %s leaving itself: %v", round, lead.id, err)
		}
		for _, nd := range nodes {
			if nd == lead {
				continue
			}
			eventually(t, 10*time.Second, func() error {
				servers, err := nd.store.Servers()
				if err != nil {
					return err
				}
				if _, ok := servers[lead.id]; ok || len(servers) != 2 {
					return fmt.Errorf("%s: configuration %v still lists %s", nd.id, servers, lead.id)
				}
				if id, _ := nd.store.Leader(); id == "" || id == lead.id {
					return fmt.Errorf("%s: leader %q", nd.id, id)
				}
				return nil
			})
		}
	}
}

// TestTimeoutNeverUnbounded: a context whose deadline has passed bounds a
// raft call by the shortest timeout; raft would read 0 (or less) as none.
func TestTimeoutNeverUnbounded(t *testing.T) {
	s := &Store{opt: Options{ApplyTimeout: 2 * time.Second}}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if d := s.timeout(ctx); d <= 0 {
		t.Fatalf("expired context: timeout %v, raft would wait unbounded", d)
	}
	if d := s.timeout(context.Background()); d != 2*time.Second {
		t.Fatalf("no deadline: %v, want ApplyTimeout", d)
	}
}
