package processor_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// processedCount signals when a worker has committed n input records.
type processedCount struct {
	restoreCount
	mu   sync.Mutex
	in   int64
	want int64
	done chan struct{}
}

func (p *processedCount) Processed(_ topology.TaskID, d topology.TaskStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.in += d.RecordsIn
	if p.in >= p.want && p.done != nil {
		close(p.done)
		p.done = nil
	}
}

// readLog reads every committed data record of partition 0 of topic, to
// its current end. The topic must be settled.
func readLog(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string) []*kgo.Record {
	t.Helper()
	if err := c.WaitSettled(ctx, topic); err != nil {
		t.Fatal(err)
	}
	ends, err := c.Admin().ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	e, _ := ends.Lookup(topic, 0)
	cl := c.Client(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // markers move the position to the end
	)
	var out []*kgo.Record
	for pos := int64(0); pos < e.Offset; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s to %d: at %d: %v", topic, e.Offset, pos, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			t.Fatal(ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			pos = max(pos, r.Offset+1)
			if !r.Attrs.IsControl() && r.Offset < e.Offset {
				out = append(out, r)
			}
		})
	}
	return out
}

// TestWindowIndexRebuiltOnRestore: a window store's changelog carries its
// windows, not its time index; a worker that restores the store from it
// into an empty state directory rebuilds the index, so windows that close
// after the restore are still emitted (EmitFinal finds closed windows
// through the index).
func TestWindowIndexRebuiltOnRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	in, out, app := c.Name("in"), c.Name("out"), c.Name("app")
	b := topology.New(app)
	topology.GroupByKey(topology.StreamOf(b, in, codec.String(), codec.String()), codec.String(), codec.String()).
		WindowedBy(topology.Tumbling(time.Hour).Grace(0).EmitFinal()).Count("wcounts").
		ToStream("wcounts-out").To(out, topology.WindowedSerde(codec.String()), codec.Int64())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range []string{in, out} {
		c.CreateTopic(ctx, tp, 1, nil)
	}
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	send := func(keys []string, at time.Time) {
		t.Helper()
		var recs []*kgo.Record
		for i, k := range keys {
			recs = append(recs, &kgo.Record{Topic: in, Key: []byte(k), Value: []byte("v"), Timestamp: at.Add(time.Duration(i) * time.Minute)})
		}
		if err := c.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// First life: four events in the window [base, base+1h), none closed.
	send([]string{"a", "b", "a", "c"}, base)
	m := &processedCount{want: 4, done: make(chan struct{})}
	done := m.done
	w := start(t, topo, c.Brokers, t.TempDir(), processor.WithMetrics(m))
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the first worker did not commit the four events")
	}
	w.stop(t)
	changelog := app + "-wcounts-changelog"
	logged := readLog(t, ctx, c, changelog)
	if len(logged) == 0 {
		t.Fatalf("%s is empty", changelog)
	}
	for _, r := range logged {
		if r.Key[0] != 'k' {
			t.Fatalf("%s holds %q (offset %d), not a window: the time index is derived and must not be logged", changelog, r.Key, r.Offset)
		}
	}

	// Second life, from an empty state directory: restore, then an event
	// two hours later closes the window.
	rc := &restoreCount{last: map[string]int64{}}
	w = start(t, topo, c.Brokers, t.TempDir(), processor.WithMetrics(rc))
	defer w.stop(t)
	send([]string{"d"}, base.Add(2*time.Hour))
	got := map[string]int64{}
	ws := topology.WindowedSerde(codec.String())
	if _, err := c.ReadCommittedUntil(ctx, out, func(r *kgo.Record) bool {
		k, err := ws.Decode(out, r.Key)
		if err != nil {
			t.Errorf("bad key: %v", err)
			return true
		}
		n, err := codec.Int64().Decode(out, r.Value)
		if err != nil {
			t.Errorf("bad count: %v", err)
			return true
		}
		if !k.Start.Equal(base) {
			t.Errorf("closed window %v of %s; want the one at %v", k.Start, k.Key, base)
		}
		got[k.Key] = n
		return len(got) == 3
	}); err != nil {
		t.Fatalf("final counts after restore: %v; got %v", err, got)
	}
	if want := map[string]int64{"a": 2, "b": 1, "c": 1}; got["a"] != 2 || got["b"] != 1 || got["c"] != 1 {
		t.Fatalf("final counts after restore %v; want %v", got, want)
	}
	if n := rc.total(); n != int64(len(logged)) {
		t.Fatalf("restored %d records; the changelog holds %d", n, len(logged))
	}
}
