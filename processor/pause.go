package processor

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

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

// pauses is the bookkeeping of paused tasks: backoff, metrics and what
// Degraded says. Safe for concurrent use by tasks processed in parallel.
type pauses struct {
	initial, max time.Duration
	log          *zap.Logger
	metrics      Metrics
	degraded     *atomic.Pointer[[]string]

	mu sync.Mutex
	m  map[topology.TaskID]*pause
}

func newPauses(a *App) *pauses {
	return &pauses{initial: a.cfg.pauseInitial, max: a.cfg.pauseMax, log: a.log, metrics: a.cfg.metrics,
		degraded: &a.degraded, m: map[topology.TaskID]*pause{}}
}

// pause starts or extends the pause of task id after err, and schedules
// its next try with capped exponential backoff.
func (ps *pauses) pause(id topology.TaskID, err error, now time.Time) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.m[id]
	if p == nil {
		p = &pause{since: now, counted: now, backoff: ps.initial}
		ps.m[id] = p
		ps.log.Warn("task paused: a dependency is unavailable; retrying with backoff while other tasks go on",
			zap.Stringer("task", id), zap.Error(err))
	} else {
		p.backoff = min(2*p.backoff, ps.max)
		ps.log.Debug("task still paused", zap.Stringer("task", id), zap.Duration("backoff", p.backoff), zap.Error(err))
	}
	p.reason, p.cause, p.retryAt = string(codec.KindOf(err)), err, now.Add(p.backoff)
	ps.publishLocked()
}

// waiting reports whether task id is paused and not due for its next try
// at now; it reports the paused time so far either way.
func (ps *pauses) waiting(id topology.TaskID, now time.Time) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.m[id]
	if p == nil {
		return false
	}
	ps.countLocked(id, p, now)
	return now.Before(p.retryAt)
}

// paused reports whether task id is paused.
func (ps *pauses) paused(id topology.TaskID) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.m[id] != nil
}

// countLocked reports p's paused time up to now.
func (ps *pauses) countLocked(id topology.TaskID, p *pause, now time.Time) {
	if pm, ok := ps.metrics.(PauseMetrics); ok && now.After(p.counted) {
		pm.Paused(id, p.reason, now.Sub(p.counted))
	}
	p.counted = now
}

// resume ends the pause of task id, if any.
func (ps *pauses) resume(id topology.TaskID, now time.Time) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.m[id]
	if p == nil {
		return
	}
	ps.countLocked(id, p, now)
	delete(ps.m, id)
	ps.log.Info("task resumed", zap.Stringer("task", id), zap.Duration("paused", now.Sub(p.since)))
	ps.publishLocked()
}

// drop forgets the pause of a task that left this worker.
func (ps *pauses) drop(id topology.TaskID) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p := ps.m[id]; p != nil {
		ps.countLocked(id, p, time.Now())
		delete(ps.m, id)
		ps.publishLocked()
	}
}

// publishLocked makes the paused tasks visible to Degraded and metrics.
func (ps *pauses) publishLocked() {
	if pm, ok := ps.metrics.(PauseMetrics); ok {
		pm.PausedTasks(len(ps.m))
	}
	var reasons []string
	for id, p := range ps.m {
		reasons = append(reasons, fmt.Sprintf("task %s paused since %s (%s): %v",
			id, p.since.UTC().Format(time.RFC3339), p.reason, p.cause))
	}
	sort.Strings(reasons)
	ps.degraded.Store(&reasons)
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
