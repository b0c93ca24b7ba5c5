package mirror

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metrics are the mirror's Prometheus metrics.
type metrics struct {
	records      *prometheus.CounterVec // by target topic
	bytes        *prometheus.CounterVec // keys and values, by target topic
	skipped      prometheus.Counter     // loop prevention
	errors       *prometheus.CounterVec // by kind
	transactions prometheus.Counter
	groupCommits prometheus.Counter
	lagRecords   *prometheus.GaugeVec // by source topic, partition
	lagSeconds   *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_mirror_records_total",
			Help: "Records copied to the target, by target topic."}, []string{"topic"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_mirror_bytes_total",
			Help: "Bytes of keys and values copied to the target, by target topic."}, []string{"topic"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_mirror_skipped_records_total",
			Help: "Records not copied because their origin header names the target cluster (loop prevention)."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_mirror_errors_total",
			Help: "Errors, by kind: fetch, produce, topic, group, offset-sync, preserve-offsets, other."}, []string{"kind"}),
		transactions: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_mirror_transactions_total",
			Help: "Target transactions committed (exactly-once)."}),
		groupCommits: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_mirror_group_offsets_committed_total",
			Help: "Translated group offsets committed on the target."}),
		lagRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "strata_mirror_lag_records",
			Help: "Records of a source partition not yet copied (its last stable offset minus the mirror's position), for the partitions this instance copies."}, []string{"topic", "partition"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "strata_mirror_lag_seconds",
			Help: "How far behind a source partition is: the time since it was last caught up (or assigned), or since the timestamp of the last record copied, whichever is smaller; 0 when caught up."}, []string{"topic", "partition"}),
	}
	for _, k := range []string{"fetch", "produce", "topic", "group", "offset-sync", "preserve-offsets", "other"} {
		m.errors.WithLabelValues(k)
	}
	if reg != nil {
		reg.MustRegister(m.records, m.bytes, m.skipped, m.errors, m.transactions, m.groupCommits, m.lagRecords, m.lagSeconds)
	}
	return m
}

func (m *metrics) copied(topic string, records, bytes int) {
	m.records.WithLabelValues(topic).Add(float64(records))
	m.bytes.WithLabelValues(topic).Add(float64(bytes))
}

func (m *metrics) setLag(tp TopicPartition, records int64, seconds float64) {
	p := strconv.Itoa(int(tp.Partition))
	m.lagRecords.WithLabelValues(tp.Topic, p).Set(float64(records))
	m.lagSeconds.WithLabelValues(tp.Topic, p).Set(seconds)
}

func (m *metrics) dropPartition(tp TopicPartition) {
	p := strconv.Itoa(int(tp.Partition))
	m.lagRecords.DeleteLabelValues(tp.Topic, p)
	m.lagSeconds.DeleteLabelValues(tp.Topic, p)
}

// sumCounter is the sum of a counter vector's series.
func sumCounter(v *prometheus.CounterVec) float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { v.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var pb dto.Metric
		if m.Write(&pb) == nil && pb.Counter != nil {
			sum += pb.Counter.GetValue()
		}
	}
	return sum
}
