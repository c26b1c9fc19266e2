package processor_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// TestTTLExpiresAfterRestore: a count with a TTL keeps its expiry index in
// a companion store with its own changelog. A worker restoring both into
// an empty state directory expires what the first worker wrote, at the
// same stream time the driver would, forwarding the delete and writing
// its changelog tombstone exactly once with everything else.
func TestTTLExpiresAfterRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	in, out, app := c.Name("in"), c.Name("out"), c.Name("app")
	b := topology.New(app)
	topology.GroupByKey(topology.StreamOf(b, in, codec.String(), codec.String()), codec.String(), codec.String()).
		Count("counts", topology.TTL(time.Hour)).To(out, codec.String(), codec.Int64())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range []string{in, out} {
		c.CreateTopic(ctx, tp, 1, nil)
	}
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	send := func(k string, at time.Duration) {
		t.Helper()
		if err := c.Client().ProduceSync(ctx, &kgo.Record{Topic: in, Key: []byte(k), Value: []byte("v"), Timestamp: base.Add(at)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	send("a", 0)
	send("b", 10*time.Minute)
	m := &processedCount{want: 2, done: make(chan struct{})}
	done := m.done
	w := start(t, topo, c.Brokers, t.TempDir(), processor.WithMetrics(m))
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the first worker did not commit the two records")
	}
	w.stop(t)
	if idx := readLog(t, ctx, c, app+"-counts-ttl-changelog"); len(idx) != 4 {
		t.Fatalf("expiry index changelog holds %d records, want 2 per key", len(idx))
	}

	// Second life, from an empty state directory: a at 0 expires at 1h.
	w = start(t, topo, c.Brokers, t.TempDir())
	defer w.stop(t)
	send("c", time.Hour+5*time.Minute)
	send("b", time.Hour+6*time.Minute)
	var got []string
	if _, err := c.ReadCommittedUntil(ctx, out, func(r *kgo.Record) bool {
		v := "nil"
		if r.Value != nil {
			n, err := codec.Int64().Decode(out, r.Value)
			if err != nil {
				t.Errorf("bad count: %v", err)
				return true
			}
			v = strconv.FormatInt(n, 10)
		}
		got = append(got, string(r.Key)+"="+v)
		return len(got) == 5
	}); err != nil {
		t.Fatalf("outputs %v: %v", got, err)
	}
	if want := "[a=1 b=1 a=nil c=1 b=2]"; fmt.Sprint(got) != want {
		t.Fatalf("outputs %v, want %s", got, want)
	}
	tombs := 0
	for _, r := range readLog(t, ctx, c, app+"-counts-changelog") {
		if string(r.Key) == "a" && r.Value == nil {
			tombs++
		}
	}
	if tombs != 1 {
		t.Fatalf("%d changelog tombstones for a, want 1", tombs)
	}
}
