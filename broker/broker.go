package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sourcegraph/conc"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/strata-io/strata/internal/durable"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/wal"
)

var (
	errDataDirLocked = errors.New("broker: data directory is locked by another strata process")
	errClosing       = errors.New("broker: shutting down")
)

// Defaults applied by Start to zero fields of Config.
const (
	DefaultListen          = "127.0.0.1:9092"
	DefaultSealBytes       = 8 << 20
	DefaultSealInterval    = 200 * time.Millisecond
	DefaultSessionTTL      = 10 * time.Second
	DefaultMaxRequestBytes = 100 << 20 // Kafka's socket.request.max.bytes
	DefaultCacheBytes      = 256 << 20
)

// Broker is one running Strata broker.
type Broker struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	lock     *os.File
	embedded *metadata.Embedded
	store    *metadata.Store
	bucket   objectstore.Bucket
	wal      *wal.WAL
	walShut  bool // set by shutdown once it has closed the WAL: abort must not wait on it again
	uploader *tiering.Uploader
	reader   *tiering.Reader

	id        int32
	clusterID string
	advAddr   string
	ln        net.Listener

	topics *topicCache
	view   *clusterView
	groups *coordinator
	prodID producerIDs

	// committed is closed and replaced each time a WAL segment's commit lands,
	// waking long-polling fetches.
	commitMu  sync.Mutex
	committed chan struct{}

	ready     atomic.Bool
	closingCh chan struct{} // closed when shutdown starts: stops produces, wakes long polls

	ctx    context.Context // cancelled by Close after the graceful part
	cancel context.CancelFunc
	wg     conc.WaitGroup
	connWG sync.WaitGroup
	connMu sync.Mutex
	conns  map[*conn]struct{}
	front  frontEnd // connection limits and accounting (listener.go)

	uploadDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// Start validates cfg, locks the data directory, connects to (or starts) etcd
// and the object store, recovers the WAL and starts serving. It fails with a
// one-line reason when anything is unreachable or the directory is locked.
func Start(ctx context.Context, cfg Config) (_ *Broker, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	b := &Broker{
		cfg:        cfg,
		log:        cfg.Logger,
		committed:  make(chan struct{}),
		conns:      make(map[*conn]struct{}),
		uploadDone: make(chan struct{}),
		closingCh:  make(chan struct{}),
	}
	b.metrics = newMetrics(cfg.Registerer)
	b.ctx, b.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			b.abort()
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if b.lock, err = lockDir(cfg.DataDir); err != nil {
		return nil, err
	}

	endpoints := cfg.EtcdEndpoints
	if len(endpoints) == 0 {
		if b.embedded, err = metadata.StartEmbedded(filepath.Join(cfg.DataDir, "etcd"), b.log.With("component", "etcd")); err != nil {
			return nil, fmt.Errorf("start embedded etcd: %w", err)
		}
		endpoints = b.embedded.Endpoints()
	}
	client, err := metadata.Connect(ctx, endpoints, 5*time.Second)
	if err != nil {
		return nil, err // names the endpoints
	}
	reattached := false
	if b.store, reattached, err = b.openSession(ctx, client); err != nil {
		client.Close()
		return nil, fmt.Errorf("etcd session: %w", err)
	}
	if b.clusterID, err = b.store.ClusterID(ctx); err != nil {
		return nil, fmt.Errorf("etcd: cluster id: %w", err)
	}
	if b.id, err = b.brokerID(ctx); err != nil {
		return nil, err
	}
	b.log = b.log.With("broker", b.id)

	bucket, err := objectstore.Open(ctx, cfg.ObjectStore)
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", redactURL(cfg.ObjectStore), err)
	}
	b.bucket = objectstore.Instrument(bucket, cfg.Registerer)
	if b.reader, err = tiering.OpenReader(b.bucket, tiering.ReaderOptions{
		CacheBytes:     cfg.CacheBytes,
		DiskDir:        filepath.Join(cfg.DataDir, "cache"),
		DiskBytes:      cfg.DiskCacheBytes,
		ReadAheadBytes: cfg.ReadAheadBytes,
		Logger:         b.log.With("component", "reader"),
		Registerer:     cfg.Registerer,
	}); err != nil {
		return nil, err
	}

	w, rec, err := wal.Open(wal.Options{
		Dir:          filepath.Join(cfg.DataDir, "wal"),
		SegmentBytes: cfg.SealBytes,
		SealInterval: cfg.SealInterval,
		MaxBytes:     cfg.WALMaxBytes,
		Logger:       b.log.With("component", "wal"),
		OnSync:       b.metrics.observeSync,
	})
	if err != nil {
		return nil, fmt.Errorf("open WAL: %w", err)
	}
	b.wal = w // a cut torn tail is logged by wal.Open
	watchWAL(cfg.Registerer, w)

	b.topics = newTopicCache(b)
	b.view = newClusterView()
	b.groups = newCoordinator(b)
	b.uploader = tiering.NewUploader(tiering.UploaderOptions{
		Bucket:        b.bucket,
		Store:         b.store,
		WAL:           b.wal,
		Leaders:       b.topics,
		BrokerID:      b.id,
		QuarantineDir: filepath.Join(cfg.DataDir, "quarantine"),
		Logger:        b.log.With("component", "uploader"),
		Registerer:    cfg.Registerer,
		OnCommit:      b.onCommit,
	})
	v, err := b.store.ReadView(ctx)
	if err == nil {
		if err = b.ensureOffsetsTopic(ctx, v); err == nil {
			v, err = b.store.ReadView(ctx)
		}
	}
	if err != nil {
		return nil, err
	}
	b.setView(v)
	if !reattached && len(rec.Segments) > 0 {
		// The lease ended with every leadership: each partition in the WAL
		// is undecided until reconcile has tried to resume its last tenure
		// (resumed if no one led it since: its WAL records are committed
		// under the new tenure; set aside otherwise).
		last, err := lastEpochs(rec.Segments)
		if err != nil {
			return nil, err
		}
		for key, epoch := range last {
			if p := b.topics.partition(key); p != nil {
				p.setUndecided(epoch)
			}
		}
	}
	// Take the partitions this broker leads or is assigned before it says it
	// is ready: the leaderships a re-attached lease still holds, those whose
	// tenure it resumes, and those the controller assigns to it, all before
	// the WAL is replayed into them; then read the view again, so that
	// Metadata shows them from the first request.
	if v, err = b.reconcileAtStart(ctx, v); err != nil {
		return nil, err
	}
	if _, err := b.replay(rec.Segments); err != nil {
		return nil, err
	}
	go func() {
		defer close(b.uploadDone)
		if err := b.uploader.Run(b.ctx, rec.Segments); err != nil && !errors.Is(err, context.Canceled) {
			// Nothing more can be committed: stop advertising readiness so
			// that an orchestrator replaces this broker; what the WAL holds
			// is uploaded by the next start (or the start fails loudly).
			b.ready.Store(false)
			b.log.Error("uploader stopped; this broker can no longer commit data and needs a restart", "error", err)
		}
	}()

	if b.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	b.advAddr = cfg.AdvertisedAddr
	if b.advAddr == "" {
		b.advAddr = b.ln.Addr().String()
	}
	if err := b.register(ctx); err != nil {
		return nil, err
	}
	b.wg.Go(b.acceptLoop)
	b.wg.Go(b.watchLoop)
	b.wg.Go(b.reconcileLoop)
	b.wg.Go(b.controllerLoop)
	b.wg.Go(b.groups.writeLoop)
	b.wg.Go(b.retentionLoop)
	b.wg.Go(b.compactionLoop)
	b.ready.Store(true)
	b.log.Info("strata broker serving", "listen", b.ln.Addr().String(), "advertised", b.advAddr,
		"cluster", b.clusterID, "etcd", strings.Join(endpoints, ","), "object_store", redactURL(cfg.ObjectStore),
		"recovered_wal_segments", len(rec.Segments))
	return b, nil
}

func (c *Config) setDefaults() error {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DataDir == "" {
		c.DataDir = "strata-data"
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("data directory %q: %w", c.DataDir, err)
	}
	c.DataDir = abs
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.ObjectStore == "" {
		c.ObjectStore = "file://" + filepath.Join(c.DataDir, "objects")
	}
	if c.DefaultPartitions <= 0 {
		c.DefaultPartitions = 1
	}
	if c.SealBytes <= 0 {
		c.SealBytes = DefaultSealBytes
	}
	if c.SealInterval <= 0 {
		c.SealInterval = DefaultSealInterval
	}
	if c.WALMaxBytes <= 0 {
		c.WALMaxBytes = wal.DefaultMaxBytes
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.ConnectionsMaxIdle <= 0 {
		c.ConnectionsMaxIdle = DefaultConnectionsMaxIdle
	}
	if c.QueuedMaxRequestBytes <= 0 {
		c.QueuedMaxRequestBytes = DefaultQueuedMaxRequestBytes
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.OffsetsPartitions <= 0 {
		c.OffsetsPartitions = DefaultOffsetsPartitions
	}
	if c.RetentionCheckInterval <= 0 {
		c.RetentionCheckInterval = DefaultRetentionCheckInterval
	}
	if c.GCInterval <= 0 {
		c.GCInterval = DefaultGCInterval
	}
	if c.GCGrace <= 0 {
		c.GCGrace = DefaultGCGrace
	}
	if c.CompactionInterval <= 0 {
		c.CompactionInterval = DefaultCompactionInterval
	}
	if c.CompactionMinAge < 0 {
		c.CompactionMinAge = DefaultCompactionMinAge
	}
	return nil
}

// openSession opens the broker's etcd session, re-attaching to the lease of
// a previous run kept in the data directory when etcd still has it: a broker
// restarted within its lease TTL keeps its leaderships and uploads what its
// WAL held.
func (b *Broker) openSession(ctx context.Context, client *clientv3.Client) (store *metadata.Store, reattached bool, err error) {
	opts := metadata.Options{SessionTTL: b.cfg.SessionTTL, Logger: b.log}
	if raw, err := os.ReadFile(b.leasePath()); err == nil {
		if id, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 16, 64); err == nil {
			opts.LeaseID = clientv3.LeaseID(id)
		}
	}
	store, err = metadata.New(ctx, client, opts)
	if errors.Is(err, metadata.ErrLeaseExpired) {
		b.log.Info("the previous run's etcd lease has expired; starting a new one")
		opts.LeaseID = clientv3.NoLease
		store, err = metadata.New(ctx, client, opts)
	} else if err == nil && opts.LeaseID != clientv3.NoLease {
		reattached = true
		b.log.Info("re-attached to the previous run's etcd lease", "lease", fmt.Sprintf("%x", int64(opts.LeaseID)))
	}
	if err != nil {
		return nil, false, err
	}
	if err := keepLease(b.leasePath(), store); err != nil {
		store.Close()
		return nil, false, err
	}
	return store, reattached, nil
}

func (b *Broker) leasePath() string { return filepath.Join(b.cfg.DataDir, "lease") }

// keepLease writes the session's lease id where the next start looks for it.
func keepLease(path string, store *metadata.Store) error {
	if err := durable.WriteFile(path, []byte(strconv.FormatInt(int64(store.LeaseID()), 16)+"\n"), 0o644); err != nil {
		return fmt.Errorf("keep lease id: %w", err)
	}
	return nil
}

// register announces this broker under its current lease.
func (b *Broker) register(ctx context.Context) error {
	if err := keepLease(b.leasePath(), b.store); err != nil {
		return err
	}
	if err := b.store.Register(ctx, metadata.Broker{ID: b.id, Addr: b.advAddr, Rack: b.cfg.Rack}); err != nil {
		return fmt.Errorf("etcd: register broker: %w", err)
	}
	return nil
}

// reconcileAtStart reconciles until no partition is undecided: replay
// needs to know which partitions resumed their tenure before it puts their
// WAL records back. It returns the view read last.
func (b *Broker) reconcileAtStart(ctx context.Context, v *metadata.View) (*metadata.View, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		b.reconcile(v)
		var err error
		if v, err = b.store.ReadView(ctx); err != nil {
			return nil, err
		}
		b.setView(v)
		undecided := 0
		for _, p := range b.topics.partitions() {
			if _, _, u := p.current(); u != 0 {
				undecided++
			}
		}
		if undecided == 0 {
			return v, nil
		}
		b.log.Info("waiting to resume the leaderships the WAL holds records of", "partitions", undecided)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("could not resume or set aside the WAL records of %d partitions: %w", undecided, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// lockDir takes an exclusive flock on DIR/LOCK for the life of the process.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s", errDataDirLocked, dir)
	}
	return f, nil
}

// brokerID returns the configured id, or the one kept in the data directory,
// or a new one allocated through etcd and kept there.
func (b *Broker) brokerID(ctx context.Context) (int32, error) {
	if b.cfg.BrokerID > 0 {
		return b.cfg.BrokerID, nil
	}
	path := filepath.Join(b.cfg.DataDir, "broker-id")
	if raw, err := os.ReadFile(path); err == nil {
		id, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 32)
		if err != nil || id <= 0 {
			return 0, fmt.Errorf("broker id file %s holds %q, not a positive integer", path, raw)
		}
		return int32(id), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("read broker id: %w", err)
	}
	id, err := b.store.AllocateBrokerID(ctx)
	if err != nil {
		return 0, fmt.Errorf("etcd: allocate broker id: %w", err)
	}
	if err := durable.WriteFile(path, []byte(strconv.Itoa(int(id))+"\n"), 0o644); err != nil {
		return 0, fmt.Errorf("keep broker id: %w", err)
	}
	return id, nil
}

// redactURL drops credentials a user may have put in an object store URL.
func redactURL(raw string) string {
	if i := strings.Index(raw, "@"); i >= 0 {
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			return raw[:j+3] + "…" + raw[i:]
		}
	}
	return raw
}

// Addr is the Kafka listener's address.
func (b *Broker) Addr() string { return b.ln.Addr().String() }

// ID is the broker's id.
func (b *Broker) ID() int32 { return b.id }

// isClosing reports whether shutdown has started.
func (b *Broker) isClosing() bool {
	select {
	case <-b.closingCh:
		return true
	default:
		return false
	}
}

// Ready reports whether the broker serves requests (for /readyz): not while
// it starts, shuts down, cannot write its WAL, or cannot accept connections
// (listener.go).
func (b *Broker) Ready() bool {
	return b.ready.Load() && !b.isClosing() && !b.front.acceptFailing.Load()
}

// onCommit is the uploader's callback: committed data becomes visible.
func (b *Broker) onCommit(seq uint64, results []tiering.Result) {
	for _, r := range results {
		p := b.topics.partition(r.Key)
		if p == nil {
			continue
		}
		if r.Err != nil {
			if p.stop(r.Epoch) {
				b.metrics.lost.Inc()
				b.log.Error("commit failed; partition no longer served", "topic", p.topic, "partition", p.key.Partition, "error", r.Err)
			}
			continue
		}
		p.committed(r.Epoch, r.Entry, r.State)
	}
	b.commitMu.Lock()
	close(b.committed)
	b.committed = make(chan struct{})
	b.commitMu.Unlock()
}

// commitSignal returns a channel closed at the next commit.
func (b *Broker) commitSignal() <-chan struct{} {
	b.commitMu.Lock()
	defer b.commitMu.Unlock()
	return b.committed
}

// Close shuts down gracefully: stop accepting, seal, upload and commit what is
// open, resign leaderships, stop. Safe twice.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.shutdown() })
	return b.closeErr
}

func (b *Broker) shutdown() error {
	b.log.Info("shutting down: sealing and uploading what the WAL holds")
	close(b.closingCh)
	b.ln.Close()
	// Close seals the open segment; the uploader drains the Sealed channel,
	// commits everything and returns, answering acks=all waiters as it goes.
	var errs []error
	walClosed := make(chan error, 1)
	go func() { walClosed <- b.wal.Close() }()
	select {
	case <-b.uploadDone:
	case <-time.After(2 * time.Minute):
		errs = append(errs, errors.New("uploader did not finish within 2m; what it did not upload stays in the WAL for the next start"))
	}
	select {
	case err := <-walClosed:
		if err != nil {
			errs = append(errs, fmt.Errorf("close WAL: %w", err))
		}
	case <-time.After(5 * time.Second):
		errs = append(errs, errors.New("WAL did not close within 5s"))
	}
	// Closed above (or still closing, past the wait): abort must not wait
	// on it again. b.wal itself stays, since connections still use it.
	b.walShut = true
	// Let connections write the responses of what just committed.
	b.connMu.Lock()
	for c := range b.conns {
		c.closeWhenIdle()
	}
	b.connMu.Unlock()
	waitTimeout(&b.connWG, 5*time.Second)
	b.cancel()
	b.connMu.Lock()
	for c := range b.conns {
		c.nc.Close()
	}
	b.connMu.Unlock()
	b.connWG.Wait()
	b.groups.closeAll()
	b.wg.Wait()
	b.topics.resignAll()
	b.abort()
	b.log.Info("stopped")
	return errors.Join(errs...)
}

// abort releases what Start acquired, in reverse order.
func (b *Broker) abort() {
	b.cancel()
	if b.ln != nil {
		b.ln.Close()
	}
	if b.wal != nil && !b.walShut {
		b.wal.Close()
	}
	if b.store != nil {
		// Close revokes the lease; a later start must not try to re-attach.
		_ = os.Remove(b.leasePath())
		if err := b.store.Close(); err != nil {
			b.log.Warn("close etcd session", "error", err)
		}
		b.store.Client().Close()
	}
	if b.reader != nil {
		b.reader.Close() // after every fetch: shutdown waited for the connections
	}
	if b.bucket != nil {
		b.bucket.Close()
	}
	if b.embedded != nil {
		b.embedded.Close()
	}
	if b.lock != nil {
		b.lock.Close()
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}
