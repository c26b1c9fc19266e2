package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/state/pebble"
	"github.com/weirstream/weir/topology"
)

// maxPollRecords bounds the records taken from the client per loop.
const maxPollRecords = 5000

// worker is one running member of the application's group. It ties its
// parts together in one loop: the group's assignment (group), the
// transaction (session), input positions (inputs), the tasks (taskSet)
// and global tables (globals).
type worker struct {
	a   *App
	p   *plan
	db  *pebble.DB
	log *zap.Logger
	bal *taskBalancer // who owns which task, for interactive queries

	grp     *group
	gate    *gate
	txn     *session
	in      *inputs
	tasks   *taskSet
	standby *standbys
	glob    *globals

	// assigned is the tasks and replicas last reported to
	// AssignmentMetrics: a sync that changes neither is no rebalance to
	// the operator.
	assigned struct{ active, standby map[topology.TaskID]bool }
}

func newWorker(a *App, p *plan, db *pebble.DB) (*worker, error) {
	w := &worker{a: a, p: p, db: db, log: a.log}
	w.grp = &group{a: a, w: w, owned: map[topology.TopicPartition]bool{}}
	w.gate = &gate{log: a.log}
	w.bal = newTaskBalancer(a.topo.SubtopologyOf, a.cfg.advertise, a.log.Named("balancer"))
	// What the group learns of local state at the first join.
	local, err := localPositions(db, p.identity)
	if err != nil {
		return nil, err
	}
	w.bal.local = local.snapshot
	w.bal.replicas = replicaConfig{standbys: a.cfg.standbys, maxWarmups: a.cfg.maxWarmups,
		acceptableLag: a.cfg.acceptableLag, stateful: p.stateful}
	w.bal.onSync = func() { w.gate.joinDone(); w.grp.resynced() }
	w.bal.onJoin = w.gate.joinStarted
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
		kgo.OnPartitionsAssigned(func(ctx context.Context, cl *kgo.Client, ps map[string][]int32) {
			w.gate.joinDone()
			w.grp.onAssigned(ctx, cl, ps)
		}),
		kgo.OnPartitionsRevoked(w.grp.onRevoked),
		kgo.OnPartitionsLost(w.grp.onLost),
		// Rebalances wait for the loop to commit first (gate.go).
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsCallbackBlocked(w.gate.onBlocked),
	)
	opts = append(opts, a.cfg.clientMetricsOpts()...)
	if a.cfg.static {
		opts = append(opts, kgo.InstanceID(a.cfg.instanceID))
	}
	if a.cfg.serverSide {
		// The broker's range assignor (KIP-848) co-partitions like ours.
		opts = append(opts, kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()))
	}
	var (
		sess *kgo.GroupTransactSession
		cl   *kgo.Client
	)
	switch a.cfg.guarantee {
	case ExactlyOnce:
		opts = append(opts,
			kgo.TransactionalID(a.topo.AppID()+"-"+a.cfg.instanceID),
			kgo.TransactionTimeout(a.cfg.txnTimeout),
		)
		sess, err = kgo.NewGroupTransactSession(opts...)
		if err == nil {
			cl = sess.Client()
		}
	default:
		cl, err = kgo.NewClient(opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: kafka client: %v", ErrConfig, err)
	}
	w.txn = newSession(a.log, a.cfg.metrics, sess, cl, p.counts)
	w.in = newInputs(a.cfg.maxTaskIdle, a.topo.AppID(), a.log,
		newPartitionCheck(a.cfg.partitioner, p, a.log, a.cfg.metrics))
	w.tasks = newTaskSet(a, p, db, cl, w.in, w.grp, local)
	w.tasks.restoring = func() { w.gate.ungate(cl) }
	w.standby = newStandbys(w.tasks, cl.ForceRebalance)
	return w, nil
}

// run is the worker's loop: poll, hand records to tasks, let ready tasks
// process, and commit every CommitInterval. What a task waits for is the
// task core's to say (Ready, ErrWaiting, ErrInterrupted); what to do
// about it is decided here and in taskSet.run.
func (w *worker) run(ctx context.Context) (err error) {
	if err := w.fence(ctx); err != nil {
		return err
	}
	if w.glob, err = loadGlobals(ctx, w.a, w.p, w.db, w.txn.cl); err != nil {
		return err
	}
	if err := w.txn.begin(); err != nil {
		return err
	}
	nextCommit := time.Now().Add(w.a.cfg.commitInterval)
	for {
		if err := w.syncAssignment(ctx); err != nil {
			return err
		}
		fs, err := w.poll(ctx, nextCommit)
		if err != nil {
			return err
		}
		if err := w.txn.forgetRevoke(ctx, w.grp.takeRevoked()); err != nil {
			return err
		}
		if err := w.syncAssignment(ctx); err != nil {
			return err
		}
		if err := w.feed(ctx, fs); err != nil {
			return err
		}
		if err := w.standby.poll(ctx, time.Now()); err != nil {
			return err
		}
		by := nextCommit
		if w.gate.waits() {
			by = time.Now() // commit what is in hand first
		}
		err = w.tasks.process(ctx, time.Now(), by)
		if err == nil {
			err = w.glob.failed()
		}
		if err == nil && ctx.Err() != nil {
			return w.finish(ctx)
		}
		if err == nil {
			nextCommit, err = w.commitDue(ctx, nextCommit)
		}
		if err != nil {
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
		}
	}
}

// commitDue commits when the interval is up or a rebalance waits for the
// worker, which it then lets through, and returns when the next commit is
// due. Nothing commits while the member joins its group.
func (w *worker) commitDue(ctx context.Context, next time.Time) (time.Time, error) {
	yielding := w.gate.waits()
	if w.gate.inJoin() {
		if yielding {
			w.gate.open(w.txn.cl) // a failed join's onLost: franz-go aborts
		}
		return later(next, time.Now().Add(w.a.cfg.commitInterval/4)), nil
	}
	if !yielding && time.Now().Before(next) {
		return next, nil
	}
	next = time.Now().Add(w.a.cfg.commitInterval)
	nextBy := next
	if yielding {
		nextBy = time.Time{} // nothing new in hand when it goes through
	}
	err := w.commit(ctx, nextBy)
	if err == nil {
		if err := w.txn.begin(); err != nil {
			return next, err
		}
		if yielding {
			w.gate.open(w.txn.cl)
		}
	}
	// A commit that took longer than the interval leaves the next one due
	// at once, and a transaction ended right after the last one races the
	// broker writing that one's markers: its offset commit gets
	// CONCURRENT_TRANSACTIONS and franz-go aborts it, wasting the
	// interval.
	return later(next, time.Now().Add(w.a.cfg.commitInterval/4)), err
}

// fence takes over this worker's transactional id before anything is
// fetched: the broker aborts what a previous incarnation (killed with
// kill -9) left open. Until then the group's offsets of its partitions
// are unstable, so a restarted worker would read nothing until the
// broker timed that transaction out (TransactionTimeout).
func (w *worker) fence(ctx context.Context) error {
	if w.txn.sess == nil {
		return nil
	}
	start := time.Now()
	if _, _, err := w.txn.cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("%w: init producer id: %w", errRestart, err)
	}
	w.log.Info("transactional id taken over", zap.Duration("took", time.Since(start)))
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// poll takes what the client has fetched, waiting at most until the next
// commit. A bounded poll keeps each commit small on a backlog: kgo may
// have tens of megabytes buffered.
func (w *worker) poll(ctx context.Context, until time.Time) (kgo.Fetches, error) {
	pollCtx, cancel := context.WithDeadline(ctx, until)
	done := w.gate.polling(cancel) // a waiting rebalance cuts it short
	fs := w.txn.cl.PollRecords(pollCtx, maxPollRecords)
	done()
	w.in.buffered = w.txn.cl.BufferedFetchRecords() > 0
	if fs.IsClientClosed() {
		return nil, errors.New("processor: kafka client closed")
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
	return fs, nil
}

// feed moves input positions forward and buffers new records in their
// tasks.
func (w *worker) feed(ctx context.Context, fs kgo.Fetches) error {
	gl, groupLag := w.a.cfg.metrics.(GroupLagMetrics)
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		w.in.seen(p.Topic, p.Partition, p.LastStableOffset)
		if n := len(p.Records); n > 0 {
			w.a.cfg.metrics.Lag(p.Topic, p.Partition, p.HighWatermark-p.Records[n-1].Offset-1)
			if !groupLag {
				return
			}
			if lag, known := w.in.lag(topology.TopicPartition{Topic: p.Topic, Partition: p.Partition}); known {
				gl.GroupLag(p.Topic, p.Partition, lag)
			}
		}
	})
	var err error
	fs.EachRecord(func(r *kgo.Record) {
		if err == nil {
			err = w.add(ctx, r)
		}
	})
	return err
}

func (w *worker) add(ctx context.Context, r *kgo.Record) error {
	if r.Attrs.IsControl() {
		if w.in.read(r) {
			w.txn.consume() // the commit must move past it
		}
		return nil
	}
	t, sub, err := w.tasks.forRecord(ctx, r.Topic, r.Partition)
	if err != nil {
		return err
	}
	if !w.in.read(r) {
		return nil
	}
	w.txn.consume()
	w.in.check.check(r, sub)
	hs := make([]topology.Header, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = topology.Header{Key: h.Key, Value: h.Value}
	}
	return t.core.Add(topology.Record{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: hs,
	})
}

// syncAssignment opens (and restores) tasks for newly owned partitions,
// closes tasks whose partitions went away, and starts and stops standby
// replicas. Replicas that become active stop first, so that the task
// restores from where they got.
func (w *worker) syncAssignment(ctx context.Context) error {
	want, changed := w.grp.take()
	if !changed {
		return w.tasks.dropMoved(time.Now())
	}
	member, _ := w.txn.cl.GroupMetadata()
	var instance string
	if w.a.cfg.static {
		instance = w.a.cfg.instanceID
	}
	standby, warm := w.bal.Replicas(member, instance)
	for id := range want {
		delete(standby, id)
	}
	if err := w.standby.stop(standby); err != nil {
		return err
	}
	if err := w.tasks.sync(ctx, want); err != nil {
		return err
	}
	if err := w.standby.start(ctx, standby, warm); err != nil {
		return err
	}
	w.reportAssignment(want)
	return nil
}

// reportAssignment tells AssignmentMetrics of a change in the worker's
// tasks or replicas.
func (w *worker) reportAssignment(active map[topology.TaskID]bool) {
	m, ok := w.a.cfg.metrics.(AssignmentMetrics)
	if !ok {
		return
	}
	standby := make(map[topology.TaskID]bool, len(w.standby.m))
	for id := range w.standby.m {
		standby[id] = true
	}
	if w.assigned.active != nil && maps.Equal(active, w.assigned.active) && maps.Equal(standby, w.assigned.standby) {
		return
	}
	w.assigned.active, w.assigned.standby = maps.Clone(active), standby
	m.Assigned(len(active), len(standby))
}

// commit produces every task's outputs and changelog records, then ends
// the transaction (or, at least once, flushes and commits offsets). Only
// when Kafka has the commit does local state move forward.
//
// Pipelined: while the transaction ends, tasks go on processing the
// records already fetched, into the next interval's overlays (up to
// nextBy, the next commit's time); what they produce joins the next
// transaction. The client is not polled meanwhile (franz-go forbids
// polling during End), so the offsets this transaction commits stop at
// what was held when it ended: the first record each task had not
// processed. An abort drops both intervals and rewinds. A zero nextBy
// ends without processing (stopping).
func (w *worker) commit(ctx context.Context, nextBy time.Time) error {
	start := time.Now()
	w.in.check.report()
	if err := w.tasks.produce(ctx, w.txn); err != nil {
		return err
	}
	select {
	case <-w.a.abandon:
		_ = w.txn.cl.Flush(ctx) // the open transaction holds data when "crashing"
		return errAbandoned
	default:
	}
	held := w.tasks.held()
	at, moved := w.in.commitAt(held)
	holding := len(held) > 0
	// Ending must not be cut short by a cancelled ctx: a transaction the
	// broker committed must reach local state too.
	// It may wait out a rebalance that waits for a dead member's session.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.a.cfg.sessionTimeout+w.a.cfg.txnTimeout)
	defer cancel()
	var (
		committed bool
		err, perr error
	)
	if w.abortAfterNext(ctx, nextBy) {
		perr = errForcedAbort
		committed, err = w.txn.end(ectx, at, moved, holding, true)
	} else {
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			committed, err = w.txn.end(ectx, at, moved, holding, false)
		}()
		if !nextBy.IsZero() {
			perr = w.tasks.process(ctx, time.Now(), nextBy)
		}
		<-ended
	}
	if err != nil {
		w.a.cfg.metrics.Committed(time.Since(start), false)
		return err
	}
	// Reported once local state reflects the outcome, so a hook can tell
	// when queries see a commit.
	defer func() { w.a.cfg.metrics.Committed(time.Since(start), committed) }()
	w.txn.reportEndToEnd(committed)
	if !committed {
		w.log.Info("transaction aborted; rewinding tasks to their last commit")
		if err := w.tasks.rewind(ctx); err != nil {
			return err
		}
		if perr != nil && !interruptedErr(perr) && perr != errForcedAbort {
			return perr
		}
		return nil // an interrupted task was rewound with the rest
	}
	w.in.committed(at)
	if gl, ok := w.a.cfg.metrics.(GroupLagMetrics); ok {
		w.in.lags(gl.GroupLag)
	}
	if err := w.tasks.committed(w.txn); err != nil {
		return err
	}
	return perr // the next interval's: an interruption aborts only it
}

// errForcedAbort marks a transaction aborted by abortAfterNext.
var errForcedAbort = errors.New("processor: transaction aborted for a test")

// abortAfterNext is a test hook (App.abortPipelined): it processes the
// next interval first and, if that took records, reports that the
// transaction must abort, so that an abort meets a next interval with
// state in it.
func (w *worker) abortAfterNext(ctx context.Context, nextBy time.Time) bool {
	if nextBy.IsZero() || w.a.abortPipelined.Load() <= 0 {
		return false
	}
	before := w.tasks.done.Load()
	if err := w.tasks.process(ctx, time.Now(), nextBy); err != nil || w.tasks.done.Load() == before {
		return false
	}
	w.a.abortPipelined.Add(-1)
	w.log.Info("aborting the transaction with the next interval processed (test hook)")
	return true
}

// finish commits the work in hand when stopping: the last commit must
// not see the cancelled context, or its transaction would dangle until
// the broker times it out.
func (w *worker) finish(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.a.cfg.txnTimeout)
	err := w.commit(cctx, time.Time{})
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

// recoverInterrupted aborts the open transaction (dropping what every
// task produced and wrote since the last commit) and rewinds the tasks;
// the interrupted task stays paused and redoes its record after its
// backoff. At least once there is no transaction to abort: the worker
// rebuilds its session and reopens its tasks from their checkpoints.
func (w *worker) recoverInterrupted(ctx context.Context, cause error) error {
	if w.txn.sess == nil {
		return fmt.Errorf("%w: %w", errRestart, cause)
	}
	start := time.Now()
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.a.cfg.sessionTimeout+w.a.cfg.txnTimeout)
	err := w.txn.abort(ectx)
	cancel()
	w.a.cfg.metrics.Committed(time.Since(start), false)
	if err != nil {
		return fmt.Errorf("%w: after an interrupted task: %w", errRestart, err)
	}
	w.log.Info("transaction aborted after a dependency outage; rewinding tasks to their last commit", zap.Error(cause))
	if err := w.tasks.rewind(ctx); err != nil {
		return err
	}
	if err := w.txn.begin(); err != nil {
		return err
	}
	if w.gate.waits() {
		w.gate.open(w.txn.cl) // nothing in hand now
	}
	return nil
}

// close closes the tasks, stops following global tables and ends the
// session (see session.close).
func (w *worker) close(abandoned bool) {
	w.gate.close()
	w.tasks.close()
	w.standby.close()
	w.glob.close()
	w.txn.close(abandoned)
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
