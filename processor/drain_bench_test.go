package processor_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/topology"
)

// BenchmarkDrainProfiles drains a preloaded backlog of profile events
// through the personalization topology with one worker (exactly-once,
// 100ms commits, start-up included) and reports events/s. On real Kafka
// with KAFKA_BROKERS set; BENCH_DRAIN_EVENTS sets the backlog (default
// 20000) and BENCH_DRAIN_PARTITIONS the partitions of every event and
// output topic (default 8; 1 measures one task per subtopology, the
// one-partition row of issue 12).
func BenchmarkDrainProfiles(b *testing.B) {
	n := 20000
	if s := os.Getenv("BENCH_DRAIN_EVENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	parts := int32(8)
	if s := os.Getenv("BENCH_DRAIN_PARTITIONS"); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p < 1 {
			b.Fatalf("BENCH_DRAIN_PARTITIONS=%q: want a positive number", s)
		}
		parts = int32(p)
	}
	ctx := context.Background()
	c := kafkatest.New(b)
	tp := profile.PrefixedTopics(c.Name("") + ".")
	events := []string{tp.Views, tp.Purchases, tp.Tickets}
	for _, topic := range append(events, tp.Customers) {
		c.CreateTopic(ctx, topic, parts, nil)
	}
	c.CreateTopic(ctx, tp.Products, 1, nil)
	rc, err := avro.NewHTTPRegistryClient(c.Registry)
	if err != nil {
		b.Fatal(err)
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		b.Fatal(err)
	}
	serdes, err := profile.AvroSerdes(reg, avro.AutoRegister())
	if err != nil {
		b.Fatal(err)
	}
	var recs []*kgo.Record
	for _, r := range profile.Generate(1, n, profile.GenOptions{Customers: max(n/100, 100)}) {
		r.Topic = tp.Of(r)
		k, v, err := r.Encode(serdes)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: r.Topic, Key: k, Value: v, Timestamp: r.Time})
	}
	if err := c.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var (
		cpu     time.Duration
		drained [2]float64 // records and seconds after the first commit
	)
	for i := range b.N {
		b.StopTimer()
		id := c.Name("drain" + strconv.Itoa(i))
		out := tp
		out.Updates, out.Triggers = id+".updates", id+".triggers"
		c.CreateTopic(ctx, out.Updates, parts, nil)
		c.CreateTopic(ctx, out.Triggers, parts, nil)
		topo, err := profile.Topology(profile.Config{AppID: id, Topics: out, Serdes: serdes, BadInput: topology.DeadLetter})
		if err != nil {
			b.Fatal(err)
		}
		dm := &drainMetrics{}
		app, err := processor.New(topo, processor.SeedBrokers(c.Brokers...), processor.StateDir(b.TempDir()), processor.WithMetrics(dm))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		cpu0 := processCPU(b)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- app.Run(rctx) }()
		for _, topic := range events {
			if err := demo.WaitCommitted(ctx, c.Brokers, id, topic); err != nil {
				b.Fatal(err)
			}
		}
		dr := dm.since()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		cpu += processCPU(b) - cpu0
		drained[0] += float64(dr.n)
		drained[1] += dr.d.Seconds()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	// CPU per event is steadier than events/s on a shared machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/event")
	// The drain alone: records in after the first commit that processed
	// any, over the time from it until every input was committed (none
	// when one commit took the whole backlog).
	if drained[0] > 0 && drained[1] > 0 {
		b.ReportMetric(drained[0]/drained[1], "drain-events/s")
	}
}

// drainMetrics notes when the first commit that processed records
// reached local state, and the records processed after it.
type drainMetrics struct {
	mu       sync.Mutex
	first    time.Time
	in, done int64 // records in: in all, and in the first commit
	pending  int64 // reported by Processed, not yet by Committed
}

func (m *drainMetrics) Processed(_ topology.TaskID, d topology.TaskStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending += int64(d.RecordsIn)
}

func (m *drainMetrics) Committed(_ time.Duration, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !ok {
		m.pending = 0
		return
	}
	m.in += m.pending
	if m.first.IsZero() && m.pending > 0 {
		m.first, m.done = time.Now(), m.in
	}
	m.pending = 0
}

// since returns the records in after the first commit and the time since.
func (m *drainMetrics) since() (r struct {
	n int64
	d time.Duration
}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.first.IsZero() {
		r.n, r.d = m.in-m.done, time.Since(m.first)
	}
	return r
}

func (*drainMetrics) Restored(string, int32, int64, int64) {}
func (*drainMetrics) EndToEnd(time.Duration)               {}
func (*drainMetrics) Lag(string, int32, int64)             {}

// processCPU is the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
