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
)

// restore replays each store's changelog partition from the checkpoint
// to the last stable offset.
func (ts *taskSet) restore(ctx context.Context, t *task) error {
	adm := kadm.NewClient(ts.cl)
	for _, name := range sortedKeys(t.logs) {
		topic := t.logs[name]
		if topic == "" {
			continue
		}
		tp := state.TopicPartition{Topic: topic, Partition: t.id.Partition}
		end, err := ts.settledEnd(ctx, adm, topic, t.id.Partition)
		if err != nil {
			return fmt.Errorf("processor: task %s: changelog %s end offset: %w", t.id, topic, err)
		}
		start := t.cp.Offsets[tp]
		if start > end {
			ts.log.Warn("local state is ahead of its changelog; rebuilding it", zap.String("changelog", topic), zap.Int64("checkpoint", start), zap.Int64("end", end))
			if err := ts.db.DropTask(t.name); err != nil {
				return err
			}
			t.cp.Offsets = map[state.TopicPartition]int64{}
			return ts.restore(ctx, t)
		}
		if start == end {
			continue
		}
		n, err := ts.replay(ctx, t.name, name, t.stores[name].top.Index(), tp, start, end, t.cp)
		if err != nil {
			return fmt.Errorf("processor: task %s: restore %s: %w", t.id, topic, err)
		}
		t.cp.Offsets[tp] = end
		ts.log.Info("restored", zap.Stringer("task", t.id), zap.String("store", name), zap.Int64("records", n), zap.Int64("from", start), zap.Int64("to", end))
	}
	return nil
}

// settledEnd returns the end of a changelog partition once no
// transaction is open on it: the last stable offset equals the high
// watermark. Otherwise the previous owner's last commit could still be
// landing there (its markers are written after its offsets commit), and a
// restore that stopped at the older stable offset would miss it.
func (ts *taskSet) settledEnd(ctx context.Context, adm *kadm.Client, topic string, p int32) (int64, error) {
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
		ts.log.Debug("waiting for the changelog to settle", zap.Error(err))
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
func (ts *taskSet) replay(ctx context.Context, task, store string, idx *state.Index, tp state.TopicPartition, start, end int64, cp state.Checkpoint) (int64, error) {
	cl, err := ts.a.newClient("restore",
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
	batch := make([]state.Change, 0, ts.a.cfg.restoreBatch)
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
		if err := ts.db.ApplyRestore(task, store, recs, c); err != nil {
			return err
		}
		n += int64(len(batch))
		batch = batch[:0]
		ts.a.cfg.metrics.Restored(tp.Topic, tp.Partition, n, end-pos)
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
		if len(batch) >= ts.a.cfg.restoreBatch || (pos >= end && len(batch) > 0) || (pos >= end && n == 0) {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if secs := time.Since(began).Seconds(); secs > 0 && n > 0 {
		ts.log.Info("restore rate", zap.String("changelog", tp.Topic), zap.Int32("partition", tp.Partition), zap.Float64("records_per_sec", float64(n)/secs))
	}
	return n, nil
}
