package metadata

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/strata-io/strata/internal/batch"
)

var (
	ErrTopicExists  = errors.New("metadata: topic already exists")
	ErrUnknownTopic = errors.New("metadata: unknown topic")
	// ErrNotLeader: another broker's lease holds the partition's leadership key.
	ErrNotLeader = errors.New("metadata: partition led by another broker")
	// ErrFenced: a commit's epoch comparison failed; the caller no longer leads.
	ErrFenced = errors.New("metadata: leader epoch fenced")
	// ErrConflict: a compare-and-swap update lost to a concurrent change;
	// read again and retry.
	ErrConflict = errors.New("metadata: concurrent update (version mismatch)")
	// ErrInvalid: an argument the store cannot write (wrapped with the reason).
	ErrInvalid = errors.New("metadata: invalid argument")
	// ErrNotResumable: ResumeLeadership was asked to resume a tenure that is
	// no longer the partition's latest (another tenure began since).
	ErrNotResumable = errors.New("metadata: tenure cannot be resumed: the partition was led since")
	// ErrLeaseExpired: Options.LeaseID names a lease that etcd no longer has.
	ErrLeaseExpired = errors.New("metadata: lease expired")
)

// TopicID is a topic's 16-byte UUID (as Kafka's topic ids).
type TopicID [16]byte

// String is the UUID in its usual text form.
func (id TopicID) String() string { return uuid.UUID(id).String() }

// NewTopicID returns a random (v4) non-zero id.
func NewTopicID() TopicID {
	// A v4 UUID has version and variant bits set, so it is never zero.
	return TopicID(uuid.New())
}

// MarshalText encodes the id as its UUID string (so JSON holds a string).
func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses a UUID string as written by MarshalText.
func (id *TopicID) UnmarshalText(b []byte) error {
	u, err := uuid.ParseBytes(b)
	if err != nil {
		return fmt.Errorf("metadata: topic id %q: %w", b, err)
	}
	*id = TopicID(u)
	return nil
}

// PartitionKey names one partition.
type PartitionKey struct {
	Topic     TopicID
	Partition int32
}

// String is "<topic-id>/<partition>", as in the etcd keys.
func (k PartitionKey) String() string {
	return k.Topic.String() + "/" + strconv.Itoa(int(k.Partition))
}

// Topic is a topic's definition.
type Topic struct {
	Name       string            `json:"name"`
	ID         TopicID           `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"` // only explicitly set configs
	// Replicas[i] is partition i's replica list as an operator set it
	// (CreateTopics or CreatePartitions with an assignment, or a
	// reassignment); its first broker is the partition's preferred leader,
	// which the controller assigns the partition to while that broker is
	// live. Empty (or a partition beyond its length): no preference.
	// Strata keeps one copy of each partition: the other brokers named are
	// kept and reported, not replicated to.
	Replicas [][]int32 `json:"replicas,omitempty"`
	// Reassigning maps a partition under reassignment to its replica list
	// before it (for ListPartitionReassignments and for cancelling).
	Reassigning map[int32][]int32 `json:"reassigning,omitempty"`
	// Version is the etcd ModRevision of the topic key when read (for CAS updates); not stored.
	Version int64 `json:"-"`
}

// Preferred is the preferred leader of partition p (-1: none set).
func (t Topic) Preferred(p int32) int32 {
	if p < 0 || int(p) >= len(t.Replicas) || len(t.Replicas[p]) == 0 {
		return -1
	}
	return t.Replicas[p][0]
}

// Broker is a live broker's registration.
type Broker struct {
	ID   int32  `json:"id"`
	Addr string `json:"addr"` // advertised host:port of the broker's first listener
	Rack string `json:"rack,omitempty"`
	// Listeners is the advertised host:port of each listener, by name:
	// a client sees the brokers' addresses on the listener it connected to.
	Listeners map[string]string `json:"listeners,omitempty"`
}

// ListenerAddr is the address b advertises on the listener named name.
// A broker registered before listeners had names has only Addr.
func (b Broker) ListenerAddr(name string) (string, bool) {
	if b.Listeners == nil {
		return b.Addr, b.Addr != ""
	}
	addr, ok := b.Listeners[name]
	return addr, ok
}

// ManifestEntry says where a contiguous range of one partition's batches lives.
type ManifestEntry struct {
	Object       string `json:"object"`  // object name in the bucket
	Position     int64  `json:"pos"`     // byte offset of the range in the object
	Size         int64  `json:"size"`    // byte length of the range
	BaseOffset   int64  `json:"base"`    // first offset of the first batch
	LastOffset   int64  `json:"last"`    // last offset of the last batch
	MaxTimestamp int64  `json:"maxTs"`   // max timestamp of the range
	Batches      int32  `json:"batches"` // number of batches
	CRC          uint32 `json:"crc"`     // CRC-32C of the range's bytes (of an archive: of its block index)
	// IndexSize is set for an archive object (tiering's format version 2):
	// the range holds its blocks and its block index of IndexSize bytes
	// follows it. 0: a range of whole batches in a segment object.
	IndexSize int64 `json:"indexSize,omitempty"`
	// Committed is when the range was committed (unix ms; for a compacted
	// range, the newest of the ranges it replaced). 0: not recorded.
	Committed int64 `json:"committed,omitempty"`
	// Aborted lists the transactions whose ABORT marker is in the range,
	// in offset order (see AbortedTxn and OpenTxns.Apply).
	Aborted []AbortedTxn `json:"aborted,omitempty"`
}

// ProducerState is an idempotent producer's last appended batches on one
// partition, and its ongoing transaction there.
type ProducerState struct {
	Epoch int16 `json:"epoch"`
	// Batches are the last (up to 5) batches appended, oldest first, for dedup of retries.
	Batches []ProducerBatch `json:"batches"`
	// InTxn says the producer has a transaction ongoing on the partition:
	// a transactional batch was appended since its last marker there.
	// TxnFirst is the offset of that transaction's first record.
	InTxn    bool  `json:"inTxn,omitempty"`
	TxnFirst int64 `json:"txnFirst,omitempty"`
}

// ProducerBatch identifies one idempotent batch.
type ProducerBatch struct {
	FirstSeq   int32 `json:"firstSeq"`
	LastSeq    int32 `json:"lastSeq"`
	BaseOffset int64 `json:"base"`
}

// PartitionState is what a leader commits with every manifest entry.
type PartitionState struct {
	HighWatermark  int64                   `json:"hwm"`      // next offset after the last committed record
	LogStartOffset int64                   `json:"logStart"` // first readable offset
	Producers      map[int64]ProducerState `json:"producers,omitempty"`
}

// TxnBatch is what a partition's transaction state needs of one appended
// batch: its producer, offsets and kind.
type TxnBatch struct {
	ProducerID    int64
	BaseOffset    int64
	LastOffset    int64
	Transactional bool
	Control       bool
	// Abort: the control batch is an ABORT marker (else a COMMIT, or a
	// control record of another kind, which ends a transaction the same
	// way without aborting it).
	Abort bool
}

// TxnBatchOf describes the batch raw, whose header is h, for Apply. A
// transactional control batch is an ABORT marker if its control record
// says so; one whose record does not decode ends a transaction without
// aborting it (the broker writes every marker, so it does not happen).
func TxnBatchOf(h batch.Header, raw []byte) TxnBatch {
	b := TxnBatch{ProducerID: h.ProducerID, BaseOffset: h.BaseOffset, LastOffset: h.LastOffset(),
		Transactional: h.Transactional(), Control: h.Control()}
	if b.Transactional && b.Control {
		typ, err := batch.ControlType(raw)
		b.Abort = err == nil && typ == batch.ControlAbort
	}
	return b
}

// OpenTxns is a partition's ongoing transactions, by producer id: the
// offset of each one's first record. The leader keeps one in memory and
// the uploader derives the committed one from PartitionState (OpenTxns,
// SetOpenTxns); both change it only through Apply, so that they agree.
type OpenTxns map[int64]int64

// Apply is the transaction transition of one batch appended to the
// partition: a transactional data batch of a producer with no ongoing
// transaction opens one at the batch's base offset; a control batch ends
// the producer's ongoing transaction. When it is an ABORT marker that ends
// one, Apply returns that transaction's range, with Stable the last stable
// offset of the log right after the marker (the first offset of the oldest
// transaction still ongoing, else the offset after the marker), and true.
// Other batches change nothing. A marker for a producer with no ongoing
// transaction ends nothing (the leader does not append one).
func (s OpenTxns) Apply(b TxnBatch) (AbortedTxn, bool) {
	if !b.Transactional {
		return AbortedTxn{}, false
	}
	first, open := s[b.ProducerID]
	if !b.Control {
		if !open {
			s[b.ProducerID] = b.BaseOffset
		}
		return AbortedTxn{}, false
	}
	if !open {
		return AbortedTxn{}, false
	}
	delete(s, b.ProducerID)
	if !b.Abort {
		return AbortedTxn{}, false
	}
	return AbortedTxn{ProducerID: b.ProducerID, FirstOffset: first, LastOffset: b.LastOffset, Stable: s.Stable(b.LastOffset + 1)}, true
}

// Stable is the last stable offset of a log whose end is end: the first
// offset of the oldest ongoing transaction, or end if none is older.
func (s OpenTxns) Stable(end int64) int64 {
	for _, first := range s {
		end = min(end, first)
	}
	return end
}

// OpenTxns returns the ongoing transactions that st records.
func (st PartitionState) OpenTxns() OpenTxns {
	s := OpenTxns{}
	for id, ps := range st.Producers {
		if ps.InTxn {
			s[id] = ps.TxnFirst
		}
	}
	return s
}

// SetOpenTxns records s as the ongoing transactions of st's producers
// (each producer of s must be in st.Producers, as a transactional batch's
// producer is).
func (st *PartitionState) SetOpenTxns(s OpenTxns) {
	for id, ps := range st.Producers {
		first, open := s[id]
		if ps.InTxn == open && ps.TxnFirst == first {
			continue
		}
		ps.InTxn, ps.TxnFirst = open, first
		st.Producers[id] = ps
	}
}

// Commit is one partition's new manifest entry and state, guarded by Epoch.
type Commit struct {
	Key   PartitionKey
	Epoch int64
	Entry ManifestEntry
	State PartitionState
}

// leaderValue is the JSON value of a partition's leader key.
type leaderValue struct {
	Broker      int32 `json:"broker"`
	LeaderEpoch int32 `json:"leaderEpoch"`
}

// Leadership is one tenure of a broker as a partition's leader.
type Leadership struct {
	// Epoch is the leader key's etcd creation revision: the fencing token
	// every commit of this tenure is compared with. Epochs only grow.
	Epoch int64
	// LeaderEpoch is Kafka's leader epoch: 0 for the first leader, one more
	// for each new tenure. Clients see it in Metadata and send it back in
	// Fetch, ListOffsets and OffsetForLeaderEpoch.
	LeaderEpoch int32
	// History lists every tenure's first offset, oldest first, this one last.
	History []EpochStart
	// Resumed is the fencing epoch of the ended tenure this one continues
	// (ResumeLeadership), 0 for a new tenure.
	Resumed int64
}

// EpochStart is the first offset written under a leader epoch: the committed
// high watermark when that tenure began.
type EpochStart struct {
	LeaderEpoch int32 `json:"epoch"`
	StartOffset int64 `json:"start"`
}

// Leader is a partition's current leader as the cluster view sees it.
type Leader struct {
	Broker      int32
	Epoch       int64 // the leader key's creation revision
	LeaderEpoch int32
	Lease       int64 // the etcd lease the key is bound to
}
