package objectstore

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gather returns the registry's samples as "name{labels}" → value, where a
// histogram contributes its sample count.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := f.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestInstrumentAcceptance(t *testing.T) {
	AcceptanceTest(t, Instrument(NewMem(), prometheus.NewRegistry()))
}

func TestInstrumentNilRegistry(t *testing.T) {
	AcceptanceTest(t, Instrument(NewMem(), nil))
}

func TestInstrumentMetrics(t *testing.T) {
	ctx := t.Context()
	reg := prometheus.NewRegistry()
	b := Instrument(NewMem(), reg)

	put(t, ctx, b, "a", []byte("hello"))
	put(t, ctx, b, "b", []byte("world!"))
	if got := get(t, ctx, b, "a"); string(got) != "hello" {
		t.Fatalf("Get = %q", got)
	}
	rc, err := b.GetRange(ctx, "b", 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	if _, err := b.Get(ctx, "missing"); !IsNotFound(err) {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	b.Size(canceled, "a")
	b.Put(ctx, "", strings.NewReader(""), 0) // invalid name
	b.Delete(ctx, "a")
	b.Iter(ctx, "", func(string) error { return nil })

	got := gather(t, reg)
	for key, want := range map[string]float64{
		"strata_objectstore_operations_total{op=put,result=ok}":        2,
		"strata_objectstore_operations_total{op=put,result=error}":     1,
		"strata_objectstore_operations_total{op=get,result=ok}":        1,
		"strata_objectstore_operations_total{op=get,result=not_found}": 1,
		"strata_objectstore_operations_total{op=get_range,result=ok}":  1,
		"strata_objectstore_operations_total{op=size,result=canceled}": 1,
		"strata_objectstore_operations_total{op=delete,result=ok}":     1,
		"strata_objectstore_operations_total{op=iter,result=ok}":       1,
		"strata_objectstore_put_bytes_total{}":                         11,
		"strata_objectstore_get_bytes_total{}":                         5 + 3,
		"strata_objectstore_operation_duration_seconds{op=put}":        3,
		"strata_objectstore_operation_duration_seconds{op=get}":        2,
		"strata_objectstore_operation_duration_seconds{op=get_range}":  1,
		"strata_objectstore_operation_duration_seconds{op=size}":       1,
		"strata_objectstore_operation_duration_seconds{op=delete}":     1,
		"strata_objectstore_operation_duration_seconds{op=iter}":       1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
	if len(got) != 16 {
		t.Errorf("gathered %d series, want 16: %v", len(got), got)
	}

	// A second bucket on the same registry shares the metrics.
	b2 := Instrument(NewMem(), reg)
	put(t, ctx, b2, "c", []byte("!"))
	if got := gather(t, reg)["strata_objectstore_put_bytes_total{}"]; got != 12 {
		t.Errorf("put bytes after a second bucket's Put = %v, want 12", got)
	}
}
