package mirror

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"sync"
)

// A Sync says that the record at source offset Source of a partition was
// written at target offset Target. The mirror writes one for the first
// record it copies of a partition after each assignment and for every
// record whose distance to its source offset (Target-Source) differs from
// its predecessor's: a gap in the source (a transaction marker, a
// compacted or a skipped record), a commit marker on the target, a
// duplicate after a crash. Between two syncs the offsets of both sides
// advance together, so the syncs are an exact map.
//
// On the target topic __strata_mirror_offset_syncs.NAME (one partition),
// a sync is a record keyed "SOURCE-TOPIC/PARTITION" whose value is the
// JSON of Sync.
type Sync struct {
	Topic     string `json:"topic"` // source topic
	Partition int32  `json:"partition"`
	Source    int64  `json:"source"`
	Target    int64  `json:"target"`
}

func (s Sync) key() string { return s.Topic + "/" + strconv.Itoa(int(s.Partition)) }

func (s Sync) value() []byte {
	b, _ := json.Marshal(s)
	return b
}

// parseSync decodes a sync record's value.
func parseSync(value []byte) (Sync, error) {
	var s Sync
	if err := json.Unmarshal(value, &s); err != nil {
		return s, fmt.Errorf("offset sync %q: %w", value, err)
	}
	if s.Topic == "" || s.Partition < 0 || s.Source < 0 || s.Target < 0 {
		return s, fmt.Errorf("offset sync %q: missing or negative field", value)
	}
	return s, nil
}

// TopicPartition names a partition of a source topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return tp.Topic + "/" + strconv.Itoa(int(tp.Partition)) }

// OffsetMap translates source offsets into target offsets from the syncs
// read in the order they were written. It is safe for concurrent use.
type OffsetMap struct {
	mu    sync.Mutex
	syncs map[TopicPartition][]point // ascending source offsets
}

type point struct{ source, target int64 }

// NewOffsetMap is an empty map.
func NewOffsetMap() *OffsetMap { return &OffsetMap{syncs: make(map[TopicPartition][]point)} }

// Add records a sync. A sync at or before earlier ones of its partition
// supersedes them: the records from its source offset on were copied again
// (after a crash, at least once), and the newer copies are the ones a
// translated consumer must read, so that it skips none.
func (m *OffsetMap) Add(s Sync) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tp := TopicPartition{s.Topic, s.Partition}
	ps := m.syncs[tp]
	i := sort.Search(len(ps), func(i int) bool { return ps[i].source >= s.Source })
	m.syncs[tp] = append(ps[:i], point{s.Source, s.Target})
}

// Translate maps a consumer's committed source offset (the next record it
// would read) to the target offset where the same consumer resumes without
// skipping a record: the offset of the first copy, written after the last
// sync at or before it, of a record at or after committed. It is exact
// when committed is at most the mirror's progress (everything before
// committed has been copied): then a consumer on the target reads exactly
// the records it has not read on the source, apart from the duplicates an
// at-least-once mirror wrote after a crash. A committed offset before the
// first sync maps to that sync's target offset. ok is false when no sync
// of the partition is known.
func (m *OffsetMap) Translate(tp TopicPartition, committed int64) (target int64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := m.syncs[tp]
	if len(ps) == 0 {
		return 0, false
	}
	i := sort.Search(len(ps), func(i int) bool { return ps[i].source > committed }) - 1
	if i < 0 {
		return ps[0].target, true
	}
	return ps[i].target + (committed - ps[i].source), true
}

// Len is the number of syncs held for tp.
func (m *OffsetMap) Len(tp TopicPartition) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.syncs[tp])
}

// syncTracker decides which copied records need a sync: the first of a
// partition since the tracker was made (an assignment) and each whose
// offset distance differs from its predecessor's.
type syncTracker struct {
	delta map[TopicPartition]int64
}

func newSyncTracker() *syncTracker { return &syncTracker{delta: make(map[TopicPartition]int64)} }

// observe reports whether the record copied from source to target needs a
// sync.
func (t *syncTracker) observe(tp TopicPartition, source, target int64) bool {
	d, seen := t.delta[tp]
	t.delta[tp] = target - source
	return !seen || d != target-source
}

// forget drops a partition (revoked), so its next record gets a sync.
func (t *syncTracker) forget(tp TopicPartition) { delete(t.delta, tp) }
