package tiering

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// uploaderMetrics are the Uploader's metrics. A nil Registerer leaves them
// unregistered (counted, never exported).
type uploaderMetrics struct {
	segments       prometheus.Counter
	bytes          prometheus.Counter
	putLatency     prometheus.Histogram
	commitLatency  prometheus.Histogram
	putRetries     prometheus.Counter
	commitRetries  prometheus.Counter
	skippedBatches *prometheus.CounterVec // by reason
}

func newUploaderMetrics(reg prometheus.Registerer) *uploaderMetrics {
	return &uploaderMetrics{
		segments: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiering_segments_uploaded_total",
			Help: "WAL segments whose object was stored and whose commits finished.",
		})),
		bytes: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiering_uploaded_bytes_total",
			Help: "Bytes of segment objects stored.",
		})),
		putLatency: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_tiering_put_duration_seconds",
			Help:    "Duration of successful segment object PUTs.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		})),
		commitLatency: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_tiering_commit_duration_seconds",
			Help:    "Duration of a segment's manifest commits in etcd, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		})),
		putRetries: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiering_put_retries_total",
			Help: "Segment object PUTs that failed and were retried.",
		})),
		commitRetries: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiering_commit_retries_total",
			Help: "Manifest commits that failed with a transport error and were retried.",
		})),
		skippedBatches: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_tiering_skipped_batches_total",
			Help: "WAL batches not uploaded, by reason (not_leader, stale_epoch, committed, invalid).",
		}, []string{"reason"})),
	}
}

// readerMetrics are the Reader's metrics.
type readerMetrics struct {
	hits     prometheus.Counter
	misses   prometheus.Counter
	getBytes prometheus.Counter
}

func newReaderMetrics(reg prometheus.Registerer) *readerMetrics {
	return &readerMetrics{
		hits: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiering_cache_hits_total",
			Help: "Range reads answered from the cache (or by joining a GET in flight).",
		})),
		misses: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiering_cache_misses_total",
			Help: "Range reads that issued a GET.",
		})),
		getBytes: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tiering_get_bytes_total",
			Help: "Bytes read from the bucket by range GETs.",
		})),
	}
}

// register registers c with reg (if any). If an identical collector is
// already registered (a second Reader on the same registry), it returns that
// one so both share the series.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
