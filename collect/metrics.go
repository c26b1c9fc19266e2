package collect

import "github.com/prometheus/client_golang/prometheus"

// metrics are the collector's weir_collector_* series.
type metrics struct {
	events   *prometheus.CounterVec // by result
	requests *prometheus.CounterVec // by code
	ack      prometheus.Histogram
	txns     *prometheus.CounterVec // by result
	pending  prometheus.Gauge
	dedupIDs prometheus.GaugeFunc
}

// Event results.
const (
	resultAccepted  = "accepted"
	resultDuplicate = "duplicate"
	resultRejected  = "rejected"
	resultRetry     = "retry"
)

func newMetrics(reg prometheus.Registerer, dedupSize func() int) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_collector_events_total",
			Help: "Events received, by result: accepted (in Kafka), duplicate (in Kafka already), rejected (invalid), retry (not in Kafka: 429 or 503).",
		}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_collector_requests_total",
			Help: "Requests (HTTP posts and WebSocket messages), by status code.",
		}, []string{"code"}),
		ack: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "weir_collector_ack_seconds",
			Help:    "From a request's arrival to its answer, for requests that wrote to Kafka.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		txns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_collector_transactions_total",
			Help: "Kafka transactions of the collector, by result (committed, aborted).",
		}, []string{"result"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_collector_pending_events",
			Help: "Events waiting for their transaction to commit.",
		}),
		dedupIDs: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "weir_collector_dedup_ids",
			Help: "Event ids remembered for deduplication.",
		}, func() float64 { return float64(dedupSize()) }),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.events, m.requests, m.ack, m.txns, m.pending, m.dedupIDs} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
