package objectstore

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/metric"
)

// Values of the "result" label.
const (
	resultOK       = "ok"
	resultNotFound = "not_found"
	resultCanceled = "canceled"
	resultError    = "error"
)

// metrics are the object store's Prometheus metrics, shared by every bucket
// instrumented against the same registry.
type metrics struct {
	ops      *prometheus.CounterVec   // op, result
	putBytes prometheus.Counter       // bytes of successful Puts
	getBytes prometheus.Counter       // bytes read from Get and GetRange readers
	latency  *prometheus.HistogramVec // op
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		ops: metric.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_objectstore_operations_total",
			Help: "Object store operations by operation and result (ok, not_found, canceled, error).",
		}, []string{"op", "result"})),
		putBytes: metric.Counter(reg, "strata_objectstore_put_bytes_total", "Bytes stored by successful Puts."),
		getBytes: metric.Counter(reg, "strata_objectstore_get_bytes_total", "Bytes read from objects by Get and GetRange."),
		latency: metric.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "strata_objectstore_operation_duration_seconds",
			Help: "Object store call latency by operation; for Get and GetRange, until the reader is returned (time to first byte).",
			// 1 ms to about 32 s.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"op"})),
	}
}

// observe records one finished call.
func (m *metrics) observe(op string, start time.Time, err error) {
	m.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	m.ops.WithLabelValues(op, result(err)).Inc()
}

func result(err error) string {
	switch {
	case err == nil:
		return resultOK
	case IsNotFound(err):
		return resultNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return resultCanceled
	default:
		return resultError
	}
}

// instrumented is the Bucket that Instrument returns.
type instrumented struct {
	b Bucket
	m *metrics
}

var _ Bucket = (*instrumented)(nil)

// Instrument wraps b with Prometheus metrics (operations, bytes, latency, errors).
//
// The metrics are strata_objectstore_operations_total{op,result},
// strata_objectstore_put_bytes_total, strata_objectstore_get_bytes_total and
// strata_objectstore_operation_duration_seconds{op}; op is one of the Op
// constants and result one of ok, not_found, canceled, error. A nil reg
// records without registering; buckets instrumented against the same reg
// share the metrics.
func Instrument(b Bucket, reg prometheus.Registerer) Bucket {
	return &instrumented{b: b, m: newMetrics(reg)}
}

func (i *instrumented) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	start := time.Now()
	var cr *countingReader
	if size < 0 {
		// Count what is read. With a known size, r goes through unwrapped:
		// S3 needs its Seek and ReadAt to retry and to upload in parallel.
		cr = &countingReader{r: r}
		r = cr
	}
	err := i.b.Put(ctx, name, r, size)
	i.m.observe(OpPut, start, err)
	if err == nil {
		if cr != nil {
			size = cr.n
		}
		i.m.putBytes.Add(float64(size))
	}
	return err
}

func (i *instrumented) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := i.b.Get(ctx, name)
	i.m.observe(OpGet, start, err)
	if err != nil {
		return nil, err
	}
	return &countingReadCloser{ReadCloser: rc, c: i.m.getBytes}, nil
}

func (i *instrumented) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := i.b.GetRange(ctx, name, off, length)
	i.m.observe(OpGetRange, start, err)
	if err != nil {
		return nil, err
	}
	return &countingReadCloser{ReadCloser: rc, c: i.m.getBytes}, nil
}

func (i *instrumented) Size(ctx context.Context, name string) (int64, error) {
	start := time.Now()
	n, err := i.b.Size(ctx, name)
	i.m.observe(OpSize, start, err)
	return n, err
}

func (i *instrumented) Iter(ctx context.Context, prefix string, fn func(name string) error) error {
	start := time.Now()
	err := i.b.Iter(ctx, prefix, fn)
	i.m.observe(OpIter, start, err)
	return err
}

func (i *instrumented) Delete(ctx context.Context, name string) error {
	start := time.Now()
	err := i.b.Delete(ctx, name)
	i.m.observe(OpDelete, start, err)
	return err
}

func (i *instrumented) Close() error { return i.b.Close() }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// countingReadCloser adds the bytes read to c as they are read, so long
// reads show up while they run.
type countingReadCloser struct {
	io.ReadCloser
	c prometheus.Counter
}

func (c *countingReadCloser) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if n > 0 {
		c.c.Add(float64(n))
	}
	return n, err
}
