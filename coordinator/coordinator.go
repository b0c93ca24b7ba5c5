package coordinator

// The group coordinator.
//
// Groups hash onto the partitions of the internal topic
// metadata.OffsetsTopic (Kafka's hash: the group id's Java String.hashCode,
// made non-negative, modulo the partition count). Each of those partitions
// is a coordinator shard, led like any partition: the controller assigns
// it, its leader key is bound to the leader's lease, its creation revision
// is the fencing epoch, and it moves by hand-off or failover. The broker
// leading a shard coordinates its groups: it loads them from etcd when it
// starts leading (COORDINATOR_LOAD_IN_PROGRESS until then), keeps their
// membership in memory, and writes committed offsets and each completed
// generation to etcd under groups/<shard>/, every transaction guarded by the
// shard's epoch. A broker that lost a shard therefore writes nothing: its
// commits fail with NOT_COORDINATOR and the members move to the new
// coordinator, which resumes every group from etcd.
//
// Every shard's writes go through the broker's one group writer: what
// arrives while a transaction is in flight goes into the next, each
// transaction guarded by the epochs of the shards it writes, so many
// consumers committing at once cost few etcd transactions. Writes are
// committed and applied in the order they were queued; handlers queue them
// in their ordered part (conn.go), so one connection's writes land in
// request order. A transactional producer's offsets are kept pending, per
// producer, until its transaction's marker commits them into the committed
// offsets or drops them (ApplyTxnOffsets).

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

const (
	// groupWritesPerCall bounds the group writes one CommitGroups call takes.
	groupWritesPerCall = 512
	// groupLoadTimeout bounds loading a shard's groups from etcd.
	groupLoadTimeout = 10 * time.Second
	// commitTimeout bounds one CommitGroups call.
	commitTimeout = 5 * time.Second
)

// Topics is what the coordinator needs of the partition manager
// (partition.Manager): the internal topic metadata.OffsetsTopic, whose
// partitions are its shards, nil until the broker knows it.
type Topics interface {
	Topic(name string) *partition.Topic
}

// Options configure a Coordinator.
type Options struct {
	Store      *metadata.Store // where groups and committed offsets are kept
	Topics     Topics
	Logger     *slog.Logger          // nil = discard
	Registerer prometheus.Registerer // nil = no metrics
}

// Coordinator holds the coordinator shards this broker leads.
type Coordinator struct {
	store   *metadata.Store
	topics  Topics
	log     *slog.Logger
	metrics *metrics
	ctx     context.Context // ends the coordinator's work: Run, the shards' loads
	shards  *shardSet[*Shard]

	// queue holds the writes for writeLoop, in order. It never blocks a
	// writer, who may hold a shard's lock: the writes waited for are bounded
	// by the requests in flight, the others come one per generation.
	queueMu sync.Mutex
	queue   []*Write
	queued  chan struct{} // signalled (capacity 1) when queue gets a write

	consumerWrites  consumerWriter   // KIP-848 group records (consumer_writer.go)
	consumerMetrics *consumerMetrics // by group type, KIP-848 (consumer_metrics.go)
	share           *Shares          // KIP-932 share groups and partitions (share_*.go)

	consumerConfigs consumerConfigCache // KIP-848 group configs (consumer_configs.go)
}

// New returns a coordinator of no shards yet; ctx bounds its work: Run and
// the loads of the shards it starts to lead.
func New(ctx context.Context, opts Options) *Coordinator {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Coordinator{
		store: opts.Store, topics: opts.Topics, log: log, metrics: newMetrics(opts.Registerer), ctx: ctx,
		shards: newShardSet[*Shard](), queued: make(chan struct{}, 1),
	}
	c.consumerMetrics = newConsumerMetrics(opts.Registerer, c) // KIP-848
	c.share = newShares(c)                                     // KIP-932 (share_partitions.go)
	return c
}

// Shard is one coordinator shard led by this broker under one epoch.
type Shard struct {
	shardBase
	c *Coordinator

	// mu guards the groups and every group's state; the shard's timers take
	// it too.
	mu     sync.Mutex
	closed bool
	groups map[string]*Group
}

// Write is one write waiting for the group writer.
type Write struct {
	s    *Shard
	w    metadata.GroupWrite
	done chan error // nil: nobody waits
	// applied runs under the shard lock once the write is committed.
	applied func()
	// prepare, when set, makes w under the shard lock once every write
	// queued before it is committed and applied, so that it sees them
	// (ending a transaction reads the pending offsets it moves); false:
	// nothing to write, and the write succeeds as it is.
	prepare func() (metadata.GroupWrite, bool)
}

// javaHash is Java's String.hashCode over the UTF-16 code units of s, as
// Kafka hashes group ids onto offsets partitions.
func javaHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// shardOf returns the shard of a group id among n.
func shardOf(group string, n int32) int32 {
	h := javaHash(group)
	if h == -1<<31 {
		h = 0 // Kafka's Utils.abs
	} else if h < 0 {
		h = -h
	}
	return h % n
}

// offsetsTopic is the internal topic, nil until this broker knows it.
func (c *Coordinator) offsetsTopic() *partition.Topic { return c.topics.Topic(metadata.OffsetsTopic) }

// Locate returns the shard partition of a group, nil if unknown yet.
func (c *Coordinator) Locate(group string) *partition.Partition {
	t := c.offsetsTopic()
	if t == nil || len(t.Parts) == 0 {
		return nil
	}
	return t.Parts[shardOf(group, int32(len(t.Parts)))]
}

// shardFor returns the loaded shard that coordinates group here, or
// NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) shardFor(group string) (*Shard, error) {
	p := c.Locate(group)
	if p == nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	epoch, led := p.Led()
	if !led {
		return nil, kerr.NotCoordinator
	}
	s := c.ensure(p, epoch)
	if loaded, ok := s.loadState(); !loaded || !ok {
		return nil, kerr.CoordinatorLoadInProgress
	}
	return s, nil
}

// ensure returns the shard of p under epoch, starting to load it when it is
// new or its last load failed, and dropping a shard of an older epoch.
func (c *Coordinator) ensure(p *partition.Partition, epoch int64) *Shard {
	return c.shards.ensure(p.Key().Partition, epoch, func() *Shard {
		return &Shard{shardBase: newShardBase(c.ctx, p.Key(), epoch), c: c, groups: map[string]*Group{}}
	})
}

// Sync starts loading the shards this broker has come to lead and drops
// those it no longer leads under the same epoch; the partition manager calls
// it after every reconcile pass.
func (c *Coordinator) Sync() {
	t := c.offsetsTopic()
	if t == nil {
		return
	}
	for _, p := range t.Parts {
		if epoch, led := p.Led(); led {
			c.ensure(p, epoch)
			continue
		}
		c.shards.drop(p.Key().Partition)
	}
}

// Close drops every shard, at shutdown: every waiting member is answered
// NOT_COORDINATOR. Safe to call twice.
func (c *Coordinator) Close() {
	c.shards.dropAll()
}

// loadedShards returns every loaded shard, by partition, and whether some
// are still loading.
func (c *Coordinator) loadedShards() (shards []*Shard, loading bool) {
	return c.shards.loaded()
}

// load reads the shard's groups from etcd.
func (s *Shard) load() {
	log := s.c.log.With("shard", s.key.Partition)
	ctx, cancel := context.WithTimeout(s.ctx, groupLoadTimeout)
	start := time.Now()
	stored, err := s.c.store.LoadGroups(ctx, s.key.Partition)
	var consumers map[string]*metadata.ConsumerGroupRecord // KIP-848 (consumer_writer.go)
	if err == nil {
		consumers, err = s.loadConsumerGroups(ctx)
	}
	cancel()
	s.mu.Lock()
	if err == nil && !s.closed {
		for id, lg := range stored {
			s.groups[id] = restoreGroup(s, id, lg)
		}
		s.installConsumerGroups(consumers) // KIP-848
		s.loadOK = true
	}
	s.mu.Unlock()
	close(s.loaded)
	if err != nil {
		if s.ctx.Err() == nil {
			log.Warn("load consumer groups; retrying", "error", err)
		}
		return
	}
	log.Debug("coordinating consumer groups", "groups", len(stored), "epoch", s.epoch, "took", time.Since(start))
}

// close stops the shard's timers and answers every waiting member with
// NOT_COORDINATOR. Called with Coordinator.shards.mu held.
func (s *Shard) close() {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, g := range s.groups {
		g.stop(kerr.NotCoordinator)
	}
}

// submit queues a write; done (if non-nil) gets its outcome. It never
// blocks, so it may be called with the shard's lock held.
func (s *Shard) submit(w *Write) {
	w.s = s
	c := s.c
	c.queueMu.Lock()
	c.queue = append(c.queue, w)
	c.queueMu.Unlock()
	select {
	case c.queued <- struct{}{}:
	default: // already signalled
	}
}

// QueueWrite queues a write of one group whose outcome the caller waits for
// with Wait. Writes are committed, and applied, in the order they are
// queued: a handler queues in its ordered part and waits in its wait part,
// so that one connection's writes land in request order and pipelined ones
// share transactions. It never blocks.
//
// Once committed, the write is applied to the group in memory, as
// metadata.GroupWrite means it: committed offsets are set (creating the
// group if it is gone), nil offsets deleted (of a group still there), and a
// Delete removes the group if it is still Empty (a member that joined
// meanwhile keeps it; its next generation writes the group again).
func (s *Shard) QueueWrite(w metadata.GroupWrite) *Write {
	gw := &Write{w: w, done: make(chan error, 1), applied: func() { s.apply(w) }}
	s.submit(gw)
	return gw
}

// apply installs a committed write. s.mu is held.
func (s *Shard) apply(w metadata.GroupWrite) {
	if w.Delete {
		g := s.groups[w.Group]
		if g == nil {
			return
		}
		// etcd holds nothing of the group any more, whatever it does next.
		g.offsets = map[metadata.GroupPartition]metadata.CommittedOffset{}
		g.txnOffsets = map[int64]map[metadata.GroupPartition]metadata.PendingOffset{}
		if g.state == StateEmpty {
			g.stop(kerr.GroupIDNotFound)
			delete(s.groups, w.Group)
		}
		return
	}
	create := w.TxnOffsets != nil
	for _, o := range w.Offsets {
		create = create || o != nil
	}
	g := s.group(w.Group, create)
	if g == nil {
		return
	}
	for gp, o := range w.Offsets {
		if o == nil {
			g.deleteOffset(gp)
		} else {
			g.setOffset(gp, *o)
		}
	}
	if w.TxnOffsets != nil {
		g.putTxnOffsets(w.TxnOffsets)
	}
	if w.TxnEnd != nil {
		g.applyTxnEnd(w.TxnEnd)
	}
}

// queueTxnEnd queues the write that ends producerID's transaction in
// group, made once every write queued before it is applied: its pending
// offsets become committed ones (commit) or are dropped. It never blocks.
func (s *Shard) queueTxnEnd(group string, producerID int64, commit bool) *Write {
	gw := &Write{done: make(chan error, 1)}
	gw.prepare = func() (metadata.GroupWrite, bool) {
		g := s.groups[group]
		if g == nil {
			return metadata.GroupWrite{}, false
		}
		return g.endTxn(producerID, commit)
	}
	gw.applied = func() { s.apply(gw.w) }
	s.submit(gw)
	return gw
}

// Wait waits for a queued write to be committed: nil, or the Kafka error to
// answer (NOT_COORDINATOR once the shard is lost, COORDINATOR_NOT_AVAILABLE
// when etcd did not answer, REQUEST_TIMED_OUT when ctx ended first).
func (w *Write) Wait(ctx context.Context) error {
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return kerr.RequestTimedOut
	}
}

// Run commits queued writes of every shard, as many per call as have
// arrived, in order, until the coordinator's context ends; then it waits
// for the loads of shards it started.
func (c *Coordinator) Run() {
	defer c.shards.loads.Stop()
	// KIP-932: the share partitions' lock expiry and writer (share_partitions.go).
	shareDone := make(chan struct{})
	go func() { defer close(shareDone); c.share.run(c.ctx) }()
	defer func() { <-shareDone }()
	for {
		select {
		case <-c.queued:
		case <-c.ctx.Done():
			for _, w := range c.take(-1) {
				if w.done != nil {
					w.done <- kerr.NotCoordinator
				}
			}
			return
		}
		for {
			queued := c.take(groupWritesPerCall)
			if len(queued) == 0 {
				break
			}
			// A write to prepare starts a call of its own: the writes
			// before it are applied when it is made.
			for len(queued) > 0 {
				n := 1
				for n < len(queued) && queued[n].prepare == nil {
					n++
				}
				c.commit(queued[:n])
				queued = queued[n:]
			}
		}
	}
}

// take removes up to n queued writes (all for n < 0), oldest first.
func (c *Coordinator) take(n int) []*Write {
	c.queueMu.Lock()
	defer c.queueMu.Unlock()
	if n < 0 || n > len(c.queue) {
		n = len(c.queue)
	}
	out := c.queue[:n:n]
	c.queue = c.queue[n:]
	return out
}

// commit writes queued in one CommitGroups call, one batch per shard, and
// answers each write. Only queued[0] may need preparing.
func (c *Coordinator) commit(queued []*Write) {
	if w := queued[0]; w.prepare != nil {
		s := w.s
		s.mu.Lock()
		closed := s.closed
		var ok bool
		if !closed {
			w.w, ok = w.prepare()
		}
		s.mu.Unlock()
		if closed || !ok {
			if closed {
				w.done <- kerr.NotCoordinator
			} else {
				w.done <- nil // nothing to write
			}
			queued = queued[1:]
			if len(queued) == 0 {
				return
			}
		}
	}
	var batches []metadata.GroupBatch
	var shards []*Shard
	index := map[*Shard]int{}
	for _, w := range queued {
		i, ok := index[w.s]
		if !ok {
			i = len(batches)
			index[w.s] = i
			batches = append(batches, metadata.GroupBatch{Shard: w.s.key, Epoch: w.s.epoch})
			shards = append(shards, w.s)
		}
		batches[i].Writes = append(batches[i].Writes, w.w)
	}
	ctx, cancel := context.WithTimeout(c.ctx, commitTimeout)
	start := time.Now()
	errs := c.store.CommitGroups(ctx, batches)
	cancel()
	c.metrics.groupCommits.Observe(time.Since(start).Seconds())
	answers := make([]error, len(batches))
	for i, err := range errs {
		s := shards[i]
		switch {
		case err == nil:
			s.mu.Lock()
			for _, w := range queued {
				if w.s == s && w.applied != nil && !s.closed {
					w.applied()
				}
			}
			s.mu.Unlock()
		case errors.Is(err, metadata.ErrFenced) || c.ctx.Err() != nil:
			answers[i] = kerr.NotCoordinator
			c.log.Warn("consumer-group shard fenced: another broker coordinates it now", "shard", s.key.Partition, "epoch", s.epoch)
			c.shards.dropShard(s)
		default:
			answers[i] = kerr.CoordinatorNotAvailable
			c.log.Warn("commit consumer-group writes", "shard", s.key.Partition, "writes", len(batches[i].Writes), "error", err)
		}
	}
	for _, w := range queued {
		if w.done != nil {
			w.done <- answers[index[w.s]]
		}
	}
}

// group returns a group of the shard, creating it (Empty) when create is
// set. Called with s.mu held.
func (s *Shard) group(id string, create bool) *Group {
	g := s.groups[id]
	if g == nil && create {
		g = newGroup(s, id)
		s.groups[id] = g
	}
	return g
}

// WithGroup runs fn on group id's shard under the shard lock, or returns
// the coordinator error (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
// COORDINATOR_LOAD_IN_PROGRESS). g is nil when the group does not exist and
// create is false. fn must not wait: it runs under the shard lock; it may
// queue writes (Shard.QueueWrite).
func (c *Coordinator) WithGroup(id string, create bool, fn func(s *Shard, g *Group)) error {
	s, err := c.shardFor(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return kerr.NotCoordinator
	}
	fn(s, s.group(id, create))
	return nil
}

// Listed is one group of ListGroups.
type Listed struct {
	ID           string
	State        State
	ProtocolType string
	Type         string // "classic" or "consumer" (KIP-848)
	StateName    string // State's name, or a consumer group's state
}

// ListGroups returns the groups of every loaded shard, by shard, and
// whether some shards are still loading.
func (c *Coordinator) ListGroups() (groups []Listed, loading bool) {
	shards, loading := c.loadedShards()
	for _, s := range shards {
		s.mu.Lock()
		for id, g := range s.groups {
			groups = append(groups, Listed{ID: id, State: g.state, ProtocolType: g.listedProtocolType(),
				Type: g.Type(), StateName: g.StateName()}) // KIP-848: Type, StateName, protocol type
		}
		s.mu.Unlock()
	}
	for _, g := range c.ListShareGroups() {
		groups = append(groups, Listed{ID: g.ID, ProtocolType: "share", Type: "share", StateName: g.State})
	}
	return groups, loading
}
