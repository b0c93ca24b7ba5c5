package tiering

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
)

// batchSpec describes a Kafka v2 record batch for makeBatch.
type batchSpec struct {
	base      int64 // base offset
	records   int   // number of records, >= 1
	timestamp int64 // base timestamp; record i has timestamp+i
	valueSize int   // bytes of each record's value
	pid       int64 // producer id; 0 means none (-1 on the wire)
	epoch     int16 // producer epoch
	seq       int32 // base sequence
	seed      uint64
	text      bool // values from a 4-letter alphabet (compressible), else random bytes
}

// makeBatch builds a valid, uncompressed v2 batch with a correct CRC-32C.
func makeBatch(t testing.TB, s batchSpec) []byte {
	t.Helper()
	if s.records < 1 {
		t.Fatalf("makeBatch: %d records", s.records)
	}
	pid, epoch, seq := s.pid, s.epoch, s.seq
	if pid == 0 {
		pid, epoch, seq = -1, -1, -1
	}
	rng := rand.New(rand.NewPCG(s.seed, uint64(s.base)))
	b := make([]byte, batch.HeaderSize, batch.HeaderSize+s.records*(s.valueSize+8))
	binary.BigEndian.PutUint64(b[0:], uint64(s.base))
	b[16] = 2 // magic
	binary.BigEndian.PutUint32(b[23:], uint32(s.records-1))
	binary.BigEndian.PutUint64(b[27:], uint64(s.timestamp))
	binary.BigEndian.PutUint64(b[35:], uint64(s.timestamp+int64(s.records-1)))
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[57:], uint32(s.records))
	value := make([]byte, s.valueSize)
	for i := range s.records {
		for j := range value {
			if s.text {
				value[j] = 'a' + byte(rng.IntN(4))
			} else {
				value[j] = byte(rng.Uint32())
			}
		}
		var rec []byte
		rec = append(rec, 0)                     // attributes
		rec = binary.AppendVarint(rec, int64(i)) // timestamp delta
		rec = binary.AppendVarint(rec, int64(i)) // offset delta
		rec = binary.AppendVarint(rec, -1)       // null key
		rec = binary.AppendVarint(rec, int64(len(value)))
		rec = append(rec, value...)
		rec = binary.AppendVarint(rec, 0) // no headers
		b = binary.AppendVarint(b, int64(len(rec)))
		b = append(b, rec...)
	}
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	if _, err := batch.Validate(b); err != nil {
		t.Fatalf("makeBatch built an invalid batch: %v", err)
	}
	return b
}

// testKey is a partition of one of a few fixed topics.
func testKey(topic byte, partition int32) metadata.PartitionKey {
	var k metadata.PartitionKey
	for i := range k.Topic {
		k.Topic[i] = topic ^ byte(i*7)
	}
	k.Partition = partition
	return k
}

// quarantinedRange is one range of a quarantine directory as `strata
// quarantine` reads it: its note, its entry in the note and its bytes.
type quarantinedRange struct {
	note QuarantineNote
	QuarantinedRange
	data []byte
}

// readQuarantine reads every range of the quarantine directory dir through
// ReadQuarantine and ReadQuarantined, in the notes' order, and checks that
// each entry's counts agree with the bytes it names.
func readQuarantine(t testing.TB, dir string) []quarantinedRange {
	t.Helper()
	notes, err := ReadQuarantine(dir)
	if err != nil {
		t.Fatalf("ReadQuarantine: %v", err)
	}
	var out []quarantinedRange
	for _, n := range notes {
		for _, r := range n.Partitions {
			data, err := ReadQuarantined(dir, n, r)
			if err != nil {
				t.Fatalf("ReadQuarantined %s partition %d: %v", n.Object, r.Partition, err)
			}
			var batches int32
			last := int64(-1)
			if err := batch.Iter(data, func(h batch.Header, _ []byte) error {
				if batches == 0 && h.BaseOffset != r.BaseOffset {
					t.Errorf("%s partition %d: note says base offset %d, first batch has %d", n.Object, r.Partition, r.BaseOffset, h.BaseOffset)
				}
				batches++
				last = h.LastOffset()
				return nil
			}); err != nil {
				t.Fatalf("%s partition %d: %v", n.Object, r.Partition, err)
			}
			if batches != r.Batches || last != r.LastOffset || int64(len(data)) != r.Bytes {
				t.Errorf("%s partition %d: note says %d batches to offset %d in %d bytes, the object holds %d to %d in %d",
					n.Object, r.Partition, r.Batches, r.LastOffset, r.Bytes, batches, last, len(data))
			}
			out = append(out, quarantinedRange{note: n, QuarantinedRange: r, data: data})
		}
	}
	return out
}
