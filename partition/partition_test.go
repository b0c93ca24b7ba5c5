package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
)

// appendWant is the outcome of one appendBatch call.
type appendWant struct {
	base, last int64
	duplicate  bool
	err        error // nil: accepted
}

func accepted(base, last int64) appendWant { return appendWant{base: base, last: last} }
func duplicate(base, last int64) appendWant {
	return appendWant{base: base, last: last, duplicate: true}
}
func rejected(err error) appendWant { return appendWant{err: err} }

// appendStep is one batch handed to appendBatch and what must come of it.
type appendStep struct {
	batch batchSpec
	want  appendWant
}

// runSteps appends each step's batch to p and checks the result. An accepted
// batch is written exactly once, with its assigned base offset in its bytes;
// a duplicate or a rejected batch is not written.
func runSteps(t *testing.T, p *Partition, steps []appendStep) {
	t.Helper()
	w := &walWrites{}
	for i, s := range steps {
		raw, h := makeBatch(t, s.batch)
		writes := len(w.batches)
		res, err := p.Append(raw, h, -1, w.write)
		if !errors.Is(err, s.want.err) || (err != nil) != (s.want.err != nil) {
			t.Fatalf("step %d (%s): err = %v, want %v", i, s.batch, err, s.want.err)
		}
		if err != nil {
			if len(w.batches) != writes {
				t.Fatalf("step %d (%s): rejected batch was written", i, s.batch)
			}
			continue
		}
		got := appendWant{base: res.Base, last: res.Last, duplicate: res.Duplicate}
		if got != s.want {
			t.Fatalf("step %d (%s): got %+v, want %+v", i, s.batch, got, s.want)
		}
		if res.Duplicate {
			if len(w.batches) != writes {
				t.Fatalf("step %d (%s): duplicate was written again", i, s.batch)
			}
			continue
		}
		if len(w.batches) != writes+1 {
			t.Fatalf("step %d (%s): %d writes, want 1", i, s.batch, len(w.batches)-writes)
		}
		written := w.batches[writes]
		wh, err := batch.Validate(written)
		if err != nil {
			t.Fatalf("step %d (%s): written batch invalid: %v", i, s.batch, err)
		}
		if wh.BaseOffset != res.Base || wh.LastOffset() != res.Last {
			t.Fatalf("step %d (%s): written batch holds offsets %d-%d, assigned %d-%d", i, s.batch, wh.BaseOffset, wh.LastOffset(), res.Base, res.Last)
		}
		if !bytes.Equal(written[8:], raw[8:]) {
			t.Fatalf("step %d (%s): bytes after the base offset changed", i, s.batch)
		}
	}
}

func TestAppendBatch(t *testing.T) {
	const maxSeq = math.MaxInt32
	cases := []struct {
		name      string
		producers map[int64]metadata.ProducerState // committed producer state at lead
		steps     []appendStep
	}{
		{
			name: "offsets are assigned contiguously from the high watermark",
			steps: []appendStep{
				{plain(3), accepted(100, 102)},
				{plain(1), accepted(103, 103)},
				{plain(5), accepted(104, 108)},
			},
		},
		{
			name: "non-idempotent batches are never deduplicated",
			steps: []appendStep{
				{plain(2), accepted(100, 101)},
				{plain(2), accepted(102, 103)},
			},
		},
		{
			name: "the first batch of an unknown producer is accepted at any sequence",
			steps: []appendStep{
				{idem(7, 0, 42, 2), accepted(100, 101)},
				{idem(7, 0, 44, 1), accepted(102, 102)},
			},
		},
		{
			name: "in-sequence batches are accepted",
			steps: []appendStep{
				{idem(7, 0, 0, 3), accepted(100, 102)},
				{idem(7, 0, 3, 2), accepted(103, 104)},
				{idem(7, 0, 5, 1), accepted(105, 105)},
			},
		},
		{
			name: "a retry of one of the last five batches is a duplicate at its original offsets",
			steps: []appendStep{
				{idem(7, 0, 0, 2), accepted(100, 101)},
				{idem(7, 0, 2, 2), accepted(102, 103)},
				{idem(7, 0, 4, 2), accepted(104, 105)},
				{idem(7, 0, 6, 2), accepted(106, 107)},
				{idem(7, 0, 8, 2), accepted(108, 109)},
				{idem(7, 0, 0, 2), duplicate(100, 101)},
				{idem(7, 0, 4, 2), duplicate(104, 105)},
				{idem(7, 0, 8, 2), duplicate(108, 109)},
				{idem(7, 0, 10, 1), accepted(110, 110)},
			},
		},
		{
			name: "a retry older than the last five batches is out of order",
			steps: []appendStep{
				{idem(7, 0, 0, 1), accepted(100, 100)},
				{idem(7, 0, 1, 1), accepted(101, 101)},
				{idem(7, 0, 2, 1), accepted(102, 102)},
				{idem(7, 0, 3, 1), accepted(103, 103)},
				{idem(7, 0, 4, 1), accepted(104, 104)},
				{idem(7, 0, 5, 1), accepted(105, 105)},
				{idem(7, 0, 0, 1), rejected(kerr.OutOfOrderSequenceNumber)},
				{idem(7, 0, 1, 1), duplicate(101, 101)},
			},
		},
		{
			name: "a batch overlapping a stored one but not equal to it is out of order",
			steps: []appendStep{
				{idem(7, 0, 0, 3), accepted(100, 102)},
				{idem(7, 0, 0, 2), rejected(kerr.OutOfOrderSequenceNumber)},
				{idem(7, 0, 1, 2), rejected(kerr.OutOfOrderSequenceNumber)},
			},
		},
		{
			name: "a sequence gap is out of order and changes nothing",
			steps: []appendStep{
				{idem(7, 0, 0, 2), accepted(100, 101)},
				{idem(7, 0, 3, 1), rejected(kerr.OutOfOrderSequenceNumber)},
				{idem(7, 0, 2, 1), accepted(102, 102)},
			},
		},
		{
			name: "an older producer epoch is fenced, retries included",
			steps: []appendStep{
				{idem(7, 2, 0, 1), accepted(100, 100)},
				{idem(7, 1, 1, 1), rejected(kerr.InvalidProducerEpoch)},
				{idem(7, 1, 0, 1), rejected(kerr.InvalidProducerEpoch)},
				{idem(7, 2, 1, 1), accepted(101, 101)},
			},
		},
		{
			name: "a newer producer epoch starts again at sequence 0",
			steps: []appendStep{
				{idem(7, 0, 0, 3), accepted(100, 102)},
				{idem(7, 1, 0, 1), accepted(103, 103)},
				{idem(7, 1, 1, 1), accepted(104, 104)},
				{idem(7, 1, 0, 1), duplicate(103, 103)},
				{idem(7, 0, 0, 3), rejected(kerr.InvalidProducerEpoch)},
			},
		},
		{
			name: "a newer producer epoch at a nonzero sequence is out of order",
			steps: []appendStep{
				{idem(7, 0, 0, 3), accepted(100, 102)},
				{idem(7, 1, 3, 1), rejected(kerr.OutOfOrderSequenceNumber)},
				{idem(7, 1, 0, 1), accepted(103, 103)},
			},
		},
		{
			name: "the sequence after MaxInt32 is 0",
			steps: []appendStep{
				{idem(7, 0, maxSeq-1, 2), accepted(100, 101)},
				{idem(7, 0, 1, 1), rejected(kerr.OutOfOrderSequenceNumber)},
				{idem(7, 0, 0, 1), accepted(102, 102)},
			},
		},
		{
			name: "a batch's sequences may wrap past MaxInt32",
			steps: []appendStep{
				{idem(7, 0, maxSeq, 3), accepted(100, 102)},
				{idem(7, 0, maxSeq, 3), duplicate(100, 102)},
				{idem(7, 0, 2, 1), accepted(103, 103)},
			},
		},
		{
			name: "producers are checked independently",
			steps: []appendStep{
				{idem(7, 0, 0, 1), accepted(100, 100)},
				{idem(8, 0, 0, 1), accepted(101, 101)},
				{idem(7, 0, 1, 1), accepted(102, 102)},
				{idem(8, 0, 5, 1), rejected(kerr.OutOfOrderSequenceNumber)},
				{idem(8, 0, 0, 1), duplicate(101, 101)},
				{plain(1), accepted(103, 103)},
			},
		},
		{
			name: "committed producer state installed at lead recognises retries",
			producers: map[int64]metadata.ProducerState{
				7: {Epoch: 3, Batches: []metadata.ProducerBatch{{FirstSeq: 0, LastSeq: 4, BaseOffset: 95}}},
			},
			steps: []appendStep{
				{idem(7, 3, 0, 5), duplicate(95, 99)},
				{idem(7, 3, 6, 1), rejected(kerr.OutOfOrderSequenceNumber)},
				{idem(7, 2, 5, 1), rejected(kerr.InvalidProducerEpoch)},
				{idem(7, 3, 5, 1), accepted(100, 100)},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := ledPartition(t, metadata.PartitionState{HighWatermark: 100, LogStartOffset: 0, Producers: c.producers})
			runSteps(t, p, c.steps)
		})
	}
}

func TestAppendBatchNotLeader(t *testing.T) {
	cases := []struct {
		name string
		make func(t *testing.T) *Partition
	}{
		{"never led", func(t *testing.T) *Partition { return newPartition("orders", metadata.PartitionKey{}) }},
		{"fenced", func(t *testing.T) *Partition {
			p := ledPartition(t, metadata.PartitionState{HighWatermark: 100})
			p.stop(1)
			return p
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.make(t)
			runSteps(t, p, []appendStep{
				{plain(1), rejected(kerr.NotLeaderForPartition)},
				{idem(7, 0, 0, 1), rejected(kerr.NotLeaderForPartition)},
			})
			// Leading again (as after re-acquiring leadership) serves from the
			// committed state.
			p.lead(metadata.Leadership{Epoch: 2, LeaderEpoch: 1}, metadata.PartitionState{HighWatermark: 50}, nil)
			runSteps(t, p, []appendStep{{plain(1), accepted(50, 50)}})
		})
	}
}

func TestAppendBatchWriteErrorConsumesNothing(t *testing.T) {
	errDisk := errors.New("disk full")
	cases := []struct {
		name  string
		batch batchSpec
	}{
		{"plain batch", plain(3)},
		{"idempotent batch", idem(7, 0, 0, 3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := ledPartition(t, metadata.PartitionState{HighWatermark: 100})
			runSteps(t, p, []appendStep{{plain(2), accepted(100, 101)}})

			raw, h := makeBatch(t, c.batch)
			w := &walWrites{err: errDisk}
			if _, err := p.Append(raw, h, -1, w.write); !errors.Is(err, errDisk) {
				t.Fatalf("err = %v, want %v", err, errDisk)
			}
			// The offsets and the sequence are still free: the same batch
			// is accepted (not a duplicate) at the same offset.
			runSteps(t, p, []appendStep{{c.batch, accepted(102, 104)}})
			if len(p.mem) != 2 {
				t.Errorf("%d batches in memory, want 2", len(p.mem))
			}
		})
	}
}

func TestAppendBatchLogAppendTime(t *testing.T) {
	const appendTime = 1_800_000_000_000
	cases := []struct {
		name          string
		logAppendTime int64
		wantTs        int64 // base and max timestamp of the written batch
		wantTypeBit   bool
	}{
		{"CreateTime keeps the producer's timestamps", -1, 0, false},
		{"LogAppendTime rewrites the timestamps", appendTime, appendTime, true},
		{"LogAppendTime at 0 is a time, not unset", 0, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := ledPartition(t, metadata.PartitionState{HighWatermark: 100})
			spec := plain(4)
			raw, h := makeBatch(t, spec)
			wantBase, wantMax := c.wantTs, c.wantTs
			if c.logAppendTime < 0 {
				wantBase, wantMax = h.BaseTimestamp, h.MaxTimestamp
			}
			w := &walWrites{}
			if _, err := p.Append(raw, h, c.logAppendTime, w.write); err != nil {
				t.Fatal(err)
			}
			wh, err := batch.Validate(w.batches[0])
			if err != nil {
				t.Fatalf("written batch invalid (CRC not recomputed?): %v", err)
			}
			if wh.BaseTimestamp != wantBase || wh.MaxTimestamp != wantMax {
				t.Errorf("timestamps %d/%d, want %d/%d", wh.BaseTimestamp, wh.MaxTimestamp, wantBase, wantMax)
			}
			if got := wh.Attributes&(1<<3) != 0; got != c.wantTypeBit {
				t.Errorf("LogAppendTime attribute = %v, want %v", got, c.wantTypeBit)
			}
			// The in-memory index (ListOffsets by time skips batches by it)
			// has the timestamp consumers will see.
			if len(p.mem) != 1 {
				t.Fatalf("%d batches in memory, want 1", len(p.mem))
			}
			if p.mem[0].maxTs != wantMax {
				t.Errorf("in-memory max timestamp = %d, want %d", p.mem[0].maxTs, wantMax)
			}
		})
	}
}

// bigBatches appends n one-record batches of about size bytes each to a
// partition led from offset 0, and returns it with the batches' sizes.
func bigBatches(t *testing.T, n, size int) (*Partition, []int) {
	t.Helper()
	p := ledPartition(t, metadata.PartitionState{})
	w := &walWrites{}
	var sizes []int
	for range n {
		s := plain(1)
		s.ValueSize = size - 80
		appendSpec(t, p, w, s)
		sizes = append(sizes, len(w.batches[len(w.batches)-1]))
	}
	return p, sizes
}

func TestCommitted(t *testing.T) {
	// Four of these fit in the tail window; five do not.
	const size = tailBytes / 4
	cases := []struct {
		name     string
		batches  int
		commits  []int64 // high watermarks committed, in order
		wantHWM  int64
		wantMem  []int64 // base offsets kept in memory
		manifest int     // manifest entries added
	}{
		{
			name: "a commit advances the high watermark", batches: 3, commits: []int64{2},
			wantHWM: 2, wantMem: []int64{0, 1, 2}, manifest: 1,
		},
		{
			name: "stale and repeated states are ignored", batches: 3, commits: []int64{2, 2, 1, 0},
			wantHWM: 2, wantMem: []int64{0, 1, 2}, manifest: 1,
		},
		{
			name: "committed batches beyond the tail window are dropped, oldest first", batches: 6, commits: []int64{6},
			wantHWM: 6, wantMem: []int64{2, 3, 4, 5}, manifest: 1,
		},
		{
			name: "trimming stops at the first uncommitted batch", batches: 6, commits: []int64{5},
			wantHWM: 5, wantMem: []int64{1, 2, 3, 4, 5}, manifest: 1,
		},
		{
			name: "uncommitted batches are kept however many bytes they hold", batches: 6, commits: []int64{1},
			wantHWM: 1, wantMem: []int64{0, 1, 2, 3, 4, 5}, manifest: 1,
		},
		{
			name: "each commit trims what fell out of the window", batches: 6, commits: []int64{1, 3, 5, 6},
			wantHWM: 6, wantMem: []int64{2, 3, 4, 5}, manifest: 4,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, sizes := bigBatches(t, c.batches, size)
			if 4*sizes[0] > tailBytes || 5*sizes[0] <= tailBytes {
				t.Fatalf("batch size %d: want four, not five, in %d bytes", sizes[0], tailBytes)
			}
			for _, hwm := range c.commits {
				p.mu.Lock()
				changed, before := p.changed, p.hwm
				p.mu.Unlock()
				p.committed(1, metadata.ManifestEntry{LastOffset: hwm - 1}, metadata.PartitionState{HighWatermark: hwm})
				select {
				case <-changed:
					if hwm <= before {
						t.Errorf("stale commit of %d (hwm %d) woke waiters", hwm, before)
					}
				default:
					if hwm > before {
						t.Errorf("commit of %d (hwm %d) did not wake waiters", hwm, before)
					}
				}
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.hwm != c.wantHWM {
				t.Errorf("hwm = %d, want %d", p.hwm, c.wantHWM)
			}
			var mem []int64
			committedBytes := 0
			for _, m := range p.mem {
				mem = append(mem, m.base)
				if m.last < p.hwm {
					committedBytes += len(m.data)
				}
			}
			if fmt.Sprint(mem) != fmt.Sprint(c.wantMem) {
				t.Errorf("batches in memory start at %v, want %v", mem, c.wantMem)
			}
			if p.memBytes != committedBytes || p.memBytes > tailBytes {
				t.Errorf("memBytes = %d, want the %d committed bytes in memory, at most %d", p.memBytes, committedBytes, tailBytes)
			}
			if len(p.manifest) != c.manifest {
				t.Errorf("%d manifest entries, want %d", len(p.manifest), c.manifest)
			}
		})
	}
}

func TestRead(t *testing.T) {
	// Committed: [100-102] [103] [104-108]; not yet committed: [109-110].
	p := ledPartition(t, metadata.PartitionState{HighWatermark: 100, LogStartOffset: 100})
	w := &walWrites{}
	for _, n := range []int{3, 1, 5, 2} {
		appendSpec(t, p, w, plain(n))
	}
	p.committed(1, metadata.ManifestEntry{BaseOffset: 100, LastOffset: 108}, metadata.PartitionState{HighWatermark: 109, LogStartOffset: 100})
	b0, b1, b2 := w.batches[0], w.batches[1], w.batches[2]
	all := len(b0) + len(b1) + len(b2) + len(w.batches[3])

	cases := []struct {
		name     string
		offset   int64
		maxBytes int
		want     [][]byte
		wantErr  error
	}{
		{name: "below the log start offset", offset: 99, maxBytes: all, wantErr: kerr.OffsetOutOfRange},
		{name: "above the high watermark", offset: 110, maxBytes: all, wantErr: kerr.OffsetOutOfRange},
		{name: "at the high watermark: nothing yet", offset: 109, maxBytes: all},
		{name: "from the first batch: every committed batch", offset: 100, maxBytes: all, want: [][]byte{b0, b1, b2}},
		{name: "mid-batch: from the batch holding the offset", offset: 101, maxBytes: all, want: [][]byte{b0, b1, b2}},
		{name: "last offset of a batch", offset: 102, maxBytes: all, want: [][]byte{b0, b1, b2}},
		{name: "first offset of a batch", offset: 103, maxBytes: all, want: [][]byte{b1, b2}},
		{name: "last committed offset", offset: 108, maxBytes: all, want: [][]byte{b2}},
		{name: "one batch even beyond maxBytes", offset: 100, maxBytes: 1, want: [][]byte{b0}},
		{name: "zero maxBytes still returns a batch", offset: 104, maxBytes: 0, want: [][]byte{b2}},
		{name: "batches that fit maxBytes exactly", offset: 100, maxBytes: len(b0) + len(b1), want: [][]byte{b0, b1}},
		{name: "a batch one byte too big is left out", offset: 100, maxBytes: len(b0) + len(b1) - 1, want: [][]byte{b0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := p.Read(context.Background(), nil, c.offset, c.maxBytes)
			if !errors.Is(err, c.wantErr) || (err != nil) != (c.wantErr != nil) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if len(got) != len(c.want) {
				t.Fatalf("%d batches, want %d", len(got), len(c.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], c.want[i]) {
					gh, _ := batch.Parse(got[i])
					wh, _ := batch.Parse(c.want[i])
					t.Errorf("batch %d starts at %d, want %d", i, gh.BaseOffset, wh.BaseOffset)
				}
			}
		})
	}

	t.Run("not led", func(t *testing.T) {
		p := newPartition("orders", metadata.PartitionKey{})
		if _, err := p.Read(context.Background(), nil, 0, 1); !errors.Is(err, kerr.NotLeaderForPartition) {
			t.Fatalf("err = %v, want NotLeaderForPartition", err)
		}
	})
	t.Run("fenced", func(t *testing.T) {
		p.stop(1)
		if _, err := p.Read(context.Background(), nil, 100, all); !errors.Is(err, kerr.NotLeaderForPartition) {
			t.Fatalf("err = %v, want NotLeaderForPartition", err)
		}
	})
}

func TestWaitCommitted(t *testing.T) {
	// Each case waits for offset 102 of a partition holding [100-102]
	// uncommitted, while act runs concurrently.
	cases := []struct {
		name    string
		setup   func(p *Partition)
		act     func(t *testing.T, p *Partition, cancel context.CancelFunc, result <-chan error)
		wantErr error
	}{
		{
			name: "returns at once when already committed",
			setup: func(p *Partition) {
				p.committed(1, metadata.ManifestEntry{}, metadata.PartitionState{HighWatermark: 103})
			},
		},
		{
			name: "returns when a later commit covers the offset",
			act: func(t *testing.T, p *Partition, _ context.CancelFunc, result <-chan error) {
				p.committed(1, metadata.ManifestEntry{}, metadata.PartitionState{HighWatermark: 102})
				select {
				case err := <-result:
					t.Errorf("returned %v after a commit short of the offset", err)
				default:
				}
				p.committed(1, metadata.ManifestEntry{}, metadata.PartitionState{HighWatermark: 103})
			},
		},
		{
			name: "a commit up to the offset, not past it, is not enough",
			setup: func(p *Partition) {
				p.committed(1, metadata.ManifestEntry{}, metadata.PartitionState{HighWatermark: 102})
			},
			act:     func(t *testing.T, _ *Partition, cancel context.CancelFunc, _ <-chan error) { cancel() },
			wantErr: kerr.RequestTimedOut,
		},
		{
			name:    "fails with NotLeaderForPartition when fenced",
			act:     func(t *testing.T, p *Partition, _ context.CancelFunc, _ <-chan error) { p.stop(1) },
			wantErr: kerr.NotLeaderForPartition,
		},
		{
			name:    "fails with NotLeaderForPartition when already fenced",
			setup:   func(p *Partition) { p.stop(1) },
			wantErr: kerr.NotLeaderForPartition,
		},
		{
			name: "succeeds when committed just before a hand-off ended the leadership",
			act: func(t *testing.T, p *Partition, _ context.CancelFunc, _ <-chan error) {
				p.committed(1, metadata.ManifestEntry{}, metadata.PartitionState{HighWatermark: 103})
				p.stop(1)
			},
		},
		{
			name: "a new leadership's high watermark does not answer the old one's batch",
			setup: func(p *Partition) {
				p.stop(1)
				// Led again: offsets 100-102 of the old tenure were never
				// committed, and the new tenure's commits reuse them.
				p.lead(metadata.Leadership{Epoch: 5, LeaderEpoch: 1}, metadata.PartitionState{HighWatermark: 100}, nil)
				p.committed(5, metadata.ManifestEntry{}, metadata.PartitionState{HighWatermark: 110})
			},
			wantErr: kerr.NotLeaderForPartition,
		},
		{
			name: "a commit of an ended leadership is ignored",
			setup: func(p *Partition) {
				p.stop(1)
				p.lead(metadata.Leadership{Epoch: 5, LeaderEpoch: 1}, metadata.PartitionState{HighWatermark: 100}, nil)
			},
			act: func(t *testing.T, p *Partition, cancel context.CancelFunc, _ <-chan error) {
				p.committed(1, metadata.ManifestEntry{}, metadata.PartitionState{HighWatermark: 103})
				if _, hwm := p.Offsets(); hwm != 100 {
					t.Errorf("hwm = %d after a stale commit, want 100", hwm)
				}
			},
			wantErr: kerr.NotLeaderForPartition,
		},
		{
			name:    "fails with RequestTimedOut when the context ends",
			act:     func(t *testing.T, _ *Partition, cancel context.CancelFunc, _ <-chan error) { cancel() },
			wantErr: kerr.RequestTimedOut,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := ledPartition(t, metadata.PartitionState{HighWatermark: 100})
			p.demand = newCommitDemand()
			appendSpec(t, p, &walWrites{}, plain(3))
			if c.setup != nil {
				c.setup(p)
			}
			// The deadline only turns a waiter that misses its wake-up into
			// a failure (RequestTimedOut) instead of a hung test.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			result := make(chan error, 1)
			go func() { result <- p.WaitCommitted(ctx, 1, 102) }()
			if c.act != nil {
				c.act(t, p, cancel, result)
			}
			if err := <-result; !errors.Is(err, c.wantErr) || (err != nil) != (c.wantErr != nil) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if n := p.demand.waiting.Load(); n != 0 {
				t.Fatalf("%d waiters still counted in the commit demand after WaitCommitted returned", n)
			}
		})
	}
}

func TestReplayBatch(t *testing.T) {
	// replayed is a batch recovered from the WAL at its assigned offset.
	type replayed struct {
		base  int64
		batch batchSpec
	}
	cases := []struct {
		name      string
		producers map[int64]metadata.ProducerState
		replay    []replayed
		wantNext  int64
		wantMem   []int64 // base offsets in memory
		steps     []appendStep
	}{
		{
			name:     "batches below the log end offset are already committed",
			replay:   []replayed{{95, plain(5)}, {99, plain(1)}},
			wantNext: 100, wantMem: nil,
			steps: []appendStep{{plain(1), accepted(100, 100)}},
		},
		{
			name:     "uncommitted batches are restored and offsets continue after them",
			replay:   []replayed{{100, plain(3)}, {103, plain(2)}},
			wantNext: 105, wantMem: []int64{100, 103},
			steps: []appendStep{{plain(1), accepted(105, 105)}},
		},
		{
			name:     "a batch replayed twice is added once",
			replay:   []replayed{{100, plain(3)}, {100, plain(3)}, {103, plain(1)}, {103, plain(1)}},
			wantNext: 104, wantMem: []int64{100, 103},
		},
		{
			name:     "idempotent batches restore the producer's state",
			replay:   []replayed{{100, idem(7, 0, 0, 3)}, {103, idem(7, 0, 3, 2)}},
			wantNext: 105, wantMem: []int64{100, 103},
			steps: []appendStep{
				{idem(7, 0, 0, 3), duplicate(100, 102)},
				{idem(7, 0, 7, 1), rejected(kerr.OutOfOrderSequenceNumber)},
				{idem(7, 0, 5, 1), accepted(105, 105)},
			},
		},
		{
			name: "replay continues the committed producer state",
			producers: map[int64]metadata.ProducerState{
				7: {Epoch: 0, Batches: []metadata.ProducerBatch{{FirstSeq: 0, LastSeq: 2, BaseOffset: 97}}},
			},
			replay:   []replayed{{100, idem(7, 0, 3, 1)}},
			wantNext: 101, wantMem: []int64{100},
			steps: []appendStep{
				{idem(7, 0, 0, 3), duplicate(97, 99)},
				{idem(7, 0, 3, 1), duplicate(100, 100)},
				{idem(7, 0, 4, 1), accepted(101, 101)},
			},
		},
		{
			name: "a replayed newer epoch replaces the committed state",
			producers: map[int64]metadata.ProducerState{
				7: {Epoch: 0, Batches: []metadata.ProducerBatch{{FirstSeq: 0, LastSeq: 2, BaseOffset: 97}}},
			},
			replay:   []replayed{{100, idem(7, 1, 0, 2)}},
			wantNext: 102, wantMem: []int64{100},
			steps: []appendStep{
				{idem(7, 1, 0, 2), duplicate(100, 101)},
				{idem(7, 0, 3, 1), rejected(kerr.InvalidProducerEpoch)},
				{idem(7, 1, 2, 1), accepted(102, 102)},
			},
		},
		{
			name: "only the last five batches of a producer are kept",
			replay: []replayed{
				{100, idem(7, 0, 0, 1)}, {101, idem(7, 0, 1, 1)}, {102, idem(7, 0, 2, 1)},
				{103, idem(7, 0, 3, 1)}, {104, idem(7, 0, 4, 1)}, {105, idem(7, 0, 5, 1)},
			},
			wantNext: 106, wantMem: []int64{100, 101, 102, 103, 104, 105},
			steps: []appendStep{
				{idem(7, 0, 0, 1), rejected(kerr.OutOfOrderSequenceNumber)},
				{idem(7, 0, 1, 1), duplicate(101, 101)},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := ledPartition(t, metadata.PartitionState{HighWatermark: 100, LogStartOffset: 50, Producers: c.producers})
			for _, r := range c.replay {
				raw, _ := makeBatch(t, r.batch)
				batch.SetBaseOffset(raw, r.base)
				h, err := batch.Validate(raw)
				if err != nil {
					t.Fatal(err)
				}
				p.replayBatch(raw, h)
			}
			p.mu.Lock()
			var mem []int64
			for _, m := range p.mem {
				mem = append(mem, m.base)
			}
			next, hwm := p.next, p.hwm
			p.mu.Unlock()
			if next != c.wantNext || hwm != 100 {
				t.Errorf("next, hwm = %d, %d; want %d, 100", next, hwm, c.wantNext)
			}
			if fmt.Sprint(mem) != fmt.Sprint(c.wantMem) {
				t.Errorf("batches in memory start at %v, want %v", mem, c.wantMem)
			}
			// Replayed batches are not committed: consumers do not see them.
			if got, err := p.Read(context.Background(), nil, 100, 1<<20); err != nil || len(got) != 0 {
				t.Errorf("read(100) = %d batches, %v; want none", len(got), err)
			}
			runSteps(t, p, c.steps)
		})
	}
}

func TestHandOffStopsProducesAndDrains(t *testing.T) {
	p := ledPartition(t, metadata.PartitionState{HighWatermark: 100})
	w := &walWrites{}
	appendSpec(t, p, w, plain(3)) // 100-102, not committed
	if !p.beginHandOff(1) {
		t.Fatal("beginHandOff(1) = false on a led partition")
	}
	if p.beginHandOff(1) {
		t.Error("a second beginHandOff started another hand-off")
	}
	if p.beginHandOff(2) {
		t.Error("beginHandOff of an epoch not led started a hand-off")
	}
	runSteps(t, p, []appendStep{{plain(1), rejected(kerr.NotLeaderForPartition)}})
	// Fetches still see committed data while the hand-off waits.
	if _, err := p.Read(context.Background(), nil, 100, 1); err != nil {
		t.Errorf("read during hand-off: %v", err)
	}
	if done, _ := p.drained(1); done {
		t.Fatal("drained with offsets 100-102 uncommitted")
	}
	_, ch := p.drained(1)
	p.committed(1, metadata.ManifestEntry{BaseOffset: 100, LastOffset: 102}, metadata.PartitionState{HighWatermark: 103})
	select {
	case <-ch:
	default:
		t.Fatal("the commit did not wake the hand-off")
	}
	if done, _ := p.drained(1); !done {
		t.Fatal("not drained after everything was committed")
	}
	if !p.stop(1) || p.stop(1) {
		t.Fatal("stop(1) should succeed once")
	}
	if _, ok := p.Led(); ok {
		t.Fatal("still led after stop")
	}
	if len(w.epochs) != 1 || w.epochs[0] != 1 {
		t.Errorf("WAL epochs = %v, want [1]", w.epochs)
	}
}

func TestCheckLeaderEpoch(t *testing.T) {
	p := newPartition("orders", metadata.PartitionKey{})
	if _, err := p.CheckLeaderEpoch(-1); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("not led: %v, want NotLeaderForPartition", err)
	}
	p.lead(metadata.Leadership{Epoch: 40, LeaderEpoch: 3}, metadata.PartitionState{}, nil)
	for _, c := range []struct {
		current int32
		want    error
	}{
		{-1, nil}, // not checked
		{3, nil},
		{2, kerr.FencedLeaderEpoch},
		{0, kerr.FencedLeaderEpoch},
		{4, kerr.UnknownLeaderEpoch},
	} {
		got, err := p.CheckLeaderEpoch(c.current)
		if !errors.Is(err, c.want) || (err != nil) != (c.want != nil) {
			t.Errorf("checkLeaderEpoch(%d) = %v, want %v", c.current, err, c.want)
		}
		if got != 3 {
			t.Errorf("checkLeaderEpoch(%d) returned leader epoch %d, want 3", c.current, got)
		}
	}
}

func TestEpochEnd(t *testing.T) {
	// Epochs 2, 3, 5 and 6 (current) began at 10, 20, 20 and 35; epoch 4
	// never existed here (trimmed or skipped); the high watermark is 50.
	p := newPartition("orders", metadata.PartitionKey{})
	p.lead(metadata.Leadership{Epoch: 99, LeaderEpoch: 6, History: []metadata.EpochStart{
		{LeaderEpoch: 2, StartOffset: 10}, {LeaderEpoch: 3, StartOffset: 20},
		{LeaderEpoch: 5, StartOffset: 20}, {LeaderEpoch: 6, StartOffset: 35},
	}}, metadata.PartitionState{HighWatermark: 50}, nil)
	for _, c := range []struct {
		requested int32
		epoch     int32
		end       int64
	}{
		{-1, -1, -1},
		{0, 0, 10}, // older than every epoch kept: where the first kept one began
		{2, 2, 20},
		{3, 3, 20},
		{4, 3, 20}, // unknown epoch between known ones: the one below it
		{5, 5, 35},
		{6, 6, 50}, // current: the high watermark
		{7, -1, -1},
	} {
		epoch, end := p.EpochEnd(c.requested)
		if epoch != c.epoch || end != c.end {
			t.Errorf("epochEnd(%d) = %d, %d; want %d, %d", c.requested, epoch, end, c.epoch, c.end)
		}
	}
}
