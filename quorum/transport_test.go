package quorum

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/testing/testcerts"
	"github.com/raftsentinel/raftsentinel/state"
)

// secureNet returns a groupNet with mutual TLS (certificates from a CA made
// here) and the cluster secret.
func secureNet(t *testing.T, secret string) (groupNet, *testcerts.CA) {
	t.Helper()
	ca, pairs := testcerts.MustCA(t, t.TempDir(), "monitor")
	pair := pairs[0]
	kp, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := &tls.Config{Certificates: []tls.Certificate{kp}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12}
	cli, err := ca.ClientConfig(pair)
	if err != nil {
		t.Fatal(err)
	}
	return groupNet{sec: Security{ServerTLS: srv, ClientTLS: cli, Secret: []byte(secret)}, httpTLS: srv, clientTLS: cli}, ca
}

// A group over mutual TLS with the cluster secret elects a leader and
// commits, forwarded proposals included (the forwarders sign over https).
func TestSecureGroupCommits(t *testing.T) {
	gn, _ := secureNet(t, "s3cret")
	nodes := startGroupWith(t, []string{t.TempDir(), t.TempDir(), t.TempDir()}, nil, gn)
	f := follower(nodes)
	spec := &state.Master{Name: "mymaster", Addr: addr(1), Quorum: 2, FailoverTimeout: time.Minute}
	if err := f.store.Propose(context.Background(), state.Command{Op: state.OpAddMaster, Spec: spec}); err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes {
		eventually(t, 5*time.Second, func() error {
			st := nd.store.State()
			if _, ok := st.Masters["mymaster"]; !ok || len(st.Monitors) != 3 {
				return fmt.Errorf("%s: not converged: %+v", nd.id, st)
			}
			return nil
		})
	}
}

// Without the secret nothing reaches raft: a forwarded proposal signed with
// a wrong secret or not at all (join included) is refused with
// ErrClusterSecret, a raw TCP peer gets no byte of raft, a TLS peer
// without a client certificate fails the handshake, and a raft node with a
// wrong secret cannot vote or be appended to. The committed state is
// unchanged by all of it.
func TestWrongSecretIsShutOut(t *testing.T) {
	gn, ca := secureNet(t, "right")
	nodes := startGroupWith(t, []string{t.TempDir(), t.TempDir(), t.TempDir()}, nil, gn)
	leader := leaderOf(nodes)
	if leader == nil {
		leader = nodes[0]
	}
	before := leader.store.State()
	target := state.Monitor{ID: leader.id, HTTPAddr: leader.http.Listener.Addr().String()}
	tr := &http.Transport{TLSClientConfig: gn.clientTLS}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, secret := range []string{"wrong", ""} {
		fwd := NewHTTPForwarder(ForwardOptions{Client: &http.Client{Transport: tr}, TLS: true, Secret: []byte(secret)})
		_, err := fwd(ctx, target, state.Command{Op: state.OpAddMaster, Spec: &state.Master{Name: "evil", Addr: addr(9), Quorum: 1, FailoverTimeout: time.Minute}})
		if !errors.Is(err, ErrClusterSecret) {
			t.Fatalf("proposal with secret %q: %v, want ErrClusterSecret", secret, err)
		}
		_, err = fwd(ctx, target, state.Command{Op: state.OpJoin, Monitor: &state.Monitor{ID: "intruder", RaftAddr: "127.0.0.1:1"}})
		if !errors.Is(err, ErrClusterSecret) {
			t.Fatalf("join with secret %q: %v, want ErrClusterSecret", secret, err)
		}
	}

	// Raw TCP to the raft port: an AppendEntries-looking byte stream gets
	// no answer, the connection is closed.
	conn, err := net.DialTimeout("tcp", leader.store.RaftAddr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte(strings.Repeat("\x00", 64)))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, conn)
	conn.Close()
	if n != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("raw TCP client got %d bytes (err %v), want 0 and a close", n, err)
	}
	// TLS without a client certificate: the handshake fails.
	noCert, _ := ca.ClientConfig(testcerts.Pair{})
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", leader.store.RaftAddr(), noCert)
	if err == nil {
		_ = tc.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = tc.Read(make([]byte, 1))
		tc.Close()
	}
	if err == nil {
		t.Fatal("a TLS client without a certificate got through")
	}

	// A raft node with the right certificates but the wrong secret, which
	// believes itself a voter of the group, campaigns: nobody votes for it
	// and nothing is appended to it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peers := []Peer{{ID: "intruder", RaftAddr: ln.Addr().String()}}
	for _, nd := range nodes {
		peers = append(peers, Peer{ID: nd.id, RaftAddr: nd.store.RaftAddr()})
	}
	bad := gn.sec
	bad.Secret = []byte("wrong")
	rogue, err := Open(Options{ID: "intruder", Listener: ln, DataDir: t.TempDir(), Peers: peers, Security: bad,
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range rogue.Effects() {
		}
	}()
	defer rogue.Close()
	// Give it several election rounds (its timeouts are 100ms).
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if rogue.IsLeader() {
			t.Fatal("the node with the wrong secret became leader")
		}
		if id, _ := rogue.Leader(); id != "" {
			t.Fatalf("the node with the wrong secret learned leader %q", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := rogue.raft.AppliedIndex(); got > 1 { // 1: its own bootstrap configuration
		t.Fatalf("the node with the wrong secret applied index %d", got)
	}
	after := leader.store.State()
	if _, ok := after.Masters["evil"]; ok || len(after.Masters) != len(before.Masters) {
		t.Fatalf("committed state changed: %+v", after.Masters)
	}
	if n := leader.store.refusedHTTP.Load(); n != 4 {
		t.Errorf("raftsentinel_cluster_refused_total{via=http} = %d, want 4", n)
	}
	var raftRefused int64
	for _, nd := range nodes {
		raftRefused += nd.store.refusedRaft.Load()
	}
	if raftRefused < 3 { // the raw client, the TLS client without certificate, the rogue's dials
		t.Errorf("raftsentinel_cluster_refused_total{via=raft} = %d over the group, want >= 3", raftRefused)
	}
	servers, err := leader.store.Servers()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := servers["intruder"]; ok || len(servers) != 3 {
		t.Fatalf("raft configuration changed: %v", servers)
	}
}

// The secret handshake on its own (no TLS): the right secret passes both
// ways, a wrong one fails on both sides with ErrClusterSecret.
func TestSecretHandshake(t *testing.T) {
	for _, c := range []struct {
		dialer, acceptor string
		ok               bool
	}{{"a", "a", true}, {"a", "b", false}} {
		cl, sv := net.Pipe()
		errc := make(chan error, 1)
		go func() {
			_, err := Security{Secret: []byte(c.acceptor), HandshakeTimeout: time.Second}.secureServer(sv)
			sv.Close()
			errc <- err
		}()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, derr := Security{Secret: []byte(c.dialer)}.secureClient(ctx, cl, "127.0.0.1:1")
		cancel()
		cl.Close()
		aerr := <-errc
		if c.ok && (derr != nil || aerr != nil) {
			t.Fatalf("same secret: dialer %v, acceptor %v", derr, aerr)
		}
		if !c.ok && (!errors.Is(derr, ErrClusterSecret) || !errors.Is(aerr, ErrClusterSecret)) {
			t.Fatalf("different secrets: dialer %v, acceptor %v; want ErrClusterSecret on both", derr, aerr)
		}
	}
}

func TestVerifyRequest(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"op":"x"}`)
	req, _ := http.NewRequest(http.MethodPost, "http://h"+ProposePath, nil)
	SignRequest(req, []byte("k"), body, now)
	if err := VerifyRequest(req, []byte("k"), body, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"other body":   VerifyRequest(req, []byte("k"), []byte(`{"op":"y"}`), now),
		"other secret": VerifyRequest(req, []byte("j"), body, now),
		"too old":      VerifyRequest(req, []byte("k"), body, now.Add(2*time.Minute)),
	} {
		if !errors.Is(err, ErrClusterSecret) {
			t.Errorf("%s: %v, want ErrClusterSecret", name, err)
		}
	}
}

// With the secret alone (no TLS), a raw TCP client that speaks raft's wire
// format at once gets no byte back: the listener waits for the handshake,
// finds no magic, and closes.
func TestSecretOnlyRawClientGetsNothing(t *testing.T) {
	nodes := startGroupWith(t, []string{t.TempDir(), t.TempDir(), t.TempDir()}, nil,
		groupNet{sec: Security{Secret: []byte("0123456789abcdef")}})
	for _, nd := range nodes {
		conn, err := net.DialTimeout("tcp", nd.store.RaftAddr(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// rpcRequestVote (1) followed by msgpack noise, as a raft peer
		// without the secret would send.
		_, _ = conn.Write(append([]byte{1}, []byte(strings.Repeat("\x81\xa4Term\x05", 8))...))
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := io.Copy(io.Discard, conn)
		conn.Close()
		if n != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
			t.Fatalf("%s: raw TCP client got %d bytes (err %v), want 0 and a close", nd.id, n, err)
		}
	}
	// The group itself works.
	f := follower(nodes)
	if err := f.store.Propose(context.Background(), state.Command{Op: state.OpAddMaster,
		Spec: &state.Master{Name: "m", Addr: addr(1), Quorum: 1, FailoverTimeout: time.Minute}}); err != nil {
		t.Fatal(err)
	}
}

// A forward that fails to connect (the leader restarted on a new HTTP
// address it has not registered yet, or is gone) sent nothing: Propose
// retries it as "no leader" until ctx ends, instead of failing at once.
func TestProposeRetriesUndeliveredForward(t *testing.T) {
	var refusals atomic.Int64
	refusals.Store(5)
	gn := groupNet{wrap: func(inner Forwarder) Forwarder {
		return func(ctx context.Context, leader state.Monitor, cmd state.Command) (uint64, error) {
			if refusals.Add(-1) >= 0 {
				return 0, &url.Error{Op: "Post", URL: "http://" + leader.HTTPAddr,
					Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
			}
			return inner(ctx, leader, cmd)
		}
	}}
	nodes := startGroupWith(t, []string{t.TempDir(), t.TempDir(), t.TempDir()}, nil, gn)
	f := follower(nodes)
	refusals.Store(5)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.store.Propose(ctx, state.Command{Op: state.OpAddMaster, Spec: &state.Master{Name: "m", Addr: addr(1), Quorum: 1, FailoverTimeout: time.Minute}}); err != nil {
		t.Fatalf("Propose after refused connections: %v", err)
	}
	if _, ok := f.store.State().Masters["m"]; !ok {
		t.Fatal("not applied")
	}
	// Bounded by ctx: a leader that stays unreachable gives ErrNoLeader.
	refusals.Store(1 << 30)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	err := f.store.Propose(ctx2, state.Command{Op: state.OpAddMaster, Spec: &state.Master{Name: "n", Addr: addr(2), Quorum: 1, FailoverTimeout: time.Minute}})
	if !errors.Is(err, ErrNoLeader) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("unreachable leader: %v, want ErrNoLeader naming it unreachable", err)
	}
}
