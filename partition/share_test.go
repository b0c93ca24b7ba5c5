package partition

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Unix(1000, 0)

const lock = 30 * time.Second

func TestShareAcquireAcceptAdvancesStart(t *testing.T) {
	s := NewShareState(10)
	got := s.Acquire("a", 10, 15, 100, t0, lock, 5)
	if want := []ShareRun{{10, 14, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("acquired %v, want %v", got, want)
	}
	if _, ok := s.NextAvailable(15); ok {
		t.Fatal("an offset is available below the high watermark with everything acquired")
	}
	// b may not acknowledge a's records.
	if _, err := s.Acknowledge("b", []ShareAckBatch{{10, 10, []int8{AckAccept}}}, t0, lock, 5); !errors.Is(err, ErrShareRecordState) {
		t.Fatalf("ack by another member: %v", err)
	}
	if _, err := s.Acknowledge("a", []ShareAckBatch{{10, 11, []int8{AckAccept}}, {13, 13, []int8{AckReject}}}, t0, lock, 5); err != nil {
		t.Fatal(err)
	}
	if s.Start() != 12 || s.End() != 15 {
		t.Fatalf("start %d end %d, want 12 15", s.Start(), s.End())
	}
	// Acknowledging past the window is malformed.
	if _, err := s.Acknowledge("a", []ShareAckBatch{{14, 15, []int8{AckAccept}}}, t0, lock, 5); !errors.Is(err, ErrShareInvalidRequest) {
		t.Fatalf("ack past end: %v", err)
	}
	if _, err := s.Acknowledge("a", []ShareAckBatch{{12, 14, []int8{AckAccept, AckReject, AckAccept}}}, t0, lock, 5); !errors.Is(err, ErrShareRecordState) {
		t.Fatalf("ack of an already rejected record: %v", err)
	}
	if _, err := s.Acknowledge("a", []ShareAckBatch{{12, 12, []int8{AckAccept}}, {14, 14, []int8{AckAccept}}}, t0, lock, 5); err != nil {
		t.Fatal(err)
	}
	if s.Start() != 15 || s.InFlight() != 0 {
		t.Fatalf("start %d in flight %d, want 15 0", s.Start(), s.InFlight())
	}
}

func TestShareReleaseRedeliversUntilTheLimit(t *testing.T) {
	s := NewShareState(0)
	for delivery := int16(1); delivery <= 3; delivery++ {
		got := s.Acquire("a", 0, 1, 10, t0, lock, 3)
		if want := []ShareRun{{0, 0, delivery}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("delivery %d: acquired %v, want %v", delivery, got, want)
		}
		released, err := s.Acknowledge("a", []ShareAckBatch{{0, 0, []int8{AckRelease}}}, t0, lock, 3)
		if err != nil {
			t.Fatal(err)
		}
		if released != (delivery < 3) {
			t.Fatalf("delivery %d: released %v", delivery, released)
		}
	}
	// The third release archived it: the partition moved past it.
	if s.Start() != 1 {
		t.Fatalf("start %d, want 1 (record archived at the delivery limit)", s.Start())
	}
	if got := s.Acquire("a", 0, 1, 10, t0, lock, 3); len(got) != 0 {
		t.Fatalf("archived record acquired again: %v", got)
	}
}

func TestShareLockExpiry(t *testing.T) {
	s := NewShareState(0)
	s.Acquire("a", 0, 4, 2, t0, lock, 5)
	s.Acquire("b", 0, 4, 2, t0.Add(10*time.Second), lock, 5)
	changed, next := s.Expire(t0.Add(lock-time.Millisecond), 5)
	if changed || !next.Equal(t0.Add(lock)) {
		t.Fatalf("before the deadline: changed %v next %v", changed, next)
	}
	changed, next = s.Expire(t0.Add(lock), 5)
	if !changed || !next.Equal(t0.Add(10*time.Second+lock)) {
		t.Fatalf("at a's deadline: changed %v next %v", changed, next)
	}
	// a's records are b's to take now, second delivery.
	if got, want := s.Acquire("b", 0, 4, 10, t0, lock, 5), []ShareRun{{0, 1, 2}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("reacquired %v, want %v", got, want)
	}
	if !s.ReleaseMember("b", 5) {
		t.Fatal("closing b's session released nothing")
	}
	if n := s.Counts()[ShareAcquired]; n != 0 {
		t.Fatalf("%d records still acquired", n)
	}
}

func TestShareSnapshotRoundTrip(t *testing.T) {
	s := NewShareState(100)
	s.Acquire("a", 100, 110, 10, t0, lock, 5)
	if _, err := s.Acknowledge("a", []ShareAckBatch{
		{101, 102, []int8{AckAccept}},
		{103, 103, []int8{AckReject}},
		{104, 104, []int8{AckRelease}},
		{109, 109, []int8{AckAccept}},
	}, t0, lock, 5); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	want := ShareSnapshot{Start: 100, Ranges: []ShareRange{
		{100, 100, ShareAvailable, 1},
		{101, 102, ShareAcknowledged, 1},
		{103, 103, ShareArchived, 1},
		{104, 108, ShareAvailable, 1},
		{109, 109, ShareAcknowledged, 1},
	}}
	if !reflect.DeepEqual(snap, want) {
		t.Fatalf("snapshot %+v\nwant     %+v", snap, want)
	}
	r := RestoreShareState(snap)
	// Only what was not acknowledged comes back, with its second delivery.
	got := r.Acquire("b", 100, 120, 100, t0, lock, 5)
	wantAcq := []ShareRun{{100, 100, 2}, {104, 108, 2}, {110, 119, 1}}
	if !reflect.DeepEqual(got, wantAcq) {
		t.Fatalf("after restore acquired %v, want %v", got, wantAcq)
	}
}

func TestShareWindowBound(t *testing.T) {
	s := NewShareState(0)
	got := s.Acquire("a", 0, 1<<40, 1<<30, t0, lock, 5)
	if len(got) != 1 || got[0].Last != MaxInFlight-1 {
		t.Fatalf("acquired %v, want 0..%d", got, MaxInFlight-1)
	}
	if _, ok := s.NextAvailable(1 << 40); ok {
		t.Fatal("available past a full window")
	}
	s.SkipTo(MaxInFlight - 10)
	if s.Start() != MaxInFlight-10 || s.InFlight() != 10 {
		t.Fatalf("after SkipTo: start %d in flight %d", s.Start(), s.InFlight())
	}
}

func TestValidateShareAcks(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []ShareAckBatch
		ok   bool
	}{
		{"one type", []ShareAckBatch{{0, 4, []int8{AckAccept}}}, true},
		{"per offset", []ShareAckBatch{{0, 1, []int8{AckAccept, AckGap}}}, true},
		{"types do not match offsets", []ShareAckBatch{{0, 2, []int8{AckAccept, AckGap}}}, false},
		{"no type", []ShareAckBatch{{0, 2, nil}}, false},
		{"overlap", []ShareAckBatch{{0, 2, []int8{1}}, {2, 3, []int8{1}}}, false},
		{"reversed", []ShareAckBatch{{3, 2, []int8{1}}}, false},
		{"renew needs v2", []ShareAckBatch{{0, 0, []int8{AckRenew}}}, false},
	} {
		if err := ValidateShareAcks(tc.b, AckReject); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestShareArchiveSkipsWithoutDelivering(t *testing.T) {
	s := NewShareState(0)
	// 0-1 acquired by a; 2-4 are records no consumer may see; 5-6 stay.
	if got := s.Acquire("a", 0, 2, 100, t0, lock, 5); len(got) != 1 {
		t.Fatalf("acquired %v", got)
	}
	if n := s.Archive(0, 5); n != 3 {
		t.Fatalf("archived %d, want 3 (acquired records are left alone)", n)
	}
	if s.Start() != 0 || s.End() != 5 {
		t.Fatalf("start %d end %d, want 0 5", s.Start(), s.End())
	}
	// Once a's records are done, Start passes the archived ones; they are
	// never acquired, and were never delivered.
	if _, err := s.Acknowledge("a", []ShareAckBatch{{0, 1, []int8{AckAccept}}}, t0, lock, 5); err != nil {
		t.Fatal(err)
	}
	if s.Start() != 5 {
		t.Fatalf("start %d, want 5", s.Start())
	}
	if got := s.Acquire("b", 0, 7, 100, t0, lock, 5); !reflect.DeepEqual(got, []ShareRun{{5, 6, 1}}) {
		t.Fatalf("acquired %v, want 5-6 at their first delivery", got)
	}
	if n := s.Archive(5, 7); n != 0 {
		t.Fatalf("archived %d acquired records", n)
	}
}
