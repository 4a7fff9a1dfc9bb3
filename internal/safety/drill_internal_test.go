//go:build integration

package safety

import (
	"slices"
	"testing"
)

func TestAttribute(t *testing.T) {
	recs := []FailoverRecord{{InFlightAtKill: 10}, {InFlightAtKill: 20}}
	got := attribute([]int64{0, 10, 11, 20, 21, 99}, recs)
	if want := []int{2, 2, 2}; !slices.Equal(got, want) {
		t.Fatalf("attribute = %v, want %v", got, want)
	}
	if got := attribute(nil, nil); !slices.Equal(got, []int{0}) {
		t.Fatalf("attribute without failovers = %v", got)
	}
}

func TestPromotedBest(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rec         FailoverRecord
		best, known bool
	}{
		{"highest", FailoverRecord{New: "a", Replicas: []ReplicaAtKill{{Addr: "a", Offset: 9}, {Addr: "b", Offset: 7}}}, true, true},
		{"tie", FailoverRecord{New: "b", Replicas: []ReplicaAtKill{{Addr: "a", Offset: 9}, {Addr: "b", Offset: 9}}}, true, true},
		{"lower", FailoverRecord{New: "b", Replicas: []ReplicaAtKill{{Addr: "a", Offset: 9}, {Addr: "b", Offset: 7}}}, false, true},
		{"unknown offset", FailoverRecord{New: "a", Replicas: []ReplicaAtKill{{Addr: "a", Offset: 9}, {Addr: "b", Offset: -1}}}, false, false},
		{"not a survivor", FailoverRecord{New: "c", Replicas: []ReplicaAtKill{{Addr: "a", Offset: 9}}}, false, false},
	} {
		if best, known := tc.rec.PromotedBest(); best != tc.best || known != tc.known {
			t.Errorf("%s: PromotedBest = %t, %t; want %t, %t", tc.name, best, known, tc.best, tc.known)
		}
	}
}
