package processor_test

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/state/pebble"
)

// taskLog records which tasks an in-process worker opened and gave away.
type taskLog struct{ logs *observer.ObservedLogs }

func newTaskLog(t *testing.T) (*zap.Logger, taskLog) {
	core, logs := observer.New(zap.InfoLevel)
	return zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core)), taskLog{logs}
}

// owned returns the tasks opened and not given away.
func (l taskLog) owned() map[string]bool {
	out := map[string]bool{}
	for _, e := range l.logs.All() {
		task, _ := e.ContextMap()["task"].(string)
		switch {
		case e.Message == "task opened":
			out[task] = true
		case strings.HasPrefix(e.Message, "task moved away"):
			delete(out, task)
		}
	}
	return out
}

// TestMovedTaskComesBackRestoringOnlyTheTail moves tasks from worker a
// to a new worker b and back (b leaves): a kept their state, so each
// restore starts at a's checkpoint and replays exactly the records
// committed after it (what b wrote), not the whole changelog. With
// KeepMovedState(0) they would restore from offset 0, and the state
// would be gone from a's directory.
func TestMovedTaskComesBackRestoringOnlyTheTail(t *testing.T) {
	ctx, c, a, want, seed := movingTasks(t, 4)
	keep := processor.KeepMovedState(time.Hour)
	dirA := t.TempDir()

	logA, tasksA := newTaskLog(t)
	wa := start(t, a.topo, c.Brokers, dirA, keep, processor.Logger(logA))
	produce(t, ctx, c, a.in, seed, 600, want)
	latestCounts(t, ctx, c, a.counts, want)

	logB, tasksB := newTaskLog(t)
	wb := start(t, a.topo, c.Brokers, t.TempDir(), keep, processor.Logger(logB))
	feedUntil(t, ctx, c, a, seed+1, want, "the workers split the 4 tasks", func() bool {
		return len(tasksB.owned()) > 0 && len(tasksA.owned())+len(tasksB.owned()) == 4
	})
	moved := slices.Sorted(maps.Keys(tasksB.owned()))
	t.Logf("moved to b: %v", moved)
	produce(t, ctx, c, a.in, seed+1000, 300, want) // b writes to their changelogs
	latestCounts(t, ctx, c, a.counts, want)
	wb.stop(t) // dynamic: leaves, and the tasks go back to a
	produce(t, ctx, c, a.in, seed+1001, 100, want)
	latestCounts(t, ctx, c, a.counts, want)
	feedUntil(t, ctx, c, a, seed+1002, want, "a got every task back", func() bool {
		return maps.Equal(tasksA.owned(), map[string]bool{"0_0": true, "0_1": true, "0_2": true, "0_3": true})
	})
	wa.stop(t)
	if err := c.WaitSettled(ctx, a.changelogs...); err != nil {
		t.Fatal(err)
	}

	// Each restore of a moved task started at a's kept checkpoint, not at
	// the start of the changelog, and replayed the records committed
	// between there and the end it saw: what b wrote.
	restores := 0
	for _, e := range tasksA.logs.FilterMessage("restored").All() {
		f := e.ContextMap()
		task, _ := f["task"].(string)
		if !slices.Contains(moved, task) {
			continue
		}
		restores++
		p, _ := strconv.Atoi(strings.TrimPrefix(task, "0_"))
		cl := a.topo.AppID() + "-" + f["store"].(string) + "-changelog"
		from, to, got := f["from"].(int64), f["to"].(int64), f["records"].(int64)
		if from == 0 {
			t.Errorf("task %s store %s restored from offset 0: its kept state was not used", task, f["store"])
		}
		after, err := c.CountCommitted(ctx, map[string]map[int32]int64{cl: {int32(p): from}})
		if err != nil {
			t.Fatal(err)
		}
		past, err := c.CountCommitted(ctx, map[string]map[int32]int64{cl: {int32(p): to}})
		if err != nil {
			t.Fatal(err)
		}
		if got != after-past {
			t.Errorf("task %s store %s: restored %d records from offset %d to %d, want the %d committed there", task, f["store"], got, from, to, after-past)
		}
		t.Logf("task %s store %s: restored %d records, offsets %d to %d", task, f["store"], got, from, to)
	}
	if restores == 0 {
		t.Fatalf("a restored none of the tasks that came back (%v): b wrote nothing to their changelogs?", moved)
	}

	// The state of every task is still in a's directory.
	db, err := pebble.Open(filepath.Join(dirA, a.topo.AppID()), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if tasks, _ := db.Tasks(); len(tasks) != 4 {
		t.Errorf("a's directory holds the state of tasks %v, want all 4", tasks)
	}
}

// TestMovedStateIsDroppedAfterKeepMovedState: a worker keeps the state of
// a task that moved to another worker (KeepMovedState(1h)); restarted
// with KeepMovedState(0) while that task is still elsewhere, it drops
// that task's state once the group has told it which tasks are its own,
// and keeps its own task's.
func TestMovedStateIsDroppedAfterKeepMovedState(t *testing.T) {
	ctx, c, a, want, seed := movingTasks(t, 2)
	dirA, dirB := t.TempDir(), t.TempDir()

	// a owns both tasks, then b takes one: a keeps its state (1h).
	logA, tasksA := newTaskLog(t)
	wa := start(t, a.topo, c.Brokers, dirA, processor.KeepMovedState(time.Hour), processor.Logger(logA))
	produce(t, ctx, c, a.in, seed, 200, want)
	latestCounts(t, ctx, c, a.counts, want)
	logB, tasksB := newTaskLog(t)
	wb := start(t, a.topo, c.Brokers, dirB, processor.Logger(logB))
	feedUntil(t, ctx, c, a, seed+1, want, "b took a task from a", func() bool {
		return len(tasksB.owned()) > 0 && len(tasksA.owned()) < 2
	})
	wa.stop(t)
	if got := localTasks(t, dirA, a); len(got) != 2 {
		t.Fatalf("with KeepMovedState(1h) a's directory holds %v, want both tasks", got)
	}

	// a comes back while b still owns its task, now with
	// KeepMovedState(0): the state of the task b owns is dropped.
	logA, tasksA = newTaskLog(t)
	wa = start(t, a.topo, c.Brokers, dirA, processor.KeepMovedState(0), processor.Logger(logA))
	// a left the group when it stopped, so b took both tasks; wait until
	// the group gives one back to a.
	feedUntil(t, ctx, c, a, seed+100, want, "a got one task back", func() bool { return len(tasksA.owned()) == 1 })
	ownedA := tasksA.owned()
	wa.stop(t)
	wb.stop(t)
	got := localTasks(t, dirA, a)
	if !maps.Equal(got, ownedA) {
		t.Errorf("with KeepMovedState(0) a's directory holds %v, want only the task it owns, %v", got, ownedA)
	}
}

// movingTasks sets up a test that moves tasks between workers: a
// three-store app over the given partitions on a fresh cluster, the
// counts its outputs must reach (empty yet), a seed (logged), and a
// minute to do it all in.
func movingTasks(t *testing.T, partitions int32) (context.Context, *kafkatest.Cluster, threeStoreApp, map[string]int64, uint64) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	c := kafkatest.New(t)
	a := newThreeStoreApp(t, c)
	a.create(ctx, c, partitions)
	return ctx, c, a, map[string]int64{}, seed
}

// feedUntil produces small seeded batches and waits for their counts
// until done says the group got where the test needs it; each batch
// gives the workers a commit and the group a chance to move tasks.
func feedUntil(t *testing.T, ctx context.Context, c *kafkatest.Cluster, a threeStoreApp, seed uint64, want map[string]int64, what string, done func() bool) {
	t.Helper()
	for i := seed; !done(); i++ {
		if ctx.Err() != nil {
			t.Fatalf("never reached: %s", what)
		}
		produce(t, ctx, c, a.in, i, 20, want)
		latestCounts(t, ctx, c, a.counts, want)
	}
}

func localTasks(t *testing.T, dir string, a threeStoreApp) map[string]bool {
	t.Helper()
	db, err := pebble.Open(filepath.Join(dir, a.topo.AppID()), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tasks, err := db.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, task := range tasks {
		out[task] = true
	}
	return out
}
