package tiering

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/metric"
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
	quarantined    prometheus.Counter
}

func newUploaderMetrics(reg prometheus.Registerer) *uploaderMetrics {
	return &uploaderMetrics{
		segments: metric.Counter(reg, "strata_tiering_segments_uploaded_total",
			"WAL segments whose object was stored and whose commits finished."),
		bytes: metric.Counter(reg, "strata_tiering_uploaded_bytes_total",
			"Bytes of segment objects stored."),
		putLatency: metric.Histogram(reg, "strata_tiering_put_duration_seconds",
			"Duration of successful segment object PUTs.",
			prometheus.ExponentialBuckets(0.005, 2, 14)),
		commitLatency: metric.Histogram(reg, "strata_tiering_commit_duration_seconds",
			"Duration of a segment's manifest commits in etcd, retries included.",
			prometheus.ExponentialBuckets(0.001, 2, 14)),
		putRetries: metric.Counter(reg, "strata_tiering_put_retries_total",
			"Segment object PUTs that failed and were retried."),
		commitRetries: metric.Counter(reg, "strata_tiering_commit_retries_total",
			"Manifest commits that failed with a transport error and were retried."),
		skippedBatches: metric.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_tiering_skipped_batches_total",
			Help: "WAL batches not uploaded, by reason (committed: already committed; deleted: the topic was deleted; invalid).",
		}, []string{"reason"})),
		quarantined: metric.Counter(reg, "strata_tiering_quarantined_batches_total",
			"WAL batches set aside in the quarantine instead of committed: their leadership ended and was not resumed, or their commit was refused (strata quarantine list)."),
	}
}

// readerMetrics are the Reader's metrics.
type readerMetrics struct {
	hits     prometheus.Counter // memory tier, or a load in flight joined
	diskHits prometheus.Counter
	misses   prometheus.Counter
	getBytes prometheus.Counter
	memBytes prometheus.Gauge

	readAheadGETs    prometheus.Counter
	readAheadBytes   prometheus.Counter
	readAheadUsed    prometheus.Counter
	readAheadWasted  prometheus.Counter
	readAheadSkipped prometheus.Counter

	diskBytes       prometheus.Gauge
	diskWrites      prometheus.Counter
	diskWriteBytes  prometheus.Counter
	diskWriteErrors prometheus.Counter
	diskSkipped     prometheus.Counter
	diskEvictions   prometheus.Counter
	diskDiscarded   prometheus.Counter
}

func newReaderMetrics(reg prometheus.Registerer) *readerMetrics {
	hits := metric.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_tiering_cache_hits_total",
		Help: "Range reads answered from a cache tier (memory: also reads that joined a load in flight; disk: checked again before served).",
	}, []string{"tier"}))
	bytes := metric.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "strata_tiering_cache_bytes",
		Help: "Bytes of ranges held by each cache tier.",
	}, []string{"tier"}))
	counter := func(name, help string) prometheus.Counter { return metric.Counter(reg, name, help) }
	return &readerMetrics{
		hits:     hits.WithLabelValues("memory"),
		diskHits: hits.WithLabelValues("disk"),
		misses:   counter("strata_tiering_cache_misses_total", "Range reads that issued a GET (read-ahead included)."),
		getBytes: counter("strata_tiering_get_bytes_total", "Bytes read from the bucket by range GETs."),
		memBytes: bytes.WithLabelValues("memory"),

		readAheadGETs:    counter("strata_tiering_readahead_gets_total", "Range GETs issued by read-ahead."),
		readAheadBytes:   counter("strata_tiering_readahead_bytes_total", "Bytes read from the bucket by read-ahead."),
		readAheadUsed:    counter("strata_tiering_readahead_used_total", "Ranges loaded by read-ahead that a read then found in memory."),
		readAheadWasted:  counter("strata_tiering_readahead_wasted_total", "Ranges loaded by read-ahead evicted from memory before any read."),
		readAheadSkipped: counter("strata_tiering_readahead_skipped_total", "Read-ahead not queued because the queue was full."),

		diskBytes:       bytes.WithLabelValues("disk"),
		diskWrites:      counter("strata_tiering_disk_cache_writes_total", "Range files written to the disk tier."),
		diskWriteBytes:  counter("strata_tiering_disk_cache_write_bytes_total", "Bytes of ranges written to the disk tier."),
		diskWriteErrors: counter("strata_tiering_disk_cache_write_errors_total", "Range files that could not be written."),
		diskSkipped:     counter("strata_tiering_disk_cache_skipped_writes_total", "Ranges not written to the disk tier because its write queue was full."),
		diskEvictions:   counter("strata_tiering_disk_cache_evictions_total", "Range files removed to stay within --disk-cache-bytes."),
		diskDiscarded:   counter("strata_tiering_disk_cache_discarded_total", "Range files removed because they failed their checks when read."),
	}
}
