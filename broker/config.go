package broker

import (
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/vfs"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/wal"
)

// Config is everything a broker needs to start. cmd/strata's `serve` embeds
// it and binds each flag, STRATA_* variable and YAML key to a field.
//
// Each option's default is declared once, by the package that owns it, and
// DefaultConfig gathers them: that is the broker `strata serve` runs. Start
// calls EnsureDefaults, so a zero field also gets its default, except where
// zero means something of its own (said beside the field): the sizes of the
// disk cache and read-ahead (0 = off), the connection limits, BrokerID,
// AutoCreateTopics and CompactionMinAge.
type Config struct {
	DataDir                string                // WAL, broker id, embedded etcd data, default object store; made absolute
	Listen                 string                // Kafka listener host:port
	AdvertisedAddr         string                // host:port returned in Metadata; empty = Listen
	EtcdEndpoints          []string              // empty = embedded etcd under DataDir
	ObjectStore            string                // file:///abs or s3://…; empty = file://DataDir/objects
	BrokerID               int32                 // 0 = allocate through etcd and keep in DataDir
	Rack                   string                // rack reported in Metadata
	DefaultPartitions      int32                 // partitions of auto-created topics
	AutoCreateTopics       bool                  // Kafka's auto.create.topics.enable
	SealBytes              int64                 // seal the open WAL segment at this size (wal.Options.SegmentBytes)
	SealInterval           time.Duration         // or at this age (wal.Options.SealInterval)
	WALMaxBytes            int64                 // WAL bytes not yet uploaded before produces wait for room (wal.Options.MaxBytes)
	SessionTTL             time.Duration         // etcd lease TTL, whole seconds (metadata.Options.SessionTTL)
	MaxRequestBytes        int64                 // largest request frame accepted (socket.request.max.bytes); at most math.MaxInt32 takes effect
	CacheBytes             int64                 // object range cache, memory tier (tiering.ReaderOptions.CacheBytes)
	DiskCacheBytes         int64                 // object range cache, disk tier under DataDir/cache; 0 = none
	ReadAheadBytes         int64                 // prefetch per partition past a cold read; 0 = none
	OffsetsPartitions      int32                 // coordinator shards of a new cluster (offsets.topic.num.partitions)
	RetentionCheckInterval time.Duration         // how often retention.ms and retention.bytes are applied
	GCInterval             time.Duration         // how often the controller deletes unreferenced objects
	GCGrace                time.Duration         // how long an object stays unreferenced before it is deleted
	CompactionInterval     time.Duration         // how often small objects' ranges are merged
	CompactionMinAge       time.Duration         // how old a range must be to be merged; 0 = any, negative = the default
	MaxConnections         int                   // open client connections (max.connections); 0 = from the open-file limit (AutoMaxConnections), < 0 = unlimited
	MaxConnectionsPerIP    int                   // open client connections from one IP address (max.connections.per.ip); 0 = unlimited
	ConnectionsMaxIdle     time.Duration         // close a connection idle this long (connections.max.idle.ms)
	QueuedMaxRequestBytes  int64                 // request bytes read and not yet handled, all connections (queued.max.request.bytes)
	Bucket                 objectstore.Bucket    // open object store used instead of ObjectStore (tests); the broker closes it on Close
	FS                     vfs.FS                // file system of the WAL and the disk cache; nil = the OS's (tests inject faults)
	Logger                 *slog.Logger          // nil = discard
	Registerer             prometheus.Registerer // nil = no metrics
}

// Defaults of the options the broker itself owns. The others are declared
// by their packages: the WAL's in wal, the lease TTL in metadata, the cache
// sizes in tiering, the connection limits in listener.go and the background
// work's intervals in schedules.go.
const (
	DefaultDataDir           = "./strata-data"
	DefaultListen            = "127.0.0.1:9092"
	DefaultPartitions        = 1         // Kafka's num.partitions
	DefaultMaxRequestBytes   = 100 << 20 // Kafka's socket.request.max.bytes
	DefaultOffsetsPartitions = 50        // Kafka's offsets.topic.num.partitions
)

// DefaultConfig is a single-node broker on localhost with embedded etcd and
// a filesystem object store under ./strata-data: every option at its
// owner's default. cmd/strata starts from it, so these are the defaults
// --help and docs/configuration.md show.
func DefaultConfig() Config {
	return Config{
		DataDir:                DefaultDataDir,
		Listen:                 DefaultListen,
		DefaultPartitions:      DefaultPartitions,
		AutoCreateTopics:       true,
		SealBytes:              wal.DefaultSegmentBytes,
		SealInterval:           wal.DefaultSealInterval,
		WALMaxBytes:            wal.DefaultMaxBytes,
		SessionTTL:             metadata.DefaultSessionTTL,
		MaxRequestBytes:        DefaultMaxRequestBytes,
		CacheBytes:             tiering.DefaultCacheBytes,
		DiskCacheBytes:         tiering.DefaultDiskCacheBytes,
		ReadAheadBytes:         tiering.DefaultReadAheadBytes,
		OffsetsPartitions:      DefaultOffsetsPartitions,
		RetentionCheckInterval: DefaultRetentionCheckInterval,
		GCInterval:             DefaultGCInterval,
		GCGrace:                DefaultGCGrace,
		CompactionInterval:     DefaultCompactionInterval,
		CompactionMinAge:       DefaultCompactionMinAge,
		ConnectionsMaxIdle:     DefaultConnectionsMaxIdle,
		QueuedMaxRequestBytes:  DefaultQueuedMaxRequestBytes,
	}
}

// EnsureDefaults gives the zero (or negative) fields whose zero has no
// meaning of its own their default, makes DataDir absolute and spells out
// the default object store. The WAL's options and the lease TTL are left
// as they are: wal.Open and metadata.New default those themselves.
func (c *Config) EnsureDefaults() error {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("data directory %q: %w", c.DataDir, err)
	}
	c.DataDir = abs
	if c.ObjectStore == "" {
		c.ObjectStore = (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(c.DataDir, "objects"))}).String()
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	positiveOr(&c.DefaultPartitions, DefaultPartitions)
	positiveOr(&c.MaxRequestBytes, DefaultMaxRequestBytes)
	positiveOr(&c.ConnectionsMaxIdle, DefaultConnectionsMaxIdle)
	positiveOr(&c.QueuedMaxRequestBytes, DefaultQueuedMaxRequestBytes)
	positiveOr(&c.CacheBytes, tiering.DefaultCacheBytes)
	positiveOr(&c.OffsetsPartitions, DefaultOffsetsPartitions)
	positiveOr(&c.RetentionCheckInterval, DefaultRetentionCheckInterval)
	positiveOr(&c.GCInterval, DefaultGCInterval)
	positiveOr(&c.GCGrace, DefaultGCGrace)
	positiveOr(&c.CompactionInterval, DefaultCompactionInterval)
	if c.CompactionMinAge < 0 {
		c.CompactionMinAge = DefaultCompactionMinAge
	}
	return nil
}

// positiveOr sets *v to def unless it is positive.
func positiveOr[T int32 | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
