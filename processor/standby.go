package processor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/topology"
)

// How often a standby writes what it read (with its checkpoint) when
// its batches stay small, and how soon a caught-up warm-up may ask for
// another rebalance.
const (
	standbyFlushEvery = time.Second
	warmupProbeEvery  = 10 * time.Second
)

// standbys keeps this worker's replicas of tasks other workers run
// (Standbys, Warmup): each follows its stores' changelogs, read
// committed, from its checkpoint into local state, so that a task that
// moves here restores only the tail. The worker's loop drives it
// (start, poll, stop), so it never runs alongside the task set's own
// changes to the same tasks.
type standbys struct {
	ts    *taskSet
	force func() // asks the group for a rebalance
	cl    *kgo.Client
	m     map[topology.TaskID]*replica
	byTP  map[state.TopicPartition]*restoring

	flushed, probed time.Time
	derived         []state.Change
}

// replica is one standby task: stores and checkpoint, no task core.
type replica struct {
	t     *task
	parts []*restoring // one per changelogged store
	warm  bool         // the leader means to move the task here once caught up
}

func newStandbys(ts *taskSet, force func()) *standbys {
	return &standbys{ts: ts, force: force, m: map[topology.TaskID]*replica{}, byTP: map[state.TopicPartition]*restoring{}}
}

// stop ends the replicas not in keep, writing what they read; their
// state stays (KeepMovedState). It runs before the task set opens
// tasks, so a replica promoted to active hands over its checkpoint.
func (s *standbys) stop(keep map[topology.TaskID]bool) error {
	gone := map[string][]int32{}
	now := time.Now()
	for id, r := range s.m {
		if keep[id] {
			continue
		}
		if err := s.flush(r); err != nil {
			return err
		}
		read := make(map[string]int64, len(r.parts))
		for _, f := range r.parts {
			delete(s.byTP, f.tp)
			gone[f.tp.Topic] = append(gone[f.tp.Topic], f.tp.Partition)
			read[f.store] = f.pos
		}
		delete(s.m, id)
		s.ts.moved[r.t.name] = now
		s.ts.log.Info("standby replica stopped", zap.Stringer("task", id), zap.Any("positions", read))
	}
	if len(gone) > 0 {
		s.cl.RemoveConsumePartitions(gone)
	}
	return nil
}

// start begins following the tasks in want that are neither followed
// nor active here, and marks which are warm-ups.
func (s *standbys) start(ctx context.Context, want, warm map[topology.TaskID]bool) error {
	ids := make([]topology.TaskID, 0, len(want))
	for id := range want {
		if r := s.m[id]; r != nil {
			r.warm = warm[id]
		} else if s.ts.m[id] == nil {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return lessID(ids[i], ids[j]) })
	from := map[string]map[int32]kgo.Offset{}
	var added []*restoring
	for _, id := range ids {
		t, err := s.ts.load(id)
		if err != nil {
			return err
		}
		r := &replica{t: t, warm: warm[id]}
		for _, name := range sortedKeys(t.logs) {
			if t.logs[name] == "" {
				continue
			}
			tp := state.TopicPartition{Topic: t.logs[name], Partition: id.Partition}
			f := &restoring{t: t, store: name, tp: tp, idx: t.stores[name].top.Index(), from: t.cp.Offsets[tp], pos: t.cp.Offsets[tp], end: -1}
			r.parts = append(r.parts, f)
			s.byTP[tp] = f
			if from[tp.Topic] == nil {
				from[tp.Topic] = map[int32]kgo.Offset{}
			}
			from[tp.Topic][tp.Partition] = kgo.NewOffset().At(f.pos)
			added = append(added, f)
		}
		if len(r.parts) == 0 {
			continue // stateless: nothing to keep warm
		}
		s.m[id] = r
		s.ts.local.set(id, t.cp)
		s.ts.log.Info("standby replica started", zap.Stringer("task", id), zap.Bool("warmup", r.warm))
	}
	if len(added) == 0 {
		return nil
	}
	if s.cl == nil {
		cl, err := s.ts.a.newClient("standby",
			kgo.ConsumePartitions(from),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.KeepControlRecords(),
		)
		if err != nil {
			return err
		}
		s.cl = cl
	} else {
		s.cl.AddConsumePartitions(from)
	}
	s.learnEnds(ctx, added)
	return nil
}

// learnEnds looks up where the new replicas' changelogs end, so that a
// warm-up on an idle changelog knows it is caught up. A failure only
// delays that until records arrive.
func (s *standbys) learnEnds(ctx context.Context, fs []*restoring) {
	var topics []string
	for _, f := range fs {
		topics = append(topics, f.tp.Topic)
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(s.ts.cl).ListCommittedOffsets(lctx, topics...)
	if err != nil {
		s.ts.log.Debug("standby: changelog ends unknown for now", zap.Error(err))
		return
	}
	for _, f := range fs {
		if o, ok := ends.Lookup(f.tp.Topic, f.tp.Partition); ok && o.Err == nil {
			f.end = o.Offset
		}
	}
}

// poll applies what the client has fetched for the replicas, without
// waiting for more (the worker loop must not), and asks for a
// rebalance once a warm-up caught up.
func (s *standbys) poll(ctx context.Context, now time.Time) error {
	if len(s.m) == 0 {
		return nil
	}
	if s.cl.BufferedFetchRecords() > 0 {
		if err := s.read(ctx); err != nil {
			return err
		}
	}
	if now.Sub(s.flushed) >= standbyFlushEvery {
		s.flushed = now
		for _, r := range s.m {
			if err := s.flush(r); err != nil {
				return err
			}
		}
	}
	return s.probe(now)
}

// read applies the buffered fetches, writing a partition's batch once
// it is full.
func (s *standbys) read(ctx context.Context) error {
	// Records are buffered: this returns at once.
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	fs := s.cl.PollRecords(pctx, maxPollRecords)
	cancel()
	fs.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			s.ts.log.Warn("standby: fetch (the client retries)", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
		}
	})
	touched := map[topology.TaskID]*replica{}
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		f := s.byTP[state.TopicPartition{Topic: p.Topic, Partition: p.Partition}]
		if f == nil {
			return
		}
		f.end = p.LastStableOffset
		f.take(p.Records, math.MaxInt64)
		touched[f.t.id] = s.m[f.t.id]
	})
	for _, r := range touched {
		var read int64
		for _, f := range r.parts {
			read += f.pos
			if len(f.batch) >= s.ts.a.cfg.restoreBatch {
				if err := s.apply(f); err != nil {
					return err
				}
			}
		}
		s.ts.local.setRead(r.t.id, read)
	}
	return nil
}

// probe asks for a rebalance when a warm-up replica is within the
// acceptable lag, so that the leader can move its task here; at most
// once per warmupProbeEvery.
func (s *standbys) probe(now time.Time) error {
	if now.Sub(s.probed) < warmupProbeEvery {
		return nil
	}
	for id, r := range s.m {
		if !r.warm {
			continue
		}
		lag, known := int64(0), true
		for _, f := range r.parts {
			known = known && f.end >= 0
			lag += max(0, f.end-f.pos)
		}
		if !known || lag > s.ts.a.cfg.acceptableLag {
			continue
		}
		// The leader compares reported positions: report the latest.
		if err := s.flush(r); err != nil {
			return err
		}
		s.probed = now
		s.ts.log.Info("warm-up replica caught up; asking for a rebalance", zap.Stringer("task", id), zap.Int64("lag", lag))
		s.force()
		return nil
	}
	return nil
}

func (s *standbys) flush(r *replica) error {
	for _, f := range r.parts {
		if len(f.batch) > 0 || f.pos != r.t.cp.Offsets[f.tp] {
			if err := s.apply(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// apply writes f's batch with the replica's checkpoint moved to f.pos.
func (s *standbys) apply(f *restoring) (err error) {
	s.derived, err = s.ts.applyChanges(f.t, f.store, f.tp, f.idx, f.batch, f.pos, s.derived)
	f.batch = f.batch[:0]
	if err != nil {
		return fmt.Errorf("processor: standby %w", err)
	}
	return nil
}

// close writes what the replicas read and stops following.
func (s *standbys) close() {
	for _, r := range s.m {
		if err := s.flush(r); err != nil {
			s.ts.log.Warn("standby: last write", zap.Stringer("task", r.t.id), zap.Error(err))
		}
	}
	if s.cl != nil {
		s.cl.Close()
	}
}
