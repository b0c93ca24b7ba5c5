package broker

// How a broker takes part in the cluster.
//
// Every broker watches cluster/ in etcd (metadata.Store.Watch) and keeps the
// latest metadata.View: live brokers, the controller, topics, assignments and
// leaders. Metadata answers come from it.
//
// One broker, elected through etcd, is the controller: on every view change
// it computes metadata.Balance and writes the assignments that changed.
//
// Every broker reconciles its partitions with the view: it acquires the
// leadership of a partition assigned to it once the leader key is free,
// hands over a partition assigned elsewhere (no more produces, wait until
// everything appended is committed, resign the key), and stops serving a
// partition whose leader key is no longer its own (fenced). When its etcd
// lease ends, it stops serving everything, opens a new session and joins
// again; it resumes each leadership that held uncommitted records if no
// other broker has led the partition since (nothing acknowledged is lost),
// and sets those records aside in the quarantine otherwise.

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/strata-io/strata/metadata"
)

const (
	// reconcileEvery reconciles even without a view change, to retry
	// acquisitions that failed on a transient etcd error.
	reconcileEvery = time.Second
	// acquireTimeout bounds one attempt to take a partition.
	acquireTimeout = 5 * time.Second
	// acquiresInFlight bounds concurrent acquisitions in one pass.
	acquiresInFlight = 8
	// leadersWait bounds how long topic creation waits for the new
	// partitions' leaders before answering.
	leadersWait = 10 * time.Second
)

// clusterView holds the latest view and wakes its waiters when it changes.
type clusterView struct {
	mu      sync.Mutex
	v       *metadata.View
	changed chan struct{}
}

func newClusterView() *clusterView {
	return &clusterView{changed: make(chan struct{})}
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

// setView publishes a view to the broker: topics first, so that a new
// topic's partitions exist when the reconciler looks for them.
func (b *Broker) setView(v *metadata.View) {
	b.topics.sync(v)
	b.view.set(v)
}

// watchLoop keeps the broker's view current until the broker stops.
func (b *Broker) watchLoop() {
	_ = b.store.Watch(b.ctx, b.setView)
}

// waitLeaders waits, at most leadersWait or until ctx ends, until every
// partition of the topic has a leader, and those this broker leads are
// loaded, so that a client can produce to a topic as soon as it was created.
func (b *Broker) waitLeaders(ctx context.Context, id metadata.TopicID, partitions int32) {
	ctx, cancel := context.WithTimeout(ctx, leadersWait)
	defer cancel()
	led := func(v *metadata.View) bool {
		for i := range partitions {
			p := b.topics.partition(metadata.PartitionKey{Topic: id, Partition: i})
			if p == nil {
				return false
			}
			if _, ok := b.leader(v, p); !ok {
				return false
			}
		}
		return true
	}
	for {
		v, changed := b.view.get()
		if v != nil && led(v) {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// reconcileLoop keeps this broker's leaderships in line with the view.
func (b *Broker) reconcileLoop() {
	t := time.NewTicker(reconcileEvery)
	defer t.Stop()
	for {
		v, changed := b.view.get()
		if v != nil && !b.isClosing() {
			b.reconcile(v)
		}
		select {
		case <-b.ctx.Done():
			return
		case <-b.store.Done():
			b.rejoin()
		case <-changed:
		case <-t.C:
		}
	}
}

// reconcile makes one pass over every partition the broker knows.
func (b *Broker) reconcile(v *metadata.View) {
	lease := int64(b.store.LeaseID())
	calls := pool.New().WithMaxGoroutines(acquiresInFlight)
	for _, p := range b.topics.partitions() {
		epoch, ended := p.tenure()
		_, _, undecided := p.current()
		switch act, to := nextStep(v, p.key, b.id, lease, epoch, ended, undecided); act {
		case stepStop:
			if p.stop(epoch) {
				b.uploader.Forget(p.key)
				b.metrics.lost.Inc()
				b.log.Warn("lost leadership; no longer serving the partition", "topic", p.topic, "partition", p.key.Partition, "epoch", epoch)
			}
		case stepHandOff:
			if p.beginHandOff(epoch) {
				b.wg.Go(func() { b.handOff(p, epoch, to) })
			}
		case stepAcquire:
			calls.Go(func() { b.acquire(p, 0, true) })
		case stepResume:
			calls.Go(func() { b.acquire(p, undecided, v.Assigned(p.key) == b.id) })
		case stepSetAside:
			p.decide(undecided)
			b.log.Warn("another broker has led the partition since this broker's leadership ended: its records not committed are set aside in the quarantine",
				"topic", p.topic, "partition", p.key.Partition, "epoch", undecided)
		case stepResign:
			calls.Go(func() { b.resign(p, ended) })
		}
	}
	calls.Wait()
	b.groups.sync()
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

// acquire takes the leadership of p and loads its committed state. With
// resume, the epoch of an undecided ended leadership of this broker, it
// first tries to resume that one (metadata.Store.ResumeLeadership); if
// another broker has led the partition since, the ended leadership is
// decided (its records are set aside) and a new one starts only if the
// partition is assigned here.
func (b *Broker) acquire(p *partition, resume int64, assigned bool) {
	ctx, cancel := context.WithTimeout(b.ctx, acquireTimeout)
	defer cancel()
	// One attempt at a time: a second lead would reset the tail that the
	// first one's produces have written since.
	if !p.acquiring.CompareAndSwap(false, true) {
		return
	}
	defer p.acquiring.Store(false)
	if _, ok := p.led(); ok {
		return
	}
	var l metadata.Leadership
	var err error
	if resume != 0 {
		l, err = b.store.ResumeLeadership(ctx, p.key, b.id, resume)
		if errors.Is(err, metadata.ErrNotResumable) || errors.Is(err, metadata.ErrNotLeader) {
			p.decide(resume)
			b.log.Warn("another broker has led the partition since this broker's leadership ended: its records not committed are set aside in the quarantine",
				"topic", p.topic, "partition", p.key.Partition, "epoch", resume)
			if !assigned {
				return
			}
			l, err = b.store.AcquireLeadership(ctx, p.key, b.id)
		}
	} else {
		l, err = b.store.AcquireLeadership(ctx, p.key, b.id)
	}
	if err != nil {
		if !errors.Is(err, metadata.ErrNotLeader) && b.ctx.Err() == nil {
			b.log.Warn("acquire leadership", "topic", p.topic, "partition", p.key.Partition, "error", err)
		}
		return
	}
	st, err := b.store.PartitionState(ctx, p.key)
	var manifest []metadata.ManifestEntry
	if err == nil {
		manifest, err = b.store.Manifest(ctx, p.key)
	}
	if err != nil {
		// The key stays ours; the next pass tries again.
		b.log.Warn("load partition state", "topic", p.topic, "partition", p.key.Partition, "error", err)
		return
	}
	b.uploader.SetState(p.key, st)
	p.lead(l, st, manifest)
	b.view.touch()
	b.metrics.leaderships.Inc()
	b.log.Info("leading partition", "topic", p.topic, "partition", p.key.Partition,
		"leader_epoch", l.LeaderEpoch, "epoch", l.Epoch, "hwm", st.HighWatermark, "resumed", l.Resumed)
}

// handOff gives p to the broker the controller assigned it to: produces
// already stop (beginHandOff); once everything appended under epoch is
// committed, the leadership key is deleted so that the new broker takes it
// at once.
func (b *Broker) handOff(p *partition, epoch int64, to int32) {
	start := time.Now()
	for {
		done, changed := p.drained(epoch)
		if done {
			break
		}
		select {
		case <-changed:
		case <-b.ctx.Done():
			return
		}
	}
	if !p.stop(epoch) {
		return // lost meanwhile
	}
	b.uploader.Forget(p.key)
	b.resign(p, epoch)
	b.metrics.handOffs.Inc()
	b.log.Info("handed partition over", "topic", p.topic, "partition", p.key.Partition, "to", to, "took", time.Since(start))
}

// resign deletes the leader key of a tenure that ended here; if that fails,
// a later reconcile pass tries again.
func (b *Broker) resign(p *partition, epoch int64) {
	ctx, cancel := context.WithTimeout(b.ctx, acquireTimeout)
	defer cancel()
	if err := b.store.ResignLeadership(ctx, p.key, epoch); err != nil {
		b.log.Warn("resign leadership; retrying", "topic", p.topic, "partition", p.key.Partition, "error", err)
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
func (b *Broker) rejoin() {
	b.log.Error("etcd lease ended: this broker lost its registration and every leadership; joining the cluster again and resuming what no other broker took")
	for _, p := range b.topics.partitions() {
		if epoch, ok := p.led(); ok && p.stop(epoch) {
			b.uploader.Forget(p.key)
			b.metrics.lost.Inc()
		}
	}
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		if b.isClosing() || b.ctx.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(b.ctx, acquireTimeout)
		err := b.store.Renew(ctx)
		if err == nil {
			err = b.register(ctx)
		}
		cancel()
		if err == nil {
			return
		}
		b.log.Warn("join the cluster again; retrying", "error", err)
		select {
		case <-b.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// controllerLoop campaigns to be the controller and, once elected, assigns
// partitions until the term ends; then it campaigns again.
func (b *Broker) controllerLoop() {
	for b.ctx.Err() == nil && !b.isClosing() {
		ctl, err := b.store.Campaign(b.ctx, b.id)
		if err != nil {
			select {
			case <-b.ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		b.log.Info("elected controller")
		b.metrics.controller.Set(1)
		b.control(ctl)
		b.metrics.controller.Set(0)
	}
}

// control writes the assignments Balance asks for after every view change,
// and collects garbage in the bucket, until the term ends or the broker
// stops.
func (b *Broker) control(ctl *metadata.Controller) {
	gcCtx, stopGC := context.WithCancel(b.ctx)
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		b.collectGarbage(gcCtx)
	}()
	defer func() {
		stopGC()
		<-gcDone
	}()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), acquireTimeout)
		defer cancel()
		_ = ctl.Resign(ctx)
	}()
	for {
		v, changed := b.view.get()
		if v != nil {
			if moves := metadata.Balance(v); len(moves) > 0 {
				err := ctl.SetAssignments(b.ctx, moves)
				switch {
				case errors.Is(err, metadata.ErrNotController):
					b.log.Warn("no longer the controller")
					return
				case err != nil:
					b.log.Warn("write partition assignments; retrying", "error", err)
					changed = nil // retry on the tick below
				default:
					b.log.Info("assigned partitions", "topics", len(moves), "brokers", len(v.Brokers))
				}
			}
		}
		select {
		case <-changed:
		case <-time.After(reconcileEvery):
		case <-ctl.Done():
			return
		case <-b.closingCh:
			return
		case <-b.ctx.Done():
			return
		}
	}
}
