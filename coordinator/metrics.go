package coordinator

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/metadata"
)

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

// txnMetrics are the transaction coordinator's metrics.
type txnMetrics struct {
	committed, aborted, timedOut prometheus.Counter
}

// newTxnMetrics registers the transaction metrics; open counts the
// transactions ongoing or ending on the shards led here.
func newTxnMetrics(reg prometheus.Registerer, open func() float64) *txnMetrics {
	m := &txnMetrics{
		committed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_transactions_committed_total",
			Help: "Transactions this broker's coordinator shards recorded as committed (all their markers written).",
		}),
		aborted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_transactions_aborted_total",
			Help: "Transactions this broker's coordinator shards recorded as aborted (all their markers written), timed-out ones included.",
		}),
		timedOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_transactions_timed_out_total",
			Help: "Ongoing transactions this broker's coordinator shards aborted because they outlived their timeout.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.committed, m.aborted, m.timedOut, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_transactions_open",
			Help: "Transactions ongoing or ending (markers being written) on the coordinator shards this broker leads.",
		}, open))
	}
	return m
}

// count counts a transaction that reached st.
func (m *txnMetrics) count(st metadata.TxnState) {
	switch st {
	case metadata.TxnCompleteCommit:
		m.committed.Inc()
	case metadata.TxnCompleteAbort:
		m.aborted.Inc()
	}
}
