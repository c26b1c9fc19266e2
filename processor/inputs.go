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

// inputs is what the worker knows of its tasks' input partitions: how
// far it has read each, and how far it could. A task processes only
// while each of its input partitions has records buffered or is caught
// up (topology.Task.Ready), so records already in Kafka merge in the
// same order on every run.
//
// Each partition belongs to one task, so tasks processed in parallel
// touch disjoint entries; the map itself changes only between rounds.
type inputs struct {
	idle  time.Duration // MaxTaskIdle
	group string
	log   *zap.Logger
	m     map[topology.TopicPartition]*input
	check *partitionCheck
	// buffered is whether the consumer still held fetched records after
	// the last poll: a partition behind may be waiting in there.
	buffered bool
}

// input is one input partition's position.
type input struct {
	// next is the offset of the next record the consumer returns (control
	// records included); -1 while unknown.
	next int64
	// stable is the partition's last stable offset as last seen, from a
	// fetch or a query; -1 while unknown.
	stable int64
	// committed is the group's offset as this worker last committed or
	// read it; -1 while unknown.
	committed int64
	// resumed is where reading resumed when the partition came: lag
	// counts from it until a first commit.
	resumed int64
	// dry is when the partition was first seen caught up with nothing
	// buffered, for MaxTaskIdle.
	dry time.Time
	// behind is when a task first waited on the partition, empty and not
	// caught up, and quiet when that wait last saw the consumer's buffer
	// empty; warned once it gave up waiting.
	behind, quiet time.Time
	warned        bool
}

func newInputs(idle time.Duration, group string, log *zap.Logger, check *partitionCheck) *inputs {
	return &inputs{idle: idle, group: group, log: log, m: map[topology.TopicPartition]*input{}, check: check}
}

// stuckAfter bounds the wait for a partition that stays behind its last
// stable offset with nothing arriving while the consumer has nothing
// buffered. It should not happen (records in Kafka arrive within a few
// fetches); if the log ends in a gap the consumer skips silently (a
// compacted-away record), the task would wait forever, so it goes on
// without that partition and says so. The clock stops while the consumer
// holds fetched records: on a backlog, polls take a fetch's records in
// its order, and the partition's may come last; stuckBuffered bounds
// that.
const (
	stuckAfter    = 10 * time.Second
	stuckBuffered = 6 * stuckAfter
)

// caughtUp reports whether the worker has read tp to the end it last
// saw, and waited MaxTaskIdle since.
func (in *inputs) caughtUp(now time.Time) func(topology.TopicPartition) bool {
	idle := in.idle
	return func(tp topology.TopicPartition) bool {
		if idle < 0 {
			return true
		}
		p := in.m[tp]
		if p == nil {
			return false
		}
		if p.next < 0 || p.stable < 0 || p.next < p.stable {
			if p.behind.IsZero() {
				p.behind = now
			}
			if p.quiet.IsZero() || in.buffered {
				p.quiet = now
			}
			if now.Sub(p.quiet) < stuckAfter && now.Sub(p.behind) < stuckBuffered {
				return false
			}
			if !p.warned {
				p.warned = true
				in.log.Warn("input partition not read to its end; processing without waiting for it",
					zap.String("topic", tp.Topic), zap.Int32("partition", tp.Partition),
					zap.Int64("position", p.next), zap.Int64("last_stable", p.stable), zap.Duration("waited", now.Sub(p.behind)))
			}
			return true
		}
		if idle == 0 {
			return true
		}
		if p.dry.IsZero() {
			p.dry = now
		}
		return now.Sub(p.dry) >= idle
	}
}

// read records that the consumer returned r and reports whether r is new:
// a record before the position (from a fetch made before the position was
// set back) was already handed over.
func (in *inputs) read(r *kgo.Record) bool {
	p := in.m[topology.TopicPartition{Topic: r.Topic, Partition: r.Partition}]
	if p == nil {
		return true
	}
	if p.next >= 0 && r.Offset < p.next {
		return false
	}
	p.next, p.dry, p.behind, p.quiet, p.warned = r.Offset+1, time.Time{}, time.Time{}, time.Time{}, false
	return true
}

// commitAt returns where the commit of each input partition goes: its
// first record a task holds unprocessed, else the consumer's position;
// moved has those that differ from the last commit. These are Weir's own
// positions, not franz-go's: ending a transaction with an abort sets
// franz-go's back to the last commit (see session.forgetRevoke), while
// the tasks keep what they read.
func (in *inputs) commitAt(held map[topology.TopicPartition]int64) (at, moved map[string]map[int32]int64) {
	at, moved = map[string]map[int32]int64{}, map[string]map[int32]int64{}
	for tp, p := range in.m {
		off, ok := held[tp]
		if !ok {
			off, ok = p.next, p.next >= 0
		}
		if !ok {
			continue
		}
		put(at, tp, off)
		if off != p.committed {
			put(moved, tp, off)
		}
	}
	return at, moved
}

func put(m map[string]map[int32]int64, tp topology.TopicPartition, off int64) {
	if m[tp.Topic] == nil {
		m[tp.Topic] = map[int32]int64{}
	}
	m[tp.Topic][tp.Partition] = off
}

// committed records the offsets a commit carried (commitAt).
func (in *inputs) committed(at map[string]map[int32]int64) {
	for topic, parts := range at {
		for part, off := range parts {
			if p := in.m[topology.TopicPartition{Topic: topic, Partition: part}]; p != nil {
				p.committed = off
			}
		}
	}
}

// seen raises a partition's known last stable offset from a fetch.
func (in *inputs) seen(topic string, partition int32, stable int64) {
	if p := in.m[topology.TopicPartition{Topic: topic, Partition: partition}]; p != nil && stable > p.stable {
		p.stable = stable
	}
}

// lag is how many records of a partition this worker has not committed
// yet: the last stable offset (what read_committed can reach) minus its
// committed position, as a consumer group's lag. Unlike the distance to
// what was fetched, it grows while a task is paused or stuck. ok is
// false while unknown.
func (in *inputs) lag(tp topology.TopicPartition) (n int64, ok bool) {
	p := in.m[tp]
	if p == nil || p.stable < 0 {
		return 0, false
	}
	from := p.committed
	if from < 0 {
		from = p.resumed
	}
	return max(p.stable-from, 0), true
}

// lags reports the lag of every partition with a known one.
func (in *inputs) lags(report func(topic string, partition int32, lag int64)) {
	for tp := range in.m {
		if n, ok := in.lag(tp); ok {
			report(tp.Topic, tp.Partition, n)
		}
	}
}

// forget drops partitions that left the worker.
func (in *inputs) forget(tps []topology.TopicPartition) {
	for _, tp := range tps {
		delete(in.m, tp)
	}
}

// restartWaits makes every wait start afresh, after the loop stopped
// reading for a while (a restore).
func (in *inputs) restartWaits() {
	for _, p := range in.m {
		p.behind, p.quiet = time.Time{}, time.Time{}
	}
}

// locate sets where reading each of tps resumes (the group's committed
// offset, or the log start without one, as the consumer does) and its
// last stable offset. Pending transactional commits are waited out.
func (in *inputs) locate(ctx context.Context, cl *kgo.Client, tps []topology.TopicPartition) error {
	if len(tps) == 0 {
		return nil
	}
	adm := kadm.NewClient(cl)
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
		err := in.tryLocate(ctx, adm, topics, tps)
		if err == nil {
			return nil
		}
		in.log.Debug("locating input partitions", zap.Error(err))
		if sleepCtx(ctx, backoff) != nil {
			return fmt.Errorf("processor: locate input partitions: %w (last error: %v)", ctx.Err(), err)
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (in *inputs) tryLocate(ctx context.Context, adm *kadm.Client, topics []string, tps []topology.TopicPartition) error {
	committed, err := adm.FetchOffsets(kadm.RequireStable(ctx), in.group)
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
		next, last := start.Offset, int64(-1)
		if c, ok := committed.Lookup(tp.Topic, tp.Partition); ok {
			if c.Err != nil {
				return fmt.Errorf("committed offset of %s/%d: %w", tp.Topic, tp.Partition, c.Err)
			}
			next, last = max(next, c.At), c.At
		}
		in.m[tp] = &input{next: next, stable: stable.Offset, committed: last, resumed: next}
	}
	return nil
}
