package processor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/state"
)

// restoring is one store's changelog partition being read into local
// state from its checkpoint: by a restore, up to the last stable offset
// (end); or by a standby replica for as long as it follows it (end is
// then the last stable offset last seen, -1 if unknown).
type restoring struct {
	t        *task
	store    string
	tp       state.TopicPartition
	idx      *state.Index // the store's derived index, rebuilt from each batch
	from     int64
	pos, end int64
	n        int64 // records applied
	batch    []state.Change
}

// take moves pos past the fetched records below limit, adding the data
// records (not the transaction markers) to the batch.
func (r *restoring) take(recs []*kgo.Record, limit int64) {
	for _, rec := range recs {
		if rec.Offset >= limit {
			break
		}
		if rec.Offset < r.pos {
			continue
		}
		r.pos = rec.Offset + 1
		if !rec.Attrs.IsControl() {
			r.batch = append(r.batch, state.Change{Key: rec.Key, Value: rec.Value, Tombstone: rec.Value == nil})
		}
	}
}

// restore replays the changelog tails of the tasks' stores past their
// checkpoints, all with one client: a worker handed many tasks pays a
// client's start-up once, not once per store (the replays themselves
// are short; that start-up was most of a restore's time).
func (ts *taskSet) restore(ctx context.Context, tasks []*task) error {
	if ts.restoring != nil {
		ts.restoring()
	}
	parts, err := ts.restorePlan(ctx, tasks)
	if err != nil || len(parts) == 0 {
		return err
	}
	return ts.replay(ctx, parts)
}

// restorePlan lists the changelog partitions with records past their
// checkpoint. A task whose local state is ahead of a changelog (the
// topic was recreated) is dropped and planned from the start.
func (ts *taskSet) restorePlan(ctx context.Context, tasks []*task) ([]*restoring, error) {
	want := map[state.TopicPartition]bool{}
	for _, t := range tasks {
		for _, topic := range t.logs {
			if topic != "" {
				want[state.TopicPartition{Topic: topic, Partition: t.id.Partition}] = true
			}
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	ends, err := ts.settledEnds(ctx, want)
	if err != nil {
		return nil, err
	}
	var parts []*restoring
	for _, t := range tasks {
		for _, name := range sortedKeys(t.logs) {
			if t.logs[name] == "" {
				continue
			}
			tp := state.TopicPartition{Topic: t.logs[name], Partition: t.id.Partition}
			start, end := t.cp.Offsets[tp], ends[tp]
			if start > end {
				ts.log.Warn("local state is ahead of its changelog; rebuilding it", zap.Stringer("task", t.id), zap.String("changelog", tp.Topic), zap.Int64("checkpoint", start), zap.Int64("end", end))
				if err := ts.db.DropTask(t.name); err != nil {
					return nil, err
				}
				ts.local.drop(t.name)
				t.cp.Offsets = map[state.TopicPartition]int64{}
				return ts.restorePlan(ctx, tasks) // plan again: every start is now 0
			}
			if start < end {
				parts = append(parts, &restoring{t: t, store: name, tp: tp, idx: t.stores[name].top.Index(), from: start, pos: start, end: end})
			} else {
				// Nothing to restore says so too: a dashboard then shows
				// 0 left rather than nothing known.
				ts.a.cfg.metrics.Restored(tp.Topic, tp.Partition, 0, 0)
			}
		}
	}
	return parts, nil
}

// settledEnds returns the end of each changelog partition in want once
// no transaction is open on it: the last stable offset equals the high
// watermark. Otherwise the previous owner's last commit could still be
// landing there (its markers are written after its offsets commit), and
// a restore that stopped at the older stable offset would miss it.
func (ts *taskSet) settledEnds(ctx context.Context, want map[state.TopicPartition]bool) (map[state.TopicPartition]int64, error) {
	adm := kadm.NewClient(ts.cl)
	var topics []string
	seen := map[string]bool{}
	for tp := range want {
		if !seen[tp.Topic] {
			seen[tp.Topic] = true
			topics = append(topics, tp.Topic)
		}
	}
	sort.Strings(topics)
	backoff := 10 * time.Millisecond
	for waited := false; ; waited = true {
		lso, err := adm.ListCommittedOffsets(ctx, topics...)
		if err == nil {
			err = lso.Error()
		}
		var hw kadm.ListedOffsets
		if err == nil {
			hw, err = adm.ListEndOffsets(ctx, topics...)
			if err == nil {
				err = hw.Error()
			}
		}
		if err == nil {
			ends := make(map[state.TopicPartition]int64, len(want))
			for tp := range want {
				l, lok := lso.Lookup(tp.Topic, tp.Partition)
				h, hok := hw.Lookup(tp.Topic, tp.Partition)
				switch {
				case !lok || !hok:
					err = errors.Join(err, fmt.Errorf("no end offset for changelog %s/%d", tp.Topic, tp.Partition))
				case l.Offset < h.Offset:
					err = errors.Join(err, fmt.Errorf("a transaction is still open on %s/%d (stable %d, end %d)", tp.Topic, tp.Partition, l.Offset, h.Offset))
				}
				ends[tp] = l.Offset
			}
			if err == nil {
				return ends, nil
			}
		}
		if !waited { // once: an operator sees why a restore has not begun
			ts.log.Info("waiting for changelogs to settle", zap.Error(err))
		} else {
			ts.log.Debug("waiting for changelogs to settle", zap.Error(err))
		}
		if sleepCtx(ctx, backoff) != nil {
			return nil, fmt.Errorf("processor: changelog end offsets: %w (while waiting: %v)", ctx.Err(), err)
		}
		backoff = min(2*backoff, time.Second)
	}
}

// replay reads every part [pos, end) with read_committed and applies it
// to its store in batches, each with the task's checkpoint moved past it.
func (ts *taskSet) replay(ctx context.Context, parts []*restoring) error {
	from := map[string]map[int32]kgo.Offset{}
	open := make(map[state.TopicPartition]*restoring, len(parts))
	for _, r := range parts {
		if from[r.tp.Topic] == nil {
			from[r.tp.Topic] = map[int32]kgo.Offset{}
		}
		from[r.tp.Topic][r.tp.Partition] = kgo.NewOffset().At(r.pos)
		open[r.tp] = r
	}
	cl, err := ts.a.newClient("restore",
		kgo.ConsumePartitions(from),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records let us see the commit marker that ends the log.
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(64<<20),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, r := range parts {
		ts.a.cfg.metrics.Restored(r.tp.Topic, r.tp.Partition, 0, r.end-r.pos) // what is left, before the first batch lands
	}
	began := time.Now()
	var derived []state.Change
	flush := func(r *restoring) (err error) {
		if derived, err = ts.applyChanges(r.t, r.store, r.tp, r.idx, r.batch, r.pos, derived); err != nil {
			return fmt.Errorf("processor: restore %w", err)
		}
		r.n += int64(len(r.batch))
		r.batch = r.batch[:0]
		ts.a.cfg.metrics.Restored(r.tp.Topic, r.tp.Partition, r.n, r.end-r.pos)
		return nil
	}
	var total int64
	for len(open) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = errors.Join(ferr, fmt.Errorf("%s/%d: %w", t, p, err)) })
		if ferr != nil {
			return fmt.Errorf("processor: restore: %w", ferr)
		}
		var touched []*restoring
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			r := open[state.TopicPartition{Topic: p.Topic, Partition: p.Partition}]
			if r == nil || len(p.Records) == 0 {
				return
			}
			r.take(p.Records, r.end)
			touched = append(touched, r)
		})
		for _, r := range touched {
			done := r.pos >= r.end
			if len(r.batch) < ts.a.cfg.restoreBatch && !done {
				continue
			}
			if err := flush(r); err != nil {
				return err
			}
			if done {
				delete(open, r.tp)
				cl.RemoveConsumePartitions(map[string][]int32{r.tp.Topic: {r.tp.Partition}})
				total += r.n
				ts.log.Info("restored", zap.Stringer("task", r.t.id), zap.String("store", r.store), zap.Int64("records", r.n), zap.Int64("from", r.from), zap.Int64("to", r.end))
			}
		}
	}
	if secs := time.Since(began).Seconds(); secs > 0 && total > 0 {
		ts.log.Info("restore rate", zap.Int("changelogs", len(parts)), zap.Int64("records", total), zap.Float64("records_per_sec", float64(total)/secs))
	}
	return nil
}

// applyChanges writes changelog records read up to pos to a task's
// store, with the task's checkpoint moved to pos in the same batch
// (restore and standbys). A store with a derived index gets it rebuilt
// from the records; derived is scratch space, returned for reuse.
func (ts *taskSet) applyChanges(t *task, store string, tp state.TopicPartition, idx *state.Index, batch []state.Change, pos int64, derived []state.Change) ([]state.Change, error) {
	t.cp.Offsets[tp] = pos
	recs := batch
	if idx != nil {
		var err error
		if derived, err = idx.Derive(derived[:0], batch); err != nil {
			return derived, fmt.Errorf("task %s: %s: records before offset %d: %w", t.id, tp.Topic, pos, err)
		}
		recs = derived
	}
	if err := ts.db.ApplyRestore(t.name, store, recs, t.cp); err != nil {
		return derived, fmt.Errorf("task %s: %s: %w", t.id, tp.Topic, err)
	}
	ts.local.set(t.id, t.cp)
	return derived, nil
}
