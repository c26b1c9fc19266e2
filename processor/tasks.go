package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/topology"
)

// globalTask is the name under which global tables live in the DB.
const globalTask = "global"

// taskStores gives a task core its stores: its own through a pending
// batch, global ones read-only from the DB.
type taskStores struct {
	w *worker
	t *task
}

func (s taskStores) KeyValue(name string) (state.KeyValueStore, error) {
	if pd := s.t.stores[name]; pd != nil {
		return pd, nil
	}
	for _, g := range s.w.p.globals {
		if g.Store == name {
			return s.w.db.Store(globalTask, name), nil
		}
	}
	return nil, fmt.Errorf("processor: task %s has no store %q", s.t.id, name)
}

func (w *worker) newCore(t *task) (*topology.Task, error) {
	core, err := w.a.topo.NewTask(t.id, taskStores{w, t},
		topology.DefaultBadInput(w.a.cfg.badInput),
		topology.WithPartitionCounts(w.p.counts),
		topology.WithLogger(slogFrom(w.log.With(zap.Stringer("task", t.id)))),
	)
	if err != nil {
		return nil, fmt.Errorf("processor: create task %s: %w", t.id, err)
	}
	return core, nil
}

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

// openTask checks the task's local state against the cluster, restores
// the changelog tail past its checkpoint, and makes its core.
func (w *worker) openTask(ctx context.Context, id topology.TaskID) (*task, error) {
	t := &task{id: id, name: id.String(), stores: map[string]*state.Pending{}, logs: map[string]string{}}
	for _, st := range w.p.subs[id.Subtopology].Stores {
		t.stores[st.Name] = state.NewPending(w.db.Store(t.name, st.Name), storeIndex(st.Kind)...)
		t.logs[st.Name] = st.Changelog
	}
	cp, ok, err := w.db.Checkpoint(t.name)
	if err != nil {
		return nil, fmt.Errorf("processor: task %s: read checkpoint: %w", id, err)
	}
	if ok {
		if err := cp.Check(w.p.identity); err != nil {
			w.log.Warn("discarding local state that does not belong to this cluster/application", zap.Stringer("task", id), zap.Error(err))
			if err := w.db.DropTask(t.name); err != nil {
				return nil, err
			}
			ok = false
		}
	}
	if !ok {
		cp = state.Checkpoint{Identity: w.p.identity, Offsets: map[state.TopicPartition]int64{}}
	}
	t.cp = cp
	if err := w.restore(ctx, t); err != nil {
		return nil, err
	}
	if t.core, err = w.newCore(t); err != nil {
		return nil, err
	}
	if err := w.locate(ctx, t.core.Inputs()); err != nil {
		return nil, fmt.Errorf("processor: task %s: %w", id, err)
	}
	w.tasks[id] = t
	w.log.Info("task opened", zap.Stringer("task", id))
	return t, nil
}

// restore replays each store's changelog partition from the checkpoint
// to the last stable offset.
func (w *worker) restore(ctx context.Context, t *task) error {
	adm := kadm.NewClient(w.cl)
	for _, name := range sortedKeys(t.logs) {
		topic := t.logs[name]
		if topic == "" {
			continue
		}
		tp := state.TopicPartition{Topic: topic, Partition: t.id.Partition}
		end, err := w.settledEnd(ctx, adm, topic, t.id.Partition)
		if err != nil {
			return fmt.Errorf("processor: task %s: changelog %s end offset: %w", t.id, topic, err)
		}
		start := t.cp.Offsets[tp]
		if start > end {
			w.log.Warn("local state is ahead of its changelog; rebuilding it", zap.String("changelog", topic), zap.Int64("checkpoint", start), zap.Int64("end", end))
			if err := w.db.DropTask(t.name); err != nil {
				return err
			}
			t.cp.Offsets = map[state.TopicPartition]int64{}
			return w.restore(ctx, t)
		}
		if start == end {
			continue
		}
		n, err := w.replay(ctx, t.name, name, t.stores[name].Index(), tp, start, end, t.cp)
		if err != nil {
			return fmt.Errorf("processor: task %s: restore %s: %w", t.id, topic, err)
		}
		t.cp.Offsets[tp] = end
		w.log.Info("restored", zap.Stringer("task", t.id), zap.String("store", name), zap.Int64("records", n), zap.Int64("from", start), zap.Int64("to", end))
	}
	return nil
}

// settledEnd returns the end of a changelog partition once no
// transaction is open on it: the last stable offset equals the high
// watermark. Otherwise the previous owner's last commit could still be
// landing there (its markers are written after its offsets commit), and a
// restore that stopped at the older stable offset would miss it.
func (w *worker) settledEnd(ctx context.Context, adm *kadm.Client, topic string, p int32) (int64, error) {
	backoff := 10 * time.Millisecond
	for {
		lso, err := adm.ListCommittedOffsets(ctx, topic)
		if err == nil {
			err = lso.Error()
		}
		var hw kadm.ListedOffsets
		if err == nil {
			hw, err = adm.ListEndOffsets(ctx, topic)
			if err == nil {
				err = hw.Error()
			}
		}
		if err == nil {
			l, _ := lso.Lookup(topic, p)
			h, _ := hw.Lookup(topic, p)
			if l.Offset >= h.Offset {
				return l.Offset, nil
			}
			err = fmt.Errorf("a transaction is still open on %s/%d (stable %d, end %d)", topic, p, l.Offset, h.Offset)
		}
		w.log.Debug("waiting for the changelog to settle", zap.Error(err))
		if sleepCtx(ctx, backoff) != nil {
			return 0, fmt.Errorf("%w (while waiting: %v)", ctx.Err(), err)
		}
		backoff = min(2*backoff, time.Second)
	}
}

// replay reads topic/partition [start, end) with read_committed and
// applies it to store of task in batches, each with its checkpoint; idx,
// if not nil, is the store's derived index, rebuilt from each batch. It
// returns the number of records applied.
func (w *worker) replay(ctx context.Context, task, store string, idx *state.Index, tp state.TopicPartition, start, end int64, cp state.Checkpoint) (int64, error) {
	cl, err := w.a.newClient("restore",
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tp.Topic: {tp.Partition: kgo.NewOffset().At(start)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records let us see the commit marker that ends the log.
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(64<<20),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	batch := make([]state.Change, 0, w.a.cfg.restoreBatch)
	var derived []state.Change
	var n int64
	pos := start
	began := time.Now()
	flush := func() error {
		c := state.Checkpoint{Identity: cp.Identity, Offsets: map[state.TopicPartition]int64{}}
		for k, v := range cp.Offsets {
			c.Offsets[k] = v
		}
		c.Offsets[tp] = pos
		recs := batch
		if idx != nil {
			var err error
			if derived, err = idx.Derive(derived[:0], batch); err != nil {
				return fmt.Errorf("records before offset %d: %w", pos, err)
			}
			recs = derived
		}
		if err := w.db.ApplyRestore(task, store, recs, c); err != nil {
			return err
		}
		n += int64(len(batch))
		batch = batch[:0]
		w.a.cfg.metrics.Restored(tp.Topic, tp.Partition, n, end-pos)
		return nil
	}
	for pos < end {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return n, err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return n, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end {
				return
			}
			pos = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			batch = append(batch, state.Change{Key: r.Key, Value: r.Value, Tombstone: r.Value == nil})
		})
		if len(batch) >= w.a.cfg.restoreBatch || (pos >= end && len(batch) > 0) || (pos >= end && n == 0) {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if secs := time.Since(began).Seconds(); secs > 0 && n > 0 {
		w.log.Info("restore rate", zap.String("changelog", tp.Topic), zap.Int32("partition", tp.Partition), zap.Float64("records_per_sec", float64(n)/secs))
	}
	return n, nil
}
