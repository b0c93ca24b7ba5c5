// Package batchtest builds valid Kafka v2 record batches for tests: the one
// copy of the helper that the broker, partition and tiering tests share.
//
// It imports testing and is for tests only: the server binary must not link
// it (cmd/strata checks that it links no testing).
package batchtest

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/strata-io/strata/internal/batch"
)

// NoProducer is the producer id of a batch from a non-idempotent producer.
const NoProducer = -1

// Values says what the bytes of each record's value are.
type Values int

const (
	// Random values are ValueSize bytes from a generator seeded with Seed
	// and BaseOffset (incompressible).
	Random Values = iota
	// Text values are ValueSize letters of a 4-letter alphabet from the same
	// generator (compressible).
	Text
	// Counted values are "value-<i>" when ValueSize is 0, else ValueSize
	// bytes counting up from i, for record i.
	Counted
)

// Spec describes an uncompressed v2 record batch for Make.
type Spec struct {
	BaseOffset  int64
	Records     int   // number of records, >= 1
	Timestamp   int64 // first timestamp; record i has Timestamp+i
	LeaderEpoch int32 // partition leader epoch in the header
	// ProducerID 0 or NoProducer is a non-idempotent batch: producer id,
	// epoch and base sequence are all -1 on the wire.
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	ValueSize     int    // bytes of each record's value (see Values)
	Values        Values // Random unless set
	Seed          uint64 // for Random and Text
}

// Plain is a spec for a non-idempotent batch of n records with Counted
// values and no leader epoch, as a producer sends it.
func Plain(n int) Spec {
	return Idempotent(NoProducer, -1, -1, n)
}

// Idempotent is a spec for a batch of n records from producer pid at epoch,
// starting at sequence seq, with Counted values and no leader epoch.
func Idempotent(pid int64, epoch int16, seq int32, n int) Spec {
	return Spec{Records: n, Timestamp: 1_700_000_000_000, LeaderEpoch: -1,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Values: Counted}
}

func (s Spec) idempotent() bool { return s.ProducerID != 0 && s.ProducerID != NoProducer }

// String names the batch in test output.
func (s Spec) String() string {
	if !s.idempotent() {
		return fmt.Sprintf("plain ×%d", s.Records)
	}
	return fmt.Sprintf("pid %d epoch %d seq %d ×%d", s.ProducerID, s.ProducerEpoch, s.BaseSequence, s.Records)
}

// Make builds the batch s describes, with a correct CRC-32C, and returns
// it with its header as batch.Validate reads it. It fails the test on a
// spec that cannot be built.
func Make(t testing.TB, s Spec) ([]byte, batch.Header) {
	t.Helper()
	if s.Records < 1 {
		t.Fatalf("batchtest.Make: %d records", s.Records)
	}
	pid, epoch, seq := s.ProducerID, s.ProducerEpoch, s.BaseSequence
	if !s.idempotent() {
		pid, epoch, seq = -1, -1, -1
	}
	b := make([]byte, batch.HeaderSize, batch.HeaderSize+s.Records*(s.ValueSize+16))
	binary.BigEndian.PutUint64(b[0:], uint64(s.BaseOffset))
	binary.BigEndian.PutUint32(b[12:], uint32(s.LeaderEpoch))
	b[16] = 2 // magic
	binary.BigEndian.PutUint32(b[23:], uint32(s.Records-1))
	binary.BigEndian.PutUint64(b[27:], uint64(s.Timestamp))
	binary.BigEndian.PutUint64(b[35:], uint64(s.Timestamp+int64(s.Records-1)))
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[57:], uint32(s.Records))
	rng := rand.New(rand.NewPCG(s.Seed, uint64(s.BaseOffset)))
	value := make([]byte, s.ValueSize)
	var rec []byte
	for i := range s.Records {
		switch {
		case s.Values == Counted && s.ValueSize == 0:
			value = []byte("value-" + strconv.Itoa(i))
		case s.Values == Counted:
			for j := range value {
				value[j] = byte(i + j)
			}
		case s.Values == Text:
			for j := range value {
				value[j] = 'a' + byte(rng.IntN(4))
			}
		default:
			for j := range value {
				value[j] = byte(rng.Uint32())
			}
		}
		rec = append(rec[:0], 0)                 // attributes
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
	h, err := batch.Validate(b)
	if err != nil {
		t.Fatalf("batchtest.Make built an invalid batch: %v", err)
	}
	return b, h
}
