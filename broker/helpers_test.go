package broker

import (
	"encoding/binary"
	"hash/crc32"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/batch"
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

// frame encodes a request frame's body (after the size prefix) as a client
// sends it: the request header (key, version, correlation id, client id, and
// an empty tag section for flexible versions) and the request.
func frame(req kmsg.Request, corr int32, clientID *string) []byte {
	b := kbin.AppendInt16(nil, req.Key())
	b = kbin.AppendInt16(b, req.GetVersion())
	b = kbin.AppendInt32(b, corr)
	b = kbin.AppendNullableString(b, clientID)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

// header encodes only a request header with no tag section.
func header(key, version int16, corr int32, clientID *string) []byte {
	b := kbin.AppendInt16(nil, key)
	b = kbin.AppendInt16(b, version)
	b = kbin.AppendInt32(b, corr)
	return kbin.AppendNullableString(b, clientID)
}

// requestAt returns kmsg's default request for key at version.
func requestAt(key, version int16) kmsg.Request {
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	return req
}

func ptr[T any](v T) *T { return &v }
