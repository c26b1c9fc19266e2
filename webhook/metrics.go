package webhook

import "github.com/prometheus/client_golang/prometheus"

// Delivery results, the result label of weir_webhook_deliveries_total.
const (
	resultDelivered    = "delivered"
	resultRetry        = "retry" // an attempt failed and will be retried
	resultDeadLettered = "dead_lettered"
)

// typeUndecodable labels records that did not decode.
const typeUndecodable = "undecodable"

// metrics are the deliverer's weir_webhook_* series.
type metrics struct {
	deliveries *prometheus.CounterVec   // by type, result
	seconds    *prometheus.HistogramVec // by result
	inFlight   prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, inFlight func() int) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_webhook_deliveries_total",
			Help: "Trigger deliveries to endpoints, by trigger type and result: delivered (2xx), retry (an attempt failed and will be retried), dead_lettered.",
		}, []string{"type", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "weir_webhook_delivery_seconds",
			Help:    "From a delivery's first attempt to its outcome (delivered or dead_lettered), retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
		}, []string{"result"}),
		inFlight: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "weir_webhook_in_flight",
			Help: "Deliveries under way (attempts and waits for a retry); fetching pauses at MaxInFlight.",
		}, func() float64 { return float64(inFlight()) }),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.deliveries, m.seconds, m.inFlight} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
