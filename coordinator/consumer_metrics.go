package coordinator

import "github.com/prometheus/client_golang/prometheus"

// consumerMetrics are the metrics of groups by type and of KIP-848
// consumer groups.
type consumerMetrics struct {
	// epochs counts the group epochs KIP-848 groups moved to (a member
	// joined, left or was removed, a subscription or the topics changed).
	epochs prometheus.Counter
	// removed counts the members removed by a timeout, by reason.
	removed *prometheus.CounterVec
}

func newConsumerMetrics(reg prometheus.Registerer, c *Coordinator) *consumerMetrics {
	m := &consumerMetrics{
		epochs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_consumer_group_epochs_total",
			Help: "New group epochs of the KIP-848 consumer groups this broker coordinates (each starts a new target assignment).",
		}),
		removed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_consumer_group_members_removed_total",
			Help: "KIP-848 consumer group members removed by the coordinator, by reason: session (timeout), rebalance (did not revoke in time), leave.",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.epochs, m.removed, &groupsByType{c: c, desc: prometheus.NewDesc(
			"strata_groups_coordinated",
			"Groups on the coordinator shards this broker leads, by type (classic, consumer, share) and state.",
			[]string{"type", "state"}, nil)})
	}
	return m
}

// groupsByType collects strata_groups_coordinated at each scrape.
type groupsByType struct {
	c    *Coordinator
	desc *prometheus.Desc
}

func (g *groupsByType) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *groupsByType) Collect(ch chan<- prometheus.Metric) {
	groups, _ := g.c.ListGroups()
	type key struct{ typ, state string }
	n := map[key]int{{"classic", "Stable"}: 0, {"consumer", "Stable"}: 0, {"share", "Stable"}: 0} // share: KIP-932 (ListGroups lists them)
	for _, l := range groups {
		n[key{l.Type, l.StateName}]++
	}
	for k, v := range n {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(v), k.typ, k.state)
	}
}
