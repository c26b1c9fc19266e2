package serve

import "github.com/prometheus/client_golang/prometheus"

// StateSizer is implemented by a Backend that can tell the size of its
// local state on disk (*processor.App).
type StateSizer interface {
	StateBytes() (int64, error)
}

// registerBackendGauges adds what is read off the backend at scrape
// time: readiness, as /readyz answers it, and the state's size.
func registerBackendGauges(reg prometheus.Registerer, b Backend) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "weir_ready",
		Help: "1 when the worker is in the group with every task it owns restored (/readyz answers 200), else 0.",
	}, func() float64 {
		if b.Ready() {
			return 1
		}
		return 0
	}))
	if s, ok := b.(StateSizer); ok {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "weir_state_bytes",
			Help: "Size on disk of the worker's local state (stores of its tasks, replicas and kept moved tasks).",
		}, func() float64 {
			n, _ := s.StateBytes()
			return float64(n)
		}))
	}
}
