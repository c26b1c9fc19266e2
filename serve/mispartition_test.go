package serve_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/serve"
)

// TestMispartitionedMetric: workers find the count through the optional
// processor.MispartitionMetrics, and /metrics shows it per topic.
func TestMispartitionedMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	var pm processor.Metrics = serve.NewMetrics(reg)
	m, ok := pm.(processor.MispartitionMetrics)
	if !ok {
		t.Fatal("serve.Metrics does not implement processor.MispartitionMetrics")
	}
	m.Mispartitioned("clicks", 3)
	m.Mispartitioned("clicks", 4)
	s := httptest.NewServer(serve.New(&fake{}, serve.Options{Gatherer: reg}))
	defer s.Close()
	_, _, b := getRaw(t, s.URL+"/metrics", nil)
	if want := `weir_records_mispartitioned_total{topic="clicks"} 7`; !strings.Contains(string(b), want) {
		t.Fatalf("metrics lack %s:\n%s", want, b)
	}
}
