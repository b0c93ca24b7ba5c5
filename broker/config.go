package broker

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config is everything a broker needs to start. cmd/strata fills it from flags,
// STRATA_* environment variables and a YAML file.
type Config struct {
	DataDir                string                // WAL, broker id, embedded etcd data, default object store
	Listen                 string                // Kafka listener host:port
	AdvertisedAddr         string                // host:port returned in Metadata; empty = Listen
	EtcdEndpoints          []string              // empty = embedded etcd under DataDir
	ObjectStore            string                // file:///abs or s3://…; empty = file://DataDir/objects
	BrokerID               int32                 // 0 = allocate through etcd and keep in DataDir
	Rack                   string                // rack reported in Metadata
	DefaultPartitions      int32                 // partitions of auto-created topics
	AutoCreateTopics       bool                  // Kafka's auto.create.topics.enable
	SealBytes              int64                 // seal the open WAL segment at this size
	SealInterval           time.Duration         // or at this age
	WALMaxBytes            int64                 // WAL bytes not yet uploaded before produces wait for room
	SessionTTL             time.Duration         // etcd lease TTL
	MaxRequestBytes        int32                 // largest request frame accepted (socket.request.max.bytes)
	CacheBytes             int64                 // object range cache, memory tier
	DiskCacheBytes         int64                 // object range cache, disk tier under DataDir/cache; 0 = none
	ReadAheadBytes         int64                 // prefetch per partition past a cold read; 0 = none
	OffsetsPartitions      int32                 // coordinator shards of a new cluster (offsets.topic.num.partitions)
	RetentionCheckInterval time.Duration         // how often retention.ms and retention.bytes are applied
	GCInterval             time.Duration         // how often the controller deletes unreferenced objects
	GCGrace                time.Duration         // how long an object stays unreferenced before it is deleted
	CompactionInterval     time.Duration         // how often small objects' ranges are merged
	CompactionMinAge       time.Duration         // how old a range must be to be merged
	MaxConnections         int                   // open client connections (max.connections); 0 = from the open-file limit (AutoMaxConnections), < 0 = unlimited
	MaxConnectionsPerIP    int                   // open client connections from one IP address (max.connections.per.ip); 0 = unlimited
	ConnectionsMaxIdle     time.Duration         // close a connection idle this long (connections.max.idle.ms); 0 = DefaultConnectionsMaxIdle
	QueuedMaxRequestBytes  int64                 // request bytes read and not yet handled, all connections (queued.max.request.bytes); 0 = DefaultQueuedMaxRequestBytes
	Logger                 *slog.Logger          // nil = discard
	Registerer             prometheus.Registerer // nil = no metrics
}
