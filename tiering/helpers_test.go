package tiering

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/internal/batch/batchtest"
	"github.com/strata-io/strata/metadata"
)

// batchSpec and makeBatch are internal/batch/batchtest's, under the names
// these tests use; a zero Values is Random and a zero ProducerID is a
// non-idempotent batch.
type batchSpec = batchtest.Spec

func makeBatch(t testing.TB, s batchSpec) []byte {
	t.Helper()
	raw, _ := batchtest.Make(t, s)
	return raw
}

// startEmbedded starts an embedded etcd for the test, closed at its end.
func startEmbedded(t *testing.T) *metadata.Embedded {
	t.Helper()
	e, err := metadata.StartEmbedded(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
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

// readAsync reads e through r on a goroutine of its own; the channel gets
// the read's error, or an error if it did not return want.
func readAsync(t *testing.T, r *Reader, e metadata.ManifestEntry, want []byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		got, err := r.Read(t.Context(), e)
		if err == nil && !bytes.Equal(got, want) {
			err = errors.New("wrong bytes")
		}
		done <- err
	}()
	return done
}

// inFlight counts the calls in flight and the most that were at once.
type inFlight struct {
	n, most atomic.Int32
}

// enter counts a call in and returns how many are in flight.
func (f *inFlight) enter() int32 {
	n := f.n.Add(1)
	for m := f.most.Load(); n > m && !f.most.CompareAndSwap(m, n); m = f.most.Load() {
	}
	return n
}

// leave counts a call out.
func (f *inFlight) leave() { f.n.Add(-1) }
