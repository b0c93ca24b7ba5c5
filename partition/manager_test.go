package partition

import (
	"testing"

	"github.com/strata-io/strata/metadata"
)

// TestNextStep: what a broker does with one partition for each combination
// of its own tenure and the view's leader and assignment.
func TestNextStep(t *testing.T) {
	const self, other, lease, otherLease = 1, 2, 0xa, 0xb
	key := metadata.PartitionKey{Partition: 0}
	view := func(rev int64, assigned int32, leader *metadata.Leader) *metadata.View {
		v := &metadata.View{Revision: rev, Assignments: map[metadata.TopicID][]int32{key.Topic: {assigned}},
			Leaders: map[metadata.PartitionKey]metadata.Leader{}}
		if leader != nil {
			v.Leaders[key] = *leader
		}
		return v
	}
	mine := func(epoch int64) *metadata.Leader {
		return &metadata.Leader{Broker: self, Epoch: epoch, Lease: lease}
	}
	theirs := func(epoch int64) *metadata.Leader {
		return &metadata.Leader{Broker: other, Epoch: epoch, Lease: otherLease}
	}
	for _, tc := range []struct {
		name                    string
		v                       *metadata.View
		epoch, ended, undecided int64
		want                    step
		wantTo                  int32
	}{
		{"assigned here, free: acquire", view(10, self, nil), 0, 0, 0, stepAcquire, -1},
		{"assigned elsewhere, free: wait", view(10, other, nil), 0, 0, 0, stepNone, -1},
		{"led by another: nothing", view(10, self, theirs(8)), 0, 0, 0, stepNone, -1},
		{"key of this lease from before a restart: take it back", view(10, other, mine(8)), 0, 0, 0, stepAcquire, -1},
		{"leading, assigned here: nothing", view(10, self, mine(8)), 8, 0, 0, stepNone, -1},
		{"leading, assigned elsewhere: hand over", view(10, other, mine(8)), 8, 0, 0, stepHandOff, other},
		{"leading, view older than the tenure: nothing yet", view(7, self, nil), 8, 0, 0, stepNone, -1},
		{"leading, key gone from a newer view: stop", view(12, self, nil), 8, 0, 0, stepStop, -1},
		{"leading, key taken over: stop", view(12, self, theirs(11)), 8, 0, 0, stepStop, -1},
		// After a hand-off the view may still show the key this broker
		// just deleted: it must not take the partition back (a new
		// tenure), only make sure the key goes.
		{"handed over, view still shows the key: resign, never acquire", view(10, other, mine(8)), 0, 8, 0, stepResign, -1},
		{"handed over, key gone: nothing", view(12, other, nil), 0, 8, 0, stepNone, -1},
		{"handed over earlier, assigned back here: acquire", view(14, self, nil), 0, 8, 0, stepAcquire, -1},
		// A leadership that ended without a hand-off (lease ended, commit
		// fenced) while holding uncommitted records is resumed if it can
		// be, wherever the partition is assigned, and set aside once
		// another broker has led it since.
		{"lease ended, key gone, assigned here: resume", view(14, self, nil), 0, 8, 8, stepResume, -1},
		{"lease ended, key gone, assigned elsewhere: resume all the same", view(14, other, nil), 0, 8, 8, stepResume, -1},
		{"lease ended, another broker leads since: set aside", view(14, other, theirs(12)), 0, 8, 8, stepSetAside, -1},
		{"lease ended, view still shows the old key of another lease: wait", view(9, self, &metadata.Leader{Broker: self, Epoch: 8, Lease: 0x9}), 0, 8, 8, stepNone, -1},
		{"commit fenced, own key still shown: resign first", view(10, self, mine(8)), 0, 8, 8, stepResign, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, to := nextStep(tc.v, key, self, lease, tc.epoch, tc.ended, tc.undecided)
			if got != tc.want || to != tc.wantTo {
				t.Errorf("nextStep = %d (to %d), want %d (to %d)", got, to, tc.want, tc.wantTo)
			}
		})
	}
}
