package processor

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/topology"
)

// input is what a worker knows of one input partition of its tasks: how
// far it has read it, and how far it could. A task processes only while
// each of its input partitions has records buffered or is caught up
// (topology.Task.Ready), so records already in Kafka merge in the same
// order on every run.
type input struct {
	// next is the offset of the next record the consumer returns (control
	// records included); -1 while unknown.
	next int64
	// stable is the partition's last stable offset as last seen, from a
	// fetch or a query; -1 while unknown.
	stable int64
	// dry is when the partition was first seen caught up with nothing
	// buffered, for MaxTaskIdle.
	dry time.Time
	// behind is when a task first waited on the partition, empty and not
	// caught up; warned once it gave up waiting.
	behind time.Time
	warned bool
}

// stuckAfter bounds the wait for a partition that stays behind its last
// stable offset with nothing arriving. It should not happen (records in
// Kafka arrive within a few fetches); if the log ends in a gap the
// consumer skips silently (a compacted-away record), the task would wait
// forever, so it goes on without that partition and says so.
const stuckAfter = 10 * time.Second

// caughtUp reports whether the worker has read tp to the end it last
// saw, and waited MaxTaskIdle since.
func (w *worker) caughtUp(now time.Time) func(topology.TopicPartition) bool {
	idle := w.a.cfg.maxTaskIdle
	return func(tp topology.TopicPartition) bool {
		if idle < 0 {
			return true
		}
		in := w.inputs[tp]
		if in == nil {
			return false
		}
		if in.next < 0 || in.stable < 0 || in.next < in.stable {
			if in.behind.IsZero() {
				in.behind = now
			}
			if now.Sub(in.behind) < stuckAfter {
				return false
			}
			if !in.warned {
				in.warned = true
				w.log.Warn("input partition not read to its end; processing without waiting for it",
					zap.String("topic", tp.Topic), zap.Int32("partition", tp.Partition),
					zap.Int64("position", in.next), zap.Int64("last_stable", in.stable), zap.Duration("waited", now.Sub(in.behind)))
			}
			return true
		}
		if idle == 0 {
			return true
		}
		if in.dry.IsZero() {
			in.dry = now
		}
		return now.Sub(in.dry) >= idle
	}
}

// read records that the consumer returned r and reports whether r is new:
// a record before the position (from a fetch made before the position was
// set back) was already handed over.
func (w *worker) read(r *kgo.Record) bool {
	in := w.inputs[topology.TopicPartition{Topic: r.Topic, Partition: r.Partition}]
	if in == nil {
		return true
	}
	if in.next >= 0 && r.Offset < in.next {
		return false
	}
	in.next, in.dry, in.behind, in.warned = r.Offset+1, time.Time{}, time.Time{}, false
	return true
}

// seen raises a partition's known last stable offset from a fetch.
func (w *worker) seen(topic string, partition int32, stable int64) {
	if in := w.inputs[topology.TopicPartition{Topic: topic, Partition: partition}]; in != nil && stable > in.stable {
		in.stable = stable
	}
}

// giveBack drops what tasks buffered but did not process and sets the
// consumer back to the first of it, so the commit covers processed
// records only and the rest is read again.
func (w *worker) giveBack() {
	set := map[string]map[int32]kgo.EpochOffset{}
	for _, t := range w.tasks {
		for tp, off := range t.core.Unbuffer() {
			if set[tp.Topic] == nil {
				set[tp.Topic] = map[int32]kgo.EpochOffset{}
			}
			set[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
			if in := w.inputs[tp]; in != nil {
				in.next = off
			}
		}
	}
	if len(set) > 0 {
		w.cl.SetOffsets(set)
	}
}

// locate sets where reading each of tps resumes (the group's committed
// offset, or the log start without one, as the consumer does) and its
// last stable offset. Pending transactional commits are waited out.
func (w *worker) locate(ctx context.Context, tps []topology.TopicPartition) error {
	if len(tps) == 0 {
		return nil
	}
	adm := kadm.NewClient(w.cl)
	var topics []string
	seenTopic := map[string]bool{}
	for _, tp := range tps {
		if !seenTopic[tp.Topic] {
			seenTopic[tp.Topic] = true
			topics = append(topics, tp.Topic)
		}
	}
	backoff := 10 * time.Millisecond
	for {
		err := w.tryLocate(ctx, adm, topics, tps)
		if err == nil {
			return nil
		}
		w.log.Debug("locating input partitions", zap.Error(err))
		if sleepCtx(ctx, backoff) != nil {
			return fmt.Errorf("processor: locate input partitions: %w (last error: %v)", ctx.Err(), err)
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (w *worker) tryLocate(ctx context.Context, adm *kadm.Client, topics []string, tps []topology.TopicPartition) error {
	committed, err := adm.FetchOffsets(kadm.RequireStable(ctx), w.a.topo.AppID())
	if err != nil {
		return err
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return err
	}
	stables, err := adm.ListCommittedOffsets(ctx, topics...)
	if err == nil {
		err = stables.Error()
	}
	if err != nil {
		return err
	}
	for _, tp := range tps {
		start, ok1 := starts.Lookup(tp.Topic, tp.Partition)
		stable, ok2 := stables.Lookup(tp.Topic, tp.Partition)
		if !ok1 || !ok2 {
			return fmt.Errorf("no offsets listed for %s/%d", tp.Topic, tp.Partition)
		}
		next := start.Offset
		if c, ok := committed.Lookup(tp.Topic, tp.Partition); ok {
			if c.Err != nil {
				return fmt.Errorf("committed offset of %s/%d: %w", tp.Topic, tp.Partition, c.Err)
			}
			next = max(next, c.At)
		}
		w.inputs[tp] = &input{next: next, stable: stable.Offset}
	}
	return nil
}
