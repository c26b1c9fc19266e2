package processor_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// mispartitions counts what workers report through
// processor.MispartitionMetrics, and signals commits.
type mispartitions struct {
	commitSignal
	mu sync.Mutex
	n  map[string]int64
}

func (m *mispartitions) Mispartitioned(topic string, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n[topic] += n
}

func (m *mispartitions) count(topic string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[topic]
}

// TestQueriesFindKeysOfLibrdkafkaProducers: input written as librdkafka
// producers write it by default (CRC-32 of the key), read by two workers
// told so (InputPartitioner(CRC32)): every key is answered by the worker
// that owns it, and the other names that worker. With the default
// (murmur2) setting the same input is counted as mispartitioned, a
// warning names the topic and the likely partitioner, and queries miss
// keys, as they did before the option existed.
func TestQueriesFindKeysOfLibrdkafkaProducers(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	app := newCountApp(t, c)
	app.create(ctx, c, 6)
	wrongCounts, wrongCopy := c.Name("counts-wrong"), c.Name("copy-wrong")
	c.CreateTopic(ctx, wrongCounts, 6, nil)
	c.CreateTopic(ctx, wrongCopy, 6, nil)

	rng := rand.New(rand.NewPCG(seed, seed))
	want := map[string]int64{}
	var recs []*kgo.Record
	for i := range 600 {
		k := "c-" + strconv.Itoa(rng.IntN(60))
		want[k]++
		recs = append(recs, &kgo.Record{Key: []byte(k), Value: []byte(strconv.Itoa(i))})
	}
	cl := c.Client(kgo.DefaultProduceTopic(app.in), kgo.RecordPartitioner(kafkatest.LibrdkafkaPartitioner()))
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	t.Run("crc32", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		m := &mispartitions{commitSignal: commitSignal{ch: make(chan struct{}, 1)}, n: map[string]int64{}}
		core, logs := observer.New(zap.WarnLevel)
		log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
		addrs := []string{"10.0.0.1:8080", "10.0.0.2:8080"}
		var workers []*running
		for _, addr := range addrs {
			w := start(t, app.topo, c.Brokers, t.TempDir(), processor.InputPartitioner(processor.CRC32),
				processor.AdvertisedAddress(addr), processor.WithMetrics(m), processor.Logger(log))
			defer w.stop(t)
			workers = append(workers, w)
		}
		latestCounts(t, ctx, c, app.counts, want)
		// Every worker has committed everything: a key not found within
		// a few commits is not found at all.
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for k, n := range want {
			key, _ := codec.String().Encode("", k)
			for {
				answered, answer, owner := 0, int64(-1), ""
				var redirects []string
				for i, w := range workers {
					v, ok, err := w.app.Get("counts", key)
					var no *processor.NotOwnerError
					switch {
					case err == nil && ok:
						answer, _ = codec.Int64().Decode("", v)
						answered++
						owner = addrs[i]
					case errors.As(err, &no):
						redirects = append(redirects, no.Owner)
					}
				}
				if answered > 1 {
					t.Fatalf("key %s answered by both workers", k)
				}
				if answered == 1 && answer == n && len(redirects) == 1 && redirects[0] == owner {
					break
				}
				select {
				case <-m.ch: // a commit may have changed what is visible
				case <-ctx.Done():
					t.Fatalf("key %s: answered by %d workers (value %d, want %d), redirects %q: a customer that exists is not found", k, answered, answer, n, redirects)
				}
			}
		}
		if n := m.count(app.in); n != 0 {
			t.Errorf("%d records counted as mispartitioned with the producers' partitioner configured", n)
		}
		if n := logs.FilterMessageSnippet("not on the partition").Len(); n != 0 {
			t.Errorf("%d mispartition warnings with the right partitioner", n)
		}
	})

	t.Run("murmur2", func(t *testing.T) {
		// The same input read with the wrong (default) setting, by a new
		// application so it reads from the start.
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		counts := wrongCounts
		topo := countTopology(t, c.Name("app-wrong"), app.in, wrongCopy, counts)
		m := &mispartitions{commitSignal: commitSignal{ch: make(chan struct{}, 1)}, n: map[string]int64{}}
		core, logs := observer.New(zap.WarnLevel)
		log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
		w := start(t, topo, c.Brokers, t.TempDir(), processor.AdvertisedAddress("10.0.0.3:8080"),
			processor.WithMetrics(m), processor.Logger(log))
		defer w.stop(t)
		latestCounts(t, ctx, c, counts, want)
		// Reported at the commit after the records were read.
		for m.count(app.in) == 0 {
			select {
			case <-m.ch:
			case <-ctx.Done():
				t.Fatal("no mispartitioned records reported with the wrong partitioner")
			}
		}
		warns := logs.FilterMessageSnippet("not on the partition").All()
		if len(warns) != 1 {
			t.Fatalf("%d mispartition warnings, want exactly one for the topic", len(warns))
		}
		f := warns[0].ContextMap()
		if f["topic"] != app.in || f["likely"] != "crc32" || f["configured"] != "murmur2" {
			t.Fatalf("warning %v: want topic %s, configured murmur2, likely crc32", f, app.in)
		}
		// What the option fixes: one worker owns every task here, yet
		// keys are looked up in tasks that do not hold them.
		missed := 0
		for k := range want {
			key, _ := codec.String().Encode("", k)
			if _, ok, err := w.app.Get("counts", key); err == nil && !ok {
				missed++
			}
		}
		t.Logf("mispartitioned records %d; %d of %d keys not found with murmur2", m.count(app.in), missed, len(want))
		if missed == 0 {
			t.Fatal("every key found with the wrong partitioner: the input is not CRC-32 partitioned")
		}
	})
}

// countTopology is countApp's topology under the given names.
func countTopology(t *testing.T, appID, in, copyTo, counts string) *topology.Topology {
	t.Helper()
	b := topology.New(appID)
	s := topology.StreamOf(b, in, codec.String(), codec.String())
	s.To(copyTo, codec.String(), codec.String())
	topology.GroupByKey(s, codec.String(), codec.String()).Count("counts").
		ToStream("counts-out").To(counts, codec.String(), codec.Int64())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}
