package metric

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// value is what m currently holds: a counter's or a gauge's value, or a
// histogram's count of observations.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	default:
		return float64(d.GetHistogram().GetSampleCount())
	}
}

func TestRegisterShares(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a := Counter(reg, "strata_test_total", "A test counter.")
	b := Counter(reg, "strata_test_total", "A test counter.")
	if a != b {
		t.Fatal("a second registration of the same counter did not return the first")
	}
	a.Inc()
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].Metric) != 1 || mfs[0].Metric[0].GetCounter().GetValue() != 1 {
		t.Fatalf("gathered %v, %v; want strata_test_total 1", mfs, err)
	}
}

func TestRegisterNil(t *testing.T) {
	c := Counter(nil, "strata_test_total", "A test counter.")
	c.Add(2)
	g := Gauge(nil, "strata_test_gauge", "A test gauge.")
	g.Set(3)
	h := Histogram(nil, "strata_test_seconds", "A test histogram.", []float64{1, 2})
	h.Observe(1.5)
	if got := value(t, c); got != 2 {
		t.Errorf("unregistered counter = %v, want 2", got)
	}
	if got := value(t, g); got != 3 {
		t.Errorf("unregistered gauge = %v, want 3", got)
	}
	if got := value(t, h); got != 1 {
		t.Errorf("unregistered histogram: %v observations, want 1", got)
	}
}

func TestRegisterConflictPanics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	Counter(reg, "strata_test_total", "A test counter.")
	defer func() {
		if recover() == nil {
			t.Fatal("a gauge registered under a counter's name did not panic")
		}
	}()
	Gauge(reg, "strata_test_total", "A test counter.")
}
