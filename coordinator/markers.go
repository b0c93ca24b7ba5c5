package coordinator

// The marker dispatcher.
//
// Every broker runs one: it follows txnmarkers/ in etcd (read, then watch)
// and ends transactions where this broker can: a partition marker of a
// partition it leads becomes a control batch (WriteMarker), a group
// marker of a group whose shard it leads makes the group's pending
// transactional offsets visible or drops them (ApplyOffsets); then it
// deletes the marker, if it is still the one it handled. What it cannot
// do now (not the leader, a failure) it tries again on the next pass:
// every dispatchInterval, and at once when the markers change or the
// broker's leaderships do (Kick).

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/strata-io/strata/metadata"
)

const (
	// dispatchInterval is how often pending markers are looked at again.
	dispatchInterval = 100 * time.Millisecond
	// dispatchTimeout bounds the writing and deleting of one marker.
	dispatchTimeout = 10 * time.Second
	// defaultDispatchConcurrency bounds the markers handled at once.
	defaultDispatchConcurrency = 16
)

// DispatcherOptions configure a Dispatcher.
type DispatcherOptions struct {
	Store *metadata.Store
	// WriteMarker appends a marker's control batch to a partition this
	// broker leads and returns once it is committed (the broker's
	// writeTxnMarker).
	WriteMarker func(ctx context.Context, key metadata.PartitionKey, mk metadata.TxnMarker) error
	// ApplyOffsets ends a transaction in a group whose shard this broker
	// leads (Coordinator.ApplyTxnOffsets).
	ApplyOffsets func(ctx context.Context, group string, producerID int64, producerEpoch int16, commit bool) error
	// LeadsPartition and LeadsGroup report whether this broker leads a
	// partition, or a group's shard: the markers it handles.
	LeadsPartition func(key metadata.PartitionKey) bool
	LeadsGroup     func(group string) bool
	// PartitionGone reports whether a partition no longer exists (its
	// topic was deleted) as of a view at least as new as revision, the
	// marker's: its marker is then deleted unwritten, as Kafka drops the
	// markers of deleted partitions. nil = never.
	PartitionGone func(key metadata.PartitionKey, revision int64) bool
	// OnChange is called, with no lock held, after the pending markers
	// changed (Txns.Kick).
	OnChange    func()
	Concurrency int          // markers handled at once; 0 = 16
	Logger      *slog.Logger // nil = discard
}

// Dispatcher writes the transaction markers this broker can write.
type Dispatcher struct {
	opts DispatcherOptions
	log  *slog.Logger
	kick chan struct{} // capacity 1
	sem  chan struct{} // one token per marker in flight

	// mu guards the pending markers, their index by transaction and the
	// revision of the view.
	mu      sync.Mutex
	pending map[string]*markerState // by key
	byTxn   map[txnRef]int
	rev     int64
}

// markerState is one pending marker and what this broker did with it.
type markerState struct {
	m        metadata.PendingMarker
	inFlight bool
	gone     bool // of a deleted partition: deleted unwritten (set with inFlight)
	done     bool // written and deleted: the watch has yet to show the delete
}

// txnRef names a transaction: its transactional id and producer id.
type txnRef struct {
	id  string
	pid int64
}

// NewDispatcher returns a dispatcher; Run starts it.
func NewDispatcher(opts DispatcherOptions) *Dispatcher {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = defaultDispatchConcurrency
	}
	return &Dispatcher{
		opts: opts, log: log, kick: make(chan struct{}, 1), sem: make(chan struct{}, opts.Concurrency),
		pending: map[string]*markerState{}, byTxn: map[txnRef]int{},
	}
}

// Kick has the dispatcher look at its pending markers now (leaderships
// changed).
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Pending returns how many markers of the transaction are pending in the
// dispatcher's view of etcd, and the revision of that view.
func (d *Dispatcher) Pending(txnID string, producerID int64) (int, int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.byTxn[txnRef{txnID, producerID}], d.rev
}

// PendingPartitions returns the partitions whose markers of the
// transaction are pending in the dispatcher's view, and its revision. It
// looks at every pending marker: for DescribeTransactions only.
func (d *Dispatcher) PendingPartitions(txnID string, producerID int64) (map[metadata.PartitionKey]bool, int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[metadata.PartitionKey]bool{}
	if d.byTxn[txnRef{txnID, producerID}] == 0 {
		return out, d.rev
	}
	for _, ms := range d.pending {
		if mk := ms.m.Marker; !ms.m.IsGroup && mk.TransactionalID == txnID && mk.ProducerID == producerID {
			out[ms.m.Partition] = true
		}
	}
	return out, d.rev
}

// RequestProgress asks etcd to advance the revision of the dispatcher's
// view even if no marker changes (Pending's revision).
func (d *Dispatcher) RequestProgress() {
	ctx, cancel := context.WithTimeout(context.Background(), dispatchTimeout)
	defer cancel()
	if err := d.opts.Store.RequestTxnMarkersProgress(ctx); err != nil {
		d.log.Debug("request progress of the transaction markers' watch", "error", err)
	}
}

// Run follows the markers and writes them until ctx ends, then waits for
// the markers in flight.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = d.opts.Store.WatchTxnMarkers(ctx, d.apply)
	}()
	tick := time.NewTicker(dispatchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-d.kick:
		}
		for _, ms := range d.take() {
			select {
			case d.sem <- struct{}{}:
			case <-ctx.Done():
				d.release(ms, false)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-d.sem }()
				d.release(ms, d.handle(ctx, ms.m, ms.gone))
			}()
		}
	}
}

// apply installs a change of txnmarkers/.
func (d *Dispatcher) apply(ch metadata.MarkerChange) {
	d.mu.Lock()
	if ch.Reset {
		old := d.pending
		d.pending, d.byTxn = map[string]*markerState{}, map[txnRef]int{}
		for _, m := range ch.Put {
			ms := &markerState{m: m}
			if o := old[m.Key]; o != nil && o.m.Revision == m.Revision {
				ms = o // keep what is in flight
			}
			d.add(ms)
		}
	}
	if !ch.Reset {
		for _, k := range ch.Deleted {
			d.remove(k)
		}
		for _, m := range ch.Put {
			d.remove(m.Key)
			d.add(&markerState{m: m})
		}
	}
	d.rev = max(d.rev, ch.Revision)
	d.mu.Unlock()
	d.Kick()
	if d.opts.OnChange != nil {
		d.opts.OnChange()
	}
}

// add and remove keep the pending markers and their index. d.mu is held.
func (d *Dispatcher) add(ms *markerState) {
	d.pending[ms.m.Key] = ms
	d.byTxn[txnRef{ms.m.Marker.TransactionalID, ms.m.Marker.ProducerID}]++
}

func (d *Dispatcher) remove(key string) {
	ms := d.pending[key]
	if ms == nil {
		return
	}
	delete(d.pending, key)
	ref := txnRef{ms.m.Marker.TransactionalID, ms.m.Marker.ProducerID}
	if d.byTxn[ref]--; d.byTxn[ref] <= 0 {
		delete(d.byTxn, ref)
	}
}

// take returns the pending markers this broker can write now, marked in
// flight. The leadership checks take partition locks: they run without
// d.mu.
func (d *Dispatcher) take() []*markerState {
	d.mu.Lock()
	var cands []*markerState
	for _, ms := range d.pending {
		if !ms.inFlight && !ms.done {
			cands = append(cands, ms)
		}
	}
	d.mu.Unlock()
	type pick struct {
		ms   *markerState
		gone bool
	}
	var mine []pick
	for _, ms := range cands {
		switch {
		case ms.m.IsGroup && d.opts.LeadsGroup(ms.m.Group),
			!ms.m.IsGroup && d.opts.LeadsPartition(ms.m.Partition):
			mine = append(mine, pick{ms: ms})
		case !ms.m.IsGroup && d.opts.PartitionGone != nil && d.opts.PartitionGone(ms.m.Partition, ms.m.Revision):
			mine = append(mine, pick{ms: ms, gone: true})
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*markerState
	for _, p := range mine {
		if ms := p.ms; d.pending[ms.m.Key] == ms && !ms.inFlight && !ms.done {
			ms.inFlight, ms.gone = true, p.gone
			out = append(out, ms)
		}
	}
	return out
}

// release ends a marker's flight; done: it was written and deleted.
func (d *Dispatcher) release(ms *markerState, done bool) {
	d.mu.Lock()
	ms.inFlight, ms.done = false, done
	d.mu.Unlock()
}

// handle writes one marker (not one of a deleted partition) and deletes
// it, and reports whether it did.
func (d *Dispatcher) handle(ctx context.Context, m metadata.PendingMarker, gone bool) bool {
	ctx, cancel := context.WithTimeout(ctx, dispatchTimeout)
	defer cancel()
	var err error
	switch {
	case gone:
		d.log.Info("dropping the transaction marker of a deleted partition", "key", m.Key)
	case m.IsGroup:
		err = d.opts.ApplyOffsets(ctx, m.Group, m.Marker.ProducerID, m.Marker.ProducerEpoch, m.Marker.Commit)
	default:
		err = d.opts.WriteMarker(ctx, m.Partition, m.Marker)
	}
	if err != nil {
		if ctx.Err() == nil {
			d.log.Debug("transaction marker not written; retrying", "key", m.Key, "error", err)
		}
		return false
	}
	if _, err := d.opts.Store.DeleteTxnMarker(ctx, m.Key, m.Revision); err != nil {
		d.log.Debug("delete transaction marker; retrying", "key", m.Key, "error", err)
		return false
	}
	return true
}
