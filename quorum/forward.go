package quorum

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ProposePath is the internal HTTP path on which a leader accepts commands
// forwarded by followers.
const ProposePath = "/internal/v1/propose"

// ProposeHandler serves forwarded proposals: POST a JSON Command; 200 with
// {"index": N} (the entry's log index) when committed, 409 with the FSM's
// verdict when rejected, 421 when this node is not the leader, 400 for a
// malformed body.
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
		cmd, err := DecodeCommand(body)
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

// verdicts are FSM rejections that travel back to a forwarding follower as
// the same error values.
var verdicts = []error{ErrBadCommand, ErrUnknownOp, ErrNoSuchMaster, ErrFailoverInProg, ErrStaleAddress,
	ErrNoSuchFailover, ErrTooSoon, ErrWrongStage, ErrInvalidMonitorID, ErrDuplicateMaster, ErrSetting, ErrMembership}

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
func HTTPForwarder(c *http.Client) func(ctx context.Context, leader Monitor, cmd Command) (uint64, error) {
	if c == nil {
		c = http.DefaultClient
	}
	return func(ctx context.Context, leader Monitor, cmd Command) (uint64, error) {
		b, err := cmd.Encode()
		if err != nil {
			return 0, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+leader.HTTPAddr+ProposePath, bytes.NewReader(b))
		if err != nil {
			return 0, err
		}
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
		case http.StatusMisdirectedRequest:
			return 0, fmt.Errorf("%w: %s", ErrNotLeader, text)
		case http.StatusConflict:
			var vb verdictBody
			if json.Unmarshal(msg, &vb) == nil {
				for _, v := range verdicts {
					if v.Error() != vb.Verdict {
						continue
					}
					if v == ErrSetting {
						return 0, &SettingError{Msg: vb.Message}
					}
					return 0, fmt.Errorf("%w (from leader: %s)", v, vb.Message)
				}
			}
		}
		return 0, fmt.Errorf("quorum: leader %s answered %d: %s", leader.ID, resp.StatusCode, text)
	}
}
