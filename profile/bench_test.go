package profile_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/topology/topologytest"
)

// BenchmarkProfileTopology pipes seeded events through the profile
// topology on the test driver (the task core, in-memory stores, JSON
// serdes): the processing cost per event without Kafka or Pebble.
// See benchTopology for the metrics.
func BenchmarkProfileTopology(b *testing.B) {
	benchTopology(b, serdes)
}

// BenchmarkProfileTopologyAvro is BenchmarkProfileTopology with the
// production serdes: inputs, the catalog and outputs in Avro (Confluent
// wire format; the registry is an in-process srfake, asked once per
// schema).
//
// Allocation budget: allocsPerEventBudget in the task core (the
// allocs/event metric, about 35 today, 52 before the profile's write-back
// cache, the scans that skip when nothing is due and the cuts in window
// keys, 113 before issue 12's lean hot path; the runtime, Kafka client and Pebble come on top).
// The benchmark fails over budget once it has run enough events for the
// figure to settle (the count moves with map growth, slice doubling and
// the profile cache's resets, so no deterministic per-event figure
// exists; short runs only report it). The task's own per-record path is
// asserted in a test, where the count is deterministic
// (topology.TestTaskPerRecordAllocations). Most of what remains is the
// DSL's untyped messages (a value boxed per node), the stores' keys and
// skip-list nodes, the stream-stream join's window fetches, and Avro
// decoding.
func BenchmarkProfileTopologyAvro(b *testing.B) {
	benchTopologyWith(b, benchAvroSerdes(b), profile.Config{})
}

// BenchmarkProfileTopologyAvroTTL is BenchmarkProfileTopologyAvro with
// Config.InactiveTTL of an hour: the generated day gives a customer an
// event about every hour, so many profiles expire and come back.
func BenchmarkProfileTopologyAvroTTL(b *testing.B) {
	benchTopologyWith(b, benchAvroSerdes(b), profile.Config{InactiveTTL: time.Hour})
}

func benchAvroSerdes(b *testing.B) profile.Serdes {
	fake := srfake.New()
	b.Cleanup(fake.Close)
	hc, err := avro.NewHTTPRegistryClient(fake.URL())
	mustT(b, err)
	reg, err := avro.NewRegistry(hc, avro.RetryAttempts(1))
	mustT(b, err)
	sd, err := profile.AvroSerdes(reg, avro.AutoRegister())
	mustT(b, err)
	return sd
}

// benchTopology reports events/s (input events, not catalog or customer
// rows) and allocs/event (heap allocations of the timed part, over the
// same events).
func benchTopology(b *testing.B, sd profile.Serdes) { benchTopologyWith(b, sd, profile.Config{}) }

// benchTopologyWith is benchTopology with cfg (its Serdes and Emit set).
func benchTopologyWith(b *testing.B, sd profile.Serdes, cfg profile.Config) {
	recs := profile.Generate(1, 20000, profile.GenOptions{Customers: 1500})
	type enc struct {
		topic string
		k, v  []byte
		r     profile.Record
	}
	encs := make([]enc, len(recs))
	for i, r := range recs {
		k, v, err := r.Encode(sd)
		mustT(b, err)
		encs[i] = enc{r.Topic, k, v, r}
	}
	open := func() *topologytest.Driver {
		cfg.Serdes, cfg.Emit = sd, profile.PerCommit
		return newDriverCfg(b, cfg, topologytest.ManualCommit())
	}
	d := open()
	// Warm the registry caches outside the timed part.
	for _, e := range encs[:200] {
		mustT(b, d.PipeRaw(e.topic, e.k, e.v, e.r.Time))
	}
	d = open()
	var ms runtime.MemStats
	var allocs uint64
	runtime.ReadMemStats(&ms)
	start := ms.Mallocs
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		e := encs[i%len(encs)]
		if i > 0 && i%len(encs) == 0 {
			b.StopTimer()
			runtime.ReadMemStats(&ms)
			allocs += ms.Mallocs - start
			d = open()
			runtime.ReadMemStats(&ms)
			start = ms.Mallocs
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
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	allocs += ms.Mallocs - start
	perEvent := float64(allocs) / float64(max(n, 1))
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(perEvent, "allocs/event")
	if budget := budgets[b.Name()]; budget > 0 && n >= settledEvents && perEvent > budget {
		b.Errorf("%.1f allocs/event, over the budget of %.0f", perEvent, budget)
	}
}

// settledEvents is how many events a run needs before its allocs/event is
// held to the budget.
const settledEvents = 15000

// budgets are the allocs/event budgets, by benchmark (the JSON serdes'
// reflection costs about 24 more per event).
var budgets = map[string]float64{
	"BenchmarkProfileTopologyAvro": allocsPerEventBudget,
	"BenchmarkProfileTopology":     allocsPerEventBudget + 25,
}

const allocsPerEventBudget = 38
