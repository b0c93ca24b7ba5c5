package broker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/wal"
)

// metrics are the broker's own Prometheus metrics; the object store, WAL
// uploader, reader, partition manager, group coordinator and schedules keep theirs in their packages.
type metrics struct {
	requests    *prometheus.HistogramVec
	bytesIn     prometheus.Counter
	bytesOut    prometheus.Counter
	badRequests prometheus.Counter
	walSync     prometheus.Histogram
	walSyncB    prometheus.Counter
	controller  prometheus.Gauge
	produced    *prometheus.CounterVec
	// walRoomWait is how long produces waited for WAL room (backpressure),
	// observed only for waits longer than a millisecond.
	walRoomWait prometheus.Histogram

	// Client connections and the bounds on them (listener.go, conn.go).
	connections  prometheus.Gauge
	rejected     *prometheus.CounterVec
	idleClosed   prometheus.Counter
	acceptErrors prometheus.Counter
	queuedBytes  prometheus.Gauge
	queuedWaits  prometheus.Counter

	// authFailures counts failed TLS handshakes and SASL authentications.
	authFailures *prometheus.CounterVec
	// throttled counts responses that told the client to wait (quotas).
	throttled *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_requests_seconds",
			Help:    "Kafka requests by API, from read to response ready.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"api"}),
		bytesIn:     prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_network_in_bytes_total", Help: "Request bytes read from clients."}),
		bytesOut:    prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_network_out_bytes_total", Help: "Response bytes written to clients."}),
		badRequests: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_bad_requests_total", Help: "Connections closed for malformed or unsupported requests."}),
		walSync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_wal_fsync_seconds",
			Help:    "WAL group-commit fsync latency.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		}),
		walSyncB:   prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_wal_synced_bytes_total", Help: "Bytes made durable by WAL fsyncs."}),
		controller: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strata_controller", Help: "1 while this broker is the cluster's controller."}),
		produced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_produced_batches_total", Help: "Produced batches by outcome (error code name or ok).",
		}, []string{"result"}),
		walRoomWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_wal_room_wait_seconds",
			Help:    "Produce requests that waited for WAL room (the WAL held --wal-max-bytes), by wait; waits under 1ms are not observed.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strata_connections", Help: "Open client connections."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_connections_rejected_total",
			Help: "Client connections closed right after accept for being over a limit: max_connections or max_connections_per_ip.",
		}, []string{"reason"}),
		idleClosed:   prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_connections_idle_closed_total", Help: "Client connections closed after --connections-max-idle without a request (or without reading a response)."}),
		acceptErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_accept_errors_total", Help: "Failed accepts on the Kafka listener (such as EMFILE: out of file descriptors); each is retried after a backoff."}),
		queuedBytes:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "strata_queued_request_bytes", Help: "Request bytes being read or handled, all connections (bounded by --queued-max-request-bytes)."}),
		queuedWaits:  prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_queued_request_bytes_waits_total", Help: "Times a connection stopped reading a request until the --queued-max-request-bytes budget had room."}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_authentication_failures_total",
			Help: "Client connections that failed to authenticate, by step: tls (the handshake, such as an unknown or expired client certificate) or sasl.",
		}, []string{"step"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_throttled_responses_total",
			Help: "Responses with a throttle time because the client was over a quota, by API.",
		}, []string{"api"}),
	}
	for _, step := range []string{"tls", "sasl"} {
		m.authFailures.WithLabelValues(step)
	}
	for _, reason := range []string{"max_connections", "max_connections_per_ip"} {
		m.rejected.WithLabelValues(reason) // exported at 0 from the start
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.bytesIn, m.bytesOut, m.badRequests, m.walSync, m.walSyncB, m.controller, m.produced, m.walRoomWait,
			m.connections, m.rejected, m.idleClosed, m.acceptErrors, m.queuedBytes, m.queuedWaits, m.authFailures, m.throttled)
	}
	return m
}

// watchWAL exports the WAL's use of its bound.
func watchWAL(reg prometheus.Registerer, w *wal.WAL) {
	if reg == nil {
		return
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_wal_bytes", Help: "Bytes the WAL holds: sealed segments not yet uploaded and committed, and the open one."},
			func() float64 { return float64(w.Stats().LiveBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_wal_max_bytes", Help: "The WAL's bound (--wal-max-bytes): past it, produces wait for room."},
			func() float64 { return float64(w.Stats().MaxBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_wal_room_waiting", Help: "Produce requests waiting now for WAL room."},
			func() float64 { return float64(w.Stats().Waiting) }),
	)
}

func (m *metrics) observeRequest(key int16, start time.Time) {
	m.requests.WithLabelValues(kmsg.NameForKey(key)).Observe(time.Since(start).Seconds())
}

func (m *metrics) observeSync(d time.Duration, bytes int) {
	m.walSync.Observe(d.Seconds())
	m.walSyncB.Add(float64(bytes))
}
