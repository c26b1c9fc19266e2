package profile_test

import (
	"testing"

	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/topology/topologytest"
)

// BenchmarkProfileTopology pipes seeded events through the profile
// topology on the test driver (the task core, in-memory stores, JSON
// serdes): the processing cost per event without Kafka or Pebble.
func BenchmarkProfileTopology(b *testing.B) {
	recs := profile.Generate(1, 20000, profile.GenOptions{Customers: 1500})
	type enc struct {
		topic string
		k, v  []byte
		r     profile.Record
	}
	encs := make([]enc, len(recs))
	for i, r := range recs {
		k, v, err := r.Encode(serdes)
		mustT(b, err)
		encs[i] = enc{r.Topic, k, v, r}
	}
	d := newDriver(b, profile.PerCommit, topologytest.ManualCommit())
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		e := encs[i%len(encs)]
		if i > 0 && i%len(encs) == 0 {
			b.StopTimer()
			d = newDriver(b, profile.PerCommit, topologytest.ManualCommit())
			b.StartTimer()
		}
		mustT(b, d.PipeRaw(e.topic, e.k, e.v, e.r.Time))
		if e.r.IsEvent() {
			n++
		}
		if i%300 == 299 {
			mustT(b, d.Commit())
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
