package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Options are what a Mirror takes besides its Config.
type Options struct {
	// SourceOpts and TargetOpts are added to every client of each side:
	// TLS and SASL.
	SourceOpts, TargetOpts []kgo.Opt
	// Logger gets the mirror's events; nil = discard.
	Logger *slog.Logger
	// Registerer gets the mirror's metrics; nil = none.
	Registerer prometheus.Registerer
	// Progress gets a progress line per Config.ProgressInterval; nil =
	// none.
	Progress io.Writer
}

// Mirror copies topics, configs and group offsets from a source cluster to
// a target cluster. Make one with New, run it with Run.
type Mirror struct {
	cfg        Config
	opts       Options
	log        *slog.Logger
	names      topicNames
	groups     *regexp.Regexp
	cfgExclude *regexp.Regexp
	metrics    *metrics
	offsets    *OffsetMap
	tracker    *syncTracker // owned by Run's goroutine

	srcAdm *kadm.Client
	tgt    *kgo.Client // producer and admin of the target
	tgtAdm *kadm.Client
	src    *kgo.Client // the source group's consumer

	mu    sync.Mutex // guards the fields below; never held across a request
	ready map[string]int32
	parts map[TopicPartition]*partState
}

// partState is the mirror's view of one assigned partition.
type partState struct {
	next     int64     // source offset of the next record to copy
	lastTS   time.Time // timestamp of the last record copied
	caughtUp time.Time // when the lag was last seen at zero
	stopped  string    // why the partition is no longer copied (preserve-offsets), or ""
	lag      int64     // records, at the last measurement
}

// New checks the configuration and makes a mirror.
func New(cfg Config, opts Options) (*Mirror, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	names, err := newTopicNames(&cfg)
	if err != nil {
		return nil, err
	}
	groups, _ := anchored(cfg.Groups)
	exclude, _ := anchored(cfg.ConfigExclude)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mirror{
		cfg: cfg, opts: opts, log: log, names: names, groups: groups, cfgExclude: exclude,
		metrics: newMetrics(opts.Registerer), offsets: NewOffsetMap(), tracker: newSyncTracker(),
		ready: make(map[string]int32), parts: make(map[TopicPartition]*partState),
	}, nil
}

func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Run mirrors until ctx ends (then it returns nil) or a record cannot be
// written to the target (then it returns the error; what was not
// committed is copied again by the next run, from the committed progress).
func (m *Mirror) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srcAdmCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(splitAddrs(m.cfg.SourceBootstrap)...)}, m.opts.SourceOpts...)...)
	if err != nil {
		return fmt.Errorf("mirror: source client: %w", err)
	}
	defer srcAdmCl.Close()
	m.srcAdm = kadm.NewClient(srcAdmCl)

	tgtOpts := []kgo.Opt{
		kgo.SeedBrokers(splitAddrs(m.cfg.TargetBootstrap)...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.MaxBufferedRecords(1 << 16),
	}
	if m.cfg.ExactlyOnce {
		tgtOpts = append(tgtOpts, kgo.TransactionalID(m.cfg.transactionalID()), kgo.TransactionTimeout(time.Minute))
	}
	if m.tgt, err = kgo.NewClient(append(tgtOpts, m.opts.TargetOpts...)...); err != nil {
		return fmt.Errorf("mirror: target client: %w", err)
	}
	defer m.tgt.Close()
	m.tgtAdm = kadm.NewClient(m.tgt)

	if err := m.ensureSyncTopic(ctx); err != nil {
		return err
	}
	if m.cfg.ExactlyOnce {
		// Fence an earlier run of this instance before reading the
		// progress: its open transaction is aborted, or its commit
		// completed, so the progress read is final.
		if _, _, err := m.tgt.ProducerID(ctx); err != nil {
			return fmt.Errorf("mirror: init the transactional producer %s: %w", m.cfg.transactionalID(), err)
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	syncsLoaded := make(chan struct{})
	wg.Add(1)
	go func() { defer wg.Done(); m.readSyncs(ctx, syncsLoaded) }()

	// The consumer starts once a topic is ready on the target.
	var initial []string
	for len(initial) == 0 {
		ready, err := m.syncTopics(ctx)
		if err != nil {
			m.errorf("sync topics", err)
		}
		m.setReady(ready)
		for t := range ready {
			initial = append(initial, t)
		}
		if len(initial) == 0 {
			m.log.Info("mirror: no source topic matches yet", "topics", m.cfg.Topics)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(m.cfg.SyncInterval):
			}
		}
	}
	srcOpts := []kgo.Opt{
		kgo.SeedBrokers(splitAddrs(m.cfg.SourceBootstrap)...),
		kgo.ConsumerGroup(m.cfg.Name),
		kgo.ConsumeTopics(initial...),
		kgo.InstanceID(m.cfg.InstanceID),
		kgo.SessionTimeout(m.cfg.SessionTimeout),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AdjustFetchOffsetsFn(m.startOffsets),
		kgo.OnPartitionsRevoked(m.dropPartitions),
		kgo.OnPartitionsLost(m.dropPartitions),
	}
	if m.src, err = kgo.NewClient(append(srcOpts, m.opts.SourceOpts...)...); err != nil {
		return fmt.Errorf("mirror: source consumer: %w", err)
	}
	defer m.src.Close()

	wg.Add(2)
	go func() { defer wg.Done(); m.syncLoop(ctx, syncsLoaded) }()
	go func() { defer wg.Done(); m.lagLoop(ctx) }()

	for {
		fetches := m.src.PollRecords(ctx, m.cfg.BatchRecords)
		if ctx.Err() != nil {
			m.src.AllowRebalance()
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				m.errorf("fetch "+topic, err)
			}
		})
		err := m.copyBatch(ctx, fetches)
		m.src.AllowRebalance()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.metrics.errors.WithLabelValues("produce").Inc()
			return fmt.Errorf("mirror: %w", err)
		}
	}
}

// ensureSyncTopic creates the offset-sync topic on the target.
func (m *Mirror) ensureSyncTopic(ctx context.Context) error {
	resp, err := m.tgtAdm.CreateTopic(ctx, 1, -1, nil, m.cfg.SyncTopic())
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("mirror: create %s on the target: %w", m.cfg.SyncTopic(), err)
	}
	return nil
}

func (m *Mirror) setReady(ready map[string]int32) (added []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for t, n := range ready {
		if _, ok := m.ready[t]; !ok {
			added = append(added, t)
		}
		m.ready[t] = n
	}
	return added
}

func (m *Mirror) readyPartitions(topic string) int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ready[topic]
}

// syncLoop synchronises topics and group offsets every SyncInterval.
func (m *Mirror) syncLoop(ctx context.Context, syncsLoaded <-chan struct{}) {
	t := time.NewTicker(m.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ready, err := m.syncTopics(ctx)
		if err != nil {
			m.errorf("sync topics", err)
			continue
		}
		if added := m.setReady(ready); len(added) > 0 {
			m.log.Info("mirror: consuming new topics", "topics", added)
			m.src.AddConsumeTopics(added...)
		}
		if m.groups != nil {
			select {
			case <-syncsLoaded:
				if err := m.syncGroups(ctx); err != nil {
					m.errorf("sync groups", err)
				}
			default:
			}
		}
	}
}

// startOffsets decides where each assigned partition starts: the
// committed progress (the source group's offset; with exactly-once the
// target group's; with preserve-offsets the target partition's end),
// else the source partition's start.
func (m *Mirror) startOffsets(ctx context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	var topics []string
	for t := range offs {
		topics = append(topics, t)
	}
	starts, err := m.srcAdm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("source start offsets: %w", err)
	}
	if err := starts.Error(); err != nil {
		return nil, fmt.Errorf("source start offsets: %w", err)
	}
	var targetAt map[TopicPartition]int64
	switch {
	case m.cfg.ExactlyOnce:
		targetAt, err = m.targetGroupProgress(ctx)
	case m.cfg.PreserveOffsets:
		targetAt, err = m.targetEnds(ctx, offs)
	}
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for t, ps := range offs {
		for p, o := range ps {
			tp := TopicPartition{t, p}
			start, _ := starts.Lookup(t, p)
			at := o.EpochOffset().Offset
			if v, ok := targetAt[tp]; ok {
				at = v
			}
			st := &partState{caughtUp: time.Now()}
			if m.cfg.PreserveOffsets && at < start.Offset {
				m.stopLocked(tp, st, fmt.Sprintf("preserve-offsets: the target partition ends at %d, before the source partition's start %d", at, start.Offset))
			}
			if at < start.Offset {
				at = start.Offset // before the log start, or AtStart
			}
			st.next = at
			m.parts[tp] = st
			ps[p] = kgo.NewOffset().At(at).WithEpoch(-1)
			m.tracker.forget(tp)
		}
	}
	return offs, nil
}

// stopLocked stops copying a partition, for a reason that needs the
// operator: the offsets cannot be preserved. Its records are dropped and
// its fetching paused; status and the errors metric show it.
func (m *Mirror) stopLocked(tp TopicPartition, st *partState, why string) {
	st.stopped = why
	m.log.Error("mirror: partition not copied", "partition", tp.String(), "reason", why)
	m.metrics.errors.WithLabelValues("preserve-offsets").Inc()
}

// dropPartitions forgets revoked or lost partitions. With
// BlockRebalanceOnPoll this runs between batches, whose progress is
// committed.
func (m *Mirror) dropPartitions(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for t, ps := range lost {
		for _, p := range ps {
			tp := TopicPartition{t, p}
			delete(m.parts, tp)
			m.metrics.dropPartition(tp)
		}
	}
}

// targetGroupProgress is the exactly-once progress: the mirror's group on
// the target, keyed by the target topics, holding source offsets.
func (m *Mirror) targetGroupProgress(ctx context.Context) (map[TopicPartition]int64, error) {
	resp, err := m.tgtAdm.FetchOffsets(ctx, m.cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("fetch the mirror's progress on the target: %w", err)
	}
	out := make(map[TopicPartition]int64)
	resp.Each(func(o kadm.OffsetResponse) {
		src, ok := strings.CutPrefix(o.Topic, m.names.prefix)
		if o.Err == nil && ok && o.At >= 0 {
			out[TopicPartition{src, o.Partition}] = o.At
		}
	})
	return out, nil
}

// targetEndsSettle is how long the target partitions' end offsets must
// stay put before a preserve-offsets mirror starts from them. A previous
// instance killed mid-round leaves produce requests that the target
// broker has received but not yet committed: they become visible at the
// broker's next seal (its --seal-interval, a PUT and an etcd commit),
// after which the end moves on. Starting from the end before that would
// write the next record at a wrong offset (and stop the partition).
var targetEndsSettle = 2 * time.Second // a variable for tests

// targetEnds are the end offsets of the target partitions of the
// assigned source partitions, keyed by the source's names. It waits (a
// new topic's partitions may not have a leader yet) until every one is
// known and none has moved for targetEndsSettle, or ctx ends. Ends that
// keep moving (another writer, which preserve-offsets rules out) are taken
// as they are after ten times that: the first record written then stops
// its partition with the reason.
func (m *Mirror) targetEnds(ctx context.Context, offs map[string]map[int32]kgo.Offset) (map[TopicPartition]int64, error) {
	var targets []string
	for t := range offs {
		targets = append(targets, m.names.target(t))
	}
	var last map[TopicPartition]int64
	var known, since time.Time // when every end was first known; when last was first read as it is
	for {
		ends, err := m.tgtAdm.ListEndOffsets(ctx, targets...)
		out := make(map[TopicPartition]int64)
		missing := 0
		if err == nil {
			for t, ps := range offs {
				for p := range ps {
					if o, ok := ends.Lookup(m.names.target(t), p); ok && o.Err == nil && o.Offset >= 0 {
						out[TopicPartition{t, p}] = o.Offset
					} else {
						missing++
					}
				}
			}
		}
		if err != nil || missing > 0 {
			m.log.Info("mirror: waiting for the target partitions' end offsets", "missing", missing, "err", err)
		} else {
			now := time.Now()
			if known.IsZero() {
				known = now
			}
			if !maps.Equal(out, last) {
				last, since = out, now
			}
			switch {
			case now.Sub(since) >= targetEndsSettle:
				return out, nil
			case now.Sub(known) >= 10*targetEndsSettle:
				m.log.Warn("mirror: the target partitions' end offsets keep moving; another writer?", "waited", now.Sub(known).Round(time.Second))
				return out, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// copied is one record written to the target, in its partition's order.
type copied struct {
	src    *kgo.Record
	target *kgo.Record // nil: skipped (loop prevention)
}

// copyBatch writes a poll's records to the target and commits the progress
// after the target acknowledged them (with exactly-once, in the same
// transaction).
func (m *Mirror) copyBatch(ctx context.Context, fetches kgo.Fetches) error {
	byPart := make(map[TopicPartition][]copied)
	var order []TopicPartition
	var stopped map[string][]int32
	fetches.EachRecord(func(r *kgo.Record) {
		tp := TopicPartition{r.Topic, r.Partition}
		prev := byPart[tp]
		m.mu.Lock()
		st := m.parts[tp]
		if st != nil && st.stopped == "" && m.cfg.PreserveOffsets {
			want := st.next
			if n := len(prev); n > 0 {
				want = prev[n-1].src.Offset + 1
			}
			if r.Offset != want {
				m.stopLocked(tp, st, fmt.Sprintf("preserve-offsets: the source skips from offset %d to %d (a transaction marker or a compacted record); mirror it without --preserve-offsets", want, r.Offset))
			}
		}
		skip := st == nil || st.stopped != ""
		m.mu.Unlock()
		if skip {
			if st != nil {
				if stopped == nil {
					stopped = make(map[string][]int32)
				}
				stopped[r.Topic] = append(stopped[r.Topic], r.Partition)
			}
			return
		}
		if len(prev) == 0 {
			order = append(order, tp)
		}
		byPart[tp] = append(prev, copied{src: r, target: m.targetRecord(r)})
	})
	if len(stopped) > 0 {
		m.src.PauseFetchPartitions(stopped)
	}
	if len(order) == 0 {
		return nil
	}
	for _, tp := range order {
		if err := m.waitPartition(ctx, tp); err != nil {
			return err
		}
	}

	roundStart := time.Now()
	if m.cfg.ExactlyOnce {
		if err := m.tgt.BeginTransaction(); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
	}
	var (
		errMu    sync.Mutex
		firstErr error
		produced int
	)
	// promised keeps the first error of the round's produces.
	promised := func(_ *kgo.Record, err error) {
		if err != nil {
			errMu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			errMu.Unlock()
		}
	}
	for _, tp := range order {
		for _, c := range byPart[tp] {
			if c.target == nil {
				continue
			}
			produced++
			m.tgt.Produce(ctx, c.target, promised)
		}
	}
	if err := m.tgt.Flush(ctx); err != nil {
		return m.abort(ctx, err)
	}
	if firstErr != nil {
		return m.abort(ctx, fmt.Errorf("produce: %w", firstErr))
	}

	flushed := time.Now()
	// Offset syncs, written before the progress that covers them.
	var syncs []Sync
	for _, tp := range order {
		for _, c := range byPart[tp] {
			if c.target == nil {
				continue
			}
			if m.cfg.PreserveOffsets && c.target.Offset != c.src.Offset {
				m.mu.Lock()
				if st := m.parts[tp]; st != nil && st.stopped == "" {
					m.stopLocked(tp, st, fmt.Sprintf("preserve-offsets: source offset %d was written at target offset %d; the target partition was not empty or another writer wrote to it", c.src.Offset, c.target.Offset))
				}
				m.mu.Unlock()
			}
			if m.tracker.observe(tp, c.src.Offset, c.target.Offset) {
				syncs = append(syncs, Sync{Topic: tp.Topic, Partition: tp.Partition, Source: c.src.Offset, Target: c.target.Offset})
			}
		}
	}
	if len(syncs) > 0 {
		for _, s := range syncs {
			m.tgt.Produce(ctx, &kgo.Record{Topic: m.cfg.SyncTopic(), Partition: 0, Key: []byte(s.key()), Value: s.value()}, promised)
		}
		if err := m.tgt.Flush(ctx); err != nil {
			return m.abort(ctx, err)
		}
		if firstErr != nil {
			return m.abort(ctx, fmt.Errorf("produce offset syncs: %w", firstErr))
		}
	}

	synced := time.Now()
	// Progress.
	last := make([]*kgo.Record, 0, len(order))
	for _, tp := range order {
		cs := byPart[tp]
		last = append(last, cs[len(cs)-1].src)
	}
	if m.cfg.ExactlyOnce {
		if produced > 0 {
			if err := m.commitInTxn(ctx, last); err != nil {
				return m.abort(ctx, err)
			}
		}
		if err := m.tgt.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return fmt.Errorf("commit transaction: %w", err)
		}
		m.metrics.transactions.Inc()
	} else if err := m.src.CommitRecords(ctx, last...); err != nil {
		// The records are on the target; the next run copies them again
		// (at least once).
		return fmt.Errorf("commit progress on the source: %w", err)
	}

	m.log.Debug("mirror: round", "records", produced, "partitions", len(order), "syncs", len(syncs),
		"produce", flushed.Sub(roundStart), "offset_syncs", synced.Sub(flushed), "commit", time.Since(synced))
	// State and metrics.
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, tp := range order {
		cs := byPart[tp]
		var n, bytes int
		for _, c := range cs {
			if c.target == nil {
				m.metrics.skipped.Inc()
				continue
			}
			n++
			bytes += len(c.src.Key) + len(c.src.Value)
		}
		m.metrics.copied(m.names.target(tp.Topic), n, bytes)
		if st := m.parts[tp]; st != nil {
			st.next = cs[len(cs)-1].src.Offset + 1
			st.lastTS = cs[len(cs)-1].src.Timestamp
		}
	}
	return nil
}

// abort ends the open transaction, if any, and returns err.
func (m *Mirror) abort(ctx context.Context, err error) error {
	if m.cfg.ExactlyOnce {
		if aerr := m.tgt.AbortBufferedRecords(ctx); aerr != nil {
			err = errors.Join(err, aerr)
		}
		if aerr := m.tgt.EndTransaction(ctx, kgo.TryAbort); aerr != nil {
			err = errors.Join(err, aerr)
		}
	}
	return err
}

// targetRecord is the copy of r for the target, or nil when loop
// prevention skips it.
func (m *Mirror) targetRecord(r *kgo.Record) *kgo.Record {
	var origin string
	hasOrigin := false
	for _, h := range r.Headers {
		if h.Key == OriginHeader {
			origin, hasOrigin = string(h.Value), true
		}
	}
	if m.cfg.TargetAlias != "" && hasOrigin && origin == m.cfg.TargetAlias {
		return nil
	}
	headers := r.Headers
	if m.cfg.SourceAlias != "" && !hasOrigin {
		headers = append(headers[:len(headers):len(headers)], kgo.RecordHeader{Key: OriginHeader, Value: []byte(m.cfg.SourceAlias)})
	}
	return &kgo.Record{
		Topic:     m.names.target(r.Topic),
		Partition: r.Partition,
		Key:       r.Key,
		Value:     r.Value,
		Headers:   headers,
		Timestamp: r.Timestamp,
	}
}

// waitPartition makes sure the target has the record's partition (the
// source grew): it synchronises the topics until it does.
func (m *Mirror) waitPartition(ctx context.Context, tp TopicPartition) error {
	for m.readyPartitions(tp.Topic) <= tp.Partition {
		ready, err := m.syncTopics(ctx)
		if err != nil {
			m.errorf("sync topics", err)
		}
		m.setReady(ready)
		if m.readyPartitions(tp.Topic) > tp.Partition {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	// The producer refuses a partition its metadata does not have yet
	// (the target topic grew since it loaded it): refresh until it does.
	target := m.names.target(tp.Topic)
	for {
		if l0, _, _ := m.tgt.PartitionLeader(target, 0); l0 < 0 {
			return nil // not loaded: the first produce loads it afresh
		}
		if lp, _, _ := m.tgt.PartitionLeader(target, tp.Partition); lp >= 0 {
			return nil
		}
		m.tgt.ForceMetadataRefresh()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// commitInTxn adds the progress (each partition's next source offset) to
// the open transaction, as offsets of the mirror's group on the target
// keyed by the target topics.
func (m *Mirror) commitInTxn(ctx context.Context, last []*kgo.Record) error {
	pid, epoch, err := m.tgt.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("producer id: %w", err)
	}
	txnID := m.cfg.transactionalID()
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, pid, epoch, m.cfg.Name
	addResp, err := add.RequestWith(ctx, m.tgt)
	if err != nil {
		return fmt.Errorf("add offsets to transaction: %w", err)
	}
	if err := kerr.ErrorForCode(addResp.ErrorCode); err != nil {
		return fmt.Errorf("add offsets to transaction: %w", err)
	}
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, m.cfg.Name, pid, epoch
	req.Generation, req.MemberID = -1, ""
	idx := make(map[string]int)
	for _, r := range last {
		name := m.names.target(r.Topic)
		i, ok := idx[name]
		if !ok {
			t := kmsg.NewTxnOffsetCommitRequestTopic()
			t.Topic = name
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			idx[name] = i
		}
		p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = r.Partition, r.Offset+1, -1
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
	}
	resp, err := req.RequestWith(ctx, m.tgt)
	if err != nil {
		return fmt.Errorf("commit progress in the transaction: %w", err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("commit progress of %s/%d in the transaction: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// readSyncs reads the offset-sync topic from its start into the offset
// map, closing loaded once it reached the end it had when it started.
func (m *Mirror) readSyncs(ctx context.Context, loaded chan<- struct{}) {
	topic := m.cfg.SyncTopic()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(splitAddrs(m.cfg.TargetBootstrap)...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}, m.opts.TargetOpts...)...)
	if err != nil {
		m.errorf("offset syncs", err)
		return
	}
	defer cl.Close()
	loadedYet := false
	for {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if !loadedYet {
			// Loaded once a poll finds nothing more for a while.
			pollCtx, cancel = context.WithTimeout(ctx, 2*time.Second)
		}
		fs := cl.PollFetches(pollCtx)
		timedOut := errors.Is(pollCtx.Err(), context.DeadlineExceeded)
		cancel()
		if ctx.Err() != nil {
			return
		}
		n := 0
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				m.errorf("offset syncs", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			n++
			s, err := parseSync(r.Value)
			if err != nil {
				m.errorf("offset syncs", err)
				return
			}
			m.offsets.Add(s)
		})
		if !loadedYet && n == 0 && timedOut {
			loadedYet = true
			close(loaded)
		}
	}
}

func (m *Mirror) errorf(what string, err error) {
	m.metrics.errors.WithLabelValues(kindOf(what)).Inc()
	m.log.Warn("mirror: "+what, "err", err)
}

func (m *Mirror) topicError(topic string, err error) {
	m.metrics.errors.WithLabelValues("topic").Inc()
	m.log.Warn("mirror: target topic", "topic", topic, "err", err)
}

// kindOf is the errors metric's label of an operation.
func kindOf(what string) string {
	switch {
	case strings.HasPrefix(what, "fetch"):
		return "fetch"
	case strings.HasPrefix(what, "sync topics"):
		return "topic"
	case strings.HasPrefix(what, "sync groups"):
		return "group"
	case strings.HasPrefix(what, "offset syncs"):
		return "offset-sync"
	default:
		return "other"
	}
}
