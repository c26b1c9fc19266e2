package processor_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// hooks counts metric calls.
type hooks struct {
	processed, committed, endToEnd, lag atomic.Int64
}

func (h *hooks) Processed(topology.TaskID, topology.TaskStats) { h.processed.Add(1) }
func (h *hooks) Committed(time.Duration, bool)                 { h.committed.Add(1) }
func (h *hooks) Restored(string, int32, int64, int64)          {}
func (h *hooks) EndToEnd(time.Duration)                        { h.endToEnd.Add(1) }
func (h *hooks) Lag(string, int32, int64)                      { h.lag.Add(1) }

// TestGlobalTableFollowsUpdates checks that a global table is loaded
// before processing starts and then keeps following its topic, that
// App.GetGlobal reads it, and that the metrics hooks see the work.
func TestGlobalTableFollowsUpdates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	views, products, out := c.Name("views"), c.Name("products"), c.Name("out")
	c.CreateTopic(ctx, views, 3, nil)
	c.CreateTopic(ctx, products, 1, nil)
	c.CreateTopic(ctx, out, 3, nil)

	b := topology.New(c.Name("app"))
	catalog := topology.GlobalTableOf(b, products, codec.String(), codec.String())
	topology.LeftJoinGlobal(topology.StreamOf(b, views, codec.String(), codec.String()), catalog, "brand",
		func(_ string, v string) string { return strings.Split(v, "#")[0] },
		func(_ string, v string, brand string, found bool) string {
			if !found {
				brand = "?"
			}
			return v + "=" + brand
		}).To(out, codec.String(), codec.String())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}

	p := c.Client()
	send := func(topic, k, v string) {
		t.Helper()
		if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	send(products, "p1", "acme")
	h := &hooks{}
	w := start(t, topo, c.Brokers, t.TempDir(), processor.WithMetrics(h))
	stopped := false
	defer func() {
		if !stopped {
			w.stop(t)
		}
	}()
	getGlobal := func(key string) (string, bool) {
		t.Helper()
		v, ok, err := w.app.GetGlobal(catalog.Store(), []byte(key))
		if err != nil {
			t.Fatalf("GetGlobal(%q): %v", key, err)
		}
		return string(v), ok
	}

	r := c.Client(kgo.ConsumeTopics(out), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	next := func() string {
		t.Helper()
		for {
			fs := r.PollRecords(ctx, 1)
			if ctx.Err() != nil {
				t.Fatal("no output before the deadline")
			}
			if recs := fs.Records(); len(recs) > 0 {
				return string(recs[0].Value)
			}
		}
	}

	// Loaded before the first view is processed.
	send(views, "c1", "p1#0")
	if got := next(); got != "p1#0=acme" {
		t.Fatalf("first view: %q, want p1#0=acme: the catalog was not loaded first", got)
	}
	if v, ok := getGlobal("p1"); !ok || v != "acme" {
		t.Fatalf("GetGlobal(p1) = %q, %v; want acme", v, ok)
	}
	if v, ok := getGlobal("p404"); ok {
		t.Fatalf("GetGlobal(p404) = %q, want not found", v)
	}
	for _, store := range []string{"nope", "brand"} {
		if _, _, err := w.app.GetGlobal(store, []byte("p1")); !errors.Is(err, processor.ErrUnknownStore) {
			t.Fatalf("GetGlobal on %q: %v, want ErrUnknownStore", store, err)
		}
	}
	// Followed afterwards: some later view sees the new brand, and once
	// one has, every later one does.
	send(products, "p1", "globex")
	seen := false
	for i := 1; i <= 200; i++ {
		send(views, "c1", "p1#"+strconv.Itoa(i))
		got := next()
		switch {
		case got == "p1#"+strconv.Itoa(i)+"=globex":
			seen = true
		case seen:
			t.Fatalf("view %d saw %q after the update was already visible", i, got)
		case got != "p1#"+strconv.Itoa(i)+"=acme":
			t.Fatalf("view %d: unexpected output %q", i, got)
		}
		if seen && i >= 3 {
			break
		}
	}
	if !seen {
		t.Fatal("the global table never followed the catalog update")
	}
	// A task has read the update from the store, so a query does too.
	if v, ok := getGlobal("p1"); !ok || v != "globex" {
		t.Fatalf("GetGlobal(p1) after the update = %q, %v; want globex", v, ok)
	}
	if h.committed.Load() == 0 || h.endToEnd.Load() == 0 || h.lag.Load() == 0 || h.processed.Load() == 0 {
		t.Fatalf("metrics hooks not called: committed=%d endToEnd=%d lag=%d processed=%d",
			h.committed.Load(), h.endToEnd.Load(), h.lag.Load(), h.processed.Load())
	}
	stopped = true
	w.stop(t)
	if _, _, err := w.app.GetGlobal(catalog.Store(), []byte("p1")); !errors.Is(err, processor.ErrNotReady) {
		t.Fatalf("GetGlobal after stop: %v, want ErrNotReady", err)
	}
}
