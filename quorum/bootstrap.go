package quorum

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// ErrHasState is returned by Bootstrap when this node already has Raft
// state (it bootstrapped, joined or was given peers before): such a node
// must never bootstrap again, or a second group could form.
var ErrHasState = errors.New("quorum: this node already has Raft state")

// Bootstrap makes this running node, started without peers, the single
// voter of a new group. It is for discovery (a group that forms itself):
// the others then join. It fails with ErrHasState if the node has any
// Raft state or configuration already. Raft itself refuses a second
// bootstrap on a node with state, so a race between two callers on one
// node is harmless.
func (s *Store) Bootstrap(ctx context.Context) error {
	if servers, err := s.Servers(); err == nil && len(servers) > 0 {
		return ErrHasState
	}
	cfg := raft.Configuration{Servers: []raft.Server{{
		ID: raft.ServerID(s.opt.ID), Address: raft.ServerAddress(s.opt.RaftAddr), Suffrage: raft.Voter,
	}}}
	if err := s.wait(ctx, s.raft.BootstrapCluster(cfg)); err != nil {
		if errors.Is(err, raft.ErrCantBootstrap) {
			return ErrHasState
		}
		return fmt.Errorf("quorum: bootstrap: %w", err)
	}
	return nil
}

// HasGroup reports whether this node belongs to a Raft configuration (it
// bootstrapped, was given peers, or was added by a leader).
func (s *Store) HasGroup() bool {
	servers, err := s.Servers()
	return err == nil && len(servers) > 0
}
