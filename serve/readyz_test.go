package serve_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirstream/weir/serve"
	"github.com/weirstream/weir/topology"
)

// degradedFake is a ready backend with paused tasks.
type degradedFake struct {
	fake
	reasons []string
}

func (d *degradedFake) Degraded() []string { return d.reasons }

// TestReadinessDegraded: a worker with paused tasks stays in service (200)
// and says why; once they resume it is plainly ready.
func TestReadinessDegraded(t *testing.T) {
	f := &degradedFake{fake: fake{ready: true}, reasons: []string{"task 0_1 paused since ... (registry-unavailable): down"}}
	s := httptest.NewServer(serve.New(f, serve.Options{}))
	defer s.Close()
	resp, err := http.Get(s.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Status  string   `json:"status"`
		Reasons []string `json:"reasons"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || body.Status != "degraded" || len(body.Reasons) != 1 ||
		!strings.Contains(body.Reasons[0], "registry-unavailable") {
		t.Fatalf("degraded /readyz: %d %+v %v", resp.StatusCode, body, err)
	}
	f.reasons = nil
	resp, err = http.Get(s.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") == "application/json" {
		t.Fatalf("recovered /readyz: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestPausedMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := serve.NewMetrics(reg)
	m.Paused(topology.TaskID{Subtopology: 0, Partition: 1}, "registry-unavailable", 1500*time.Millisecond)
	m.PausedTasks(1)
	if got := gathered(t, reg, "weir_task_paused_seconds_total"); got != 1.5 {
		t.Fatalf("paused seconds %v, want 1.5", got)
	}
	if got := gathered(t, reg, "weir_tasks_paused"); got != 1 {
		t.Fatalf("paused tasks %v, want 1", got)
	}
}

// gathered sums the samples of the metric family name.
func gathered(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}
