package broker

// The background work on the partitions this broker leads (retention, log
// and object compaction) is tiering.Schedules; the broker runs its loops
// and, while it is the controller, the garbage collection
// (tiering.RunCollector). DeleteRecords truncates through the same
// schedules.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/tiering"
)

// Defaults of the background work's intervals. The first is Kafka's
// log.retention.check.interval.ms; Kafka has no garbage collection.
const (
	DefaultRetentionCheckInterval = 5 * time.Minute
	DefaultGCInterval             = 5 * time.Minute
	DefaultGCGrace                = time.Hour
	DefaultCompactionInterval     = 10 * time.Minute
	DefaultCompactionMinAge       = 10 * time.Minute
)

// collectGarbage deletes the objects no manifest entry references for
// --gc-grace, every --gc-interval, until ctx ends: the controller runs it
// during its term, so one broker collects at a time.
func (b *Broker) collectGarbage(ctx context.Context) {
	log := b.log.With("component", "gc")
	gc := tiering.NewCollector(b.res.bucket, b.res.store, b.cfg.GCGrace, log, b.cfg.Registerer)
	tiering.RunCollector(ctx, gc, b.cfg.GCInterval, log)
}

// truncate moves p's log start up to logStart and drops the manifest
// entries in drop, in etcd and then in memory, with the Kafka errors to
// answer.
func (b *server) truncate(ctx context.Context, p *partition.Partition, epoch, logStart int64, drop []int64) (metadata.PartitionState, error) {
	st, err := b.sched.Truncate(ctx, p, epoch, logStart, drop)
	switch {
	case errors.Is(err, tiering.ErrOutOfRange):
		return st, kerr.OffsetOutOfRange
	case errors.Is(err, metadata.ErrFenced):
		return st, kerr.NotLeaderForPartition
	}
	return st, err
}
