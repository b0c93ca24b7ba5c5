package partition

import (
	"context"
	"testing"
	"time"

	"github.com/strata-io/strata/metadata"
)

// TestCommitDemand: the Manager's tiering.Demand says something waits for
// the next commit while an acks=all produce waits in WaitCommitted, and
// from a fetch's CommitSignal until the next commit; Changed tells when
// it turns true.
func TestCommitDemand(t *testing.T) {
	m := NewManager(t.Context(), Options{})
	changed := func() bool {
		select {
		case <-m.Changed():
			return true
		default:
			return false
		}
	}
	if m.Waiting() || changed() {
		t.Fatal("a new manager reports something waiting")
	}

	// A fetch that may wait at the high watermark.
	m.CommitSignal()
	if !m.Waiting() || !changed() {
		t.Fatal("CommitSignal did not make a demand")
	}
	m.CommitSignal()
	if changed() {
		t.Fatal("a second CommitSignal before the commit signalled again")
	}
	m.OnCommit(1, nil)
	if m.Waiting() {
		t.Fatal("the fetches' demand outlived the commit they waited for")
	}

	// An acks=all produce waiting for offset 102.
	p := ledPartition(t, metadata.PartitionState{HighWatermark: 100})
	p.demand = m.demand
	appendSpec(t, p, &walWrites{}, plain(3))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a missed wake-up fails, never hangs
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- p.WaitCommitted(ctx, 1, 102) }()
	select {
	case <-m.Changed():
	case <-ctx.Done():
		t.Fatal("a waiting produce did not signal Changed")
	}
	if !m.Waiting() {
		t.Fatal("Waiting is false while a produce waits")
	}
	p.committed(1, metadata.ManifestEntry{}, metadata.PartitionState{HighWatermark: 103})
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	if m.Waiting() {
		t.Fatal("Waiting is true after the produce's commit")
	}
}

// TestHandOffDrainIsDemand: a hand-off waiting for its partition's records
// to be committed counts as something waiting, until they are.
func TestHandOffDrainIsDemand(t *testing.T) {
	m := NewManager(t.Context(), Options{})
	p := ledPartition(t, metadata.PartitionState{HighWatermark: 100})
	p.demand = m.demand
	appendSpec(t, p, &walWrites{}, plain(3))
	drained := make(chan bool, 1)
	go func() { drained <- m.drain(p, 1) }()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a missed wake-up fails, never hangs
	defer cancel()
	select {
	case <-m.Changed():
	case <-ctx.Done():
		t.Fatal("a draining hand-off did not signal Changed")
	}
	if !m.Waiting() {
		t.Fatal("Waiting is false while a hand-off drains")
	}
	p.committed(1, metadata.ManifestEntry{}, metadata.PartitionState{HighWatermark: 103})
	if !<-drained {
		t.Fatal("drain returned false with the manager running")
	}
	if m.Waiting() {
		t.Fatal("Waiting is true after the hand-off drained")
	}
}
