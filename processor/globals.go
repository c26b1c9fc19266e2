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
	"github.com/weirstream/weir/state/pebble"
)

// globals keeps the worker's copy of every global table: loaded whole
// before any task processes, then followed in a goroutine of its own.
type globals struct {
	cl    *kgo.Client
	apply func(kgo.Fetches) error
	stop  context.CancelFunc
	done  chan struct{}
	errc  chan error
}

// loadGlobals fills every global table's store with its whole topic,
// then starts following the topics. It returns nil without global tables.
func loadGlobals(ctx context.Context, a *App, p *plan, db *pebble.DB, cl *kgo.Client) (*globals, error) {
	if len(p.globals) == 0 {
		return nil, nil
	}
	log := a.log
	cp, ok, err := db.Checkpoint(globalTask)
	if err != nil {
		return nil, err
	}
	if ok && cp.Check(p.identity) != nil {
		log.Warn("discarding global tables from another cluster/application")
		if err := db.DropTask(globalTask); err != nil {
			return nil, err
		}
		ok = false
	}
	if !ok {
		cp = state.Checkpoint{Identity: p.identity, Offsets: map[state.TopicPartition]int64{}}
	}
	storeOf := map[string]string{}
	var topics []string
	for _, g := range p.globals {
		storeOf[g.Topic] = g.Store
		topics = append(topics, g.Topic)
	}
	sort.Strings(topics)
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("processor: global tables: end offsets: %w", err)
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
	gcl, err := a.newClient("global",
		kgo.ConsumePartitions(from),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return nil, err
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
			if err := db.ApplyRestore(globalTask, s, byStore[s], cp); err != nil {
				return err
			}
		}
		return nil
	}
	for len(remaining) > 0 {
		fs := gcl.PollFetches(ctx)
		if ctx.Err() != nil {
			gcl.Close()
			return nil, ctx.Err()
		}
		if err := apply(fs); err != nil {
			gcl.Close()
			return nil, fmt.Errorf("processor: global tables: %w", err)
		}
	}
	log.Info("global tables loaded", zap.Strings("topics", topics))
	fctx, cancel := context.WithCancel(ctx)
	g := &globals{cl: gcl, apply: apply, stop: cancel, done: make(chan struct{}), errc: make(chan error, 1)}
	go g.follow(fctx)
	return g, nil
}

// followGlobals applies global-table records as they arrive, in its own
// goroutine, until ctx ends. Tasks read the stores through their own
// views; Pebble makes the concurrent writes safe. Like Kafka Streams,
// updates reach tasks with no ordering against their inputs.
func (g *globals) follow(ctx context.Context) {
	defer close(g.done)
	for {
		fs := g.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		if err := g.apply(fs); err != nil {
			select {
			case g.errc <- fmt.Errorf("processor: global tables: %w", err):
			default:
			}
			return
		}
	}
}

// failed returns the error that stopped following, if any (nil-safe).
func (g *globals) failed() error {
	if g == nil {
		return nil
	}
	select {
	case err := <-g.errc:
		return err
	default:
		return nil
	}
}

// close stops following (nil-safe).
func (g *globals) close() {
	if g == nil {
		return
	}
	g.stop()
	<-g.done
	g.cl.Close()
}
