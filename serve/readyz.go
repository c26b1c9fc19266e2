package serve

import (
	"io"
	"net/http"

	"github.com/weirstream/weir/processor"
)

// The Prometheus metrics count paused time too.
var _ processor.PauseMetrics = (*Metrics)(nil)

// And the optional hooks the dashboard and alerts read.
var (
	_ processor.GroupLagMetrics   = (*Metrics)(nil)
	_ processor.AssignmentMetrics = (*Metrics)(nil)
)

// Degraded is implemented by a Backend that can say why it runs with
// reduced capacity (*processor.App: tasks paused by a schema registry
// outage). /readyz lists the reasons.
type Degraded interface {
	Degraded() []string
}

type readiness struct {
	Status  string   `json:"status"`
	Reasons []string `json:"reasons"`
}

// readyz answers 503 until the worker is in the group with its tasks
// restored, then 200. A degraded worker (some tasks paused by an outage)
// still answers 200, with {"status":"degraded","reasons":[...]}: a 503
// would take it out of a Kubernetes Service, failing the queries it can
// still answer from committed state, while the pause already retries.
// Watch the reasons, or weir_tasks_paused, to alert.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.b.Ready() {
		http.Error(w, "restoring\n", http.StatusServiceUnavailable)
		return
	}
	if d, ok := s.b.(Degraded); ok {
		if reasons := d.Degraded(); len(reasons) > 0 {
			s.writeJSON(w, http.StatusOK, readiness{Status: "degraded", Reasons: reasons})
			return
		}
	}
	io.WriteString(w, "ready\n")
}
