package export

import "github.com/prometheus/client_golang/prometheus"

// metrics are the dispatcher's Prometheus metrics, per sink id.
type metrics struct {
	lag        *prometheus.GaugeVec
	dead       *prometheus.GaugeVec
	deliveries *prometheus.CounterVec
	failures   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scimtrail_sink_lag_entries",
			Help: "Ledger entries committed but not yet acknowledged by the sink's receiver.",
		}, []string{"sink"}),
		dead: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scimtrail_sink_dead",
			Help: "1 when the sink gave up after too many failures and waits for a retry.",
		}, []string{"sink"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimtrail_sink_delivered_total",
			Help: "Records acknowledged by the sink's receiver.",
		}, []string{"sink"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimtrail_sink_failures_total",
			Help: "Failed delivery attempts.",
		}, []string{"sink"}),
	}
	reg.MustRegister(m.lag, m.dead, m.deliveries, m.failures)
	return m
}

func (m *metrics) state(sink string, lag int64, dead bool) {
	if m == nil {
		return
	}
	m.lag.WithLabelValues(sink).Set(float64(lag))
	v := 0.0
	if dead {
		v = 1
	}
	m.dead.WithLabelValues(sink).Set(v)
}

func (m *metrics) delivered(sink string) {
	if m != nil {
		m.deliveries.WithLabelValues(sink).Inc()
	}
}

func (m *metrics) failure(sink string) {
	if m != nil {
		m.failures.WithLabelValues(sink).Inc()
	}
}

func (m *metrics) forget(sink string) {
	if m == nil {
		return
	}
	m.lag.DeleteLabelValues(sink)
	m.dead.DeleteLabelValues(sink)
	m.deliveries.DeleteLabelValues(sink)
	m.failures.DeleteLabelValues(sink)
}
