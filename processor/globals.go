package processor

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/state"
)

// bootstrapGlobals fills every global table's store with its whole topic
// before any task processes, then starts following the topics.
func (w *worker) bootstrapGlobals(ctx context.Context) error {
	if len(w.p.globals) == 0 {
		return nil
	}
	cp, ok, err := w.db.Checkpoint(globalTask)
	if err != nil {
		return err
	}
	if ok && cp.Check(w.p.identity) != nil {
		w.log.Warn("discarding global tables from another cluster/application")
		if err := w.db.DropTask(globalTask); err != nil {
			return err
		}
		ok = false
	}
	if !ok {
		cp = state.Checkpoint{Identity: w.p.identity, Offsets: map[state.TopicPartition]int64{}}
	}
	storeOf := map[string]string{}
	var topics []string
	for _, g := range w.p.globals {
		storeOf[g.Topic] = g.Store
		topics = append(topics, g.Topic)
	}
	sort.Strings(topics)
	adm := kadm.NewClient(w.cl)
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("processor: global tables: end offsets: %w", err)
	}
	from := map[string]map[int32]kgo.Offset{}
	remaining := map[state.TopicPartition]int64{}
	ends.Each(func(lo kadm.ListedOffset) {
		tp := state.TopicPartition{Topic: lo.Topic, Partition: lo.Partition}
		if from[lo.Topic] == nil {
			from[lo.Topic] = map[int32]kgo.Offset{}
		}
		start := cp.Offsets[tp]
		from[lo.Topic][lo.Partition] = kgo.NewOffset().At(start)
		if start < lo.Offset {
			remaining[tp] = lo.Offset
		}
	})
	cl, err := w.a.newClient("global",
		kgo.ConsumePartitions(from),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return err
	}
	apply := func(fs kgo.Fetches) error {
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				ferr = errors.Join(ferr, fmt.Errorf("%s/%d: %w", t, p, err))
			}
		})
		if ferr != nil {
			return ferr
		}
		byStore := map[string][]state.Change{}
		fs.EachRecord(func(r *kgo.Record) {
			tp := state.TopicPartition{Topic: r.Topic, Partition: r.Partition}
			cp.Offsets[tp] = r.Offset + 1
			if end, ok := remaining[tp]; ok && r.Offset+1 >= end {
				delete(remaining, tp)
			}
			if !r.Attrs.IsControl() {
				byStore[storeOf[r.Topic]] = append(byStore[storeOf[r.Topic]], state.Change{Key: r.Key, Value: r.Value, Tombstone: r.Value == nil})
			}
		})
		for _, s := range sortedKeys(byStore) {
			if err := w.db.ApplyRestore(globalTask, s, byStore[s], cp); err != nil {
				return err
			}
		}
		return nil
	}
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			cl.Close()
			return ctx.Err()
		}
		if err := apply(fs); err != nil {
			cl.Close()
			return fmt.Errorf("processor: global tables: %w", err)
		}
	}
	w.log.Info("global tables loaded", zap.Strings("topics", topics))
	w.globalCl = cl
	w.globalApply = apply
	fctx, cancel := context.WithCancel(ctx)
	w.stopGlobals = cancel
	w.globalDone = make(chan struct{})
	w.globalErr = make(chan error, 1)
	go w.followGlobals(fctx)
	return nil
}

// followGlobals applies global-table records as they arrive, in its own
// goroutine, until ctx ends. Tasks read the stores through their own
// views; Pebble makes the concurrent writes safe. Like Kafka Streams,
// updates reach tasks with no ordering against their inputs.
func (w *worker) followGlobals(ctx context.Context) {
	defer close(w.globalDone)
	for {
		fs := w.globalCl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		if err := w.globalApply(fs); err != nil {
			select {
			case w.globalErr <- fmt.Errorf("processor: global tables: %w", err):
			default:
			}
			return
		}
	}
}
