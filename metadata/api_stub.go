package metadata

// API CONTRACT (stub written by the lead; the implementer replaces this file with
// the real implementation, keeping every exported name and signature below).

import (
	"context"
	"errors"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	ErrTopicExists  = errors.New("metadata: topic already exists")
	ErrUnknownTopic = errors.New("metadata: unknown topic")
	// ErrNotLeader: another broker's lease holds the partition's leadership key.
	ErrNotLeader = errors.New("metadata: partition led by another broker")
	// ErrFenced: a commit's epoch comparison failed; the caller no longer leads.
	ErrFenced = errors.New("metadata: leader epoch fenced")
)

// TopicID is a topic's 16-byte UUID (as Kafka's topic ids).
type TopicID [16]byte

// String is the UUID in its usual text form.
func (id TopicID) String() string { panic("stub") }

// NewTopicID returns a random (v4) non-zero id.
func NewTopicID() TopicID { panic("stub") }

// PartitionKey names one partition.
type PartitionKey struct {
	Topic     TopicID
	Partition int32
}

// Topic is a topic's definition.
type Topic struct {
	Name       string            `json:"name"`
	ID         TopicID           `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"` // only explicitly set configs
	// Version is the etcd ModRevision of the topic key when read (for CAS updates); not stored.
	Version int64 `json:"-"`
}

// Broker is a live broker's registration.
type Broker struct {
	ID   int32  `json:"id"`
	Addr string `json:"addr"` // advertised host:port
	Rack string `json:"rack,omitempty"`
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
	CRC          uint32 `json:"crc"`     // CRC-32C of the range's bytes
}

// ProducerState is an idempotent producer's last appended batches on one partition.
type ProducerState struct {
	Epoch int16 `json:"epoch"`
	// Batches are the last (up to 5) batches appended, oldest first, for dedup of retries.
	Batches []ProducerBatch `json:"batches"`
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

// Commit is one partition's new manifest entry and state, guarded by Epoch.
type Commit struct {
	Key   PartitionKey
	Epoch int64
	Entry ManifestEntry
	State PartitionState
}

// Options configures a Store.
type Options struct {
	Prefix     string        // key prefix, default "/strata/"
	SessionTTL time.Duration // broker lease TTL, default 10s
	Logger     *slog.Logger  // nil = discard
}

// Store is Strata's view of etcd. Safe for concurrent use.
type Store struct{}

// Connect dials etcd and checks it answers within timeout.
func Connect(ctx context.Context, endpoints []string, timeout time.Duration) (*clientv3.Client, error) {
	panic("stub")
}

// New returns a Store on client and opens the broker's lease session.
func New(ctx context.Context, client *clientv3.Client, opts Options) (*Store, error) { panic("stub") }

// Close revokes the lease (ending registration and leaderships) and stops. Safe twice.
func (s *Store) Close() error { panic("stub") }

// Client is the underlying etcd client.
func (s *Store) Client() *clientv3.Client { panic("stub") }

// ClusterID returns the cluster's id, creating it on first use.
func (s *Store) ClusterID(ctx context.Context) (string, error) { panic("stub") }

// AllocateBrokerID returns a new unique broker id (>= 1).
func (s *Store) AllocateBrokerID(ctx context.Context) (int32, error) { panic("stub") }

// Register puts b under the session lease; it disappears when the lease ends.
func (s *Store) Register(ctx context.Context, b Broker) error { panic("stub") }

// Brokers lists registered (live) brokers, by id.
func (s *Store) Brokers(ctx context.Context) ([]Broker, error) { panic("stub") }

// CreateTopic stores t (ErrTopicExists if the name is taken).
func (s *Store) CreateTopic(ctx context.Context, t Topic) error { panic("stub") }

// Topic reads one topic (ErrUnknownTopic).
func (s *Store) Topic(ctx context.Context, name string) (Topic, error) { panic("stub") }

// Topics lists all topics, by name.
func (s *Store) Topics(ctx context.Context) ([]Topic, error) { panic("stub") }

// UpdateTopic replaces a topic's partitions and configs if its Version still matches
// (ErrUnknownTopic if gone; a conflict error otherwise).
func (s *Store) UpdateTopic(ctx context.Context, t Topic) error { panic("stub") }

// DeleteTopic removes the topic and every key of its partitions (leaders,
// states, manifests).
func (s *Store) DeleteTopic(ctx context.Context, name string) error { panic("stub") }

// AcquireLeadership makes this broker's lease hold the partition's leadership key
// and returns the epoch (the key's creation revision). If the key is already held
// by this lease, it returns the existing epoch. ErrNotLeader if another lease holds it.
func (s *Store) AcquireLeadership(ctx context.Context, key PartitionKey, brokerID int32) (int64, error) {
	panic("stub")
}

// ResignLeadership deletes the leadership key if it still has epoch.
func (s *Store) ResignLeadership(ctx context.Context, key PartitionKey, epoch int64) error {
	panic("stub")
}

// PartitionState reads the committed state (zero state if none yet).
func (s *Store) PartitionState(ctx context.Context, key PartitionKey) (PartitionState, error) {
	panic("stub")
}

// Manifest lists the partition's manifest entries by base offset.
func (s *Store) Manifest(ctx context.Context, key PartitionKey) ([]ManifestEntry, error) {
	panic("stub")
}

// CommitSegments commits many partitions' entries and states, each guarded by its
// epoch, in as few transactions as etcd's limits allow. It returns one error per
// commit (nil, ErrFenced, or a transport error), aligned with commits.
func (s *Store) CommitSegments(ctx context.Context, commits []Commit) []error { panic("stub") }

// AllocateProducerIDs reserves n consecutive producer ids and returns the first.
func (s *Store) AllocateProducerIDs(ctx context.Context, n int64) (int64, error) { panic("stub") }

// Embedded is an etcd server running inside this process.
type Embedded struct{}

// StartEmbedded starts a single-member etcd with its data under dir, listening
// on 127.0.0.1 (ports chosen free), and waits until it serves.
func StartEmbedded(dir string, logger *slog.Logger) (*Embedded, error) { panic("stub") }

// Endpoints are the client URLs to pass to Connect.
func (e *Embedded) Endpoints() []string { panic("stub") }

// Close stops the server. Safe twice.
func (e *Embedded) Close() error { panic("stub") }
