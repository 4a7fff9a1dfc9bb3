// Package faults holds fault-injection integration tests (build tag
// integration): real redis-server processes and raftsentinel monitors on
// real sockets, under hangs (SIGSTOP), crashes (SIGKILL), partitions (a
// cuttable proxy in front of a Redis node, links cut between live
// monitors; see internal/testing/netfault), replica lag, monitor losses
// and flapping.
package faults
