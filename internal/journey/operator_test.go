package journey

import (
	"testing"
	"time"

	"github.com/weirstream/weir/topology"
)

// What workers report becomes per-second series: events and commits per
// second, lag summed over partitions, latency percentiles of the second,
// cumulative dead letters, and each worker's tasks since its last
// assignment. A stopped worker runs and lags nothing.
func TestOperatorSeries(t *testing.T) {
	op := NewOperator(500*time.Millisecond, 3, func() Totals { return Totals{Profiles: 7, Triggers: 2, Webhooks: 1} })
	r0, r1 := op.Recorder(), op.Recorder()
	r0.Assigned(2, 1)
	r0.Processed(topology.TaskID{Subtopology: 0, Partition: 1}, topology.TaskStats{RecordsIn: 10, DeadLettered: 1})
	r0.Processed(topology.TaskID{Subtopology: 0, Partition: 4}, topology.TaskStats{RecordsIn: 5})
	r1.Processed(topology.TaskID{Subtopology: 0, Partition: 2}, topology.TaskStats{RecordsIn: 20, DeadLettered: 2})
	r0.Committed(time.Millisecond, true)
	r1.Committed(time.Millisecond, false)
	r0.Lag("views", 1, 30)
	r0.Lag("views", 1, 40) // the latest report of a partition counts
	r1.Lag("views", 2, 5)
	for i := 1; i <= 100; i++ {
		r0.EndToEnd(time.Duration(i) * time.Millisecond)
	}
	start := time.UnixMilli(1_000_000)
	op.take(start)
	r1.Stopped()
	op.take(start.Add(500 * time.Millisecond))

	workers := []Worker{{Name: "a", Index: 0, Running: true}, {Name: "b", Index: 1}}
	s := op.Snapshot(workers)
	if len(s.Times) != 2 || s.Times[0] != 1_000_000 || s.IntervalMs != 500 {
		t.Fatalf("times %v interval %d", s.Times, s.IntervalMs)
	}
	if s.EventsPerSec[0] != 70 || s.EventsPerSec[1] != 0 { // 35 records in half a second
		t.Fatalf("events/s %v, want [70 0]", s.EventsPerSec)
	}
	if s.Commits[0] != 2 || s.Aborts[0] != 2 || s.Lag[0] != 45 || s.Lag[1] != 40 {
		t.Fatalf("commits %v aborts %v lag %v", s.Commits, s.Aborts, s.Lag)
	}
	if s.P50[0] == nil || *s.P50[0] != 51 || *s.P99[0] != 100 || s.P50[1] != nil {
		t.Fatalf("p50 %v p99 %v", s.P50, s.P99)
	}
	if s.DeadLetters[0] != 3 || s.DeadLetters[1] != 3 || s.Totals.DeadLetters != 3 || s.Totals.Events != 35 {
		t.Fatalf("dead letters %v totals %+v", s.DeadLetters, s.Totals)
	}
	if s.Totals.Profiles != 7 || s.Totals.Webhooks != 1 {
		t.Fatalf("totals %+v", s.Totals)
	}
	w0, w1 := s.Workers[0], s.Workers[1]
	if w0.Active != 2 || w0.Standby != 1 || len(w0.Tasks) != 2 || w0.Tasks[0] != "0_1" || w0.EventsPerSec[0] != 30 {
		t.Fatalf("worker a: %+v", w0)
	}
	if w1.Running || len(w1.Tasks) != 0 || w1.Lag[1] != 0 || w1.EventsPerSec[0] != 40 {
		t.Fatalf("stopped worker b: %+v", w1)
	}
	for range 3 {
		op.take(time.Now())
	}
	if n := len(op.Snapshot(workers).Times); n != 3 {
		t.Fatalf("kept %d samples, want the last 3", n)
	}
}
