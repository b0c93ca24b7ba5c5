package loadgen

import (
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are kept in HDR histograms (HdrHistogram's Go port) of
// microseconds from 1 µs to one hour with 3 significant digits: every
// percentile is within 0.1% of the true value, in a fixed few tens of KiB
// whatever the count. A latency past an hour counts as an hour.
const (
	histMin     = 1
	histMax     = int64(time.Hour / time.Microsecond)
	histSigFigs = 3
)

// CurvePercentiles are the points of a latency percentile curve: dense
// towards the tail, where the curves of two systems differ most.
var CurvePercentiles = []float64{0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96.25, 97.5,
	98.25, 99, 99.25, 99.5, 99.75, 99.9, 99.95, 99.99, 99.995, 99.999, 100}

// Latency summarizes a histogram, in milliseconds.
type Latency struct {
	Count int64        `json:"count"`
	Min   float64      `json:"min_ms"`
	Mean  float64      `json:"mean_ms"`
	P50   float64      `json:"p50_ms"`
	P90   float64      `json:"p90_ms"`
	P99   float64      `json:"p99_ms"`
	P999  float64      `json:"p99_9_ms"`
	Max   float64      `json:"max_ms"`
	Curve []CurvePoint `json:"curve,omitempty"`
}

// CurvePoint is one point of a percentile curve: Percentile per cent of
// the values are at most Ms.
type CurvePoint struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

// Recorder records latencies into two histograms: one of the current
// interval, which Interval hands over and resets, and one of the whole
// measured time. It is safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	interval *hdrhistogram.Histogram
	total    *hdrhistogram.Histogram
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{
		interval: hdrhistogram.New(histMin, histMax, histSigFigs),
		total:    hdrhistogram.New(histMin, histMax, histSigFigs),
	}
}

// Record adds a latency to the current interval and, if measured is true,
// to the total.
func (r *Recorder) Record(d time.Duration, measured bool) {
	us := min(max(d.Microseconds(), histMin), histMax)
	r.mu.Lock()
	_ = r.interval.RecordValue(us) // in range by construction
	if measured {
		_ = r.total.RecordValue(us)
	}
	r.mu.Unlock()
}

// Interval summarizes the current interval (without a curve) and starts
// the next.
func (r *Recorder) Interval() Latency {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := summarize(r.interval, false)
	r.interval.Reset()
	return l
}

// Total summarizes everything measured, with a percentile curve.
func (r *Recorder) Total() Latency {
	r.mu.Lock()
	defer r.mu.Unlock()
	return summarize(r.total, true)
}

// summarize reads h's percentiles in milliseconds.
func summarize(h *hdrhistogram.Histogram, curve bool) Latency {
	n := h.TotalCount()
	if n == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return round3(float64(us) / 1000) }
	l := Latency{
		Count: n,
		Min:   ms(h.Min()),
		Mean:  round3(h.Mean() / 1000),
		P50:   ms(h.ValueAtPercentile(50)),
		P90:   ms(h.ValueAtPercentile(90)),
		P99:   ms(h.ValueAtPercentile(99)),
		P999:  ms(h.ValueAtPercentile(99.9)),
		Max:   ms(h.Max()),
	}
	if curve {
		for _, p := range CurvePercentiles {
			v := h.ValueAtPercentile(p)
			switch p {
			case 0:
				v = h.Min()
			case 100:
				v = h.Max()
			}
			l.Curve = append(l.Curve, CurvePoint{Percentile: p, Ms: ms(v)})
		}
	}
	return l
}

// round3 keeps three decimals: microseconds, in milliseconds.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
