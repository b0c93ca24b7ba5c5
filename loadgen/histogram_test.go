package loadgen

import (
	"math"
	"sync"
	"testing"
	"time"
)

// within reports whether got is within 0.1% (the histograms' precision)
// of want, plus one microsecond of rounding.
func within(got, want float64) bool { return math.Abs(got-want) <= want*0.001+0.001 }

func TestRecorderPercentiles(t *testing.T) {
	r := NewRecorder()
	// 1 ms to 10,000 ms in steps of 1 ms: the p-th percentile is p% of 10 s.
	for ms := 1; ms <= 10000; ms++ {
		r.Record(time.Duration(ms)*time.Millisecond, true)
	}
	l := r.Total()
	checks := []struct {
		name      string
		got, want float64
	}{
		{"min", l.Min, 1}, {"p50", l.P50, 5000}, {"p90", l.P90, 9000}, {"p99", l.P99, 9900},
		{"p99.9", l.P999, 9990}, {"max", l.Max, 10000}, {"mean", l.Mean, 5000.5},
	}
	if l.Count != 10000 {
		t.Errorf("count %d, want 10000", l.Count)
	}
	for _, c := range checks {
		if !within(c.got, c.want) {
			t.Errorf("%s = %v ms, want %v within 0.1%%", c.name, c.got, c.want)
		}
	}
	if len(l.Curve) != len(CurvePercentiles) {
		t.Fatalf("curve has %d points, want %d", len(l.Curve), len(CurvePercentiles))
	}
	if l.Curve[0].Ms != l.Min || l.Curve[len(l.Curve)-1].Ms != l.Max {
		t.Errorf("curve from %v to %v, want min %v to max %v", l.Curve[0].Ms, l.Curve[len(l.Curve)-1].Ms, l.Min, l.Max)
	}
	for i := 1; i < len(l.Curve); i++ {
		if l.Curve[i].Ms < l.Curve[i-1].Ms || l.Curve[i].Percentile <= l.Curve[i-1].Percentile {
			t.Errorf("curve not rising at %v: %v", l.Curve[i], l.Curve[i-1])
		}
	}
}

func TestRecorderIntervalAndMeasured(t *testing.T) {
	r := NewRecorder()
	r.Record(100*time.Millisecond, false) // warm-up: in the interval only
	r.Record(2*time.Millisecond, true)
	iv := r.Interval()
	if iv.Count != 2 || !within(iv.Max, 100) || iv.Curve != nil {
		t.Errorf("first interval %+v, want 2 values up to 100 ms and no curve", iv)
	}
	if iv := r.Interval(); iv.Count != 0 {
		t.Errorf("interval after reset has %d values, want 0", iv.Count)
	}
	tot := r.Total()
	if tot.Count != 1 || !within(tot.Max, 2) {
		t.Errorf("total %+v, want the measured 2 ms only", tot)
	}
}

func TestRecorderClamps(t *testing.T) {
	r := NewRecorder()
	r.Record(-time.Second, true) // a clock step backwards
	r.Record(0, true)
	r.Record(3*time.Hour, true)
	l := r.Total()
	if l.Count != 3 || l.Min != 0.001 || !within(l.Max, float64(time.Hour/time.Millisecond)) {
		t.Errorf("got %+v, want 3 values from 1 µs to 1 h", l)
	}
	if e := NewRecorder().Total(); e.Count != 0 || e.Curve != nil {
		t.Errorf("empty recorder: %+v", e)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 1000 {
				r.Record(time.Duration(i)*time.Microsecond, true)
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			r.Interval()
		}
	})
	wg.Wait()
	if n := r.Total().Count; n != 8000 {
		t.Errorf("count %d, want 8000", n)
	}
}
