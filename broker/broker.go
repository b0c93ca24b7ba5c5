package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sourcegraph/conc"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/internal/durable"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/quota"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/wal"
)

var errDataDirLocked = errors.New("broker: data directory is locked by another strata process")

// Broker is one running Strata broker: it builds the components, wires
// them together and owns their lifetimes. The Kafka front end is its server;
// nothing it starts holds a pointer back to it.
type Broker struct {
	cfg    Config
	log    *slog.Logger
	srv    *server   // the Kafka front end
	res    resources // what Start acquired and abort releases
	topics *partition.Manager
	groups *coordinator.Coordinator
	txns   *coordinator.Txns       // the transaction side of the coordinator
	disp   *coordinator.Dispatcher // writes the transaction markers this broker can

	// topicIDs caches the partition counts of the topics of one cluster
	// view by id, for partitionGone.
	topicIDsMu   sync.Mutex
	topicIDsView *metadata.View
	topicIDs     map[metadata.TopicID]int32

	ctx        context.Context // cancelled by Close after the graceful part
	cancel     context.CancelFunc
	wg         conc.WaitGroup
	uploadDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// resources are what Start acquired, released by abort in reverse order.
type resources struct {
	lock     *os.File
	embedded *metadata.Embedded
	store    *metadata.Store
	bucket   objectstore.Bucket
	wal      *wal.WAL
	walShut  bool // set by shutdown once it has closed the WAL: abort must not wait on it again
	uploader *tiering.Uploader
	reader   *tiering.Reader
}

// Start validates cfg, locks the data directory, connects to (or starts) etcd
// and the object store, recovers the WAL and starts serving. It fails with a
// one-line reason when anything is unreachable or the directory is locked.
func Start(ctx context.Context, cfg Config) (_ *Broker, err error) {
	if err := cfg.EnsureDefaults(); err != nil {
		return nil, err
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, uploadDone: make(chan struct{})}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.srv = &server{
		cfg:       cfg,
		log:       cfg.Logger,
		metrics:   newMetrics(cfg.Registerer),
		ctx:       b.ctx,
		conns:     make(map[*conn]struct{}),
		closingCh: make(chan struct{}),
		quotas:    quota.NewManager(nil),
	}
	defer func() {
		if err != nil {
			b.abort()
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if b.res.lock, err = lockDir(cfg.DataDir); err != nil {
		return nil, err
	}

	endpoints := cfg.EtcdEndpoints
	if len(endpoints) == 0 {
		if b.res.embedded, err = metadata.StartEmbedded(filepath.Join(cfg.DataDir, "etcd"), b.log.With("component", "etcd")); err != nil {
			return nil, fmt.Errorf("start embedded etcd: %w", err)
		}
		endpoints = b.res.embedded.Endpoints()
	}
	etcdAuth, err := cfg.etcdAuth()
	if err != nil {
		return nil, err
	}
	client, err := metadata.Connect(ctx, endpoints, 5*time.Second, etcdAuth)
	if err != nil {
		return nil, err // names the endpoints
	}
	reattached := false
	if b.res.store, reattached, err = b.openSession(ctx, client); err != nil {
		client.Close()
		return nil, fmt.Errorf("etcd session: %w", err)
	}
	b.srv.store = b.res.store
	if b.srv.clusterID, err = b.res.store.ClusterID(ctx); err != nil {
		return nil, fmt.Errorf("etcd: cluster id: %w", err)
	}
	if b.srv.id, err = b.brokerID(ctx); err != nil {
		return nil, err
	}
	b.log = b.log.With("broker", b.srv.id)
	b.srv.log = b.log
	if err := b.startSecurity(ctx); err != nil {
		return nil, err
	}

	bucket, storeName := cfg.Bucket, redactURL(cfg.ObjectStore)
	if bucket != nil {
		storeName = "given in Config.Bucket"
	} else {
		if bucket, err = objectstore.Open(ctx, cfg.ObjectStore); err != nil {
			return nil, fmt.Errorf("object store %s: %w", redactURL(cfg.ObjectStore), err)
		}
	}
	b.res.bucket = objectstore.Instrument(bucket, cfg.Registerer)
	if b.res.reader, err = tiering.OpenReader(b.res.bucket, tiering.ReaderOptions{
		CacheBytes:     cfg.CacheBytes,
		DiskDir:        filepath.Join(cfg.DataDir, "cache"),
		DiskBytes:      cfg.DiskCacheBytes,
		ReadAheadBytes: cfg.ReadAheadBytes,
		FS:             cfg.FS,
		Logger:         b.log.With("component", "reader"),
		Registerer:     cfg.Registerer,
	}); err != nil {
		return nil, err
	}
	b.srv.reader = b.res.reader

	w, rec, err := wal.Open(wal.Options{
		Dir:          filepath.Join(cfg.DataDir, "wal"),
		SegmentBytes: cfg.SealBytes,
		SealInterval: cfg.SealInterval,
		MaxBytes:     cfg.WALMaxBytes,
		FS:           cfg.FS,
		Logger:       b.log.With("component", "wal"),
		OnSync:       b.srv.metrics.observeSync,
	})
	if err != nil {
		return nil, fmt.Errorf("open WAL: %w", err)
	}
	b.res.wal, b.srv.wal = w, w // a cut torn tail is logged by wal.Open
	watchWAL(cfg.Registerer, w)

	var groups *coordinator.Coordinator
	var txns *coordinator.Txns
	var disp *coordinator.Dispatcher
	b.topics = partition.NewManager(b.ctx, partition.Options{
		Store:          b.res.store,
		BrokerID:       b.srv.id,
		Register:       b.srv.register,
		AfterReconcile: func() { groups.Sync(); txns.Sync(); disp.Kick() },
		Closing:        b.srv.closingCh,
		Logger:         b.log,
		Registerer:     cfg.Registerer,
	})
	groups = coordinator.New(b.ctx, coordinator.Options{
		Store:      b.res.store,
		Topics:     b.topics,
		Logger:     b.log,
		Registerer: cfg.Registerer,
	})
	disp = coordinator.NewDispatcher(coordinator.DispatcherOptions{
		Store:          b.res.store,
		WriteMarker:    b.srv.writeTxnMarker,
		ApplyOffsets:   groups.ApplyTxnOffsets,
		LeadsPartition: b.leadsPartition,
		LeadsGroup: func(group string) bool {
			p := groups.Locate(group)
			if p == nil {
				return false
			}
			_, led := p.Led()
			return led
		},
		PartitionGone: b.partitionGone,
		OnChange:      func() { txns.Kick() },
		Logger:        b.log.With("component", "txn-markers"),
	})
	txns = coordinator.NewTxns(b.ctx, coordinator.TxnOptions{
		Store:      b.res.store,
		Topics:     b.topics,
		ProducerID: func(ctx context.Context) (int64, error) { return b.srv.prodID.get(ctx, b.srv.store) },
		MaxTimeout: cfg.MaxTxnTimeout,
		Markers:    disp,
		Logger:     b.log.With("component", "txn-coordinator"),
		Registerer: cfg.Registerer,
	})
	b.groups, b.txns, b.disp = groups, txns, disp
	b.srv.topics, b.srv.groups, b.srv.txns = b.topics, b.groups, b.txns
	b.res.uploader = tiering.NewUploader(tiering.UploaderOptions{
		Bucket:        b.res.bucket,
		Store:         b.res.store,
		WAL:           b.res.wal,
		Leaders:       b.topics,
		BrokerID:      b.srv.id,
		QuarantineDir: filepath.Join(cfg.DataDir, "quarantine"),
		Logger:        b.log.With("component", "uploader"),
		Registerer:    cfg.Registerer,
		OnCommit:      b.topics.OnCommit,
		MaxPutRate:    float64(max(cfg.MaxPutRate, 0)),
		Demand:        b.topics,
	})
	b.topics.SetUploader(b.res.uploader)
	b.srv.sched = tiering.NewSchedules(tiering.ScheduleOptions{
		Topics:             b.topics,
		Uploader:           b.res.uploader,
		Compactor:          tiering.NewCompactor(b.res.bucket, b.res.reader, b.res.uploader, b.srv.id),
		RetentionInterval:  cfg.RetentionCheckInterval,
		CompactionInterval: cfg.CompactionInterval,
		CompactionMinAge:   cfg.CompactionMinAge,
		Logger:             b.log,
		Registerer:         cfg.Registerer,
	})
	v, err := b.res.store.ReadView(ctx)
	if err == nil {
		if err = b.ensureOffsetsTopic(ctx, v); err == nil {
			v, err = b.res.store.ReadView(ctx)
		}
	}
	if err != nil {
		return nil, err
	}
	b.topics.SetView(v)
	if !reattached && len(rec.Segments) > 0 {
		// The lease ended with every leadership: each partition in the WAL
		// is undecided until reconcile has tried to resume its last tenure
		// (resumed if no one led it since: its WAL records are committed
		// under the new tenure; set aside otherwise).
		if err := b.topics.SetUndecided(rec.Segments); err != nil {
			return nil, err
		}
	}
	// Take the partitions this broker leads or is assigned before it says it
	// is ready: the leaderships a re-attached lease still holds, those whose
	// tenure it resumes, and those the controller assigns to it, all before
	// the WAL is replayed into them; then read the view again, so that
	// Metadata shows them from the first request.
	if _, err = b.topics.ReconcileAtStart(ctx, v); err != nil {
		return nil, err
	}
	if _, err := b.topics.Replay(rec.Segments); err != nil {
		return nil, err
	}
	go func() {
		defer close(b.uploadDone)
		if err := b.res.uploader.Run(b.ctx, rec.Segments); err != nil && !errors.Is(err, context.Canceled) {
			// Nothing more can be committed: stop advertising readiness so
			// that an orchestrator replaces this broker; what the WAL holds
			// is uploaded by the next start (or the start fails loudly).
			b.srv.ready.Store(false)
			b.log.Error("uploader stopped; this broker can no longer commit data and needs a restart", "error", err)
		}
	}()

	if b.srv.listeners, err = listen(&cfg); err != nil {
		return nil, err
	}
	if err := b.srv.register(ctx); err != nil {
		return nil, err
	}
	b.srv.startFront()
	for _, l := range b.srv.listeners {
		b.wg.Go(func() { b.srv.acceptLoop(l) })
	}
	b.wg.Go(b.topics.Run)
	b.wg.Go(b.controllerLoop)
	b.wg.Go(b.groups.Run)
	b.wg.Go(b.txns.Run)
	b.wg.Go(func() { b.disp.Run(b.ctx) })
	b.wg.Go(func() { b.srv.sched.RunRetention(b.ctx) })
	b.wg.Go(func() { b.srv.sched.RunCompaction(b.ctx) })
	b.srv.ready.Store(true)
	b.log.Info("strata broker serving", "listeners", b.srv.listenersText(),
		"cluster", b.srv.clusterID, "etcd", strings.Join(endpoints, ","), "object_store", storeName,
		"recovered_wal_segments", len(rec.Segments))
	return b, nil
}

// openSession opens the broker's etcd session, re-attaching to the lease of
// a previous run kept in the data directory when etcd still has it: a broker
// restarted within its lease TTL keeps its leaderships and uploads what its
// WAL held.
func (b *Broker) openSession(ctx context.Context, client *clientv3.Client) (store *metadata.Store, reattached bool, err error) {
	opts := metadata.Options{SessionTTL: b.cfg.SessionTTL, Logger: b.log, Registerer: b.cfg.Registerer}
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

func (b *Broker) leasePath() string { return leasePath(b.cfg.DataDir) }

func leasePath(dataDir string) string { return filepath.Join(dataDir, "lease") }

// keepLease writes the session's lease id where the next start looks for it.
func keepLease(path string, store *metadata.Store) error {
	if err := durable.WriteFile(path, []byte(strconv.FormatInt(int64(store.LeaseID()), 16)+"\n"), 0o644); err != nil {
		return fmt.Errorf("keep lease id: %w", err)
	}
	return nil
}

// register announces this broker under its current lease.
func (b *server) register(ctx context.Context) error {
	if err := keepLease(leasePath(b.cfg.DataDir), b.store); err != nil {
		return err
	}
	if err := b.store.Register(ctx, b.registration()); err != nil {
		return fmt.Errorf("etcd: register broker: %w", err)
	}
	return nil
}

// registration is what the broker registers in etcd: its addresses on
// each listener.
func (b *server) registration() metadata.Broker {
	mb := metadata.Broker{ID: b.id, Addr: b.listeners[0].advertised, Rack: b.cfg.Rack, Listeners: map[string]string{}}
	for _, l := range b.listeners {
		mb.Listeners[l.Name] = l.advertised
	}
	return mb
}

// ensureOffsetsTopic creates the internal offsets topic, whose partitions
// are the group coordinator's shards, when the cluster has none: its
// partition count is fixed from then on.
func (b *Broker) ensureOffsetsTopic(ctx context.Context, v *metadata.View) error {
	if _, ok := v.Topics[metadata.OffsetsTopic]; ok {
		return nil
	}
	err := b.res.store.CreateTopic(ctx, metadata.Topic{Name: metadata.OffsetsTopic, ID: metadata.NewTopicID(), Partitions: b.cfg.OffsetsPartitions})
	if err != nil && !errors.Is(err, metadata.ErrTopicExists) {
		return err
	}
	if err == nil {
		b.log.Info("created the consumer-group coordinator shards", "topic", metadata.OffsetsTopic, "partitions", b.cfg.OffsetsPartitions)
	}
	return nil
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
	id, err := b.res.store.AllocateBrokerID(ctx)
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
func (b *Broker) Addr() string { return b.srv.listeners[0].ln.Addr().String() }

// ListenerAddr is the address of the listener named name, "" if none.
func (b *Broker) ListenerAddr(name string) string {
	for _, l := range b.srv.listeners {
		if l.Name == name {
			return l.ln.Addr().String()
		}
	}
	return ""
}

// ID is the broker's id.
func (b *Broker) ID() int32 { return b.srv.id }

// Ready reports whether the broker serves requests (for /readyz): not while
// it starts, shuts down, cannot write its WAL, or cannot accept connections
// (listener.go).
func (b *Broker) Ready() bool {
	return b.srv.ready.Load() && !b.srv.isClosing() && !b.srv.front.acceptFailing.Load()
}

// Close shuts down gracefully: stop accepting, seal, upload and commit what is
// open, resign leaderships, stop. Safe twice.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.shutdown() })
	return b.closeErr
}

func (b *Broker) shutdown() error {
	b.log.Info("shutting down: sealing and uploading what the WAL holds")
	close(b.srv.closingCh)
	b.srv.closeListeners()
	// Close seals the open segment; the uploader drains the Sealed channel,
	// commits everything and returns, answering acks=all waiters as it goes.
	var errs []error
	walClosed := make(chan error, 1)
	go func() { walClosed <- b.res.wal.Close() }()
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
	// on it again. b.res.wal itself stays, since connections still use it.
	b.res.walShut = true
	// Let connections write the responses of what just committed.
	b.srv.connMu.Lock()
	for c := range b.srv.conns {
		c.closeWhenIdle()
	}
	b.srv.connMu.Unlock()
	waitTimeout(&b.srv.connWG, 5*time.Second)
	b.cancel()
	b.srv.connMu.Lock()
	for c := range b.srv.conns {
		c.nc.Close()
	}
	b.srv.connMu.Unlock()
	b.srv.connWG.Wait()
	b.groups.Close()
	b.txns.Close()
	b.wg.Wait()
	b.topics.ResignAll()
	b.abort()
	b.log.Info("stopped")
	return errors.Join(errs...)
}

// abort releases what Start acquired, in reverse order.
func (b *Broker) abort() {
	b.cancel()
	b.wg.Wait() // a failed Start may have started the security watch
	b.srv.closeListeners()
	if b.res.wal != nil && !b.res.walShut {
		b.res.wal.Close()
	}
	if b.res.store != nil {
		// Close revokes the lease; a later start must not try to re-attach.
		_ = os.Remove(b.leasePath())
		if err := b.res.store.Close(); err != nil {
			b.log.Warn("close etcd session", "error", err)
		}
		b.res.store.Client().Close()
	}
	if b.res.reader != nil {
		b.res.reader.Close() // after every fetch: shutdown waited for the connections
	}
	if b.res.bucket != nil {
		b.res.bucket.Close()
	}
	if b.res.embedded != nil {
		b.res.embedded.Close()
	}
	if b.res.lock != nil {
		b.res.lock.Close()
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

// leadsPartition reports whether this broker leads the partition key (the
// marker dispatcher writes the markers of those).
func (b *Broker) leadsPartition(key metadata.PartitionKey) bool {
	t := b.topics.TopicByID(key.Topic)
	if t == nil || key.Partition < 0 || int(key.Partition) >= len(t.Parts) {
		return false
	}
	_, led := t.Parts[key.Partition].Led()
	return led
}

// partitionGone reports whether a partition no longer exists in a cluster
// view at least as new as revision (false while the view is older): the
// dispatcher drops the transaction markers of deleted topics.
func (b *Broker) partitionGone(key metadata.PartitionKey, revision int64) bool {
	v, _ := b.topics.View()
	if v == nil || v.Revision < revision {
		return false
	}
	b.topicIDsMu.Lock()
	defer b.topicIDsMu.Unlock()
	if b.topicIDsView != v {
		b.topicIDsView, b.topicIDs = v, make(map[metadata.TopicID]int32, len(v.Topics))
		for _, t := range v.Topics {
			b.topicIDs[t.ID] = t.Partitions
		}
	}
	n, ok := b.topicIDs[key.Topic]
	return !ok || key.Partition >= n
}
