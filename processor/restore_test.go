package processor_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// restoreCount records how many changelog records each restore replayed.
type restoreCount struct {
	mu   sync.Mutex
	last map[string]int64 // topic/partition -> records of the latest replay
}

func (r *restoreCount) Processed(topology.TaskID, topology.TaskStats) {}
func (r *restoreCount) Committed(time.Duration, bool)                 {}
func (r *restoreCount) EndToEnd(time.Duration)                        {}
func (r *restoreCount) Lag(string, int32, int64)                      {}
func (r *restoreCount) Restored(topic string, p int32, restored, _ int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[string]int64{}
	}
	r.last[topic+"/"+strconv.Itoa(int(p))] = restored
}

func (r *restoreCount) total() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, v := range r.last {
		n += v
	}
	return n
}

// TestCrashRestoresOnlyTheTail models a crash that lost the newest local
// writes (Pebble writes without fsync): the worker restarts from an older
// copy of its state directory and must replay only the changelog records
// written since that copy's checkpoint, not the whole store.
func TestCrashRestoresOnlyTheTail(t *testing.T) {
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

	// A large store: 20,000 distinct keys.
	produceKeys(t, ctx, c, in, 20000, 0, want)
	w := start(t, topo, c.Brokers, dir)
	latestCounts(t, ctx, c, counts, want)
	w.stop(t)
	storeSize := int64(len(want))

	snapshot := t.TempDir()
	if err := os.CopyFS(snapshot, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}

	// Work the snapshot will not have: 40 keys updated.
	produceKeys(t, ctx, c, in, 40, 0, want)
	w = start(t, topo, c.Brokers, dir)
	latestCounts(t, ctx, c, counts, want)
	w.stop(t)

	// "Crash": restart from the older snapshot.
	rc := &restoreCount{last: map[string]int64{}}
	produceKeys(t, ctx, c, in, 10, 100000, want)
	w = start(t, topo, c.Brokers, snapshot, processor.WithMetrics(rc))
	latestCounts(t, ctx, c, counts, want)
	w.stop(t)

	restored := rc.total()
	t.Logf("store %d keys, restored %d changelog records", storeSize, restored)
	if restored < 40 || restored > 40*3 {
		// 40 updated keys, each in one or a few commits.
		t.Fatalf("restored %d changelog records, want the tail of 40-120 (store has %d keys)", restored, storeSize)
	}
}

// produceKeys sends one event to each of n keys starting at key number
// from, and records them in want.
func produceKeys(t *testing.T, ctx context.Context, c *kafkatest.Cluster, topic string, n, from int, want map[string]int64) {
	t.Helper()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(from+i)
	}
	produceList(t, ctx, c, topic, keys, want)
}

// TestForeignStateDiscarded runs an application on one cluster, then
// points the same state directory at another: the leftover state must be
// detected, logged and dropped, and counts start from the new cluster's
// input alone.
func TestForeignStateDiscarded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	other, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c := kafkatest.New(t)
	app := newCountApp(t, c)
	in, counts, topo := app.in, app.counts, app.topo
	dir := t.TempDir()

	// First life, on the other cluster.
	oc := kafkatest.Attach(t, other.ListenAddrs())
	app.create(ctx, oc, 3)
	wantOther := map[string]int64{}
	produceList(t, ctx, oc, in, []string{"x", "y", "x"}, wantOther)
	w := start(t, topo, oc.Brokers, dir)
	latestCounts(t, ctx, oc, counts, wantOther)
	w.stop(t)

	// Second life, on the test's cluster, same state directory.
	app.create(ctx, c, 3)
	want := map[string]int64{}
	produceList(t, ctx, c, in, []string{"x", "z"}, want)
	core, logs := observer.New(zap.WarnLevel)
	app2, err := processor.New(topo, processor.SeedBrokers(c.Brokers...), processor.StateDir(dir), processor.Logger(zap.New(core)))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app2.Run(rctx) }()
	latestCounts(t, ctx, c, counts, want) // x=1: the other cluster's x=2 is gone
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessageSnippet("discarding local state").Len(); n == 0 {
		for _, e := range logs.All() {
			t.Log(e.Message, e.ContextMap())
		}
		t.Fatal("no log line about discarded state")
	}
}
