package tiering

// The schedules: the background work each broker does on the partitions it
// leads, every interval, until its context ends.
//
// Retention applies retention.ms and retention.bytes as Kafka applies them
// to its segments: the oldest manifest entries go while their newest record
// is older than retention.ms, and while the partition stays at or above
// retention.bytes without them. The log start offset moves past the last
// entry dropped (ListOffsets earliest; Fetch below it gets
// OFFSET_OUT_OF_RANGE), in the same epoch-guarded etcd transaction that
// deletes the entries (Uploader.Truncate). DeleteRecords moves the log start
// on request through Schedules.Truncate too. Objects that no entry
// references any longer are deleted by the controller's garbage collection
// (RunCollector) after the grace period.
//
// Compaction first rewrites, for topics with cleanup.policy=compact, the
// ranges of each partition to keep the latest record of every key
// (Compactor.CleanLog), then merges the small ranges of every partition into
// objects of their own of up to the topic's segment.bytes, once they are old
// enough (PlanCompaction, Compactor.Compact). The manifest keeps one entry
// per merged object, so the etcd keys of a partition grow with its bytes
// over segment.bytes, not with the number of segments uploaded.
//
// Both keep transactions as read_committed sees them: a merged entry lists
// the aborted transactions of the entries it replaced, and log compaction
// works only below the last stable offset, keeps the markers, drops the
// records of aborted transactions and never lets one of them decide which
// record of a key is the latest (see Compactor.CleanLog). Retention needs
// nothing of its own: it drops whole entries from the log start, each with
// its markers and Aborted list, and the records of an aborted transaction
// all lie before its marker, so a marker that retention keeps still covers
// every record of its transaction that is left.
//
// The schedules take no lock of their own: they read and change a
// partition through Led, whose methods take the partition's lock only for
// an instant, and never hold it across an etcd call or an object GET or PUT.

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/metadata"
)

// Led is a partition this broker leads, as the schedules see it
// (partition.Partition). Every method takes the partition's state at one
// instant; epoch 0 means the partition is not led, and an install under an
// epoch that is no longer the leadership's is ignored.
type Led interface {
	Key() metadata.PartitionKey
	// Expired returns what retention drops: the base offsets of the
	// manifest entries to delete and the log start after them, under the
	// leadership's epoch (none when nothing expired or not led).
	Expired(now, retentionMs, retentionBytes int64) (epoch, logStart int64, drop []int64)
	// Truncated installs a log start committed under epoch.
	Truncated(epoch, logStart int64)
	// CommittedManifest returns the leadership's epoch and a copy of the
	// manifest entries at or above the log start.
	CommittedManifest() (epoch int64, manifest []metadata.ManifestEntry)
	// Replaced installs a compaction committed under epoch: the entries of
	// run became entry.
	Replaced(epoch int64, run []metadata.ManifestEntry, entry metadata.ManifestEntry)
	// LastStableOffset returns the last stable offset: the high watermark,
	// or the first offset of the oldest transaction whose marker is not
	// committed yet, whichever is lower. Log compaction cleans only below
	// it.
	LastStableOffset() int64
}

// TopicPolicy is what the schedules apply to one topic's partitions, from
// its configs.
type TopicPolicy struct {
	Name string
	// Retention (cleanup.policy with delete): -1 is unlimited.
	Deletes        bool
	RetentionMs    int64
	RetentionBytes int64
	// Log compaction (cleanup.policy with compact).
	Compacts          bool
	DeleteRetentionMs int64
	MinCompactionLag  int64
	// Object compaction: the size ranges are merged up to, and how the
	// merged objects are written.
	SegmentBytes int64
	Archive      ArchiveOptions
}

// ScheduledTopic is one topic the schedules look after, with its partitions.
type ScheduledTopic struct {
	Policy     TopicPolicy
	Partitions []Led
}

// Scheduled lists the topics whose partitions the schedules look after
// (partition.Manager): every topic this broker knows but the internal one.
type Scheduled interface {
	ScheduledTopics() []ScheduledTopic
}

// ScheduleOptions configure the schedules.
type ScheduleOptions struct {
	Topics    Scheduled
	Uploader  *Uploader  // commits truncations
	Compactor *Compactor // merges and cleans ranges
	// RetentionInterval is how often retention is applied (Kafka's
	// log.retention.check.interval.ms).
	RetentionInterval time.Duration
	// CompactionInterval is how often ranges are merged and compacted
	// topics cleaned; CompactionMinAge how old a range must be to be merged.
	CompactionInterval time.Duration
	CompactionMinAge   time.Duration
	Logger             *slog.Logger          // nil = discard
	Registerer         prometheus.Registerer // nil = no metrics
}

// Schedules runs retention and compaction over the partitions a broker
// leads.
type Schedules struct {
	opts    ScheduleOptions
	log     *slog.Logger
	metrics *scheduleMetrics
}

type scheduleMetrics struct {
	compactions  prometheus.Counter
	logCleanings prometheus.Counter
}

// NewSchedules returns the schedules; RunRetention and RunCompaction run
// them.
func NewSchedules(opts ScheduleOptions) *Schedules {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &scheduleMetrics{
		compactions:  prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_compactions_total", Help: "Runs of small ranges merged into an object of their own."}),
		logCleanings: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_log_compaction_ranges_total", Help: "Ranges of compacted topics rewritten to keep the latest record of each key."}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(m.compactions, m.logCleanings)
	}
	return &Schedules{opts: opts, log: log, metrics: m}
}

// every calls fn each interval until ctx ends: the schedules' loop.
func every(ctx context.Context, interval time.Duration, fn func(now time.Time)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			fn(now)
		}
	}
}

// RunCollector runs gc every interval until ctx ends: the controller runs it
// during its term, so one broker collects at a time.
func RunCollector(ctx context.Context, gc *Collector, interval time.Duration, log *slog.Logger) {
	every(ctx, interval, func(now time.Time) {
		if _, err := gc.Collect(ctx, now); err != nil && ctx.Err() == nil && log != nil {
			log.Warn("garbage collection pass failed; its grace periods start again", "error", err)
		}
	})
}

// truncateTimeout bounds one truncation by retention.
const truncateTimeout = 5 * time.Second

// RunRetention applies retention every RetentionInterval until ctx ends.
func (s *Schedules) RunRetention(ctx context.Context) {
	every(ctx, s.opts.RetentionInterval, func(now time.Time) { s.applyRetention(ctx, now.UnixMilli()) })
}

// applyRetention makes one pass over the partitions this broker leads.
func (s *Schedules) applyRetention(ctx context.Context, now int64) {
	for _, t := range s.opts.Topics.ScheduledTopics() {
		if !t.Policy.Deletes {
			continue
		}
		for _, p := range t.Partitions {
			epoch, logStart, drop := p.Expired(now, t.Policy.RetentionMs, t.Policy.RetentionBytes)
			if len(drop) == 0 {
				continue
			}
			tctx, cancel := context.WithTimeout(ctx, truncateTimeout)
			st, err := s.Truncate(tctx, p, epoch, logStart, drop)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("apply retention", "topic", t.Policy.Name, "partition", p.Key().Partition, "error", err)
				}
				continue
			}
			s.log.Info("retention deleted segments", "topic", t.Policy.Name, "partition", p.Key().Partition,
				"entries", len(drop), "log_start", st.LogStartOffset)
		}
	}
}

// Truncate moves p's log start up to logStart and drops the manifest
// entries in drop, in etcd (Uploader.Truncate, guarded by epoch) and then
// in p. Its errors are Uploader.Truncate's (ErrOutOfRange, metadata.ErrFenced).
func (s *Schedules) Truncate(ctx context.Context, p Led, epoch, logStart int64, drop []int64) (metadata.PartitionState, error) {
	st, err := s.opts.Uploader.Truncate(ctx, p.Key(), epoch, logStart, drop)
	if err != nil {
		return st, err
	}
	p.Truncated(epoch, st.LogStartOffset)
	return st, nil
}

// RunCompaction compacts every CompactionInterval until ctx ends.
func (s *Schedules) RunCompaction(ctx context.Context) {
	every(ctx, s.opts.CompactionInterval, func(now time.Time) {
		s.compact(ctx, now.Add(-s.opts.CompactionMinAge).UnixMilli())
	})
}

// compact makes one pass over the partitions this broker leads, merging the
// ranges committed before notAfter.
func (s *Schedules) compact(ctx context.Context, notAfter int64) {
	comp := s.opts.Compactor
	for _, t := range s.opts.Topics.ScheduledTopics() {
		for _, p := range t.Partitions {
			// The last stable offset first: every transaction with a
			// record below it has its marker in the manifest taken after
			// (see Compactor.CleanLog).
			lso := p.LastStableOffset()
			epoch, manifest := p.CommittedManifest()
			if epoch == 0 {
				continue
			}
			if t.Policy.Compacts && !s.cleanLog(ctx, t.Policy, p, epoch, lso, manifest) {
				continue
			}
			if t.Policy.Compacts {
				_, manifest = p.CommittedManifest()
			}
			for _, run := range PlanCompaction(manifest, t.Policy.SegmentBytes, notAfter) {
				cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				start := time.Now()
				entry, err := comp.Compact(cctx, p.Key(), epoch, run, t.Policy.Archive)
				cancel()
				if err != nil {
					if ctx.Err() == nil {
						s.log.Warn("compact objects", "topic", t.Policy.Name, "partition", p.Key().Partition, "error", err)
					}
					break // the manifest may have changed: plan again next pass
				}
				p.Replaced(epoch, run, entry)
				s.metrics.compactions.Inc()
				s.log.Info("compacted objects", "topic", t.Policy.Name, "partition", p.Key().Partition,
					"entries", len(run), "bytes", entry.Size, "object", entry.Object, "took", time.Since(start))
			}
		}
	}
}

// cleanLog applies log compaction to p below its last stable offset lso
// (read before manifest was taken) and reports whether it went through.
func (s *Schedules) cleanLog(ctx context.Context, pol TopicPolicy, p Led, epoch, lso int64, manifest []metadata.ManifestEntry) bool {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	policy := LogPolicy{Now: time.Now().UnixMilli(), DeleteRetentionMs: pol.DeleteRetentionMs, MinLagMs: pol.MinCompactionLag, LastStable: lso}
	old, cleaned, err := s.opts.Compactor.CleanLog(cctx, p.Key(), epoch, manifest, policy, pol.Archive)
	for i := range cleaned {
		p.Replaced(epoch, old[i:i+1], cleaned[i])
	}
	if len(cleaned) > 0 {
		s.metrics.logCleanings.Add(float64(len(cleaned)))
		s.log.Info("log compaction rewrote ranges", "topic", pol.Name, "partition", p.Key().Partition, "ranges", len(cleaned))
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("log compaction", "topic", pol.Name, "partition", p.Key().Partition, "error", err)
	}
	return err == nil
}
