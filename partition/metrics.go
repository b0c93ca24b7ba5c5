package partition

import "github.com/prometheus/client_golang/prometheus"

// metrics are the leadership counters of the manager.
type metrics struct {
	leaderships prometheus.Counter
	handOffs    prometheus.Counter
	lost        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		leaderships: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_leadership_acquired_total", Help: "Partition leaderships this broker acquired."}),
		handOffs:    prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_leadership_handed_off_total", Help: "Partition leaderships this broker handed over to another on the controller's request."}),
		lost:        prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_leadership_lost_total", Help: "Partition leaderships this broker lost without a hand-off (fenced, lease ended, topic deleted)."}),
	}
	if reg != nil {
		reg.MustRegister(m.leaderships, m.handOffs, m.lost)
	}
	return m
}
