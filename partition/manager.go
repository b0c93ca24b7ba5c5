package partition

// How a broker takes part in the cluster.
//
// Every broker watches cluster/ in etcd (metadata.Store.Watch) and keeps the
// latest metadata.View: live brokers, the controller, topics, assignments and
// leaders. Metadata answers come from it.
//
// One broker, elected through etcd, is the controller: on every view change
// it computes metadata.Balance and writes the assignments that changed (the
// broker runs that loop; the manager only follows its assignments).
//
// Every broker's Manager reconciles its partitions with the view: it
// acquires the leadership of a partition assigned to it once the leader key
// is free, hands over a partition assigned elsewhere (no more produces, wait
// until everything appended is committed, resign the key), and stops serving
// a partition whose leader key is no longer its own (fenced). When its etcd
// lease ends, it stops serving everything, opens a new session and joins
// again; it resumes each leadership that held uncommitted records if no
// other broker has led the partition since (nothing acknowledged is lost),
// and sets those records aside in the quarantine otherwise.

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/conc"
	"github.com/sourcegraph/conc/pool"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/tiering"
)

const (
	// reconcileEvery reconciles even without a view change, to retry
	// acquisitions that failed on a transient etcd error.
	reconcileEvery = time.Second
	// acquireTimeout bounds one attempt to take a partition.
	acquireTimeout = 5 * time.Second
	// acquiresInFlight bounds concurrent resignations in one pass.
	acquiresInFlight = 8
	// acquireBatchesInFlight bounds the batches of acquisitions
	// (metadata.Store.AcquireLeaderships) in flight at once in one pass.
	acquireBatchesInFlight = 4
	// leadersWait bounds how long topic creation waits for the new
	// partitions' leaders before answering.
	leadersWait = 10 * time.Second
)

// Uploader is what the manager needs of tiering.Uploader: the committed
// state of a partition it starts to lead, and forgetting one it stopped
// leading. Both take only the uploader's own lock, for an instant, so they
// may be called with the manager's or a partition's lock held.
type Uploader interface {
	SetState(key metadata.PartitionKey, st metadata.PartitionState)
	Forget(key metadata.PartitionKey)
}

var _ Uploader = (*tiering.Uploader)(nil)

// Options configure a Manager.
type Options struct {
	Store    *metadata.Store // the broker's etcd session
	BrokerID int32
	// Register announces the broker again under a new lease, after the old
	// one ended (rejoin).
	Register func(context.Context) error
	// AfterReconcile, if set, runs at the end of every reconcile pass: the
	// group coordinator follows the leaderships of its shards there.
	AfterReconcile func()
	// Closing is closed when the broker starts to shut down: no more
	// reconcile passes or rejoins.
	Closing    <-chan struct{}
	Logger     *slog.Logger          // nil = discard
	Registerer prometheus.Registerer // nil = no metrics
	// MaxTxnOps is etcd's --max-txn-ops, which batched acquisitions stay
	// within (0: etcd's default, metadata.DefaultMaxTxnOps).
	MaxTxnOps int
}

// Manager holds the topics and partitions this broker knows, and keeps the
// leaderships it holds in line with the controller's assignments. It
// implements tiering.Leaders for the uploader and takes its commits
// (OnCommit). See the package doc for its goroutines and locks.
type Manager struct {
	store          *metadata.Store
	id             int32
	register       func(context.Context) error
	afterReconcile func()
	closing        <-chan struct{}
	log            *slog.Logger
	metrics        *metrics
	uploader       Uploader // set once by SetUploader, before Run
	maxTxnOps      int

	// Reconcile passes run one at a time (ReconcileAtStart, then Run's
	// loop): the lease and the time of their last full pass.
	lastLease int64
	lastFull  time.Time
	fullEvery time.Duration // fullReconcileEvery; tests change it
	visits    atomic.Int64  // partitions looked at by reconcile passes

	ctx context.Context // ends the manager's work
	wg  conc.WaitGroup  // hand-offs

	view *clusterView

	topicCache

	// committed is closed and replaced each time a WAL segment's commit
	// lands, waking long-polling fetches.
	commitMu  sync.Mutex
	committed chan struct{}
}

// NewManager returns a manager of no topics yet. ctx bounds its work: the
// loops of Run, and the acquisitions and hand-offs they start.
func NewManager(ctx context.Context, opts Options) *Manager {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		store:          opts.Store,
		id:             opts.BrokerID,
		register:       opts.Register,
		afterReconcile: opts.AfterReconcile,
		closing:        opts.Closing,
		log:            log,
		metrics:        newMetrics(opts.Registerer),
		maxTxnOps:      opts.MaxTxnOps,
		fullEvery:      fullReconcileEvery,
		ctx:            ctx,
		view:           newClusterView(),
		topicCache:     newTopicCache(),
		committed:      make(chan struct{}),
	}
}

// SetUploader gives the manager the uploader, which is built with the
// manager as its tiering.Leaders: call it once, before anything else.
func (m *Manager) SetUploader(u Uploader) { m.uploader = u }

// Run keeps the view current (an etcd watch) and reconciles leaderships with
// it until the manager's context ends; then it waits for the hand-offs it
// started.
func (m *Manager) Run() {
	var wg conc.WaitGroup
	wg.Go(func() { _ = m.store.Watch(m.ctx, m.SetView) })
	wg.Go(m.reconcileLoop)
	wg.Wait()
	m.wg.Wait()
}

func (m *Manager) isClosing() bool {
	select {
	case <-m.closing:
		return true
	default:
		return false
	}
}

// clusterView holds the latest view and wakes its waiters when it changes.
// It also collects what changed for the next reconcile pass.
type clusterView struct {
	mu      sync.Mutex
	v       *metadata.View
	changed chan struct{}
	pending *pendingChanges
}

func newClusterView() *clusterView {
	return &clusterView{changed: make(chan struct{}), pending: newPendingChanges()}
}

// take returns what get does, and what changed for the next reconcile
// pass (pendingChanges.take), together: the view is at least as new as
// every change taken.
func (cv *clusterView) take() (*metadata.View, <-chan struct{}, bool, map[metadata.PartitionKey]struct{}, map[metadata.TopicID]struct{}) {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	full, parts, topics := cv.pending.take()
	return cv.v, cv.changed, full, parts, topics
}

// get returns the latest view (nil before the first) and a channel closed
// when a newer one arrives.
func (cv *clusterView) get() (*metadata.View, <-chan struct{}) {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	return cv.v, cv.changed
}

func (cv *clusterView) set(v *metadata.View) {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if cv.v != nil && v.Revision < cv.v.Revision {
		return
	}
	cv.pending.noteView(v)
	cv.v = v
	close(cv.changed)
	cv.changed = make(chan struct{})
}

// touch wakes the waiters without a new view: the broker's own state
// changed (it started leading a partition).
func (cv *clusterView) touch() {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	close(cv.changed)
	cv.changed = make(chan struct{})
}

// View returns the latest cluster view (nil before the first) and a channel
// closed when a newer one arrives or this broker's leaderships change.
func (m *Manager) View() (*metadata.View, <-chan struct{}) { return m.view.get() }

// SetView publishes a view: topics first, so that a new topic's partitions
// exist when the reconciler looks for them.
func (m *Manager) SetView(v *metadata.View) {
	m.sync(v)
	m.view.set(v)
}

// Leader is the partition's leader in the view; a leadership of this broker
// counts once the partition is loaded, so that a client told to produce
// here is served.
func (m *Manager) Leader(v *metadata.View, p *Partition) (metadata.Leader, bool) {
	l, ok := v.Leaders[p.key]
	if ok && l.Broker == m.id {
		epoch, led := p.Led()
		ok = led && epoch == l.Epoch
	}
	return l, ok
}

// WaitLeaders waits, at most leadersWait or until ctx ends, until every
// partition of the topics has a leader, and those this broker leads are
// loaded, so that a client can produce to topics as soon as they were
// created or grew. The topics share the one bound.
func (m *Manager) WaitLeaders(ctx context.Context, topics ...*Topic) {
	ctx, cancel := context.WithTimeout(ctx, leadersWait)
	defer cancel()
	led := func(v *metadata.View) bool {
		for _, t := range topics {
			for i := range t.Meta.Partitions {
				p := m.Partition(metadata.PartitionKey{Topic: t.Meta.ID, Partition: i})
				if p == nil {
					return false
				}
				if _, ok := m.Leader(v, p); !ok {
					return false
				}
			}
		}
		return true
	}
	m.waitView(ctx, led)
}

// WaitRevision waits until the cluster view has reached etcd revision rev,
// so that it shows a write of that revision, or until ctx ends; false if
// ctx ended first.
func (m *Manager) WaitRevision(ctx context.Context, rev int64) bool {
	return m.waitView(ctx, func(v *metadata.View) bool { return v.Revision >= rev })
}

// waitView waits until the cluster view satisfies done or ctx ends; false
// if ctx ended first.
func (m *Manager) waitView(ctx context.Context, done func(*metadata.View) bool) bool {
	for {
		v, changed := m.view.get()
		if v != nil && done(v) {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// OnCommit is the uploader's callback (tiering.UploaderOptions.OnCommit):
// committed data becomes visible.
func (m *Manager) OnCommit(_ uint64, results []tiering.Result) {
	for _, r := range results {
		p := m.Partition(r.Key)
		if p == nil {
			continue
		}
		if r.Err != nil {
			if p.stop(r.Epoch) {
				m.metrics.lost.Inc()
				m.log.Error("commit failed; partition no longer served", "topic", p.topic, "partition", p.key.Partition, "error", r.Err)
				m.view.pending.mark(p.key) // to resign, or resume
			}
			continue
		}
		p.committed(r.Epoch, r.Entry, r.State)
	}
	m.commitMu.Lock()
	m.demand.fetch.Store(false) // the fetches woken ask again
	close(m.committed)
	m.committed = make(chan struct{})
	m.commitMu.Unlock()
}

// CommitSignal returns a channel closed at the next commit. Asking for it
// tells the uploader that a fetch may wait for the next commit, until that
// commit (tiering.Demand): a long-polling fetch asks before each round.
func (m *Manager) CommitSignal() <-chan struct{} {
	m.commitMu.Lock()
	defer m.commitMu.Unlock()
	m.demand.fetching()
	return m.committed
}

// reconcileLoop keeps this broker's leaderships in line with the view.
func (m *Manager) reconcileLoop() {
	t := time.NewTicker(reconcileEvery)
	defer t.Stop()
	for {
		changed := m.reconcileNext()
		select {
		case <-m.ctx.Done():
			return
		case <-m.store.Done():
			m.rejoin()
		case <-changed:
		case <-t.C:
		}
	}
}

// reconcileNext makes one reconcile pass over what changed since the last
// one (manager_changes.go), over every partition when the lease changed or
// fullReconcileEvery has passed since the last full pass, and returns a
// channel closed at the next change.
func (m *Manager) reconcileNext() <-chan struct{} {
	v, changed, full, parts, topics := m.view.take()
	if v == nil || m.isClosing() {
		m.view.pending.markAll() // nothing was looked at
		return changed
	}
	lease := int64(m.store.LeaseID())
	if full || lease != m.lastLease || time.Since(m.lastFull) >= m.fullEvery {
		m.reconcile(v)
		return changed
	}
	m.reconcilePass(v, lease, m.toReconcile(false, parts, topics))
	return changed
}

// reconcile makes one pass over every partition the broker knows.
func (m *Manager) reconcile(v *metadata.View) {
	lease := int64(m.store.LeaseID())
	m.lastLease, m.lastFull = lease, time.Now()
	m.reconcilePass(v, lease, m.Partitions())
}

// reconcilePass takes, for each of parts, the next step towards the view.
// A partition whose step was not stepNone is looked at again by the next
// pass: whatever the step started may not have finished, or failed.
func (m *Manager) reconcilePass(v *metadata.View, lease int64, parts []*Partition) {
	calls := pool.New().WithMaxGoroutines(acquiresInFlight)
	var acqs []acquisition
	for _, p := range parts {
		m.visits.Add(1)
		epoch, ended := p.tenure()
		_, _, undecided := p.Current()
		act, to := nextStep(v, p.key, m.id, lease, epoch, ended, undecided)
		if act != stepNone {
			m.view.pending.mark(p.key)
		}
		switch act {
		case stepStop:
			if p.stop(epoch) {
				m.uploader.Forget(p.key)
				m.metrics.lost.Inc()
				m.log.Warn("lost leadership; no longer serving the partition", "topic", p.topic, "partition", p.key.Partition, "epoch", epoch)
			}
		case stepHandOff:
			if p.beginHandOff(epoch) {
				m.wg.Go(func() { m.handOff(p, epoch, to) })
			}
		case stepAcquire:
			acqs = append(acqs, acquisition{p: p, assigned: true})
		case stepResume:
			acqs = append(acqs, acquisition{p: p, resume: undecided, assigned: v.Assigned(p.key) == m.id})
		case stepSetAside:
			p.decide(undecided)
			m.log.Warn("another broker has led the partition since this broker's leadership ended: its records not committed are set aside in the quarantine",
				"topic", p.topic, "partition", p.key.Partition, "epoch", undecided)
		case stepResign:
			calls.Go(func() { m.resign(p, ended) })
		}
	}
	m.acquireAll(acqs)
	calls.Wait()
	if m.afterReconcile != nil {
		m.afterReconcile()
	}
}

// step is what reconcile does with one partition.
type step int

const (
	stepNone     step = iota
	stepStop          // the leadership is gone: stop serving
	stepHandOff       // assigned elsewhere: hand over
	stepAcquire       // take the leadership
	stepResume        // try to resume an undecided ended leadership
	stepSetAside      // an undecided ended leadership cannot resume: another broker led since
	stepResign        // delete the key of a tenure this broker ended
)

// nextStep decides, from the view, what this broker (self, on lease) does
// with one partition, given the fencing epoch of its leadership (0: none),
// of the last one it ended, and of an ended one still undecided (0: none).
// For stepHandOff it also returns the broker the partition goes to.
func nextStep(v *metadata.View, key metadata.PartitionKey, self int32, lease, epoch, ended, undecided int64) (step, int32) {
	l, hasLeader := v.Leaders[key]
	assigned := v.Assigned(key)
	switch {
	case epoch > 0 && v.Revision >= epoch && (!hasLeader || l.Epoch != epoch):
		// The view is at least as new as this leadership and does not
		// show it: the key was deleted (lease ended, topic deleted) or
		// taken over. Commits would fail; stop now.
		return stepStop, -1
	case epoch > 0 && assigned >= 0 && assigned != self:
		return stepHandOff, assigned
	case epoch == 0 && hasLeader && l.Lease == lease && l.Epoch == ended:
		// A tenure this broker ended (handed over, or stopped after a
		// failed commit) whose key the view still shows: the deletion is
		// in flight, or failed and is tried again; until it succeeds no
		// other broker can take the partition. Never acquire it here:
		// that would be a new tenure bouncing the partition back.
		return stepResign, -1
	case epoch == 0 && undecided != 0 && !hasLeader:
		// Resume it wherever it is assigned: its records are uploaded
		// here, and a hand-off follows if it belongs elsewhere.
		return stepResume, -1
	case epoch == 0 && undecided != 0 && l.Lease != lease && l.Epoch > undecided:
		return stepSetAside, -1
	case epoch == 0 && undecided != 0:
		// The view still shows the ended leadership's key (its deletion
		// has not reached the view yet): wait for the next view.
		return stepNone, -1
	case epoch == 0 && hasLeader && l.Lease == lease:
		// Ours from before a restart within the lease TTL.
		return stepAcquire, -1
	case epoch == 0 && !hasLeader && assigned == self:
		return stepAcquire, -1
	}
	return stepNone, -1
}

// handOff gives p to the broker the controller assigned it to: produces
// already stop (beginHandOff); once everything appended under epoch is
// committed, the leadership key is deleted so that the new broker takes it
// at once.
func (m *Manager) handOff(p *Partition, epoch int64, to int32) {
	start := time.Now()
	// However it ends, the next pass looks at p again (to resign once
	// more if the resignation failed).
	defer m.view.pending.mark(p.key)
	if !m.drain(p, epoch) {
		return
	}
	if !p.stop(epoch) {
		return // lost meanwhile
	}
	m.uploader.Forget(p.key)
	m.resign(p, epoch)
	m.metrics.handOffs.Inc()
	m.log.Info("handed partition over", "topic", p.topic, "partition", p.key.Partition, "to", to, "took", time.Since(start))
}

// drain waits until everything appended to p under epoch is committed (or
// epoch ended), counting in the commit demand meanwhile; false if the
// manager's context ended first.
func (m *Manager) drain(p *Partition, epoch int64) bool {
	if done, _ := p.drained(epoch); done {
		return true
	}
	m.demand.begin()
	defer m.demand.end()
	for {
		done, changed := p.drained(epoch)
		if done {
			return true
		}
		select {
		case <-changed:
		case <-m.ctx.Done():
			return false
		}
	}
}

// resign deletes the leader key of a tenure that ended here; if that fails,
// a later reconcile pass tries again.
func (m *Manager) resign(p *Partition, epoch int64) {
	ctx, cancel := context.WithTimeout(m.ctx, acquireTimeout)
	defer cancel()
	if err := m.store.ResignLeadership(ctx, p.key, epoch); err != nil {
		m.log.Warn("resign leadership; retrying", "topic", p.topic, "partition", p.key.Partition, "error", err)
	}
}

// rejoin runs when the etcd lease ended while the broker lives (it was
// paused, or cut off from etcd, for longer than the TTL): every leadership
// is gone, so the broker stops serving every partition, then opens a new
// session and registers again; the controller then gives it a share. A
// partition whose records were not all committed stays undecided, its
// records held in memory and in the WAL, until reconcile tries to resume
// it: resumed if no other broker has led it since (its records are then
// committed), set aside in the quarantine otherwise.
func (m *Manager) rejoin() {
	m.log.Error("etcd lease ended: this broker lost its registration and every leadership; joining the cluster again and resuming what no other broker took")
	for _, p := range m.Partitions() {
		if epoch, ok := p.Led(); ok && p.stop(epoch) {
			m.uploader.Forget(p.key)
			m.metrics.lost.Inc()
		}
	}
	m.view.pending.markAll()
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		if m.isClosing() || m.ctx.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(m.ctx, acquireTimeout)
		err := m.store.Renew(ctx)
		if err == nil && m.register != nil {
			err = m.register(ctx)
		}
		cancel()
		if err == nil {
			return
		}
		m.log.Warn("join the cluster again; retrying", "error", err)
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
