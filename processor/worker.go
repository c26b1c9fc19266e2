package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/state/pebble"
	"github.com/weirstream/weir/topology"
)

// maxPollRecords bounds the records taken from the client per loop.
const maxPollRecords = 5000

// worker is one running member of the application's group. Its loop is
// single-threaded: group callbacks only record assignment changes, which
// the loop applies between polls.
type worker struct {
	a   *App
	p   *plan
	db  *pebble.DB
	log *zap.Logger

	sess *kgo.GroupTransactSession // exactly-once only
	cl   *kgo.Client
	bal  *taskBalancer // who owns which task, for interactive queries

	mu      sync.Mutex
	owned   map[topology.TopicPartition]bool // what the group gave us
	changed bool

	tasks   map[topology.TaskID]*task
	paused  map[topology.TaskID]*pause
	inputs  map[topology.TopicPartition]*input
	keyPart map[string]kgo.TopicPartitioner
	rr      map[string]int // round robin for records without a key

	// Input records on another partition than InputPartitioner says.
	internal   map[string]bool // repartition topics: Weir partitions them
	parts      *partitions
	mispart    map[string]int64 // per topic, since the last report
	warnedPart map[string]bool

	outTimes []time.Time // event times of this commit's outputs
	// Records consumed and produced in the open transaction.
	consumed, produced int

	globalCl    *kgo.Client
	globalApply func(kgo.Fetches) error
	stopGlobals context.CancelFunc
	globalDone  chan struct{}
	globalErr   chan error

	// One commit period's produce results.
	prodMu  sync.Mutex
	prodErr error
	logEnds map[state.TopicPartition]int64 // changelog partition -> last offset + 1
}

// task is a task core with the stores it writes through.
type task struct {
	id     topology.TaskID
	name   string
	core   *topology.Task
	stores map[string]*state.Pending
	logs   map[string]string // store -> changelog topic
	cp     state.Checkpoint
	// reported is what Metrics.Processed has been told, since the core
	// counts from its creation.
	reported topology.TaskStats
}

func newWorker(a *App, p *plan, db *pebble.DB) (*worker, error) {
	w := &worker{
		a: a, p: p, db: db, log: a.log,
		owned:   map[topology.TopicPartition]bool{},
		tasks:   map[topology.TaskID]*task{},
		paused:  map[topology.TaskID]*pause{},
		inputs:  map[topology.TopicPartition]*input{},
		keyPart: map[string]kgo.TopicPartitioner{},
		rr:      map[string]int{},

		internal: map[string]bool{}, parts: newPartitions(),
		mispart: map[string]int64{}, warnedPart: map[string]bool{},
	}
	for _, s := range p.subs {
		for _, src := range s.Sources {
			if src.Internal {
				w.internal[src.Topic] = true
			}
		}
	}
	w.bal = newTaskBalancer(a.topo.SubtopologyOf, a.cfg.advertise, a.log.Named("balancer"))
	opts := a.clientOpts("group",
		kgo.ConsumerGroup(a.topo.AppID()),
		kgo.ConsumeTopics(p.consume...),
		// Whole tasks per member, sticky and cooperative (balancer.go).
		kgo.Balancers(w.bal),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(a.cfg.sessionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Commit markers move a partition's position to its last
		// stable offset, which tells a task the partition is caught up.
		kgo.KeepControlRecords(),
		kgo.FetchMaxPartitionBytes(a.cfg.fetchPartition),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.OnPartitionsAssigned(w.onAssigned),
		kgo.OnPartitionsRevoked(w.onRevoked),
		kgo.OnPartitionsLost(w.onRevoked),
	)
	if a.cfg.serverSide {
		// The broker's range assignor (KIP-848) co-partitions like ours.
		opts = append(opts, kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()))
	}
	var err error
	switch a.cfg.guarantee {
	case ExactlyOnce:
		opts = append(opts,
			kgo.TransactionalID(a.topo.AppID()+"-"+a.cfg.instanceID),
			kgo.TransactionTimeout(a.cfg.txnTimeout),
		)
		w.sess, err = kgo.NewGroupTransactSession(opts...)
		if err == nil {
			w.cl = w.sess.Client()
		}
	default:
		w.cl, err = kgo.NewClient(opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: kafka client: %v", ErrConfig, err)
	}
	return w, nil
}

func (w *worker) onAssigned(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for t, parts := range ps {
		for _, p := range parts {
			w.owned[topology.TopicPartition{Topic: t, Partition: p}] = true
		}
	}
	w.changed = true
}

func (w *worker) onRevoked(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for t, parts := range ps {
		for _, p := range parts {
			delete(w.owned, topology.TopicPartition{Topic: t, Partition: p})
		}
	}
	w.changed = true
	// Queries stop reading revoked tasks now: the next owner may open
	// them before this worker's loop gets to close them.
	if s := w.a.serving.Load(); s != nil {
		owned := w.ownedTasksLocked()
		ready := make(map[topology.TaskID]bool, len(s.ready))
		for id := range s.ready {
			if owned[id] {
				ready[id] = true
			}
		}
		w.a.serving.Store(&serving{w: s.w, ready: ready})
	}
}

// ownedTasksLocked returns the tasks with an input partition the group
// gave this worker. w.mu must be held.
func (w *worker) ownedTasksLocked() map[topology.TaskID]bool {
	out := map[topology.TaskID]bool{}
	for tp := range w.owned {
		if sub, ok := w.a.topo.SubtopologyOf(tp.Topic); ok {
			out[topology.TaskID{Subtopology: sub, Partition: tp.Partition}] = true
		}
	}
	return out
}

func (w *worker) close(abandoned bool) {
	for _, t := range w.tasks {
		t.core.Close()
		w.dropPause(t.id)
	}
	if w.globalCl != nil {
		w.stopGlobals()
		<-w.globalDone
		w.globalCl.Close()
	}
	if w.sess != nil && !abandoned {
		// A transaction still open here (a failed run) is aborted now
		// rather than left to the broker's timeout.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := w.sess.End(ctx, kgo.TryAbort); err != nil {
			w.log.Debug("abort on close", zap.Error(err))
		}
		cancel()
	}
	// Closing leaves the group; an abandoned transaction stays open until
	// the broker times it out, as after a crash.
	w.cl.Close()
}

func (w *worker) run(ctx context.Context) error {
	if err := w.bootstrapGlobals(ctx); err != nil {
		return err
	}
	nextCommit := time.Now().Add(w.a.cfg.commitInterval)
	if err := w.begin(); err != nil {
		return err
	}
	for {
		if err := w.syncAssignment(ctx); err != nil {
			return err
		}
		pollCtx, cancel := context.WithDeadline(ctx, nextCommit)
		// A bounded poll keeps each commit small on a backlog: kgo may
		// have tens of megabytes buffered.
		fs := w.cl.PollRecords(pollCtx, maxPollRecords)
		cancel()
		if fs.IsClientClosed() {
			return errors.New("processor: kafka client closed")
		}
		var fetchErr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				fetchErr = errors.Join(fetchErr, fmt.Errorf("fetch %s/%d: %w", t, p, err))
			}
		})
		if fetchErr != nil {
			w.log.Warn("fetch errors (the client retries)", zap.Error(fetchErr))
		}
		if err := w.syncAssignment(ctx); err != nil {
			return err
		}
		var addErr error
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			w.seen(p.Topic, p.Partition, p.LastStableOffset)
			if n := len(p.Records); n > 0 {
				w.a.cfg.metrics.Lag(p.Topic, p.Partition, p.HighWatermark-p.Records[n-1].Offset-1)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if addErr != nil {
				return
			}
			if r.Attrs.IsControl() {
				if w.read(r) {
					w.consumed++ // the commit must move past it
				}
				return
			}
			addErr = w.add(ctx, r)
		})
		if addErr != nil {
			return addErr
		}
		if err := w.process(ctx, time.Now(), nextCommit); err != nil {
			if !interruptedErr(err) {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err() // stopping: close aborts the half-done work
			}
			if err := w.recoverInterrupted(ctx, err); err != nil {
				return err
			}
			nextCommit = time.Now().Add(w.a.cfg.commitInterval)
			continue
		}
		select {
		case err := <-w.globalErr:
			return err
		default:
		}
		if ctx.Err() != nil {
			// Finish the work in hand: the last commit must not see the
			// cancelled context, or its transaction would dangle until
			// the broker times it out.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.a.cfg.txnTimeout)
			err := w.commit(cctx)
			cancel()
			if err != nil && !errors.Is(err, errAbandoned) {
				// An interrupted task's half-done work is aborted by close.
				// Nothing is lost: the input offsets were not committed
				// either, so whoever owns these tasks next redoes the work.
				w.log.Warn("final commit did not complete; the next owner reprocesses from the last commit", zap.Error(err))
				return ctx.Err()
			}
			if err != nil {
				return err
			}
			return ctx.Err()
		}
		if now := time.Now(); !now.Before(nextCommit) {
			if err := w.commit(ctx); err != nil {
				if !interruptedErr(err) {
					return err
				}
				if err := w.recoverInterrupted(ctx, err); err != nil {
					return err
				}
				nextCommit = time.Now().Add(w.a.cfg.commitInterval)
				continue
			}
			nextCommit = time.Now().Add(w.a.cfg.commitInterval)
			if err := w.begin(); err != nil {
				return err
			}
		}
	}
}

func (w *worker) begin() error {
	if w.sess == nil {
		return nil
	}
	if err := w.sess.Begin(); err != nil {
		return fmt.Errorf("%w: begin transaction: %w", errRestart, err)
	}
	return nil
}

// syncAssignment opens (and restores) tasks for newly owned partitions
// and closes tasks whose partitions went away.
func (w *worker) syncAssignment(ctx context.Context) error {
	w.mu.Lock()
	if !w.changed {
		w.mu.Unlock()
		return nil
	}
	w.changed = false
	want := map[topology.TaskID]bool{}
	for tp := range w.owned {
		if sub, ok := w.a.topo.SubtopologyOf(tp.Topic); ok {
			want[topology.TaskID{Subtopology: sub, Partition: tp.Partition}] = true
		}
	}
	w.mu.Unlock()

	var gone []*task
	for id, t := range w.tasks {
		if !want[id] {
			for _, tp := range t.core.Inputs() {
				delete(w.inputs, tp)
			}
			t.core.Close()
			delete(w.tasks, id)
			w.dropPause(id)
			gone = append(gone, t)
		}
	}
	if len(gone) > 0 {
		w.publish() // queries stop reading them before their state goes
	}
	for _, t := range gone {
		// The task moved away: its local state would only go stale, so
		// one range delete drops it (its changelog has it all).
		if err := w.db.DropTask(t.name); err != nil {
			return fmt.Errorf("processor: drop state of task %s: %w", t.id, err)
		}
		w.log.Info("task moved away; local state dropped", zap.Stringer("task", t.id))
	}
	ids := make([]topology.TaskID, 0, len(want))
	for id := range want {
		if w.tasks[id] == nil {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].Subtopology != ids[j].Subtopology {
			return ids[i].Subtopology < ids[j].Subtopology
		}
		return ids[i].Partition < ids[j].Partition
	})
	for _, id := range ids {
		if _, err := w.openTask(ctx, id); err != nil {
			return err
		}
	}
	if len(ids) > 0 {
		// Restoring kept the loop from reading: waits start afresh.
		for _, in := range w.inputs {
			in.behind = time.Time{}
		}
	}
	w.publish()
	return nil
}

func (w *worker) add(ctx context.Context, r *kgo.Record) error {
	sub, ok := w.a.topo.SubtopologyOf(r.Topic)
	if !ok {
		return fmt.Errorf("processor: record from unexpected topic %s", r.Topic)
	}
	id := topology.TaskID{Subtopology: sub, Partition: r.Partition}
	t := w.tasks[id]
	if t == nil {
		var err error
		if t, err = w.openTask(ctx, id); err != nil {
			return err
		}
		w.publish()
	}
	if !w.read(r) {
		return nil
	}
	w.consumed++
	w.checkPartition(r, sub)
	hs := make([]topology.Header, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = topology.Header{Key: h.Key, Value: h.Value}
	}
	return t.core.Add(topology.Record{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: hs,
	})
}

// process runs every task while it is ready (topology.Task.Ready) and the
// commit is not due, then fires wall-clock punctuations. A task paused by
// an unavailable dependency is skipped until its next try; ctx reaches
// the serdes, so a stop never waits on a registry call.
func (w *worker) process(ctx context.Context, now, commitBy time.Time) error {
	ready := w.caughtUp(now)
	for _, t := range w.tasks {
		if p := w.paused[t.id]; p != nil {
			w.countPaused(t.id, p, now)
			if now.Before(p.retryAt) {
				continue
			}
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
				w.resumeTask(t.id, now)
			case errors.Is(err, topology.ErrWaiting):
				// The record stays queued and held: nothing to undo.
				if ctx.Err() == nil { // else stopping, not an outage
					w.pauseTask(t.id, err, now)
				}
				break records
			case errors.Is(err, topology.ErrInterrupted):
				w.pauseTask(t.id, err, now)
				return fmt.Errorf("processor: task %s: %w", t.id, err)
			default:
				return fmt.Errorf("processor: task %s stopped: %w", t.id, err)
			}
		}
		if w.paused[t.id] != nil {
			continue // a paused task does nothing, punctuations included
		}
		if err := t.core.Punctuate(now); err != nil {
			if errors.Is(err, topology.ErrInterrupted) {
				w.pauseTask(t.id, err, now)
			}
			return fmt.Errorf("processor: task %s punctuation: %w", t.id, err)
		}
	}
	return nil
}

// commit produces every task's outputs and changelog records, then ends
// the transaction (or, at least once, flushes and commits offsets). Only
// when Kafka has the commit does local state move forward.
func (w *worker) commit(ctx context.Context) error {
	start := time.Now()
	w.reportMispartitioned()
	w.prodMu.Lock()
	w.prodErr = nil
	w.logEnds = map[state.TopicPartition]int64{}
	w.prodMu.Unlock()

	for _, t := range w.sortedTasks() {
		// Commit hooks forward what processors held back for the commit
		// (e.g. the latest profile of each changed customer).
		if err := t.core.Commit(); err != nil {
			if errors.Is(err, topology.ErrInterrupted) {
				w.pauseTask(t.id, err, time.Now())
			}
			return fmt.Errorf("processor: task %s commit hooks: %w", t.id, err)
		}
		for _, o := range t.core.TakeOutputs() {
			w.produce(ctx, w.outRecord(o))
			w.outTimes = append(w.outTimes, o.Timestamp)
		}
		for _, name := range sortedKeys(t.stores) {
			topic := t.logs[name]
			if topic == "" {
				continue
			}
			err := t.stores[name].Changes(func(k, v []byte, tombstone bool) error {
				r := &kgo.Record{Topic: topic, Partition: t.id.Partition, Key: append([]byte(nil), k...)}
				if !tombstone {
					r.Value = append([]byte{}, v...)
				}
				w.produce(ctx, r)
				return nil
			})
			if err != nil {
				return fmt.Errorf("processor: task %s store %s: changelog: %w", t.id, name, err)
			}
		}
	}

	select {
	case <-w.a.abandon:
		_ = w.cl.Flush(ctx) // the open transaction holds data when "crashing"
		return errAbandoned
	default:
	}
	// Ending must not be cut short by a cancelled ctx: a transaction the
	// broker committed must reach local state too.
	// It may wait out a rebalance that waits for a dead member's session.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.a.cfg.sessionTimeout+w.a.cfg.txnTimeout)
	committed, err := w.end(ectx)
	cancel()
	if err != nil {
		w.a.cfg.metrics.Committed(time.Since(start), false)
		return err
	}
	// Reported once local state reflects the outcome, so a hook can tell
	// when queries see a commit.
	defer func() { w.a.cfg.metrics.Committed(time.Since(start), committed) }()
	now := time.Now()
	if committed {
		for _, ts := range w.outTimes {
			w.a.cfg.metrics.EndToEnd(now.Sub(ts))
		}
	}
	w.outTimes = w.outTimes[:0]
	if !committed {
		w.log.Info("transaction aborted; rewinding tasks to their last commit")
		return w.rewind(ctx)
	}
	for _, t := range w.sortedTasks() {
		st := t.core.Stats()
		w.a.cfg.metrics.Processed(t.id, topology.TaskStats{
			RecordsIn: st.RecordsIn - t.reported.RecordsIn, RecordsOut: st.RecordsOut - t.reported.RecordsOut,
			Skipped: st.Skipped - t.reported.Skipped, DeadLettered: st.DeadLettered - t.reported.DeadLettered,
			Late: st.Late - t.reported.Late,
		})
		t.reported = st
		writes := map[string]state.Batch{}
		for name, pd := range t.stores {
			if !pd.Empty() {
				writes[name] = pd
			}
		}
		if len(writes) == 0 {
			continue
		}
		cp := state.Checkpoint{Identity: w.p.identity, Offsets: maps.Clone(t.cp.Offsets)}
		if cp.Offsets == nil {
			cp.Offsets = map[state.TopicPartition]int64{}
		}
		for name := range writes {
			tp := state.TopicPartition{Topic: t.logs[name], Partition: t.id.Partition}
			if end, ok := w.logEnds[tp]; ok {
				cp.Offsets[tp] = end
			}
		}
		if err := w.db.Commit(t.name, writes, cp); err != nil {
			return fmt.Errorf("processor: task %s: apply committed state: %w", t.id, err)
		}
		for _, pd := range t.stores {
			pd.Reset()
		}
		t.cp = cp
	}
	return nil
}

func (w *worker) end(ctx context.Context) (bool, error) {
	// Flush first so every produce result is in before deciding: End's
	// own flush would come too late to turn a commit into an abort.
	if err := w.cl.Flush(ctx); err != nil {
		return false, fmt.Errorf("%w: flush: %w", errRestart, err)
	}
	w.prodMu.Lock()
	perr := w.prodErr
	w.prodMu.Unlock()
	held := w.held()
	// Held records keep the commit from being empty: ending it with an
	// abort would set the consumer back to the last commit and read
	// them again.
	idle := w.consumed == 0 && w.produced == 0 && len(held) == 0
	w.consumed, w.produced = 0, 0
	if w.sess == nil {
		if perr != nil {
			return false, fmt.Errorf("processor: produce: %w", perr)
		}
		if err := w.cl.CommitUncommittedOffsets(holdBackPlain(ctx, held)); err != nil {
			return false, fmt.Errorf("processor: commit offsets: %w", err)
		}
		return true, nil
	}
	try := kgo.TryCommit
	if perr != nil {
		w.log.Warn("a produce failed; aborting the transaction", zap.Error(perr))
		try = kgo.TryAbort
	}
	if idle && perr == nil {
		// Nothing to commit. Ending empty transactions with an abort is
		// free, while an empty commit makes franz-go hold the session
		// for 500ms (it cannot tell the broker supports KIP-447).
		if _, err := w.sess.End(ctx, kgo.TryAbort); err != nil {
			return false, fmt.Errorf("%w: end empty transaction: %w", errRestart, err)
		}
		return true, nil
	}
	committed, err := w.sess.End(holdBack(ctx, held), try)
	if err != nil {
		return false, fmt.Errorf("%w: end transaction: %w", errRestart, err)
	}
	// Produce errors that surfaced during End's flush.
	w.prodMu.Lock()
	perr = w.prodErr
	w.prodMu.Unlock()
	if committed && perr != nil {
		return false, fmt.Errorf("processor: transaction committed despite a produce error: %w", perr)
	}
	return committed, nil
}

// rewind drops every task's uncommitted state and rebuilds its core, as
// the session rewound the consumer to the last committed offsets.
func (w *worker) rewind(ctx context.Context) error {
	var tps []topology.TopicPartition
	for id, t := range w.tasks {
		tps = append(tps, t.core.Inputs()...)
		for _, pd := range t.stores {
			pd.Reset()
		}
		t.core.Close()
		core, err := w.newCore(t)
		if err != nil {
			return err
		}
		t.core = core
		t.reported = topology.TaskStats{}
		w.tasks[id] = t
	}
	return w.locate(ctx, tps)
}

func (w *worker) produce(ctx context.Context, r *kgo.Record) {
	w.produced++
	w.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		w.prodMu.Lock()
		defer w.prodMu.Unlock()
		if err != nil {
			w.prodErr = errors.Join(w.prodErr, fmt.Errorf("%s/%d: %w", r.Topic, r.Partition, err))
			return
		}
		tp := state.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if w.logEnds != nil && r.Offset+1 > w.logEnds[tp] {
			w.logEnds[tp] = r.Offset + 1
		}
	})
}

func (w *worker) outRecord(o topology.Output) *kgo.Record {
	r := &kgo.Record{Topic: o.Topic, Key: o.Key, Value: o.Value, Timestamp: o.Timestamp, Partition: o.Partition}
	for _, h := range o.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	if r.Partition < 0 {
		n := int(w.p.counts[o.Topic])
		if n <= 0 {
			n = 1
		}
		if o.Key != nil {
			tp := w.keyPart[o.Topic]
			if tp == nil {
				tp = kgo.StickyKeyPartitioner(nil).ForTopic(o.Topic)
				w.keyPart[o.Topic] = tp
			}
			r.Partition = int32(tp.Partition(r, n))
		} else {
			r.Partition = int32(w.rr[o.Topic] % n)
			w.rr[o.Topic]++
		}
	}
	return r
}

func (w *worker) sortedTasks() []*task {
	out := make([]*task, 0, len(w.tasks))
	for _, t := range w.tasks {
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

// kgoLogger sends franz-go's logs to zap, one level quieter: the client
// is chatty at info.
type kgoLogger struct{ l *zap.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }
func (k kgoLogger) Log(level kgo.LogLevel, msg string, kv ...any) {
	fields := make([]zap.Field, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		fields = append(fields, zap.Any(fmt.Sprint(kv[i]), kv[i+1]))
	}
	switch level {
	case kgo.LogLevelError:
		k.l.Error(msg, fields...)
	default:
		k.l.Warn(msg, fields...)
	}
}
