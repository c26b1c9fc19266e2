package processor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/topology"
)

// PauseMetrics is optionally implemented by a Metrics given to
// WithMetrics, to learn about tasks paused by an unavailable dependency
// (a schema registry outage). The worker calls it from its loop.
type PauseMetrics interface {
	// Paused adds d to the time task has spent paused for reason, a
	// codec.Kind such as "registry-unavailable". It is called at least
	// once per commit interval while the task is paused, and when it
	// resumes.
	Paused(task topology.TaskID, reason string, d time.Duration)
	// PausedTasks reports how many tasks are paused now.
	PausedTasks(n int)
}

// pause is a task that stopped taking records because a dependency is
// unavailable. The task core only says so (topology.ErrWaiting,
// ErrInterrupted); the worker decides when to try again.
type pause struct {
	reason  string
	cause   error
	since   time.Time
	counted time.Time // paused time is reported up to here
	retryAt time.Time
	backoff time.Duration
}

// pauseTask starts or extends the pause of task id after err, and
// schedules its next try with capped exponential backoff.
func (w *worker) pauseTask(id topology.TaskID, err error, now time.Time) {
	p := w.paused[id]
	if p == nil {
		p = &pause{since: now, counted: now, backoff: w.a.cfg.pauseInitial}
		w.paused[id] = p
		w.log.Warn("task paused: a dependency is unavailable; retrying with backoff while other tasks go on",
			zap.Stringer("task", id), zap.Error(err))
	} else {
		p.backoff = min(2*p.backoff, w.a.cfg.pauseMax)
		w.log.Debug("task still paused", zap.Stringer("task", id), zap.Duration("backoff", p.backoff), zap.Error(err))
	}
	p.reason, p.cause, p.retryAt = string(codec.KindOf(err)), err, now.Add(p.backoff)
	w.publishPauses()
}

// countPaused reports p's paused time up to now.
func (w *worker) countPaused(id topology.TaskID, p *pause, now time.Time) {
	if pm, ok := w.a.cfg.metrics.(PauseMetrics); ok && now.After(p.counted) {
		pm.Paused(id, p.reason, now.Sub(p.counted))
	}
	p.counted = now
}

// resumeTask ends the pause of task id, if any.
func (w *worker) resumeTask(id topology.TaskID, now time.Time) {
	p := w.paused[id]
	if p == nil {
		return
	}
	w.countPaused(id, p, now)
	delete(w.paused, id)
	w.log.Info("task resumed", zap.Stringer("task", id), zap.Duration("paused", now.Sub(p.since)))
	w.publishPauses()
}

// dropPause forgets the pause of a task that left this worker.
func (w *worker) dropPause(id topology.TaskID) {
	if p := w.paused[id]; p != nil {
		w.countPaused(id, p, time.Now())
		delete(w.paused, id)
		w.publishPauses()
	}
}

// publishPauses makes the paused tasks visible to Degraded and metrics.
func (w *worker) publishPauses() {
	if pm, ok := w.a.cfg.metrics.(PauseMetrics); ok {
		pm.PausedTasks(len(w.paused))
	}
	var reasons []string
	for id, p := range w.paused {
		reasons = append(reasons, fmt.Sprintf("task %s paused since %s (%s): %v",
			id, p.since.UTC().Format(time.RFC3339), p.reason, p.cause))
	}
	sort.Strings(reasons)
	w.a.degraded.Store(&reasons)
}

// Degraded lists why the worker runs with reduced capacity: one line per
// task paused by an unavailable dependency, naming the task, since when,
// the reason (a codec.Kind) and the last error. Empty when all is well.
// Safe for concurrent use; serve's /readyz reports it.
func (a *App) Degraded() []string {
	if r := a.degraded.Load(); r != nil {
		return append([]string(nil), (*r)...)
	}
	return nil
}

// interruptedErr reports topology.ErrInterrupted from a task: its pending
// work may be half done, so the transaction must abort and every task
// rewind to its last commit before it is tried again.
func interruptedErr(err error) bool { return errors.Is(err, topology.ErrInterrupted) }

// recoverInterrupted aborts the open transaction (dropping what every
// task produced and wrote since the last commit) and rewinds the tasks;
// the interrupted task stays paused and redoes its record after its
// backoff. At least once there is no transaction to abort: the worker
// rebuilds its session and reopens its tasks from their checkpoints.
func (w *worker) recoverInterrupted(ctx context.Context, cause error) error {
	if w.sess == nil {
		return fmt.Errorf("%w: %w", errRestart, cause)
	}
	start := time.Now()
	w.consumed, w.produced = 0, 0
	w.outTimes = w.outTimes[:0]
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.a.cfg.sessionTimeout+w.a.cfg.txnTimeout)
	_, err := w.sess.End(ectx, kgo.TryAbort)
	cancel()
	w.a.cfg.metrics.Committed(time.Since(start), false)
	if err != nil {
		return fmt.Errorf("%w: abort after an interrupted task: %w", errRestart, err)
	}
	w.log.Info("transaction aborted after a dependency outage; rewinding tasks to their last commit", zap.Error(cause))
	if err := w.rewind(ctx); err != nil {
		return err
	}
	return w.begin()
}
