package processor_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// countApp copies in to a copy topic and keeps a running count per key,
// written to counts on every update. Names are unique to the test.
type countApp struct {
	in, counts string
	topics     []string // in, copy, counts
	topo       *topology.Topology
}

func newCountApp(t *testing.T, c *kafkatest.Cluster) countApp {
	t.Helper()
	a := countApp{in: c.Name("in"), counts: c.Name("counts")}
	copyTo := c.Name("copy")
	a.topics = []string{a.in, copyTo, a.counts}
	b := topology.New(c.Name("app"))
	s := topology.StreamOf(b, a.in, codec.String(), codec.String())
	s.To(copyTo, codec.String(), codec.String())
	topology.GroupByKey(s, codec.String(), codec.String()).Count("counts").
		ToStream("counts-out").To(a.counts, codec.String(), codec.Int64())
	var err error
	if a.topo, err = b.Build(); err != nil {
		t.Fatal(err)
	}
	return a
}

// create makes the app's topics on c.
func (a countApp) create(ctx context.Context, c *kafkatest.Cluster, partitions int32) {
	for _, tp := range a.topics {
		c.CreateTopic(ctx, tp, partitions, nil)
	}
}

type running struct {
	app    *processor.App
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, topo *topology.Topology, brokers []string, dir string, opts ...processor.Opt) *running {
	t.Helper()
	app, err := processor.New(topo, append([]processor.Opt{
		processor.SeedBrokers(brokers...),
		processor.StateDir(dir),
		processor.Logger(zaptest.NewLogger(t)),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{app: app, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- app.Run(ctx) }()
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("worker stopped with: %v", err)
	}
}

// produce writes n events to seeded random keys among 50 and records the
// count per key a correct run must reach.
func produce(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string, seed uint64, n int, want map[string]int64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "c" + strconv.Itoa(rng.IntN(50))
	}
	produceList(t, ctx, c, topic, keys, want)
}

// produceList writes one event per key, in order, and counts them in want.
func produceList(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string, keys []string, want map[string]int64) {
	t.Helper()
	cl := c.Client(kgo.DefaultProduceTopic(topic))
	recs := make([]*kgo.Record, 0, len(keys))
	for i, k := range keys {
		want[k]++
		recs = append(recs, &kgo.Record{Key: []byte(k), Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// latestCounts reads counts (read_committed) until every key in want
// shows its wanted count, and fails on a count above it.
func latestCounts(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string, want map[string]int64) {
	t.Helper()
	got := map[string]int64{}
	reached := 0
	_, err := c.ReadCommittedUntil(ctx, topic, func(r *kgo.Record) bool {
		n, err := codec.Int64().Decode(topic, r.Value)
		if err != nil {
			t.Errorf("bad count record: %v", err)
			return true
		}
		k := string(r.Key)
		if n > want[k] {
			t.Errorf("key %s counted %d, more than the %d events sent: a record was processed twice", k, n, want[k])
			return true
		}
		if got[k] < want[k] && n == want[k] {
			reached++
		}
		got[k] = max(got[k], n)
		return reached == len(want)
	})
	if err != nil {
		t.Fatalf("counts: %v; got %v want %v", err, got, want)
	}
}

func TestExactlyOnceCountSurvivesRestart(t *testing.T) { testCountSurvivesRestart(t) }

// TestServerSideAssignment runs the same scenario with KIP-848 groups.
func TestServerSideAssignment(t *testing.T) {
	testCountSurvivesRestart(t, processor.ServerSideAssignment())
}

func testCountSurvivesRestart(t *testing.T, opts ...processor.Opt) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	app := newCountApp(t, c)
	app.create(ctx, c, 3)
	in, counts, topo := app.in, app.counts, app.topo
	dir := t.TempDir()

	want := map[string]int64{}
	produce(t, ctx, c, in, seed, 2000, want)
	w := start(t, topo, c.Brokers, dir, opts...)
	latestCounts(t, ctx, c, counts, want)
	w.stop(t)

	// A second run on the same state directory resumes from its
	// checkpoint: counts continue, nothing is counted twice.
	produce(t, ctx, c, in, seed+1, 1000, want)
	w = start(t, topo, c.Brokers, dir, opts...)
	latestCounts(t, ctx, c, counts, want)
	w.stop(t)

	// A fresh state directory restores from the changelog.
	produce(t, ctx, c, in, seed+2, 500, want)
	w = start(t, topo, c.Brokers, t.TempDir(), opts...)
	latestCounts(t, ctx, c, counts, want)
	w.stop(t)
}
