package processor_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
)

// TestWorkerLosingTasksCommitsFirst: worker a owns all four tasks and
// processes a steady load when b joins and takes some of them. a commits
// what it has in hand before the group takes them away, as Kafka Streams
// does, so none of a's transactions aborts: without that, the revoke
// aborted a's open transaction and every task it kept redid its work.
// Counts stay exact.
func TestWorkerLosingTasksCommitsFirst(t *testing.T) {
	ctx, c, a, want, seed := movingTasks(t, 4)
	logA, tasksA := newTaskLog(t)
	wa := start(t, a.topo, c.Brokers, t.TempDir(), processor.Logger(logA))
	produce(t, ctx, c, a.in, seed, 200, want)
	latestCounts(t, ctx, c, a.counts, want)

	stop := make(chan struct{})
	loaded := make(chan map[string]int64, 1)
	go func() { loaded <- steadyLoad(ctx, c, a.in, seed+1, stop) }()
	logB, tasksB := newTaskLog(t)
	wb := start(t, a.topo, c.Brokers, t.TempDir(), processor.Logger(logB))
	for len(tasksB.owned()) == 0 || len(tasksA.owned())+len(tasksB.owned()) != 4 {
		select {
		case <-ctx.Done():
			t.Fatalf("b never took tasks from a: a owns %v, b %v", tasksA.owned(), tasksB.owned())
		case <-time.After(20 * time.Millisecond): // polling the logs: no event to wait on
		}
	}
	// b processes some of the load too before it stops.
	produce(t, ctx, c, a.in, seed+2, 100, want)
	close(stop)
	for k, n := range <-loaded {
		want[k] += n
	}
	latestCounts(t, ctx, c, a.counts, want)
	t.Logf("a kept %v, b took %v", tasksA.owned(), tasksB.owned())
	if n := tasksA.logs.FilterMessage("transaction aborted; rewinding tasks to their last commit").Len(); n > 0 {
		t.Errorf("a aborted %d transactions while b took tasks from it, want none: it should commit before they go", n)
	}
	if tasksA.logs.FilterMessage("a rebalance waited too long for the worker's commit; letting it through").Len() > 0 {
		t.Errorf("a let a rebalance through without committing first")
	}
	wb.stop(t)
	wa.stop(t)
}

// steadyLoad produces small seeded batches back to back until stop is
// closed, and returns the events it sent per key. An error ends it
// early; the counts then miss, and the test says so.
func steadyLoad(ctx context.Context, c *kafkatest.Cluster, topic string, seed uint64, stop <-chan struct{}) map[string]int64 {
	sent := map[string]int64{}
	rng := rand.New(rand.NewPCG(seed, seed))
	cl := c.Client(kgo.DefaultProduceTopic(topic))
	for {
		select {
		case <-stop:
			return sent
		default:
		}
		recs := make([]*kgo.Record, 10)
		for i := range recs {
			recs[i] = &kgo.Record{Key: []byte("c" + strconv.Itoa(rng.IntN(50))), Value: []byte(strconv.Itoa(i))}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return sent
		}
		for _, r := range recs {
			sent[string(r.Key)]++
		}
	}
}
