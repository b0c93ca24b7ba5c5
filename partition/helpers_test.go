package partition

import (
	"encoding/binary"
	"hash/crc32"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
)

// noProducer is the producer id of a batch from a non-idempotent producer.
const noProducer = -1

// batchSpec describes a Kafka v2 record batch for makeBatch.
type batchSpec struct {
	records   int   // number of records, >= 1
	timestamp int64 // first timestamp; record i has timestamp+i
	valueSize int   // bytes of each record's value; 0 means a short value
	pid       int64 // producer id; noProducer for a non-idempotent batch
	epoch     int16 // producer epoch
	seq       int32 // base sequence
}

// plain is a spec for a non-idempotent batch of n records.
func plain(n int) batchSpec {
	return batchSpec{records: n, timestamp: 1_700_000_000_000, pid: noProducer, epoch: -1, seq: -1}
}

// idem is a spec for an idempotent batch of n records.
func idem(pid int64, epoch int16, seq int32, n int) batchSpec {
	return batchSpec{records: n, timestamp: 1_700_000_000_000, pid: pid, epoch: epoch, seq: seq}
}

// makeBatch builds a valid, uncompressed v2 batch at base offset 0 with
// records encoded by kmsg and a correct CRC-32C, and returns it with its
// validated header.
func makeBatch(t testing.TB, s batchSpec) ([]byte, batch.Header) {
	t.Helper()
	if s.records < 1 {
		t.Fatalf("makeBatch: %d records", s.records)
	}
	var records []byte
	for i := range s.records {
		value := []byte("value-" + strconv.Itoa(i))
		if s.valueSize > 0 {
			value = make([]byte, s.valueSize)
			for j := range value {
				value[j] = byte(i + j)
			}
		}
		r := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Value: value}
		// Length counts the bytes after itself: encode once with a zero
		// length (one varint byte) to measure them.
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		records = r.AppendTo(records)
	}
	rb := kmsg.RecordBatch{
		Length:               int32(batch.HeaderSize - 12 + len(records)),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(s.records - 1),
		FirstTimestamp:       s.timestamp,
		MaxTimestamp:         s.timestamp + int64(s.records-1),
		ProducerID:           s.pid,
		ProducerEpoch:        s.epoch,
		FirstSequence:        s.seq,
		NumRecords:           int32(s.records),
		Records:              records,
	}
	raw := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	h, err := batch.Validate(raw)
	if err != nil {
		t.Fatalf("makeBatch built an invalid batch: %v", err)
	}
	return raw, h
}

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
