package quorum

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/state"
)

// ProposePath is the internal HTTP path on which a leader accepts commands
// forwarded by followers.
const ProposePath = "/internal/v1/propose"

// ProposeHandler serves forwarded proposals: POST a JSON Command; 200 with
// {"index": N} (the entry's log index) when committed, 409 with the FSM's
// verdict when rejected, 421 when this node is not the leader, 400 for a
// malformed body, 401 when Options.Security.Secret is set and the request
// does not prove it (VerifyRequest).
func (s *Store) ProposeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := VerifyRequest(r, s.opt.Security.Secret, body, time.Now()); err != nil {
			s.refusedHTTP.Add(1)
			s.log.Warn("forwarded proposal refused", "remote", r.RemoteAddr, "err", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		cmd, err := state.DecodeCommand(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		// Through Propose: a follower forwards to the leader, so a joining
		// monitor may ask any member.
		index, err := s.propose(r.Context(), cmd)
		switch {
		case err == nil:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(indexBody{Index: index})
		case errors.Is(err, ErrNotLeader):
			http.Error(w, err.Error(), http.StatusMisdirectedRequest)
		case verdictOf(err) != nil:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(verdictBody{Verdict: verdictOf(err).Error(), Message: err.Error()})
		default:
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
}

// ClusterAuthHeader carries the cluster-secret proof of a forwarded
// proposal: "<unix seconds>:<hex HMAC-SHA256>".
const ClusterAuthHeader = "X-Raftsentinel-Cluster-Auth"

// clockSkew is how far a signed request's time may be from the receiver's.
const clockSkew = 60 * time.Second

func requestMAC(secret []byte, method, path, ts string, body []byte) []byte {
	sum := sha256.Sum256(body)
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "raftsentinel-cluster-http\n%s\n%s\n%s\n%x", method, path, ts, sum)
	return m.Sum(nil)
}

// SignRequest sets ClusterAuthHeader on req: an HMAC with secret of its
// method, path, the current time and body (the bytes req will send). No-op
// for an empty secret.
func SignRequest(req *http.Request, secret, body []byte, now time.Time) {
	if len(secret) == 0 {
		return
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set(ClusterAuthHeader, ts+":"+hex.EncodeToString(requestMAC(secret, req.Method, req.URL.Path, ts, body)))
}

// VerifyRequest checks r's ClusterAuthHeader against secret and body (in
// constant time) and that its time is within a minute of now; it returns
// an error wrapping ErrClusterSecret when it does not hold. Every request
// passes when secret is empty.
func VerifyRequest(r *http.Request, secret, body []byte, now time.Time) error {
	if len(secret) == 0 {
		return nil
	}
	h := r.Header.Get(ClusterAuthHeader)
	ts, mac, ok := strings.Cut(h, ":")
	if !ok {
		return fmt.Errorf("%w: no %s header", ErrClusterSecret, ClusterAuthHeader)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: malformed %s header", ErrClusterSecret, ClusterAuthHeader)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > clockSkew || d < -clockSkew {
		return fmt.Errorf("%w: signed %v away from this monitor's clock", ErrClusterSecret, d.Round(time.Second))
	}
	got, err := hex.DecodeString(mac)
	if err != nil || !hmac.Equal(got, requestMAC(secret, r.Method, r.URL.Path, ts, body)) {
		return fmt.Errorf("%w: wrong proof", ErrClusterSecret)
	}
	return nil
}

// verdicts are FSM rejections that travel back to a forwarding follower as
// the same error values.
var verdicts = []error{state.ErrBadCommand, state.ErrUnknownOp, state.ErrNoSuchMaster, state.ErrFailoverInProg, state.ErrStaleAddress,
	state.ErrNoSuchFailover, state.ErrTooSoon, state.ErrWrongStage, state.ErrInvalidMonitorID, state.ErrDuplicateMaster, state.ErrSetting, ErrMembership, state.ErrMergeConflict}

type indexBody struct {
	Index uint64 `json:"index"`
}

type verdictBody struct {
	Verdict string `json:"verdict"`
	Message string `json:"message"`
}

func verdictOf(err error) error {
	for _, v := range verdicts {
		if errors.Is(err, v) {
			return v
		}
	}
	return nil
}

// HTTPForwarder returns an Options.Forward function posting commands to the
// leader's ProposePath over c (nil: http.DefaultClient). It returns the
// committed entry's index; FSM rejections come back as the same exported
// error values.
func HTTPForwarder(c *http.Client) func(ctx context.Context, leader state.Monitor, cmd state.Command) (uint64, error) {
	return NewHTTPForwarder(ForwardOptions{Client: c})
}

// ForwardOptions configure NewHTTPForwarder.
type ForwardOptions struct {
	// Client sends the requests; nil: http.DefaultClient. With TLS its
	// transport must carry the TLS client configuration.
	Client *http.Client
	// TLS selects https.
	TLS bool
	// Secret, when not empty, signs every request (SignRequest).
	Secret []byte
}

// NewHTTPForwarder is HTTPForwarder with TLS and the cluster secret. A
// leader that refuses the proof answers 401, returned as an error wrapping
// ErrClusterSecret.
func NewHTTPForwarder(o ForwardOptions) func(ctx context.Context, leader state.Monitor, cmd state.Command) (uint64, error) {
	c := o.Client
	if c == nil {
		c = http.DefaultClient
	}
	scheme := "http://"
	if o.TLS {
		scheme = "https://"
	}
	return func(ctx context.Context, leader state.Monitor, cmd state.Command) (uint64, error) {
		b, err := cmd.Encode()
		if err != nil {
			return 0, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+leader.HTTPAddr+ProposePath, bytes.NewReader(b))
		if err != nil {
			return 0, err
		}
		SignRequest(req, o.Secret, b, time.Now())
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return 0, fmt.Errorf("quorum: forward to leader %s: %w", leader.ID, err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		text := strings.TrimSpace(string(msg))
		switch resp.StatusCode {
		case http.StatusOK:
			var ib indexBody
			if err := json.Unmarshal(msg, &ib); err != nil {
				return 0, fmt.Errorf("quorum: leader %s: bad reply %q: %w", leader.ID, text, err)
			}
			return ib.Index, nil
		case http.StatusUnauthorized:
			return 0, fmt.Errorf("%w (monitor %s: %s)", ErrClusterSecret, leader.ID, text)
		case http.StatusMisdirectedRequest:
			return 0, fmt.Errorf("%w: %s", ErrNotLeader, text)
		case http.StatusConflict:
			var vb verdictBody
			if json.Unmarshal(msg, &vb) == nil {
				for _, v := range verdicts {
					if v.Error() != vb.Verdict {
						continue
					}
					if v == state.ErrSetting {
						return 0, &state.SettingError{Msg: vb.Message}
					}
					return 0, fmt.Errorf("%w (from leader: %s)", v, vb.Message)
				}
			}
		}
		return 0, fmt.Errorf("quorum: leader %s answered %d: %s", leader.ID, resp.StatusCode, text)
	}
}
