package export

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the dispatcher's Prometheus metrics, per sink id. They outlive a dispatcher, so
// that a restarted one (tests) keeps publishing into the same registry.
type Metrics struct {
	lag        *prometheus.GaugeVec
	dead       *prometheus.GaugeVec
	deliveries *prometheus.CounterVec
	failures   *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them into reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
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

func (m *Metrics) state(sink string, lag int64, dead bool) {
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

func (m *Metrics) deliveredN(sink string, n int) {
	if m != nil {
		m.deliveries.WithLabelValues(sink).Add(float64(n))
	}
}

func (m *Metrics) failure(sink string) {
	if m != nil {
		m.failures.WithLabelValues(sink).Inc()
	}
}

func (m *Metrics) forget(sink string) {
	if m == nil {
		return
	}
	m.lag.DeleteLabelValues(sink)
	m.dead.DeleteLabelValues(sink)
	m.deliveries.DeleteLabelValues(sink)
	m.failures.DeleteLabelValues(sink)
}
