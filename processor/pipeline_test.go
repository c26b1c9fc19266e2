package processor_test

import (
	"context"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
)

// TestAbortWhilePipelining aborts transactions whose next interval has
// already processed records into its overlays (the commit pipeline): both
// intervals must be dropped and redone, so every count is still written
// exactly once, as the model says.
func TestAbortWhilePipelining(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	const parts = 4
	app := newCountApp(t, c)
	app.create(ctx, c, parts)
	want := map[string]int64{}
	// A backlog and short commits leave records buffered at each commit,
	// for the next interval to process while the commit is in flight.
	produce(t, ctx, c, app.in, seed, 20000, want)
	w := start(t, app.topo, c.Brokers, t.TempDir(),
		processor.CommitInterval(10*time.Millisecond), processor.Parallelism(2))
	const aborts = 3
	w.app.AbortWhilePipelining(aborts)
	for w.app.ForcedAborts() > 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("seed %d: %d of %d aborts happened", seed, aborts-w.app.ForcedAborts(), aborts)
		case err := <-w.done:
			t.Fatalf("worker stopped: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	latestCounts(t, ctx, c, app.counts, want)
	w.stop(t)
	if err := checkCounts(readToMarker(t, ctx, c, app.counts, parts), want); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
}
