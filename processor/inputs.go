package processor

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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

// held returns, per input partition, the first record a task has
// buffered but not processed: the commit stops there, while the consumer
// reads on. A task holds records while it waits on another partition.
func (w *worker) held() map[string]map[int32]int64 {
	var out map[string]map[int32]int64
	for _, t := range w.tasks {
		for tp, off := range t.core.Held() {
			if out == nil {
				out = map[string]map[int32]int64{}
			}
			if out[tp.Topic] == nil {
				out[tp.Topic] = map[int32]int64{}
			}
			out[tp.Topic][tp.Partition] = off
		}
	}
	return out
}

// holdBack makes a transactional offset commit stop at held records.
func holdBack(ctx context.Context, held map[string]map[int32]int64) context.Context {
	if len(held) == 0 {
		return ctx
	}
	return kgo.PreTxnCommitFnContext(ctx, func(req *kmsg.TxnOffsetCommitRequest) error {
		for i := range req.Topics {
			for j := range req.Topics[i].Partitions {
				p := &req.Topics[i].Partitions[j]
				stopAt(held, req.Topics[i].Topic, p.Partition, &p.Offset, &p.LeaderEpoch)
			}
		}
		return nil
	})
}

// holdBackPlain is holdBack for plain (at-least-once) offset commits.
func holdBackPlain(ctx context.Context, held map[string]map[int32]int64) context.Context {
	if len(held) == 0 {
		return ctx
	}
	return kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			for j := range req.Topics[i].Partitions {
				p := &req.Topics[i].Partitions[j]
				stopAt(held, req.Topics[i].Topic, p.Partition, &p.Offset, &p.LeaderEpoch)
			}
		}
		return nil
	})
}

// stopAt moves one partition's commit back to its first held record.
func stopAt(held map[string]map[int32]int64, topic string, partition int32, offset *int64, epoch *int32) {
	if off, ok := held[topic][partition]; ok {
		*offset, *epoch = off, -1
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
