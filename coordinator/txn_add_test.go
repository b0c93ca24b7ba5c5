package coordinator

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/metadata"
)

// TestTxnV2RemoteAdd: a broker that does not coordinate a transactional id
// (a partition leader) adds partitions to its transaction through etcd,
// beginning it; the coordinator, which follows its records, ends it with
// both partitions under a bumped epoch (EndTxn v5), and times out one a
// leader began, under an epoch bumped twice.
func TestTxnV2RemoteAdd(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	prefix := "/strata-test/" + t.Name() + "/"
	coord := newTxnBroker(t, etcd.Endpoint, prefix)
	coord.lead(1)
	leader := newTxnBroker(t, etcd.Endpoint, prefix) // leads no shard
	topic := metadata.NewTopicID()
	p0 := metadata.TxnPartition{Topic: "t", TopicID: topic, Partition: 0}
	p1 := metadata.TxnPartition{Topic: "t", TopicID: topic, Partition: 1}

	init := func(id string, timeoutMs int32) (int64, int16) {
		t.Helper()
		var pid int64
		var epoch int16
		if err := retry(t, func() (err error) {
			pid, epoch, err = coord.txns.InitProducerID(t.Context(), id, timeoutMs, -1, -1)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return pid, epoch
	}
	pid, epoch := init("r", 60_000)
	if err := leader.txns.AddImplicit(t.Context(), "r", pid, epoch+1, []metadata.TxnPartition{p0}, nil); err == nil {
		t.Fatal("an implicit addition under another epoch succeeded")
	}
	for _, p := range []metadata.TxnPartition{p0, p1} {
		if err := retry(t, func() error {
			return leader.txns.AddImplicit(t.Context(), "r", pid, epoch, []metadata.TxnPartition{p}, nil)
		}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		m := waitState(t, coord.txns, "r", metadata.TxnOngoing)
		if m.HasPartition("t", 0) && m.HasPartition("t", 1) {
			if m.TxnVersion != 2 {
				t.Errorf("transaction version %d, want 2", m.TxnVersion)
			}
			break
		}
	}
	var newPID int64
	var newEpoch int16
	if err := retry(t, func() (err error) {
		newPID, newEpoch, err = coord.txns.EndTxn(t.Context(), "r", pid, epoch, true, 2)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if newPID != pid || newEpoch != epoch+1 {
		t.Errorf("EndTxn v5 answered %d/%d, want %d/%d", newPID, newEpoch, pid, epoch+1)
	}
	done := waitState(t, coord.txns, "r", metadata.TxnCompleteCommit)
	if done.ProducerEpoch != epoch+1 {
		t.Errorf("completed at epoch %d, want %d", done.ProducerEpoch, epoch+1)
	}
	// Both brokers lead every partition here: either may write a marker.
	parts := map[int32]bool{}
	for _, b := range []*txnBroker{coord, leader} {
		b.mu.Lock()
		for _, w := range b.written {
			if !w.IsGroup && w.Marker.ProducerID == pid && w.Marker.Commit && w.Marker.ProducerEpoch == epoch+1 {
				parts[w.Partition.Partition] = true
			}
		}
		b.mu.Unlock()
	}
	if len(parts) != 2 {
		t.Errorf("COMMIT markers at epoch %d written for partitions %v, want 0 and 1", epoch+1, parts)
	}

	// A transaction a leader began times out at its coordinator.
	spid, sepoch := init("slow", 1)
	if err := retry(t, func() error {
		return leader.txns.AddImplicit(t.Context(), "slow", spid, sepoch, []metadata.TxnPartition{p0}, nil)
	}); err != nil {
		t.Fatal(err)
	}
	if m := waitState(t, coord.txns, "slow", metadata.TxnCompleteAbort); m.ProducerEpoch != sepoch+2 {
		t.Errorf("timed out at epoch %d, want %d (fenced, then aborted)", m.ProducerEpoch, sepoch+2)
	}
}

// TestTxnV2AddWaitsForEnd: the first implicit addition of a producer's
// next transaction, made while the previous one's markers are still being
// written, waits for that transaction to complete and succeeds, instead
// of answering CONCURRENT_TRANSACTIONS (which franz-go retries only after
// a metadata refresh, seconds later): from a leader that does not
// coordinate the id, and from the coordinator itself. Without a deadline
// it answers CONCURRENT_TRANSACTIONS at once, as before.
func TestTxnV2AddWaitsForEnd(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	prefix := "/strata-test/" + t.Name() + "/"
	coord := newTxnBroker(t, etcd.Endpoint, prefix)
	coord.lead(1)
	leader := newTxnBroker(t, etcd.Endpoint, prefix) // leads no shard
	topic := metadata.NewTopicID()
	p0 := metadata.TxnPartition{Topic: "t", TopicID: topic, Partition: 0}
	// Only the coordinator's broker writes markers here.
	leader.mu.Lock()
	leader.leads = false
	leader.mu.Unlock()

	for _, adder := range []*txnBroker{leader, coord} {
		id := "wait-by-coordinator-" + strconv.FormatBool(adder == coord)
		var pid int64
		var epoch int16
		if err := retry(t, func() (err error) {
			pid, epoch, err = coord.txns.InitProducerID(t.Context(), id, 60_000, -1, -1)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := retry(t, func() error {
			return adder.txns.AddImplicit(t.Context(), id, pid, epoch, []metadata.TxnPartition{p0}, nil)
		}); err != nil {
			t.Fatal(err)
		}
		waitState(t, coord.txns, id, metadata.TxnOngoing)
		// The markers cannot be written until the addition below has
		// read the record once.
		coord.mu.Lock()
		coord.writeOK = false
		coord.mu.Unlock()
		var next int16
		if err := retry(t, func() (err error) {
			_, next, err = coord.txns.EndTxn(t.Context(), id, pid, epoch, true, 2)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		waitState(t, coord.txns, id, metadata.TxnPrepareCommit)

		if err := adder.txns.AddImplicit(t.Context(), id, pid, next, []metadata.TxnPartition{p0}, nil); err != kerr.ConcurrentTransactions {
			t.Fatalf("addition without a deadline while the markers are written: %v, want CONCURRENT_TRANSACTIONS", err)
		}

		// The addition's first try lets the markers be written: it must
		// wait for the end to complete.
		var once sync.Once
		adder.txns.onAddTry = func(error) {
			once.Do(func() {
				coord.mu.Lock()
				coord.writeOK = true
				coord.mu.Unlock()
			})
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a guard, not a measure
		err := adder.txns.AddImplicit(ctx, id, pid, next, []metadata.TxnPartition{p0}, nil)
		cancel()
		adder.txns.onAddTry = nil
		if err != nil {
			t.Fatalf("first addition of the next transaction (coordinator %v): %v, want it to wait for the previous end", adder == coord, err)
		}
		m := waitState(t, coord.txns, id, metadata.TxnOngoing)
		if m.ProducerEpoch != next || !m.HasPartition("t", 0) {
			t.Errorf("next transaction: epoch %d, partitions %v; want epoch %d with t/0", m.ProducerEpoch, m.Partitions, next)
		}
	}
}
