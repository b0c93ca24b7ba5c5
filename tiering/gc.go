package tiering

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/metric"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
)

// SegmentPrefix is where the uploader puts segment objects; garbage
// collection looks only there.
const SegmentPrefix = "segments/"

// Collector deletes segment objects that no manifest entry references any
// longer: those whose entries retention or DeleteRecords removed, those of
// deleted topics, and orphans of uploads that were never committed (a
// fenced leader, a crash between PUT and commit).
//
// Objects carry no dates a bucket lists cheaply, so a Collector measures
// the grace period itself: an object goes only once Collect has seen it
// unreferenced, pass after successful pass, for at least the grace period.
// That covers an upload whose commit is in flight (it becomes referenced
// within seconds: a broker commits only while its etcd lease lives) and a
// reader that found the object through an entry deleted since. A pass that
// fails forgets every sighting, so an outage of etcd or of the bucket
// restarts the count. Only one broker may collect at a time (the
// controller); a new Collector starts counting from nothing.
type Collector struct {
	bucket objectstore.Bucket
	store  *metadata.Store
	grace  time.Duration
	log    *slog.Logger
	m      *gcMetrics

	seen map[string]time.Time // unreferenced objects, first seen then
}

// NewCollector returns a Collector. A nil logger discards.
func NewCollector(bucket objectstore.Bucket, store *metadata.Store, grace time.Duration, log *slog.Logger, reg prometheus.Registerer) *Collector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Collector{bucket: bucket, store: store, grace: grace, log: log, m: newGCMetrics(reg), seen: map[string]time.Time{}}
}

// Collect makes one pass at now: it reads every manifest, lists the
// segment objects, and deletes those unreferenced for the grace period. It
// returns how many it deleted.
func (c *Collector) Collect(ctx context.Context, now time.Time) (int, error) {
	deleted, err := c.collect(ctx, now)
	if err != nil {
		clear(c.seen)
		c.m.failures.Inc()
	}
	return deleted, err
}

func (c *Collector) collect(ctx context.Context, now time.Time) (int, error) {
	// Manifests first: an object put after this read is young, and is seen
	// referenced by a later pass before its grace runs out.
	refs, _, err := c.store.ReferencedObjects(ctx)
	if err != nil {
		return 0, err
	}
	var doomed []string
	listed := map[string]bool{}
	err = c.bucket.Iter(ctx, SegmentPrefix, func(name string) error {
		listed[name] = true
		if _, ok := refs[name]; ok {
			delete(c.seen, name)
			return nil
		}
		first, ok := c.seen[name]
		if !ok {
			c.seen[name] = now
		} else if now.Sub(first) >= c.grace {
			doomed = append(doomed, name)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("tiering: list segment objects: %w", err)
	}
	for name := range c.seen {
		if !listed[name] {
			delete(c.seen, name)
		}
	}
	c.m.unreferenced.Set(float64(len(c.seen)))
	deleted := 0
	for _, name := range doomed {
		if err := c.bucket.Delete(ctx, name); err != nil {
			return deleted, fmt.Errorf("tiering: delete unreferenced object %s: %w", name, err)
		}
		delete(c.seen, name)
		deleted++
		c.m.deleted.Inc()
		c.log.Debug("deleted unreferenced object", "object", name)
	}
	if deleted > 0 {
		c.log.Info("garbage collection deleted unreferenced objects", "objects", deleted,
			"waiting", len(c.seen), "names", strings.Join(doomed[:min(len(doomed), 3)], ","))
	}
	return deleted, nil
}

type gcMetrics struct {
	deleted      prometheus.Counter
	failures     prometheus.Counter
	unreferenced prometheus.Gauge
}

func newGCMetrics(reg prometheus.Registerer) *gcMetrics {
	return &gcMetrics{
		deleted: metric.Counter(reg, "strata_gc_deleted_objects_total",
			"Segment objects deleted by garbage collection (no manifest entry referenced them for the grace period)."),
		failures: metric.Counter(reg, "strata_gc_failed_passes_total",
			"Garbage collection passes that failed (etcd or the bucket unavailable); each restarts the grace period."),
		unreferenced: metric.Gauge(reg, "strata_gc_unreferenced_objects",
			"Segment objects seen unreferenced and waiting out the grace period."),
	}
}
