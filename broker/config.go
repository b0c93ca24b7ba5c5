package broker

import (
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/internal/tlsconfig"
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
	EtcdCAFile             string                // PEM CAs that etcd's certificate must chain to; setting any Etcd*File turns TLS on
	EtcdCertFile           string                // PEM client certificate for etcd (its --client-cert-auth)
	EtcdKeyFile            string                // its key
	EtcdUsername           string                // etcd user (etcd's own authentication); empty = none
	EtcdPassword           string                // its password
	ObjectStore            string                // file:///abs or s3://…; empty = file://DataDir/objects
	BrokerID               int32                 // 0 = allocate through etcd and keep in DataDir
	Rack                   string                // rack reported in Metadata
	DefaultPartitions      int32                 // partitions of auto-created topics
	AutoCreateTopics       bool                  // Kafka's auto.create.topics.enable
	SealBytes              int64                 // seal the open WAL segment at this size (wal.Options.SegmentBytes)
	SealInterval           time.Duration         // or at this age (wal.Options.SealInterval)
	MaxPutRate             int32                 // segment PUTs per second that seals on demand may spend (tiering.UploaderOptions.MaxPutRate); 0 = no early seals
	WALMaxBytes            int64                 // WAL bytes not yet uploaded before produces wait for room (wal.Options.MaxBytes)
	SessionTTL             time.Duration         // etcd lease TTL, whole seconds (metadata.Options.SessionTTL)
	MaxRequestBytes        int64                 // largest request frame accepted (socket.request.max.bytes); at most math.MaxInt32 takes effect
	CacheBytes             int64                 // object range cache, memory tier (tiering.ReaderOptions.CacheBytes)
	DiskCacheBytes         int64                 // object range cache, disk tier under DataDir/cache; 0 = none
	ReadAheadBytes         int64                 // prefetch per partition past a cold read; 0 = none
	OffsetsPartitions      int32                 // coordinator shards of a new cluster (offsets.topic.num.partitions)
	MaxTxnTimeout          time.Duration         // longest transaction timeout a producer may ask for (transaction.max.timeout.ms)
	TransactionVersion     int32                 // transaction.version finalized in ApiVersions: 1 or 2 (coordinator.DefaultTransactionVersion)
	RetentionCheckInterval time.Duration         // how often retention.ms and retention.bytes are applied
	GCInterval             time.Duration         // how often the controller deletes unreferenced objects
	GCGrace                time.Duration         // how long an object stays unreferenced before it is deleted
	CompactionInterval     time.Duration         // how often small objects' ranges are merged
	CompactionMinAge       time.Duration         // how old a range must be to be merged; 0 = any, negative = the default
	MaxConnections         int                   // open client connections (max.connections); 0 = from the open-file limit (AutoMaxConnections), < 0 = unlimited
	MaxConnectionsPerIP    int                   // open client connections from one IP address (max.connections.per.ip); 0 = unlimited
	ConnectionsMaxIdle     time.Duration         // close a connection idle this long (connections.max.idle.ms)
	QueuedMaxRequestBytes  int64                 // request bytes read and not yet handled, all connections (queued.max.request.bytes)
	Security               Security              // listeners, TLS, SASL, ACLs (docs/security.md)
	SetOptions             map[string]bool       // options set by flag, STRATA_* variable or YAML file, by flag name (cmd/strata): DescribeConfigs reports them as STATIC_BROKER_CONFIG
	Bucket                 objectstore.Bucket    // open object store used instead of ObjectStore (tests); the broker closes it on Close
	FS                     vfs.FS                // file system of the WAL and the disk cache; nil = the OS's (tests inject faults)
	Logger                 *slog.Logger          // nil = discard
	Registerer             prometheus.Registerer // nil = no metrics
}

// Security is how clients connect and who may do what (docs/security.md),
// with Kafka's option names where Kafka has them.
type Security struct {
	// Listeners is Kafka's listeners: NAME://host:port, comma-separated,
	// each name a security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT,
	// SASL_SSL) or mapped to one by ProtocolMap. Empty: one PLAINTEXT
	// listener on Config.Listen.
	Listeners string
	// AdvertisedListeners is Kafka's advertised.listeners: what Metadata
	// returns to a client connected to each listener. A listener not named
	// advertises Config.AdvertisedAddr if it is the only one, else its own
	// address.
	AdvertisedListeners string
	// ProtocolMap is Kafka's listener.security.protocol.map (NAME:PROTOCOL,
	// comma-separated); empty = each listener's name is its protocol.
	ProtocolMap string

	TLSCertFile     string // PEM certificate (chain) of SSL and SASL_SSL listeners; reloaded when it changes
	TLSKeyFile      string // its PEM private key
	TLSClientCAFile string // PEM CAs that client certificates must chain to; empty = no client certificates
	// TLSClientAuth is Kafka's ssl.client.auth: none, requested or
	// required; empty = required when TLSClientCAFile is set, else none.
	TLSClientAuth string

	// SASLMechanisms are those SASL listeners offer (sasl.enabled.mechanisms);
	// empty = PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.
	SASLMechanisms []string
	// SASLBootstrapUsers is a file of user:password lines: at start the
	// broker makes sure each user has SCRAM-SHA-256 and SCRAM-SHA-512
	// credentials (it never changes existing ones).
	SASLBootstrapUsers string
	// ConnectionsMaxReauth is Kafka's connections.max.reauth.ms: how long
	// a SASL authentication lasts before the client must authenticate
	// again on the connection (KIP-368); 0 = for the connection's life.
	ConnectionsMaxReauth time.Duration

	// Authorizer turns ACL checks on (Kafka's authorizer.class.name).
	Authorizer bool
	// SuperUsers are principals ("User:admin") every ACL check allows.
	SuperUsers []string
	// AllowEveryoneIfNoACLFound is Kafka's allow.everyone.if.no.acl.found.
	AllowEveryoneIfNoACLFound bool
}

// Defaults of the options the broker itself owns. The others are declared
// by their packages: the WAL's in wal, the lease TTL in metadata, the
// cache sizes in tiering, the longest transaction timeout in coordinator,
// the connection limits in listener.go and the background work's
// intervals in schedules.go.
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
		MaxPutRate:             tiering.DefaultMaxPutRate,
		WALMaxBytes:            wal.DefaultMaxBytes,
		SessionTTL:             metadata.DefaultSessionTTL,
		MaxRequestBytes:        DefaultMaxRequestBytes,
		CacheBytes:             tiering.DefaultCacheBytes,
		DiskCacheBytes:         tiering.DefaultDiskCacheBytes,
		ReadAheadBytes:         tiering.DefaultReadAheadBytes,
		OffsetsPartitions:      DefaultOffsetsPartitions,
		MaxTxnTimeout:          coordinator.DefaultMaxTxnTimeout,
		TransactionVersion:     coordinator.DefaultTransactionVersion,
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
	positiveOr(&c.MaxTxnTimeout, coordinator.DefaultMaxTxnTimeout)
	positiveOr(&c.TransactionVersion, coordinator.DefaultTransactionVersion)
	c.TransactionVersion = min(c.TransactionVersion, coordinator.MaxTransactionVersion)
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

// listenerSpecs are the listeners s configures: Listeners, or one
// PLAINTEXT listener on listen.
func (s *Security) listenerSpecs(listen string) ([]Listener, error) {
	if s.Listeners == "" {
		return []Listener{{Name: string(ProtocolPlaintext), Protocol: ProtocolPlaintext, Addr: listen}}, nil
	}
	specs, err := ParseListeners(s.Listeners, s.ProtocolMap)
	if err != nil {
		return nil, fmt.Errorf("--listeners: %w", err)
	}
	return specs, nil
}

// etcdAuth is how the broker authenticates to etcd.
func (c *Config) etcdAuth() (metadata.ClientAuth, error) {
	a := metadata.ClientAuth{Username: c.EtcdUsername, Password: c.EtcdPassword}
	if c.EtcdCAFile == "" && c.EtcdCertFile == "" && c.EtcdKeyFile == "" {
		return a, nil
	}
	var err error
	if a.TLS, err = tlsconfig.Client(tlsconfig.ClientOptions{CAFile: c.EtcdCAFile, CertFile: c.EtcdCertFile, KeyFile: c.EtcdKeyFile, Log: c.Logger}); err != nil {
		return a, fmt.Errorf("etcd TLS: %w", err)
	}
	return a, nil
}

// SecurityError lists what is wrong with a Security, one sentence each.
type SecurityError struct{ Problems []string }

func (e *SecurityError) Error() string { return strings.Join(e.Problems, "; ") }

// Validate explains each value of s that Start could not use; listen is
// Config.Listen, the listener when s names none. It reads the TLS files, so
// that a wrong path is reported before the broker starts.
func (s *Security) Validate(listen string) error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	specs, err := s.listenerSpecs(listen)
	if err != nil {
		bad("%v", err)
	}
	if s.Listeners == "" && s.ProtocolMap != "" {
		bad("--listener-security-protocol-map needs --listeners")
	}
	if s.Listeners != "" && err == nil {
		// A listener on all interfaces or a port 0 advertises what it
		// binds only once it is bound: check the names and forms here.
		if _, err := ParseAdvertisedListeners(s.AdvertisedListeners, specs, "placeholder.invalid"); err != nil {
			bad("--advertised-listeners: %v", err)
		}
	}
	usesTLS, usesSASL := false, false
	for _, l := range specs {
		usesTLS = usesTLS || l.Protocol.TLS()
		usesSASL = usesSASL || l.Protocol.SASL()
	}
	switch {
	case usesTLS && (s.TLSCertFile == "" || s.TLSKeyFile == ""):
		bad("--tls-cert-file and --tls-key-file are required by SSL and SASL_SSL listeners")
	case usesTLS:
		if _, err := tlsconfig.Server(tlsconfig.ServerOptions{CertFile: s.TLSCertFile, KeyFile: s.TLSKeyFile,
			ClientCAFile: s.TLSClientCAFile, ClientAuth: s.TLSClientAuth}); err != nil {
			bad("TLS: %v", err)
		}
	}
	switch s.TLSClientAuth {
	case "", "none", "requested", "required":
	default:
		bad("--tls-client-auth must be none, requested or required, got %q", s.TLSClientAuth)
	}
	if (s.TLSClientAuth == "requested" || s.TLSClientAuth == "required") && s.TLSClientCAFile == "" {
		bad("--tls-client-auth %s needs --tls-client-ca-file", s.TLSClientAuth)
	}
	for _, m := range s.SASLMechanisms {
		if !slices.Contains(auth.Mechanisms(), m) {
			bad("--sasl-enabled-mechanisms: %q is not one of %s", m, strings.Join(auth.Mechanisms(), ", "))
		}
	}
	if s.SASLBootstrapUsers != "" && !usesSASL {
		bad("--sasl-bootstrap-users needs a SASL_PLAINTEXT or SASL_SSL listener in --listeners")
	}
	if s.ConnectionsMaxReauth < 0 {
		bad("--connections-max-reauth must not be negative, got %s", s.ConnectionsMaxReauth)
	}
	for _, p := range s.SuperUsers {
		if typ, name, ok := strings.Cut(p, ":"); !ok || typ == "" || name == "" {
			bad("--super-users entry %q must be a principal such as User:admin", p)
		}
	}
	if len(problems) > 0 {
		return &SecurityError{Problems: problems}
	}
	return nil
}
