package processor_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

func TestParallelismValidated(t *testing.T) {
	for _, n := range []int{0, -1} {
		b := topology.New("p")
		topology.StreamOf(b, "in", codec.String(), codec.String()).To("out", codec.String(), codec.String())
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		_, err = processor.New(topo, processor.SeedBrokers("localhost:9092"), processor.Parallelism(n))
		if !errors.Is(err, processor.ErrConfig) || !strings.Contains(err.Error(), "Parallelism") {
			t.Fatalf("Parallelism(%d): got %v, want ErrConfig naming Parallelism", n, err)
		}
	}
}

// countAppOn is countApp reading an existing input topic, with its own
// application id and outputs.
func countAppOn(t *testing.T, c *kafkatest.Cluster, in, tag string) countApp {
	t.Helper()
	a := countApp{in: in, counts: c.Name(tag + "-counts")}
	copyTo := c.Name(tag + "-copy")
	a.topics = []string{copyTo, a.counts}
	b := topology.New(c.Name(tag + "-app"))
	s := topology.StreamOf(b, in, codec.String(), codec.String())
	s.To(copyTo, codec.String(), codec.String())
	topology.GroupByKey(s, codec.String(), codec.String()).Count("counts").
		ToStream("counts-out").To(a.counts, codec.String(), codec.Int64())
	var err error
	if a.topo, err = b.Build(); err != nil {
		t.Fatal(err)
	}
	return a
}

// endMarker is written to an output topic after its workers stopped, in
// a committed write of its own, so a reader knows it saw everything.
const endMarker = "~end"

// readToMarker writes the end marker to topic and returns, per key, the
// values of the records before it (read_committed, in partition order).
func readToMarker(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string, partitions int32) map[string][]string {
	t.Helper()
	cl := c.Client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range partitions {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(endMarker), Partition: p}).FirstErr(); err != nil {
			t.Fatalf("end marker: %v", err)
		}
	}
	out := map[string][]string{}
	seen := int32(0)
	_, err := c.ReadCommittedUntil(ctx, topic, func(r *kgo.Record) bool {
		if string(r.Key) == endMarker {
			seen++
			return seen == partitions
		}
		out[string(r.Key)] = append(out[string(r.Key)], string(r.Value))
		return false
	})
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	return out
}

// checkCounts says whether counts (per key, the count values written,
// Int64-encoded) hold 1, 2, ... want[k] for every key and nothing else:
// no count lost, none written twice.
func checkCounts(counts map[string][]string, want map[string]int64) error {
	for k, n := range want {
		got := counts[k]
		if int64(len(got)) != n {
			return fmt.Errorf("key %s: %d count records, want %d", k, len(got), n)
		}
		for i, v := range got {
			c, err := codec.Int64().Decode("", []byte(v))
			if err != nil || c != int64(i+1) {
				return fmt.Errorf("key %s: record %d counts %d (%v), want %d", k, i, c, err, i+1)
			}
		}
	}
	if len(counts) != len(want) {
		return fmt.Errorf("%d keys counted, want %d", len(counts), len(want))
	}
	return nil
}

// TestParallelMatchesSequential runs the same input through a worker
// with Parallelism(1) and one with Parallelism(4): per key, both write
// the same records in the same order, and both match the model.
func TestParallelMatchesSequential(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	const parts = 8
	in := c.Name("in")
	c.CreateTopic(ctx, in, parts, nil)
	want := map[string]int64{}
	produce(t, ctx, c, in, seed, 4000, want)

	results := map[int][2]map[string][]string{}
	for _, n := range []int{1, 4} {
		app := countAppOn(t, c, in, "p"+strconv.Itoa(n))
		for _, tp := range app.topics {
			c.CreateTopic(ctx, tp, parts, nil)
		}
		w := start(t, app.topo, c.Brokers, t.TempDir(), processor.Parallelism(n))
		latestCounts(t, ctx, c, app.counts, want)
		w.stop(t)
		results[n] = [2]map[string][]string{
			readToMarker(t, ctx, c, app.topics[0], parts),
			readToMarker(t, ctx, c, app.counts, parts),
		}
		if err := checkCounts(results[n][1], want); err != nil {
			t.Fatalf("seed %d: Parallelism(%d): %v", seed, n, err)
		}
	}
	for i, what := range []string{"copies", "counts"} {
		one, four := results[1][i], results[4][i]
		for k, vs := range one {
			if !slices.Equal(vs, four[k]) {
				t.Fatalf("seed %d: %s of key %s differ: Parallelism(1) %v, Parallelism(4) %v", seed, what, k, vs, four[k])
			}
		}
		if len(one) != len(four) {
			t.Fatalf("seed %d: %s: %d keys with Parallelism(1), %d with Parallelism(4)", seed, what, len(one), len(four))
		}
	}
}

// TestRebalanceDuringParallelProcessing moves tasks between workers that
// each process on four goroutines, while records keep arriving: a worker
// joins (tasks move away from the first while its others are
// processing), the first leaves, another joins. Every count is written
// exactly once.
func TestRebalanceDuringParallelProcessing(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	const parts = 8
	app := newCountApp(t, c)
	app.create(ctx, c, parts)
	par := processor.Parallelism(4)
	opts := []processor.Opt{par, processor.SessionTimeout(6 * time.Second)}

	want := map[string]int64{}
	a := start(t, app.topo, c.Brokers, t.TempDir(), opts...)
	var b, d *running
	for i := range 6 {
		produce(t, ctx, c, app.in, seed+uint64(i), 3000, want)
		switch i {
		case 1:
			b = start(t, app.topo, c.Brokers, t.TempDir(), opts...)
		case 3:
			a.stop(t)
		case 4:
			d = start(t, app.topo, c.Brokers, t.TempDir(), opts...)
		}
	}
	latestCounts(t, ctx, c, app.counts, want)
	b.stop(t)
	d.stop(t)
	if err := checkCounts(readToMarker(t, ctx, c, app.counts, parts), want); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
}

// TestStopWhileStartingReturnsNil: Run returns nil on cancel (its doc),
// also when the cancel comes before it has joined the group.
func TestStopWhileStartingReturnsNil(t *testing.T) {
	b := topology.New("stop-while-starting")
	topology.StreamOf(b, "in", codec.String(), codec.String()).To("out", codec.String(), codec.String())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := processor.New(topo, processor.SeedBrokers("127.0.0.1:1"), processor.StateDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := app.Run(ctx); err != nil {
		t.Fatalf("Run after cancel: %v, want nil", err)
	}
}
