package processor_test

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/processor"
)

// replicas returns the tasks a worker keeps standby replicas of now, and
// for each task ever stopped, the changelog positions (per store) its
// replica had read when it stopped.
func (l taskLog) replicas() (now map[string]bool, stoppedAt map[string]map[string]int64) {
	now, stoppedAt = map[string]bool{}, map[string]map[string]int64{}
	for _, e := range l.logs.All() {
		f := e.ContextMap()
		task, _ := f["task"].(string)
		switch e.Message {
		case "standby replica started":
			now[task] = true
		case "standby replica stopped":
			delete(now, task)
			stoppedAt[task], _ = f["positions"].(map[string]int64)
		}
	}
	return now, stoppedAt
}

// warmedUp returns the tasks a worker started a warm-up replica of.
func (l taskLog) warmedUp() map[string]bool {
	out := map[string]bool{}
	for _, e := range l.logs.FilterMessage("standby replica started").All() {
		if f := e.ContextMap(); f["warmup"] == true {
			out[f["task"].(string)] = true
		}
	}
	return out
}

// restores returns, per task and store, where each restore started.
func (l taskLog) restores() map[string]map[string][]int64 {
	out := map[string]map[string][]int64{}
	for _, e := range l.logs.FilterMessage("restored").All() {
		f := e.ContextMap()
		task, store := f["task"].(string), f["store"].(string)
		if out[task] == nil {
			out[task] = map[string][]int64{}
		}
		out[task][store] = append(out[task][store], f["from"].(int64))
	}
	return out
}

// TestStandbyTakesOverRestoringOnlyTheTail: with Standbys(1), each of two
// workers keeps a replica of the other's tasks. When a leaves, b's
// replicas become its tasks: each restore starts exactly where the
// replica had read to (never at 0), and every count stays exact.
func TestStandbyTakesOverRestoringOnlyTheTail(t *testing.T) {
	ctx, c, a, want, seed := movingTasks(t, 4)
	opts := []processor.Opt{processor.Standbys(1), processor.KeepMovedState(time.Hour)}

	logA, tasksA := newTaskLog(t)
	wa := start(t, a.topo, c.Brokers, t.TempDir(), append(opts, processor.Logger(logA))...)
	produce(t, ctx, c, a.in, seed, 600, want)
	latestCounts(t, ctx, c, a.counts, want)
	logB, tasksB := newTaskLog(t)
	wb := start(t, a.topo, c.Brokers, t.TempDir(), append(opts, processor.Logger(logB))...)
	feedUntil(t, ctx, c, a, seed+1, want, "each worker keeps replicas of the other's tasks", func() bool {
		ra, _ := tasksA.replicas()
		rb, _ := tasksB.replicas()
		ownA, ownB := tasksA.owned(), tasksB.owned()
		return len(ownA) > 0 && len(ownB) > 0 && len(ownA)+len(ownB) == 4 && maps.Equal(ra, ownB) && maps.Equal(rb, ownA)
	})
	fromA := tasksA.owned()
	t.Logf("a owns %v, b keeps replicas of them", slices.Sorted(maps.Keys(fromA)))
	produce(t, ctx, c, a.in, seed+1000, 600, want) // the replicas follow
	latestCounts(t, ctx, c, a.counts, want)

	wa.stop(t) // leaves: its tasks go to b, onto the replicas
	// Nothing is produced until b owns them, so where the changelogs end
	// now is what b's replicas had to reach.
	if err := c.WaitSettled(ctx, a.changelogs...); err != nil {
		t.Fatal(err)
	}
	ends, err := c.Admin().ListEndOffsets(ctx, a.changelogs...)
	if err != nil {
		t.Fatal(err)
	}
	feedUntil(t, ctx, c, a, seed+2000, want, "b owns every task", func() bool { return len(tasksB.owned()) == 4 })
	wb.stop(t)

	_, stoppedAt := tasksB.replicas()
	restores := tasksB.restores()
	followed := false
	for task := range fromA {
		at, ok := stoppedAt[task]
		if !ok {
			t.Fatalf("task %s moved to b without b's replica of it stopping first", task)
		}
		p, _ := strconv.Atoi(strings.TrimPrefix(task, "0_"))
		for store, pos := range at {
			followed = followed || pos > 0
			for _, from := range restores[task][store] {
				if from != pos {
					t.Errorf("task %s store %s: restore started at %d, want where the replica stopped, %d", task, store, from, pos)
				}
			}
			if len(restores[task][store]) > 0 {
				continue
			}
			// No restore: the replica had read all a committed.
			cl := a.topo.AppID() + "-" + store + "-changelog"
			end, _ := ends.Lookup(cl, int32(p))
			past, err := c.CountCommitted(ctx, map[string]map[int32]int64{cl: {int32(p): pos}})
			if err != nil {
				t.Fatal(err)
			}
			later, err := c.CountCommitted(ctx, map[string]map[int32]int64{cl: {int32(p): end.Offset}})
			if err != nil {
				t.Fatal(err)
			}
			if past != later {
				t.Errorf("task %s store %s: not restored, yet %d records a committed lie past the replica's position %d", task, store, past-later, pos)
			}
		}
		t.Logf("task %s: replica stopped at %v; restores from %v", task, at, restores[task])
	}
	if !followed {
		t.Fatal("no replica had read anything: standbys did not follow their changelogs")
	}
}

// TestNewWorkerWarmsUpBeforeTakingTasks (KIP-441): a worker that joins
// without state takes no stateful task at once; it warms up replicas,
// asks for a rebalance once within the acceptable lag, and only then
// takes the tasks, restoring from where its warm-up got.
func TestNewWorkerWarmsUpBeforeTakingTasks(t *testing.T) {
	ctx, c, a, want, seed := movingTasks(t, 2)
	warm := processor.Warmup(2, 60)

	logA, tasksA := newTaskLog(t)
	wa := start(t, a.topo, c.Brokers, t.TempDir(), warm, processor.Logger(logA))
	produce(t, ctx, c, a.in, seed, 800, want) // well past 20 records per task
	latestCounts(t, ctx, c, a.counts, want)
	logB, tasksB := newTaskLog(t)
	wb := start(t, a.topo, c.Brokers, t.TempDir(), warm, processor.Logger(logB))
	feedUntil(t, ctx, c, a, seed+1, want, "b took a task", func() bool { return len(tasksB.owned()) > 0 })
	wb.stop(t)
	wa.stop(t)

	warmed := tasksB.warmedUp()
	_, stoppedAt := tasksB.replicas()
	restores := tasksB.restores()
	for _, e := range tasksB.logs.FilterMessage("task opened").All() {
		task := e.ContextMap()["task"].(string)
		if !warmed[task] {
			t.Errorf("b opened task %s without warming it up first (warm-ups: %v)", task, warmed)
		}
		for store, pos := range stoppedAt[task] {
			if pos == 0 {
				t.Errorf("task %s store %s: the warm-up read nothing", task, store)
			}
			for _, from := range restores[task][store] {
				if from != pos {
					t.Errorf("task %s store %s: restore started at %d, want where the warm-up stopped, %d", task, store, from, pos)
				}
			}
		}
	}
	if n := len(tasksA.owned()); n != 2-len(tasksB.owned()) {
		t.Errorf("a owns %d tasks and b %d, want 2 in all", n, len(tasksB.owned()))
	}
}
