package partition

import (
	"sync/atomic"

	"github.com/strata-io/strata/tiering"
)

// commitDemand counts what waits for the next commit, for the uploader's
// seals on demand (tiering.Demand, which the Manager implements with it):
// acks=all produces and marker writes in WaitCommitted, hand-offs waiting
// for their partition to drain, and fetches that asked for CommitSignal
// since the last commit. It takes no lock: the uploader reads it between
// two segments and must never wait on a produce.
type commitDemand struct {
	waiting atomic.Int64  // WaitCommitted calls and hand-offs waiting
	fetch   atomic.Bool   // CommitSignal was asked for since the last commit
	changed chan struct{} // capacity 1: Waiting may have turned true
}

func newCommitDemand() *commitDemand {
	return &commitDemand{changed: make(chan struct{}, 1)}
}

// begin counts one more waiter; end must follow. Nil-safe, for partitions
// built outside a Manager (tests).
func (d *commitDemand) begin() {
	if d != nil && d.waiting.Add(1) == 1 {
		d.poke()
	}
}

func (d *commitDemand) end() {
	if d != nil {
		d.waiting.Add(-1)
	}
}

// fetching notes that a fetch may wait for the next commit.
func (d *commitDemand) fetching() {
	if !d.fetch.Load() && !d.fetch.Swap(true) {
		d.poke()
	}
}

func (d *commitDemand) poke() {
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

var _ tiering.Demand = (*Manager)(nil)

// Waiting implements tiering.Demand: an acks=all produce, a marker write
// or a hand-off waits for a commit, or a fetch asked for CommitSignal
// since the last commit.
func (m *Manager) Waiting() bool {
	return m.demand.waiting.Load() > 0 || m.demand.fetch.Load()
}

// Changed implements tiering.Demand.
func (m *Manager) Changed() <-chan struct{} { return m.demand.changed }
