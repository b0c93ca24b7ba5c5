package coordinator

import (
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

// rawBatch is a record batch header of offsets base..last (no records: the
// share path reads headers only) of producer pid (-1: none).
func rawBatch(base, last, pid int64, transactional, control bool) []byte {
	b := kmsg.RecordBatch{
		FirstOffset: base, LastOffsetDelta: int32(last - base), Magic: 2,
		ProducerID: pid, NumRecords: int32(last - base + 1),
	}
	if transactional {
		b.Attributes |= 0x10
	}
	if control {
		b.Attributes |= 0x20
	}
	b.Length = int32(len(b.AppendTo(nil)) - 12)
	return b.AppendTo(nil)
}

func TestShareIsolationConfig(t *testing.T) {
	if got := ShareConfigDefaults[ConfigShareIsolationLevel]; got != ShareReadUncommitted {
		t.Fatalf("default %s = %q, want %q", ConfigShareIsolationLevel, got, ShareReadUncommitted)
	}
	for _, v := range []string{ShareReadUncommitted, ShareReadCommitted} {
		if err := ValidateShareConfig(ConfigShareIsolationLevel, v); err != nil {
			t.Errorf("%s=%s: %v", ConfigShareIsolationLevel, v, err)
		}
	}
	for _, v := range []string{"", "READ_COMMITTED", "1", "committed"} {
		if ValidateShareConfig(ConfigShareIsolationLevel, v) == nil {
			t.Errorf("%s=%q accepted", ConfigShareIsolationLevel, v)
		}
	}
	if parseShareConfig(nil).committed {
		t.Error("read_committed without the config")
	}
	if !parseShareConfig(map[string]string{ConfigShareIsolationLevel: ShareReadCommitted}).committed {
		t.Error("read_committed set but not parsed")
	}
	if parseShareConfig(map[string]string{ConfigShareIsolationLevel: "bogus"}).committed {
		t.Error("an invalid value parsed as read_committed")
	}
}

// The log of the tests below, offsets 0..12:
//
//	0-1   plain batch
//	2-3   producer 7, transaction committed (marker at 6)
//	4-5   producer 8, transaction aborted (marker at 8)
//	6     COMMIT marker of 7
//	7     producer 8 again, same aborted transaction
//	8     ABORT marker of 8
//	9-10  producer 8, a later transaction, committed (marker 11)
//	11    COMMIT marker of 8
//	12    producer 9, aborted (marker 13, beyond the batches read)
func shareTestLog() ([][]byte, []metadata.AbortedTxn) {
	batches := [][]byte{
		rawBatch(0, 1, -1, false, false),
		rawBatch(2, 3, 7, true, false),
		rawBatch(4, 5, 8, true, false),
		rawBatch(6, 6, 7, true, true),
		rawBatch(7, 7, 8, true, false),
		rawBatch(8, 8, 8, true, true),
		rawBatch(9, 10, 8, true, false),
		rawBatch(11, 11, 8, true, true),
		rawBatch(12, 12, 9, true, false),
	}
	aborted := []metadata.AbortedTxn{
		{ProducerID: 8, FirstOffset: 4, LastOffset: 8, Stable: 9},
		{ProducerID: 9, FirstOffset: 12, LastOffset: 13, Stable: 14},
	}
	return batches, aborted
}

func TestCommittedSkips(t *testing.T) {
	batches, aborted := shareTestLog()
	got := committedSkips(batches, aborted)
	want := []shareSkip{{4, 8}, {11, 12}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("skips %v, want %v", got, want)
	}
	// Without aborted transactions only the markers are skipped.
	got = committedSkips(batches, nil)
	want = []shareSkip{{6, 6}, {8, 8}, {11, 11}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("skips without aborts %v, want %v", got, want)
	}
	// Producer 8's committed transaction after its aborted one is kept.
	for _, s := range committedSkips(batches, aborted) {
		if s.first <= 9 && 10 <= s.last {
			t.Fatalf("committed batch 9-10 skipped: %v", s)
		}
	}
}

func runOffsets(runs []partition.ShareRun) []int64 {
	var out []int64
	for _, r := range runs {
		for o := r.First; o <= r.Last; o++ {
			out = append(out, o)
		}
	}
	return out
}

func TestAcquireSkipping(t *testing.T) {
	batches, aborted := shareTestLog()
	skip := committedSkips(batches, aborted)
	now, lock := time.Now(), time.Minute
	st := partition.NewShareState(0)

	// The whole log: every committed data record, none aborted nor a marker.
	runs, archived := acquireSkipping(st, "m1", 0, 13, 500, skip, now, lock, 5)
	if got, want := runOffsets(runs), []int64{0, 1, 2, 3, 9, 10}; !reflect.DeepEqual(got, want) {
		t.Fatalf("acquired %v, want %v", got, want)
	}
	if archived != 7 { // 4-8, 11, 12
		t.Fatalf("archived %d, want 7", archived)
	}
	for _, r := range runs {
		if r.Count != 1 {
			t.Fatalf("run %+v: delivery count %d, want 1", r, r.Count)
		}
	}
	// Accepting what was delivered moves the start past everything: the
	// skipped offsets are done, never to be delivered.
	if _, err := st.Acknowledge("m1", []partition.ShareAckBatch{{First: 0, Last: 3, Types: []int8{partition.AckAccept}}, {First: 9, Last: 10, Types: []int8{partition.AckAccept}}}, now, lock, 5); err != nil {
		t.Fatal(err)
	}
	if st.Start() != 13 || st.InFlight() != 0 {
		t.Fatalf("start %d with %d in flight, want 13 and 0", st.Start(), st.InFlight())
	}
	if _, ok := st.NextAvailable(13); ok {
		t.Fatal("something available below 13 after all was done")
	}
}

func TestAcquireSkippingMax(t *testing.T) {
	batches, aborted := shareTestLog()
	skip := committedSkips(batches, aborted)
	now, lock := time.Now(), time.Minute
	st := partition.NewShareState(0)

	// Three records: 0, 1, 2; nothing archived yet (4-8 lie beyond).
	runs, archived := acquireSkipping(st, "m1", 0, 13, 3, skip, now, lock, 5)
	if got, want := runOffsets(runs), []int64{0, 1, 2}; !reflect.DeepEqual(got, want) || archived != 0 {
		t.Fatalf("acquired %v archived %d, want %v and 0", got, archived, want)
	}
	// The next one: 3, then 4-8 archived on the way to 9.
	runs, archived = acquireSkipping(st, "m2", 3, 13, 2, skip, now, lock, 5)
	if got, want := runOffsets(runs), []int64{3, 9}; !reflect.DeepEqual(got, want) || archived != 5 {
		t.Fatalf("acquired %v archived %d, want %v and 5", got, archived, want)
	}
	// A limit (the LSO) inside a skipped run: archived only below it.
	runs, archived = acquireSkipping(st, "m2", 10, 12, 10, skip, now, lock, 5)
	if got, want := runOffsets(runs), []int64{10}; !reflect.DeepEqual(got, want) || archived != 1 {
		t.Fatalf("acquired %v archived %d, want %v and 1", got, archived, want)
	}
	if off, ok := st.NextAvailable(13); !ok || off != 12 {
		t.Fatalf("next available %d %v, want 12", off, ok)
	}
	// Records another member holds in a skipped run stay its own: a group
	// switched to read_committed with records in flight.
	st2 := partition.NewShareState(0)
	st2.Acquire("old", 4, 6, 10, now, lock, 5)
	runs, archived = acquireSkipping(st2, "m1", 0, 9, 10, skip, now, lock, 5)
	if got, want := runOffsets(runs), []int64{0, 1, 2, 3}; !reflect.DeepEqual(got, want) || archived != 3 {
		t.Fatalf("acquired %v archived %d, want %v and 3 (6-8)", got, archived, want)
	}
	if _, err := st2.Acknowledge("old", []partition.ShareAckBatch{{First: 4, Last: 5, Types: []int8{partition.AckAccept}}}, now, lock, 5); err != nil {
		t.Fatalf("the old member's records were taken: %v", err)
	}
}

func TestShareBatches(t *testing.T) {
	batches, _ := shareTestLog()
	runs := []partition.ShareRun{{First: 1, Last: 3, Count: 1}, {First: 9, Last: 9, Count: 1}}
	got := shareBatches(batches, runs)
	var want []byte
	for _, i := range []int{0, 1, 6} { // 0-1, 2-3, 9-10
		want = append(want, batches[i]...)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("batches of %v: %d bytes, want %d (batches 0-1, 2-3, 9-10)", runs, len(got), len(want))
	}
}
