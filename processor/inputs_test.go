package processor

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/topology"
)

// The rule a task waits by, per input partition with nothing buffered:
// caught up once read to the last stable offset seen, then MaxTaskIdle
// more; never waiting when MaxTaskIdle is negative; and going on, with a
// warning, after stuckAfter behind with the consumer holding nothing
// fetched. Records before the position are stale and dropped.
func TestInputCaughtUp(t *testing.T) {
	tp := topology.TopicPartition{Topic: "in", Partition: 0}
	t0 := time.Unix(1000, 0)
	newWorker := func(idle time.Duration) *inputs {
		in := newInputs(idle, "app", zap.NewNop(), nil)
		in.m[tp] = &input{next: 5, stable: 7}
		return in
	}

	w := newWorker(0)
	if w.caughtUp(t0)(tp) {
		t.Fatal("caught up at 5 with the stable offset at 7")
	}
	if w.read(&kgo.Record{Topic: "in", Offset: 4}) {
		t.Fatal("offset 4, before the position 5, read as new")
	}
	for _, off := range []int64{5, 6} {
		if !w.read(&kgo.Record{Topic: "in", Offset: off}) {
			t.Fatalf("offset %d not read as new", off)
		}
	}
	if !w.caughtUp(t0)(tp) {
		t.Fatal("not caught up at the stable offset")
	}
	w.seen("in", 0, 9) // a fetch saw more
	if w.caughtUp(t0)(tp) {
		t.Fatal("caught up behind a newer stable offset")
	}
	w.buffered = true // the consumer holds records: they may be these
	if w.caughtUp(t0.Add(2 * stuckAfter))(tp) {
		t.Fatal("gave up waiting while the consumer still held fetched records")
	}
	w.buffered = false // the clock restarts when the buffer empties
	if w.caughtUp(t0.Add(3*stuckAfter - time.Millisecond))(tp) {
		t.Fatal("gave up waiting before stuckAfter with nothing buffered")
	}
	if !w.caughtUp(t0.Add(3 * stuckAfter))(tp) {
		t.Fatal("still waiting stuckAfter after the buffer emptied")
	}
	// A buffer that never empties bounds the wait too.
	w = newWorker(0)
	w.buffered = true
	if w.caughtUp(t0)(tp) || w.caughtUp(t0.Add(stuckBuffered-time.Millisecond))(tp) {
		t.Fatal("gave up waiting before stuckBuffered with records buffered")
	}
	if !w.caughtUp(t0.Add(stuckBuffered))(tp) {
		t.Fatal("still waiting after stuckBuffered")
	}
	w = newWorker(0)
	w.seen("in", 0, 9)
	if w.caughtUp(t0)(tp) || w.caughtUp(t0.Add(stuckAfter-time.Millisecond))(tp) {
		t.Fatal("gave up waiting before stuckAfter")
	}
	if !w.caughtUp(t0.Add(stuckAfter))(tp) {
		t.Fatal("still waiting after stuckAfter")
	}
	w.read(&kgo.Record{Topic: "in", Offset: 7})
	if w.caughtUp(t0.Add(stuckAfter))(tp) {
		t.Fatal("a record read did not restart the wait")
	}

	w = newWorker(time.Second)
	w.m[tp].next = 7
	if w.caughtUp(t0)(tp) || w.caughtUp(t0.Add(999*time.Millisecond))(tp) {
		t.Fatal("did not wait MaxTaskIdle after catching up")
	}
	if !w.caughtUp(t0.Add(time.Second))(tp) {
		t.Fatal("still waiting after MaxTaskIdle")
	}

	if w := newWorker(-1); !w.caughtUp(t0)(tp) {
		t.Fatal("negative MaxTaskIdle waited")
	}
	if w := newWorker(0); w.caughtUp(t0)(topology.TopicPartition{Topic: "other"}) {
		t.Fatal("an unknown partition counted as caught up")
	}
}

// Lag counts from the committed position to the last stable offset, so
// it grows while records arrive that no commit covers (a paused or stuck
// task), and from where reading resumed until the first commit.
func TestInputLagCountsWhatIsNotCommitted(t *testing.T) {
	tp := topology.TopicPartition{Topic: "in", Partition: 0}
	in := newInputs(0, "app", zap.NewNop(), nil)
	in.m[tp] = &input{next: 5, stable: 9, committed: -1, resumed: 5}
	if n, ok := in.lag(tp); !ok || n != 4 {
		t.Fatalf("lag before a commit = %d, %v; want 4 from where reading resumed", n, ok)
	}
	in.read(&kgo.Record{Topic: "in", Offset: 5})
	in.read(&kgo.Record{Topic: "in", Offset: 6})
	in.seen("in", 0, 12) // fetched and read, not committed: still lag
	if n, _ := in.lag(tp); n != 7 {
		t.Fatalf("lag after reading without a commit = %d, want 7", n)
	}
	in.committed(map[string]map[int32]int64{"in": {0: 7}})
	got := map[topology.TopicPartition]int64{}
	in.lags(func(topic string, p int32, n int64) { got[topology.TopicPartition{Topic: topic, Partition: p}] = n })
	if got[tp] != 5 || len(got) != 1 {
		t.Fatalf("lags after committing 7 = %v, want in/0: 5", got)
	}
	in.m[tp].stable = -1
	if _, ok := in.lag(tp); ok {
		t.Fatal("lag known without a stable offset")
	}
}
