package partition

import (
	"testing"

	"github.com/strata-io/strata/internal/batch/batchtest"
	"github.com/strata-io/strata/metadata"
)

// The batches these tests build are internal/batch/batchtest's, under the
// names the tests use.
type batchSpec = batchtest.Spec

var (
	plain     = batchtest.Plain      // a non-idempotent batch of n records
	idem      = batchtest.Idempotent // a batch of n records from producer pid
	makeBatch = batchtest.Make       // the batch and its validated header
)

// ledPartition returns a partition this broker (id 1) leads at epoch 1 with
// the given committed state.
func ledPartition(t testing.TB, st metadata.PartitionState) *Partition {
	t.Helper()
	p := newPartition("orders", metadata.PartitionKey{Partition: 0})
	p.lead(metadata.Leadership{Epoch: 1, LeaderEpoch: 0, History: []metadata.EpochStart{{LeaderEpoch: 0, StartOffset: st.HighWatermark}}}, st, nil)
	return p
}

// walWrites records what appendBatch hands to the WAL; err, when set, is
// returned instead.
type walWrites struct {
	batches [][]byte // copies, in call order
	epochs  []int64  // the epoch each was written under
	err     error
}

func (w *walWrites) write(epoch int64, raw []byte) error {
	if w.err != nil {
		return w.err
	}
	w.batches = append(w.batches, append([]byte(nil), raw...))
	w.epochs = append(w.epochs, epoch)
	return nil
}

// appendSpec builds a batch for s and appends it to p without a
// LogAppendTime, failing the test on error.
func appendSpec(t testing.TB, p *Partition, w *walWrites, s batchSpec) AppendResult {
	t.Helper()
	raw, h := makeBatch(t, s)
	res, err := p.Append(raw, h, -1, w.write)
	if err != nil {
		t.Fatalf("appendBatch: %v", err)
	}
	return res
}

func ptr[T any](v T) *T { return &v }
