package coordinator

// The transaction coordinator.
//
// A transactional id hashes onto a coordinator shard as a group id does;
// the broker leading the shard coordinates its transactions (Txns). It
// loads the shard's records from etcd when it starts to lead it
// (COORDINATOR_LOAD_IN_PROGRESS until then), answers InitProducerId,
// AddPartitionsToTxn, AddOffsetsToTxn and EndTxn from them, and writes
// every change to etcd, guarded by the shard's epoch, before it answers.
// Ending a transaction writes its PrepareCommit or PrepareAbort state and
// its markers in one guarded etcd transaction (metadata.Store.WriteTxn);
// the marker dispatchers of the brokers write them (markers.go), and Run
// records CompleteCommit or CompleteAbort once the dispatcher's view of
// txnmarkers/ (MarkerIndex) shows none of them left. Run also aborts
// ongoing transactions past their timeout, under a bumped epoch, which
// fences their producer.
//
// A request on a transactional id whose record is being written gets
// CONCURRENT_TRANSACTIONS, as in Kafka, and so does every request but
// DescribeTransactions while the transaction's markers are being written.

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/metadata"
)

const (
	// DefaultTransactionVersion is the transaction protocol version the
	// broker finalizes (Kafka's transaction.version feature) unless told
	// otherwise: 2, KIP-890 part 2 (partitions added by Produce v12+, the
	// epoch bumped at every EndTxn v5+). MaxTransactionVersion is the
	// highest this coordinator supports.
	DefaultTransactionVersion = 2
	MaxTransactionVersion     = 2
	// DefaultMaxTxnTimeout is Kafka's transaction.max.timeout.ms default:
	// the longest transaction timeout InitProducerId accepts.
	DefaultMaxTxnTimeout = 15 * time.Minute
	// txnPassInterval is how often Run looks for transactions whose
	// markers are all written and for timed-out ones, besides when the
	// dispatcher reports a change.
	txnPassInterval = 100 * time.Millisecond
)

// MarkerIndex is what the transaction coordinator needs of the marker
// dispatcher (Dispatcher): how many markers of a transaction are still
// pending in its view of txnmarkers/, and the revision of that view.
type MarkerIndex interface {
	Pending(txnID string, producerID int64) (n int, revision int64)
	// RequestProgress has the view's revision advance though no marker
	// changes: a record written after its markers (a split write), or a
	// view that has not seen the record's revision yet.
	RequestProgress()
	// PendingPartitions returns the partitions of the transaction whose
	// markers are pending in the view, and the view's revision.
	PendingPartitions(txnID string, producerID int64) (map[metadata.PartitionKey]bool, int64)
}

// TxnOptions configure a Txns.
type TxnOptions struct {
	Store  *metadata.Store
	Topics Topics
	// ProducerID allocates a new producer id (the broker's allocator).
	ProducerID func(ctx context.Context) (int64, error)
	// MaxTimeout is transaction.max.timeout.ms; 0 = DefaultMaxTxnTimeout.
	MaxTimeout time.Duration
	Markers    MarkerIndex
	Logger     *slog.Logger          // nil = discard
	Registerer prometheus.Registerer // nil = no metrics
	// Now is the clock of transaction times and timeouts; nil = time.Now.
	Now func() time.Time
}

// Txns is the transaction side of the coordinator: the transactions of
// the coordinator shards this broker leads.
type Txns struct {
	store *metadata.Store
	// shardList lists the shards (the offsets topic's partitions) and
	// their leadership here; none while the topic is unknown.
	shardList  func() []shardLead
	log        *slog.Logger
	metrics    *txnMetrics
	newPID     func(ctx context.Context) (int64, error)
	maxTimeout time.Duration
	markers    MarkerIndex
	now        func() time.Time
	ctx        context.Context
	kick       chan struct{} // capacity 1: Run has work
	shards     *shardSet[*txnShard]
	// onAddTry, when set (by tests, before any AddImplicit), is called
	// with the answer of each try of AddImplicit.
	onAddTry func(err error)
}

// txnShard is one coordinator shard's transactions, led under one epoch.
type txnShard struct {
	shardBase
	t *Txns
	// leaderEpoch is the shard's Kafka leader epoch under epoch.
	leaderEpoch int32

	// mu guards the entries.
	mu     sync.Mutex
	closed bool
	txns   map[string]*txnEntry
}

// txnEntry is one transactional id's record as last written.
type txnEntry struct {
	meta   metadata.TxnMetadata
	rev    int64 // the record's ModRevision
	exists bool  // false: a placeholder while the first write is in flight
	// markersPending: a split write of the markers was cut short (Run
	// writes them again).
	markersPending bool
	busy           bool // a write is in flight
}

// NewTxns returns the transaction coordinator of no shards yet; ctx
// bounds its work (Run, the loads).
func NewTxns(ctx context.Context, opts TxnOptions) *Txns {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	maxTimeout := opts.MaxTimeout
	if maxTimeout <= 0 {
		maxTimeout = DefaultMaxTxnTimeout
	}
	t := &Txns{
		store: opts.Store, shardList: topicShards(opts.Topics), log: log, newPID: opts.ProducerID,
		maxTimeout: maxTimeout, markers: opts.Markers, now: now, ctx: ctx,
		kick: make(chan struct{}, 1), shards: newShardSet[*txnShard](),
	}
	t.metrics = newTxnMetrics(opts.Registerer, t.openCount)
	return t
}

// shardLead is a shard partition and whether this broker leads it, and
// under which epoch.
type shardLead struct {
	key   metadata.PartitionKey
	epoch int64
	led   bool
	// leaderEpoch is the shard's Kafka leader epoch: the coordinator
	// epoch of the markers it writes.
	leaderEpoch int32
}

// topicShards lists the partitions of the offsets topic of topics.
func topicShards(topics Topics) func() []shardLead {
	return func() []shardLead {
		ot := topics.Topic(metadata.OffsetsTopic)
		if ot == nil {
			return nil
		}
		out := make([]shardLead, len(ot.Parts))
		for i, p := range ot.Parts {
			epoch, leaderEpoch, _ := p.Current()
			out[i] = shardLead{key: p.Key(), epoch: epoch, led: epoch > 0, leaderEpoch: leaderEpoch}
		}
		return out
	}
}

// nowMs is the clock in unix milliseconds.
func (t *Txns) nowMs() int64 { return t.now().UnixMilli() }

// Kick has Run look at the transactions now: the dispatcher calls it when
// markers changed.
func (t *Txns) Kick() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// Sync starts loading the shards this broker has come to lead and drops
// those it no longer leads under the same epoch; the broker calls it after
// every reconcile pass, as Coordinator.Sync.
func (t *Txns) Sync() {
	for _, sl := range t.shardList() {
		if sl.led {
			t.ensure(sl)
			continue
		}
		t.shards.drop(sl.key.Partition)
	}
}

// Close drops every shard, at shutdown. Safe twice.
func (t *Txns) Close() {
	t.shards.dropAll()
}

// locate returns the shard of a transactional id and whether this broker
// leads it; COORDINATOR_NOT_AVAILABLE while the offsets topic is unknown.
func (t *Txns) locate(txnID string) (shardLead, error) {
	list := t.shardList()
	if len(list) == 0 {
		return shardLead{}, kerr.CoordinatorNotAvailable
	}
	return list[shardOf(txnID, int32(len(list)))], nil
}

// shardFor returns the loaded shard that coordinates txnID here, or
// NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE.
func (t *Txns) shardFor(txnID string) (*txnShard, error) {
	sl, err := t.locate(txnID)
	if err != nil {
		return nil, err
	}
	if !sl.led {
		return nil, kerr.NotCoordinator
	}
	s := t.ensure(sl)
	if loaded, ok := s.loadState(); !loaded || !ok {
		return nil, kerr.CoordinatorLoadInProgress
	}
	return s, nil
}

// ensure returns the shard of sl under its epoch, loading it when it is
// new or its last load failed, and dropping one of an older epoch.
func (t *Txns) ensure(sl shardLead) *txnShard {
	return t.shards.ensure(sl.key.Partition, sl.epoch, func() *txnShard {
		return &txnShard{shardBase: newShardBase(t.ctx, sl.key, sl.epoch), t: t, leaderEpoch: sl.leaderEpoch,
			txns: map[string]*txnEntry{}}
	})
}

// close ends the shard's watch and marks it closed. Txns.shards.mu is
// held.
func (s *txnShard) close() {
	s.cancel()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// load reads the shard's records and then follows their changes in etcd
// until the shard is dropped: partition leaders and group coordinators
// change records too (they add partitions and groups to transactions of
// version 2). Run then resumes the transactions that were ending, and
// times out the ongoing ones whoever began them.
func (s *txnShard) load() {
	first := true
	err := s.t.store.WatchTxns(s.ctx, s.key.Partition, func(reset bool, txns map[string]metadata.LoadedTxn) {
		s.mu.Lock()
		if !s.closed {
			for id, lt := range txns {
				s.installLocked(id, lt)
			}
		}
		if first {
			s.loadOK = !s.closed
		}
		s.mu.Unlock()
		if first {
			first = false
			close(s.loaded)
			s.t.log.Debug("coordinating transactions", "shard", s.key.Partition, "transactions", len(txns), "epoch", s.epoch)
		}
		s.t.Kick()
	})
	if first {
		close(s.loaded) // dropped before the first read: loadOK stays false
	}
	if err != nil && s.ctx.Err() == nil {
		s.t.log.Warn("follow transactions", "shard", s.key.Partition, "error", err)
	}
}

// installLocked installs a record read from etcd unless the entry has
// that revision or a later one already, or a write of it is in flight
// (the write, compared with the revision it was based on, fails and reads
// the record again). s.mu is held.
func (s *txnShard) installLocked(id string, lt metadata.LoadedTxn) {
	e := s.txns[id]
	switch {
	case e == nil:
		e = &txnEntry{}
		s.txns[id] = e
	case e.busy || e.exists && e.rev >= lt.Revision:
		return
	}
	e.meta, e.rev, e.exists, e.markersPending = lt.Meta.Clone(), lt.Revision, true, lt.MarkersPending
}

// loadedShards returns every loaded shard, by partition, and whether some
// are still loading.
func (t *Txns) loadedShards() (shards []*txnShard, loading bool) {
	return t.shards.loaded()
}

// update runs plan on txnID's record (nil when there is none) under the
// shard lock and, when it returns a step, writes it with no lock held and
// installs it. It returns the record as it stands after, and plan's error
// or the step's answer.
func (t *Txns) update(ctx context.Context, txnID string, plan func(cur *metadata.TxnMetadata) (*txnStep, error)) (metadata.TxnMetadata, error) {
	s, err := t.shardFor(txnID)
	if err != nil {
		return metadata.TxnMetadata{}, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return metadata.TxnMetadata{}, kerr.NotCoordinator
	}
	e := s.txns[txnID]
	if e != nil && e.busy {
		s.mu.Unlock()
		return metadata.TxnMetadata{}, kerr.ConcurrentTransactions
	}
	var cur *metadata.TxnMetadata
	if e != nil {
		m := e.meta.Clone()
		cur = &m
	}
	step, err := plan(cur)
	if err != nil || step == nil {
		s.mu.Unlock()
		if cur == nil {
			return metadata.TxnMetadata{}, err
		}
		return *cur, err
	}
	if e == nil {
		e = &txnEntry{}
		s.txns[txnID] = e
	}
	e.busy = true
	s.mu.Unlock()

	if step.newPID || step.nextPID {
		pid, err := t.newPID(ctx)
		if err != nil {
			t.log.Error("allocate producer id", "error", err)
			s.settle(txnID, e, nil, 0)
			return metadata.TxnMetadata{}, kerr.CoordinatorNotAvailable
		}
		if step.newPID {
			step.next.ProducerID = pid
		} else {
			step.next.NextProducerID = pid
		}
	}
	if err := s.write(txnID, e, step); err != nil {
		return metadata.TxnMetadata{}, err
	}
	return step.next, step.answer
}

// write stores step for the busy entry e and installs it: nil, or
// NOT_COORDINATOR (the shard is fenced) or COORDINATOR_NOT_AVAILABLE
// (etcd did not answer: the shard is dropped, to be loaded again), or
// CONCURRENT_TRANSACTIONS when the record changed in etcd since e's
// revision (a partition leader added a partition): the record is read
// again and the client retries.
func (s *txnShard) write(txnID string, e *txnEntry, step *txnStep) error {
	if step.markers != nil {
		step.markers.CoordinatorEpoch = s.leaderEpoch
	}
	s.mu.Lock()
	base := e.rev // 0 for a placeholder: the record must not exist
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, commitTimeout)
	rev, err := s.t.store.WriteTxn(ctx, s.key, s.epoch, metadata.TxnWrite{ID: txnID, Meta: step.next, Markers: step.markers,
		CheckRevision: true, Revision: base})
	cancel()
	if errors.Is(err, metadata.ErrTxnChanged) {
		s.reread(txnID, e)
		return kerr.ConcurrentTransactions
	}
	if err != nil {
		s.settle(txnID, e, nil, 0)
		s.t.shards.dropShard(s)
		if errors.Is(err, metadata.ErrFenced) || s.ctx.Err() != nil {
			s.t.log.Warn("transaction shard fenced: another broker coordinates it now", "shard", s.key.Partition, "epoch", s.epoch)
			return kerr.NotCoordinator
		}
		s.t.log.Warn("write transaction; reloading the shard", "shard", s.key.Partition, "transactional_id", txnID, "error", err)
		return kerr.CoordinatorNotAvailable
	}
	s.settle(txnID, e, &step.next, rev)
	s.t.metrics.count(step.next.State)
	if step.markers != nil {
		s.t.Kick()
	}
	return nil
}

// reread ends e's write that found the record changed: it reads the
// record again and installs it.
func (s *txnShard) reread(txnID string, e *txnEntry) {
	ctx, cancel := context.WithTimeout(s.ctx, commitTimeout)
	lt, err := s.t.store.ReadTxn(ctx, s.key.Partition, txnID)
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	e.busy = false
	if err != nil || lt == nil || s.closed {
		// The watch installs the record when it sees it.
		return
	}
	s.installLocked(txnID, *lt)
}

// settle ends e's write: installs next (written at rev) or, after a
// failure (next nil), forgets a placeholder.
func (s *txnShard) settle(txnID string, e *txnEntry, next *metadata.TxnMetadata, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.busy = false
	if next == nil {
		if !e.exists && s.txns[txnID] == e {
			delete(s.txns, txnID)
		}
		return
	}
	e.meta, e.rev, e.exists, e.markersPending = next.Clone(), rev, true, false
}

// InitProducerID is InitProducerId with a transactional id: the producer
// id and epoch to answer, or the Kafka error. pid and epoch are a v3+
// request's (-1: none).
func (t *Txns) InitProducerID(ctx context.Context, txnID string, timeoutMs int32, pid int64, epoch int16) (int64, int16, error) {
	if timeoutMs <= 0 || time.Duration(timeoutMs)*time.Millisecond > t.maxTimeout {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	now := t.nowMs()
	m, err := t.update(ctx, txnID, func(cur *metadata.TxnMetadata) (*txnStep, error) {
		return stepInit(cur, timeoutMs, pid, epoch, now)
	})
	if err != nil {
		return -1, -1, err
	}
	return m.ProducerID, m.ProducerEpoch, nil
}

// AddPartitions is AddPartitionsToTxn: the partitions join the producer's
// transaction (starting one if none is ongoing).
func (t *Txns) AddPartitions(ctx context.Context, txnID string, pid int64, epoch int16, parts []metadata.TxnPartition) error {
	now := t.nowMs()
	_, err := t.update(ctx, txnID, func(cur *metadata.TxnMetadata) (*txnStep, error) {
		return stepAdd(cur, pid, epoch, parts, nil, now, 1)
	})
	return err
}

// AddGroup is AddOffsetsToTxn: the group joins the producer's transaction.
func (t *Txns) AddGroup(ctx context.Context, txnID string, pid int64, epoch int16, group string) error {
	now := t.nowMs()
	_, err := t.update(ctx, txnID, func(cur *metadata.TxnMetadata) (*txnStep, error) {
		return stepAdd(cur, pid, epoch, nil, []string{group}, now, 1)
	})
	return err
}

// EndTxn is EndTxn of transaction version tv (2 for EndTxn v5+): the
// transaction's PrepareCommit or PrepareAbort and its markers are written
// when it returns nil. It returns the producer id and epoch the producer
// goes on with (under version 2, bumped: EndTxn v5's answer).
//
// The record is read from etcd first (a linearizable read): a partition
// leader may have begun the transaction, or added to it, after the last
// change the shard's watch installed, and an answer that writes nothing
// (a retry) must not come from an older record.
func (t *Txns) EndTxn(ctx context.Context, txnID string, pid int64, epoch int16, commit bool, tv int16) (int64, int16, error) {
	if err := t.refresh(ctx, txnID); err != nil {
		return -1, -1, err
	}
	now := t.nowMs()
	m, err := t.update(ctx, txnID, func(cur *metadata.TxnMetadata) (*txnStep, error) {
		return stepEnd(cur, pid, epoch, commit, now, tv)
	})
	if err != nil {
		return -1, -1, err
	}
	id, ep := endAnswer(m)
	return id, ep, nil
}

// refresh reads txnID's record from etcd and installs it if it is newer
// than the shard's. A record that is ending is not read: only the
// coordinator changes those (a leader adds only to a record that is
// Empty, Ongoing or Complete*).
func (t *Txns) refresh(ctx context.Context, txnID string) error {
	s, err := t.shardFor(txnID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	e := s.txns[txnID]
	ending := e != nil && e.exists && isPrepare(e.meta.State)
	s.mu.Unlock()
	if ending {
		return nil
	}
	lt, err := t.store.ReadTxn(ctx, s.key.Partition, txnID)
	if err != nil {
		t.log.Debug("read transaction", "transactional_id", txnID, "error", err)
		return kerr.CoordinatorNotAvailable
	}
	if lt != nil {
		s.mu.Lock()
		if !s.closed {
			s.installLocked(txnID, *lt)
		}
		s.mu.Unlock()
	}
	return nil
}

// Describe returns txnID's record (while it ends, only the partitions
// whose markers are still pending), or TRANSACTIONAL_ID_NOT_FOUND or a
// coordinator error.
func (t *Txns) Describe(txnID string) (metadata.TxnMetadata, error) {
	s, err := t.shardFor(txnID)
	if err != nil {
		return metadata.TxnMetadata{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return metadata.TxnMetadata{}, kerr.NotCoordinator
	}
	e := s.txns[txnID]
	if e == nil || !e.exists {
		return metadata.TxnMetadata{}, kerr.TransactionalIDNotFound
	}
	m := e.meta.Clone()
	if isPrepare(m.State) && t.markers != nil {
		// As Kafka: an ending transaction lists the partitions whose
		// markers are still to be written, once the view has seen them.
		if pending, rev := t.markers.PendingPartitions(txnID, m.ProducerID); rev >= e.rev {
			m.Partitions = slices.DeleteFunc(m.Partitions, func(p metadata.TxnPartition) bool { return !pending[p.Key()] })
		}
	}
	return m, nil
}

// ListedTxn is one transaction of ListTransactions.
type ListedTxn struct {
	ID         string
	ProducerID int64
	State      metadata.TxnState
}

// TxnFilter is ListTransactions' filter: states and producer ids (empty:
// any), and transactions running longer than MinDurationMs (< 0: any).
type TxnFilter struct {
	States        []metadata.TxnState
	ProducerIDs   []int64
	MinDurationMs int64
	Match         func(id string) bool // nil: any
}

// List returns the transactions of every loaded shard that pass f, by
// shard, and whether some shards are still loading.
func (t *Txns) List(f TxnFilter) (txns []ListedTxn, loading bool) {
	shards, loading := t.loadedShards()
	now := t.nowMs()
	for _, s := range shards {
		s.mu.Lock()
		for id, e := range s.txns {
			m := &e.meta
			switch {
			case !e.exists || m.State == metadata.TxnDead,
				len(f.ProducerIDs) > 0 && !containsInt64(f.ProducerIDs, m.ProducerID),
				len(f.States) > 0 && !containsState(f.States, m.State),
				f.MinDurationMs >= 0 && now-m.StartTime <= f.MinDurationMs,
				f.Match != nil && !f.Match(id):
				continue
			}
			txns = append(txns, ListedTxn{ID: id, ProducerID: m.ProducerID, State: m.State})
		}
		s.mu.Unlock()
	}
	return txns, loading
}

func containsInt64(xs []int64, x int64) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func containsState(xs []metadata.TxnState, x metadata.TxnState) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// openCount is how many transactions of the shards led here are ongoing
// or ending.
func (t *Txns) openCount() float64 {
	shards, _ := t.loadedShards()
	n := 0
	for _, s := range shards {
		s.mu.Lock()
		for _, e := range s.txns {
			if e.meta.State == metadata.TxnOngoing || isPrepare(e.meta.State) {
				n++
			}
		}
		s.mu.Unlock()
	}
	return float64(n)
}

// Run drives the shards' transactions until the coordinator's context
// ends: it records CompleteCommit or CompleteAbort for those whose markers
// are all written, writes again the markers of a split write cut short,
// and aborts ongoing transactions past their timeout. It looks every
// txnPassInterval and whenever Kick is called; then it waits for the loads.
func (t *Txns) Run() {
	defer t.shards.loads.Stop()
	tick := time.NewTicker(txnPassInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		case <-t.kick:
		}
		t.pass()
	}
}

// job is one write Run makes.
type job struct {
	s       *txnShard
	id      string
	e       *txnEntry
	step    *txnStep
	timeout bool
}

// pass makes one round of Run's writes.
func (t *Txns) pass() {
	shards, _ := t.loadedShards()
	now := t.nowMs()
	var jobs []job
	behind := false // a transaction waits for the markers' view to reach its revision
	for _, s := range shards {
		s.mu.Lock()
		for id, e := range s.txns {
			if e.busy || !e.exists || s.closed {
				continue
			}
			m := &e.meta
			var j job
			switch {
			case isPrepare(m.State) && e.markersPending:
				next := m.Clone()
				j = job{step: &txnStep{next: next, markers: &metadata.TxnMarker{
					ProducerEpoch: m.ProducerEpoch, Commit: m.State == metadata.TxnPrepareCommit}}}
			case isPrepare(m.State):
				if t.markers == nil {
					continue
				}
				n, rev := t.markers.Pending(id, m.ProducerID)
				if n == 0 && rev < e.rev {
					behind = true
				}
				if n > 0 || rev < e.rev {
					continue
				}
				j = job{step: stepComplete(m, now)}
			case timedOut(m, now):
				j = job{step: fenceAbort(m, now), timeout: true}
			default:
				continue
			}
			j.s, j.id, j.e = s, id, e
			e.busy = true
			jobs = append(jobs, j)
		}
		s.mu.Unlock()
	}
	if behind {
		t.markers.RequestProgress()
	}
	for _, j := range jobs {
		if j.timeout {
			t.log.Info("aborting a timed-out transaction", "transactional_id", j.id, "producer_id", j.step.next.ProducerID)
		}
		if err := j.s.write(j.id, j.e, j.step); err == nil && j.timeout {
			t.metrics.timedOut.Inc()
		}
	}
}
