package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/state/pebble"
	"github.com/weirstream/weir/topology"
)

// globalTask is the name under which global tables live in the DB.
const globalTask = "global"

// task is a task core with the stores it writes through.
type task struct {
	id     topology.TaskID
	name   string
	core   *topology.Task
	stores map[string]*layers
	logs   map[string]string // store -> changelog topic
	cp     state.Checkpoint
	// reported is what Metrics.Processed has been told, since the core
	// counts from its creation; frozen is the count when the interval
	// in flight ended.
	reported, frozen topology.TaskStats
}

// taskSet is the worker's tasks: it opens (restoring local state), runs,
// rewinds, closes and drops them, and publishes them to queries.
type taskSet struct {
	a         *App
	p         *plan
	db        *pebble.DB
	log       *zap.Logger
	cl        *kgo.Client // for admin requests and restore clients' settings
	in        *inputs
	grp       *group
	pauses    *pauses
	m         map[topology.TaskID]*task
	moved     map[string]time.Time // tasks whose local state is kept: when they left
	local     *positions           // how far each task's local state got, for the group
	n         int                  // Parallelism
	done      atomic.Int64         // records processed, for tests
	restoring func()               // called as a restore starts (gate.ungate)
}

func newTaskSet(a *App, p *plan, db *pebble.DB, cl *kgo.Client, in *inputs, grp *group, local *positions) *taskSet {
	return &taskSet{a: a, p: p, db: db, log: a.log, cl: cl, in: in, grp: grp, local: local,
		pauses: newPauses(a), m: map[topology.TaskID]*task{}, n: a.cfg.parallelism}
}

// localPositions reads how far the local state of every task in the
// directory got, before the worker first joins its group. State of
// another cluster or application counts as none.
func localPositions(db *pebble.DB, identity state.Identity) (*positions, error) {
	p := newPositions()
	names, err := db.Tasks()
	if err != nil {
		return nil, fmt.Errorf("processor: list local state: %w", err)
	}
	for _, name := range names {
		id, ok := parseTaskName(name)
		if !ok {
			continue
		}
		cp, ok, err := db.Checkpoint(name)
		if err != nil {
			return nil, fmt.Errorf("processor: task %s: read checkpoint: %w", name, err)
		}
		if ok && cp.Check(identity) == nil {
			p.set(id, cp)
		}
	}
	return p, nil
}

// adopt takes over the state directory at the first assignment: state
// of the tasks not assigned counts as moved away now (KeepMovedState).
func (ts *taskSet) adopt(want map[topology.TaskID]bool, now time.Time) error {
	ts.moved = map[string]time.Time{}
	names, err := ts.db.Tasks()
	if err != nil {
		return fmt.Errorf("processor: list local state: %w", err)
	}
	assigned := map[string]bool{}
	for id := range want {
		assigned[id.String()] = true
	}
	for _, name := range names {
		if name != globalTask && !assigned[name] {
			ts.moved[name] = now
		}
	}
	return nil
}

// taskStores gives a task core its stores: its own through pending
// overlays (layers), global ones read-only from the DB through a cache.
type taskStores struct {
	ts *taskSet
	t  *task
}

func (s taskStores) KeyValue(name string) (state.KeyValueStore, error) {
	if pd := s.t.stores[name]; pd != nil {
		return pd, nil
	}
	for _, g := range s.ts.p.globals {
		if g.Store == name {
			// Read on almost every record, written rarely: cached.
			return s.ts.db.CachedStore(globalTask, name), nil
		}
	}
	return nil, fmt.Errorf("processor: task %s has no store %q", s.t.id, name)
}

func (ts *taskSet) newCore(t *task) (*topology.Task, error) {
	core, err := ts.a.topo.NewTask(t.id, taskStores{ts, t},
		topology.DefaultBadInput(ts.a.cfg.badInput),
		topology.WithPartitionCounts(ts.p.counts),
		topology.WithLogger(slogFrom(ts.log.With(zap.Stringer("task", t.id)))),
	)
	if err != nil {
		return nil, fmt.Errorf("processor: create task %s: %w", t.id, err)
	}
	return core, nil
}

// forRecord returns the task that reads topic/partition, opening it if
// the record came before the assignment callback did.
func (ts *taskSet) forRecord(ctx context.Context, topic string, partition int32) (*task, int, error) {
	sub, ok := ts.a.topo.SubtopologyOf(topic)
	if !ok {
		return nil, 0, fmt.Errorf("processor: record from unexpected topic %s", topic)
	}
	id := topology.TaskID{Subtopology: sub, Partition: partition}
	if t := ts.m[id]; t != nil {
		return t, sub, nil
	}
	if err := ts.open(ctx, id); err != nil {
		return nil, 0, err
	}
	ts.publish()
	return ts.m[id], sub, nil
}

// sync opens (and restores) the tasks in want that are not open, and
// closes the open ones not in want, keeping their local state for
// KeepMovedState.
func (ts *taskSet) sync(ctx context.Context, want map[topology.TaskID]bool) error {
	var gone []*task
	for id, t := range ts.m {
		if !want[id] {
			ts.in.forget(t.core.Inputs())
			t.core.Close()
			delete(ts.m, id)
			ts.pauses.drop(id)
			gone = append(gone, t)
		}
	}
	if len(gone) > 0 {
		ts.publish() // queries stop reading them before their state goes
	}
	now := time.Now()
	if ts.moved == nil {
		if err := ts.adopt(want, now); err != nil {
			return err
		}
	}
	for _, t := range gone {
		// Its state stays, with its checkpoint, for KeepMovedState: if
		// the task comes back only the changelog tail is restored.
		ts.moved[t.name] = now
		ts.log.Info("task moved away; local state kept", zap.Stringer("task", t.id), zap.Duration("for", ts.a.cfg.keepMoved))
	}
	if err := ts.dropMoved(now); err != nil {
		return err
	}
	ids := make([]topology.TaskID, 0, len(want))
	for id := range want {
		if ts.m[id] == nil {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return lessID(ids[i], ids[j]) })
	if err := ts.open(ctx, ids...); err != nil {
		return err
	}
	if len(ids) > 0 {
		ts.in.restartWaits() // restoring kept the loop from reading
	}
	ts.publish()
	return nil
}

func lessID(a, b topology.TaskID) bool {
	if a.Subtopology != b.Subtopology {
		return a.Subtopology < b.Subtopology
	}
	return a.Partition < b.Partition
}

// dropMoved drops the local state of tasks that moved away at least
// KeepMovedState ago, each with one range delete (the changelog has it
// all).
func (ts *taskSet) dropMoved(now time.Time) error {
	for name, left := range ts.moved {
		if now.Sub(left) < ts.a.cfg.keepMoved {
			continue
		}
		if err := ts.db.DropTask(name); err != nil {
			return fmt.Errorf("processor: drop state of task %s: %w", name, err)
		}
		ts.local.drop(name)
		delete(ts.moved, name)
		ts.log.Info("local state of a task that moved away dropped", zap.String("task", name), zap.Duration("after", now.Sub(left)))
	}
	return nil
}

// publish makes the open tasks visible to queries.
func (ts *taskSet) publish() { ts.grp.publish(ts.m) }

// storeIndex says which stores keep a derived time index: it stays out
// of their changelog and restore rebuilds it.
func storeIndex(k topology.StoreKind) []state.PendingOpt {
	switch k {
	case topology.KindWindow:
		return []state.PendingOpt{state.WithIndex(state.WindowIndex)}
	case topology.KindSession:
		return []state.PendingOpt{state.WithIndex(state.SessionIndex)}
	}
	return nil
}

// open checks the tasks' local state against the cluster, restores the
// changelog tails past their checkpoints, and makes their cores.
func (ts *taskSet) open(ctx context.Context, ids ...topology.TaskID) error {
	tasks := make([]*task, 0, len(ids))
	for _, id := range ids {
		t, err := ts.load(id)
		if err != nil {
			return err
		}
		tasks = append(tasks, t)
	}
	if err := ts.restore(ctx, tasks); err != nil {
		return err
	}
	for _, t := range tasks {
		var err error
		if t.core, err = ts.newCore(t); err != nil {
			return err
		}
		if err := ts.in.locate(ctx, ts.cl, t.core.Inputs()); err != nil {
			return fmt.Errorf("processor: task %s: %w", t.id, err)
		}
		ts.m[t.id] = t
		// Zero counts now, so a first dead letter is an increase to
		// Prometheus rather than a series that starts at 1.
		ts.a.cfg.metrics.Processed(t.id, topology.TaskStats{})
		ts.log.Info("task opened", zap.Stringer("task", t.id))
	}
	return nil
}

// load makes a task's stores and reads its checkpoint, dropping local
// state that belongs to another cluster or application.
func (ts *taskSet) load(id topology.TaskID) (*task, error) {
	t := &task{id: id, name: id.String(), stores: map[string]*layers{}, logs: map[string]string{}}
	delete(ts.moved, t.name) // back: its kept state is the base of the restore
	for _, st := range ts.p.subs[id.Subtopology].Stores {
		t.stores[st.Name] = newLayers(ts.db.Store(t.name, st.Name), storeIndex(st.Kind)...)
		t.logs[st.Name] = st.Changelog
	}
	cp, ok, err := ts.db.Checkpoint(t.name)
	if err != nil {
		return nil, fmt.Errorf("processor: task %s: read checkpoint: %w", id, err)
	}
	if ok {
		if err := cp.Check(ts.p.identity); err != nil {
			ts.log.Warn("discarding local state that does not belong to this cluster/application", zap.Stringer("task", id), zap.Error(err))
			if err := ts.db.DropTask(t.name); err != nil {
				return nil, err
			}
			ts.local.drop(t.name)
			ok = false
		}
	}
	if !ok {
		cp = state.Checkpoint{Identity: ts.p.identity, Offsets: map[state.TopicPartition]int64{}}
	}
	t.cp = cp
	return t, nil
}

// process runs every task while it is ready (topology.Task.Ready) and the
// commit is not due, then fires wall-clock punctuations, on Parallelism
// goroutines. A task paused by an unavailable dependency is skipped until
// its next try; ctx reaches the serdes, so a stop never waits on a
// registry call.
func (ts *taskSet) process(ctx context.Context, now, commitBy time.Time) error {
	// Safe in parallel: each input partition belongs to one task.
	ready := ts.in.caughtUp(now)
	return firstErr(eachTask(ts.n, ts.sorted(), func(_ int, t *task) error {
		return ts.run(ctx, t, ready, now, commitBy)
	}))
}

// run processes one task: what the core says it waits for (Ready,
// ErrWaiting, ErrInterrupted) decides what happens next.
func (ts *taskSet) run(ctx context.Context, t *task, ready func(topology.TopicPartition) bool, now, commitBy time.Time) error {
	if ts.pauses.waiting(t.id, now) {
		return nil
	}
records:
	for n := 0; t.core.Ready(ready); n++ {
		// Past the commit time, what is left waits for the next
		// transaction (the commit stops at held records).
		if n%256 == 255 && !time.Now().Before(commitBy) {
			break
		}
		_, err := t.core.Process(ctx)
		switch {
		case err == nil:
			ts.done.Add(1)
			ts.pauses.resume(t.id, now)
		case errors.Is(err, topology.ErrWaiting):
			// The record stays queued and held: nothing to undo.
			if ctx.Err() == nil { // else stopping, not an outage
				ts.pauses.pause(t.id, err, now)
			}
			break records
		case errors.Is(err, topology.ErrInterrupted):
			ts.pauses.pause(t.id, err, now)
			return fmt.Errorf("processor: task %s: %w", t.id, err)
		default:
			return fmt.Errorf("processor: task %s stopped: %w", t.id, err)
		}
	}
	if ts.pauses.paused(t.id) {
		return nil // a paused task does nothing, punctuations included
	}
	if err := t.core.Punctuate(now); err != nil {
		if errors.Is(err, topology.ErrInterrupted) {
			ts.pauses.pause(t.id, err, now)
		}
		return fmt.Errorf("processor: task %s punctuation: %w", t.id, err)
	}
	return nil
}

// produce ends the interval: it hands every task's outputs and changelog
// records to the open transaction, after the commit hooks forward what
// processors held back for the commit (e.g. the latest profile of each
// changed customer), and freezes each store's overlay, so that tasks can
// go on into the next interval's while this one commits. Tasks prepare
// their records in parallel; they are produced in task order, so
// partitions get the same records in the same order whatever the
// parallelism.
func (ts *taskSet) produce(ctx context.Context, txn *session) error {
	type prepared struct {
		outs []topology.Output
		logs []*kgo.Record
	}
	tasks := ts.sorted()
	recs := make([]prepared, len(tasks))
	errs := eachTask(ts.n, tasks, func(i int, t *task) error {
		if err := t.core.Commit(); err != nil {
			if errors.Is(err, topology.ErrInterrupted) {
				ts.pauses.pause(t.id, err, time.Now())
			}
			return fmt.Errorf("processor: task %s commit hooks: %w", t.id, err)
		}
		recs[i].outs = t.core.TakeOutputs()
		for _, name := range sortedKeys(t.stores) {
			topic := t.logs[name]
			if topic == "" {
				continue
			}
			err := t.stores[name].top.Changes(func(k, v []byte, tombstone bool) error {
				r := &kgo.Record{Topic: topic, Partition: t.id.Partition, Key: append([]byte(nil), k...)}
				if !tombstone {
					r.Value = append([]byte{}, v...)
				}
				recs[i].logs = append(recs[i].logs, r)
				return nil
			})
			if err != nil {
				return fmt.Errorf("processor: task %s store %s: changelog: %w", t.id, name, err)
			}
		}
		for _, l := range t.stores {
			l.freeze()
		}
		t.frozen = t.core.Stats()
		return nil
	})
	if err := firstErr(errs); err != nil {
		return err
	}
	for _, p := range recs {
		for _, o := range p.outs {
			txn.output(ctx, o)
		}
		for _, r := range p.logs {
			txn.produce(ctx, r)
		}
	}
	return nil
}

// committed moves local state forward after a commit: each task's
// frozen writes go to Pebble in one batch with the checkpoint of the
// changelog ends the transaction reached.
func (ts *taskSet) committed(txn *session) error {
	return firstErr(eachTask(ts.n, ts.sorted(), func(_ int, t *task) error {
		st := t.frozen
		ts.a.cfg.metrics.Processed(t.id, st.Sub(t.reported))
		t.reported = st
		writes := map[string]state.Batch{}
		for name, l := range t.stores {
			if !l.frozen.Empty() {
				writes[name] = l.frozen
			}
		}
		if len(writes) == 0 {
			return nil
		}
		cp := state.Checkpoint{Identity: ts.p.identity, Offsets: maps.Clone(t.cp.Offsets)}
		if cp.Offsets == nil {
			cp.Offsets = map[state.TopicPartition]int64{}
		}
		for name := range writes {
			tp := state.TopicPartition{Topic: t.logs[name], Partition: t.id.Partition}
			if end, ok := txn.logEnd(tp); ok {
				cp.Offsets[tp] = end
			}
		}
		if err := ts.db.Commit(t.name, writes, cp); err != nil {
			return fmt.Errorf("processor: task %s: apply committed state: %w", t.id, err)
		}
		for _, l := range t.stores {
			l.committed()
		}
		t.cp = cp
		ts.local.set(t.id, cp)
		return nil
	}))
}

// rewind drops every task's uncommitted state (both intervals) and
// rebuilds its core, as the session rewound the consumer to the last
// committed offsets.
func (ts *taskSet) rewind(ctx context.Context) error {
	var tps []topology.TopicPartition
	for _, t := range ts.m {
		tps = append(tps, t.core.Inputs()...)
		for _, l := range t.stores {
			l.drop()
		}
		t.core.Close()
		core, err := ts.newCore(t)
		if err != nil {
			return err
		}
		t.core = core
		t.reported, t.frozen = topology.TaskStats{}, topology.TaskStats{}
	}
	return ts.in.locate(ctx, ts.cl, tps)
}

// held returns, per input partition, the first record a task has
// buffered but not processed: the commit stops there, while the consumer
// reads on. A task holds records while it waits on another partition.
func (ts *taskSet) held() map[topology.TopicPartition]int64 {
	out := map[topology.TopicPartition]int64{}
	for _, t := range ts.m {
		maps.Copy(out, t.core.Held())
	}
	return out
}

// close closes every task core; local state stays for the next run.
func (ts *taskSet) close() {
	for _, t := range ts.m {
		t.core.Close()
		ts.pauses.drop(t.id)
	}
}

func (ts *taskSet) sorted() []*task {
	out := make([]*task, 0, len(ts.m))
	for _, t := range ts.m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
