package partition

// The share-partition state of KIP-932: what one share group has done with
// one partition's records, kept by the partition's leader.
//
// The state covers the offsets from Start (the share-partition start offset,
// SPSO: every record below it is done) up to End (one past the highest
// offset ever acquired, the end of the in-flight window). Each offset in
// between is one of:
//
//	available     may be acquired (never delivered, released, or its lock expired)
//	acquired      delivered to one member until its lock deadline
//	acknowledged  accepted: done
//	archived      rejected, or delivered share.delivery.count.limit times: done
//
// Start moves past every leading done offset, so the state is bounded by the
// in-flight window (MaxInFlight offsets). Offsets at or past End are
// available and never delivered; they are not stored.
//
// A record's delivery count rises at each acquisition. A record released
// (by RELEASE, an expired lock or its member's session closing) with a
// count at the limit is archived instead, as in Kafka; so is one found
// available with its count at the limit when acquisition reaches it.

import (
	"errors"
	"sort"
	"time"
)

// Record states of a share partition. The values of ShareAvailable,
// ShareAcknowledged and ShareArchived are stored (ShareSnapshot): frozen.
const (
	ShareAvailable    int8 = 0
	ShareAcquired     int8 = 1
	ShareAcknowledged int8 = 2
	ShareArchived     int8 = 4
)

// Acknowledge types of ShareFetch and ShareAcknowledge (KIP-932, KIP-1222).
const (
	AckGap     int8 = 0 // the offset holds no record for the consumer: archived
	AckAccept  int8 = 1
	AckRelease int8 = 2
	AckReject  int8 = 3
	AckRenew   int8 = 4 // renews the lock (ShareAcknowledge v2)
)

// MaxInFlight bounds the in-flight window of a share partition, Kafka's
// group.share.partition.max.record.locks default.
const MaxInFlight = 2000

var (
	// ErrShareInvalidRequest: an acknowledgement batch is malformed, or
	// reaches past the in-flight window (INVALID_REQUEST).
	ErrShareInvalidRequest = errors.New("partition: share acknowledgement malformed")
	// ErrShareRecordState: an acknowledged offset is not acquired by the
	// member (INVALID_RECORD_STATE).
	ErrShareRecordState = errors.New("partition: share record not acquired by the member")
)

type shareRecord struct {
	state    int8
	count    int16 // deliveries so far
	member   string
	deadline time.Time
}

// ShareState is one share group's state of one partition. It is not safe
// for concurrent use: its owner serializes calls.
type ShareState struct {
	start, end int64
	recs       []shareRecord // recs[i] is offset start+i, for start+i < end
}

// NewShareState returns the state of a share partition that starts at
// start, with nothing delivered.
func NewShareState(start int64) *ShareState {
	return &ShareState{start: start, end: start}
}

// Start is the share-partition start offset; End is one past the in-flight
// window.
func (s *ShareState) Start() int64 { return s.start }
func (s *ShareState) End() int64   { return s.end }

// InFlight returns the number of offsets between Start and End.
func (s *ShareState) InFlight() int { return len(s.recs) }

// Reset moves the share partition to start, forgetting every record state
// (AlterShareGroupOffsets, or a start below the log start).
func (s *ShareState) Reset(start int64) {
	s.start, s.end, s.recs = start, start, nil
}

// ShareRun is a run of offsets acquired with one delivery count.
type ShareRun struct {
	First, Last int64
	Count       int16
}

// NextAvailable returns the first available offset at or above Start and
// below limit that acquisition may take (within the window bound), and
// false if there is none.
func (s *ShareState) NextAvailable(limit int64) (int64, bool) {
	for i, r := range s.recs {
		if o := s.start + int64(i); o >= limit {
			return 0, false
		} else if r.state == ShareAvailable {
			return o, true
		}
	}
	if s.end < limit && s.end < s.start+MaxInFlight {
		return s.end, true
	}
	return 0, false
}

// Acquire acquires for member up to max available offsets in [from,
// limit), with a lock until now+lock, and returns the runs acquired.
// Records available with their count at maxDelivery are archived instead.
// Offsets below Start are skipped; the window never passes Start+MaxInFlight.
func (s *ShareState) Acquire(member string, from, limit int64, max int, now time.Time, lock time.Duration, maxDelivery int16) []ShareRun {
	from = max64(from, s.start)
	limit = min(limit, s.start+MaxInFlight)
	var out []ShareRun
	n := 0
	for o := from; o < limit && n < max; o++ {
		for s.end <= o {
			s.recs = append(s.recs, shareRecord{})
			s.end++
		}
		r := &s.recs[o-s.start]
		if r.state != ShareAvailable {
			continue
		}
		if r.count >= maxDelivery {
			r.state = ShareArchived
			continue
		}
		r.state, r.member, r.deadline = ShareAcquired, member, now.Add(lock)
		r.count++
		n++
		if k := len(out) - 1; k >= 0 && out[k].Last == o-1 && out[k].Count == r.count {
			out[k].Last = o
		} else {
			out = append(out, ShareRun{First: o, Last: o, Count: r.count})
		}
	}
	s.trimTail()
	s.advance()
	return out
}

// Archive archives the available offsets in [from, limit) without
// delivering them (records a consumer must never see: those of aborted
// transactions, control records) and returns how many it archived. Offsets
// below Start are skipped; the window never passes Start+MaxInFlight.
func (s *ShareState) Archive(from, limit int64) int {
	from = max64(from, s.start)
	limit = min(limit, s.start+MaxInFlight)
	n := 0
	for o := from; o < limit; o++ {
		for s.end <= o {
			s.recs = append(s.recs, shareRecord{})
			s.end++
		}
		if r := &s.recs[o-s.start]; r.state == ShareAvailable {
			*r = shareRecord{state: ShareArchived, count: r.count}
			n++
		}
	}
	s.advance()
	return n
}

// trimTail drops the never-delivered available records at the tail: they
// are what End means (Acquire appends before it knows).
func (s *ShareState) trimTail() {
	for len(s.recs) > 0 {
		r := s.recs[len(s.recs)-1]
		if r.state != ShareAvailable || r.count != 0 {
			return
		}
		s.recs = s.recs[:len(s.recs)-1]
		s.end--
	}
}

// ShareAckBatch is one acknowledgement batch: offsets First..Last, with one
// type for all of them (len(Types) == 1) or one per offset.
type ShareAckBatch struct {
	First, Last int64
	Types       []int8
}

// ValidateShareAcks checks a partition's batches as Kafka does: ordered, not
// overlapping, with one type or one per offset, each type known (up to
// maxType).
func ValidateShareAcks(batches []ShareAckBatch, maxType int8) error {
	prev := int64(-1)
	for _, b := range batches {
		if b.First > b.Last || b.First <= prev || len(b.Types) == 0 ||
			(len(b.Types) > 1 && int64(len(b.Types)) != b.Last-b.First+1) {
			return ErrShareInvalidRequest
		}
		for _, t := range b.Types {
			if t < 0 || t > maxType {
				return ErrShareInvalidRequest
			}
		}
		prev = b.Last
	}
	return nil
}

// Acknowledge applies member's acknowledgements, all or none: every offset
// at or above Start must be acquired by member (ErrShareRecordState) and
// below End (ErrShareInvalidRequest). It reports whether records became
// available again.
func (s *ShareState) Acknowledge(member string, batches []ShareAckBatch, now time.Time, lock time.Duration, maxDelivery int16) (released bool, err error) {
	for _, b := range batches {
		if b.Last >= s.end {
			return false, ErrShareInvalidRequest
		}
		for o := max64(b.First, s.start); o <= b.Last; o++ {
			if r := s.recs[o-s.start]; r.state != ShareAcquired || r.member != member {
				return false, ErrShareRecordState
			}
		}
	}
	for _, b := range batches {
		for o := max64(b.First, s.start); o <= b.Last; o++ {
			t := b.Types[0]
			if len(b.Types) > 1 {
				t = b.Types[o-b.First]
			}
			r := &s.recs[o-s.start]
			switch t {
			case AckAccept:
				*r = shareRecord{state: ShareAcknowledged, count: r.count}
			case AckGap, AckReject:
				*r = shareRecord{state: ShareArchived, count: r.count}
			case AckRelease:
				released = s.release(r, maxDelivery) || released
			case AckRenew:
				r.deadline = now.Add(lock)
			}
		}
	}
	s.advance()
	return released, nil
}

// release makes an acquired record available, or archived at the
// delivery limit; it reports whether it became available.
func (s *ShareState) release(r *shareRecord, maxDelivery int16) bool {
	if r.count >= maxDelivery {
		*r = shareRecord{state: ShareArchived, count: r.count}
		return false
	}
	*r = shareRecord{state: ShareAvailable, count: r.count}
	return true
}

// ReleaseMember releases every record member holds (its share session
// closed) and reports whether some became available.
func (s *ShareState) ReleaseMember(member string, maxDelivery int16) bool {
	released := false
	for i := range s.recs {
		if r := &s.recs[i]; r.state == ShareAcquired && r.member == member {
			released = s.release(r, maxDelivery) || released
		}
	}
	s.advance()
	return released
}

// Expire releases the records whose lock deadline is not after now. It
// reports whether some changed and the earliest deadline left (zero: none).
func (s *ShareState) Expire(now time.Time, maxDelivery int16) (changed bool, next time.Time) {
	for i := range s.recs {
		r := &s.recs[i]
		if r.state != ShareAcquired {
			continue
		}
		if !r.deadline.After(now) {
			s.release(r, maxDelivery)
			changed = true
			continue
		}
		if next.IsZero() || r.deadline.Before(next) {
			next = r.deadline
		}
	}
	if changed {
		s.advance()
	}
	return changed, next
}

// SkipTo moves Start up to logStart when the log's start passed it
// (retention, DeleteRecords): those records are gone.
func (s *ShareState) SkipTo(logStart int64) {
	if logStart <= s.start {
		return
	}
	if logStart >= s.end {
		s.Reset(logStart)
		return
	}
	s.recs = s.recs[logStart-s.start:]
	s.start = logStart
	s.advance()
}

// advance moves Start past the leading done records.
func (s *ShareState) advance() {
	i := 0
	for i < len(s.recs) && (s.recs[i].state == ShareAcknowledged || s.recs[i].state == ShareArchived) {
		i++
	}
	if i > 0 {
		s.recs = append([]shareRecord(nil), s.recs[i:]...)
		s.start += int64(i)
	}
}

// Counts returns how many in-flight records are in each state, by state.
func (s *ShareState) Counts() map[int8]int {
	out := map[int8]int{}
	for _, r := range s.recs {
		out[r.state]++
	}
	return out
}

// ShareRange is a run of in-flight offsets with one stored state and
// delivery count.
type ShareRange struct {
	First int64 `json:"first"`
	Last  int64 `json:"last"`
	State int8  `json:"state"`
	Count int16 `json:"count"`
}

// ShareSnapshot is what is stored of a share partition: its start and the
// in-flight runs, acquired records stored as available (their lock dies
// with their leader).
type ShareSnapshot struct {
	Start  int64        `json:"start"`
	Ranges []ShareRange `json:"ranges,omitempty"`
}

// Snapshot returns the state to store.
func (s *ShareState) Snapshot() ShareSnapshot {
	snap := ShareSnapshot{Start: s.start}
	for i, r := range s.recs {
		o := s.start + int64(i)
		st := r.state
		if st == ShareAcquired {
			st = ShareAvailable
		}
		if k := len(snap.Ranges) - 1; k >= 0 && snap.Ranges[k].Last == o-1 && snap.Ranges[k].State == st && snap.Ranges[k].Count == r.count {
			snap.Ranges[k].Last = o
			continue
		}
		snap.Ranges = append(snap.Ranges, ShareRange{First: o, Last: o, State: st, Count: r.count})
	}
	return snap
}

// RestoreShareState returns the state a snapshot stored: every record not
// done is available, with the deliveries it had.
func RestoreShareState(snap ShareSnapshot) *ShareState {
	s := NewShareState(snap.Start)
	rs := append([]ShareRange(nil), snap.Ranges...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].First < rs[j].First })
	for _, r := range rs {
		if r.First < s.end || r.Last < r.First || r.Last-snap.Start >= MaxInFlight {
			continue // malformed: ignore what overlaps or overflows
		}
		for s.end < r.First {
			s.recs = append(s.recs, shareRecord{})
			s.end++
		}
		st := r.State
		if st != ShareAcknowledged && st != ShareArchived {
			st = ShareAvailable
		}
		for o := r.First; o <= r.Last; o++ {
			s.recs = append(s.recs, shareRecord{state: st, count: r.Count})
			s.end++
		}
	}
	s.trimTail()
	s.advance()
	return s
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
