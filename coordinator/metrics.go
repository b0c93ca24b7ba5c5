package coordinator

import "github.com/prometheus/client_golang/prometheus"

// metrics are the coordinator's Prometheus metrics.
type metrics struct {
	// groupCommits is the latency of one etcd transaction of the shards'
	// writes (committed offsets, group generations).
	groupCommits prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		groupCommits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_group_commit_seconds",
			Help:    "Consumer-group writes to etcd (committed offsets, generations): one observation per batch of the writes queued meanwhile, one transaction per 128 keys.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.groupCommits)
	}
	return m
}
