package processor

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/topology"
)

// group is what the consumer group gave this worker. Its callbacks run on
// the client's goroutines and only record the change; the worker's loop
// applies it between polls.
type group struct {
	a *App
	w *worker // what queries reach through serving

	mu      sync.Mutex
	owned   map[topology.TopicPartition]bool
	changed bool

	// A rebalance waits for this worker (BlockRebalanceOnPoll): the loop
	// commits what it has in hand, then lets it through.
	waiting  bool
	waits    int                // rebalances that waited, to tell them apart
	stopPoll context.CancelFunc // the poll in progress, cut short by waiting
	// Partitions were revoked or lost since the loop last looked:
	// franz-go then aborts the open transaction at its end.
	revoked bool
	// The member may be between JoinGroup and SyncGroup: a commit then
	// waits in franz-go for a heartbeat until the join completes, or
	// (kfake) fails.
	joining bool
}

// joinStarted notes that the member may be joining: set when the worker
// lets a rebalance through and at JoinGroup.
func (g *group) joinStarted() {
	g.mu.Lock()
	g.joining = true
	g.mu.Unlock()
}

// inJoin reports whether the member may be between JoinGroup and
// SyncGroup.
func (g *group) inJoin() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.joining
}

// yieldTimeout bounds how long a rebalance waits for the worker's loop.
// Past it the rebalance goes through as it would without waiting, and a
// revoke aborts the open transaction: a commit whose membership was lost
// waits in franz-go for a heartbeat that the held-up rebalance stops.
const yieldTimeout = 2 * time.Second

// onBlocked runs (on its own goroutine) when a rebalance waits for the
// worker to allow it.
func (g *group) onBlocked(_ context.Context, cl *kgo.Client) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopPoll != nil {
		g.stopPoll()
	}
	if g.waiting {
		return
	}
	g.waiting = true
	g.waits++
	this := g.waits
	time.AfterFunc(yieldTimeout, func() {
		g.mu.Lock()
		late := g.waiting && g.waits == this
		if late {
			g.waiting = false
		}
		g.mu.Unlock()
		if late {
			g.a.log.Warn("a rebalance waited too long for the worker's commit; letting it through", zap.Duration("waited", yieldTimeout))
			cl.AllowRebalance()
		}
	})
}

// rebalanceWaiting reports whether a rebalance waits for the worker.
func (g *group) rebalanceWaiting() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}

// letThrough clears the wait before the worker allows the rebalance, so
// that the next one is noticed.
func (g *group) letThrough() {
	g.mu.Lock()
	g.waiting = false
	g.mu.Unlock()
}

// polling registers the poll in progress, and cancels it at once if a
// rebalance already waits; done unregisters it.
func (g *group) polling(cancel context.CancelFunc) (done func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.waiting {
		cancel()
	}
	g.stopPoll = cancel
	return func() {
		g.mu.Lock()
		g.stopPoll = nil
		g.mu.Unlock()
		cancel()
	}
}

// takeRevoked reports whether partitions were revoked or lost since the
// last call.
func (g *group) takeRevoked() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.revoked
	g.revoked = false
	return r
}

func (g *group) onAssigned(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.joining = false
	for t, parts := range ps {
		for _, p := range parts {
			g.owned[topology.TopicPartition{Topic: t, Partition: p}] = true
		}
	}
	g.changed = true
}

func (g *group) onLost(ctx context.Context, cl *kgo.Client, ps map[string][]int32) {
	g.mu.Lock()
	g.revoked = true
	g.mu.Unlock()
	g.onRevoked(ctx, cl, ps)
}

func (g *group) onRevoked(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(ps) > 0 {
		g.revoked = true
	}
	for t, parts := range ps {
		for _, p := range parts {
			delete(g.owned, topology.TopicPartition{Topic: t, Partition: p})
		}
	}
	g.changed = true
	// Queries stop reading revoked tasks now: the next owner may open
	// them before this worker's loop gets to close them.
	if s := g.a.serving.Load(); s != nil {
		owned := g.ownedTasksLocked()
		ready := make(map[topology.TaskID]bool, len(s.ready))
		for id := range s.ready {
			if owned[id] {
				ready[id] = true
			}
		}
		g.a.serving.Store(&serving{w: s.w, ready: ready})
	}
}

// ownedTasksLocked returns the tasks with an input partition the group
// gave this worker. g.mu must be held.
func (g *group) ownedTasksLocked() map[topology.TaskID]bool {
	out := map[topology.TaskID]bool{}
	for tp := range g.owned {
		if sub, ok := g.a.topo.SubtopologyOf(tp.Topic); ok {
			out[topology.TaskID{Subtopology: sub, Partition: tp.Partition}] = true
		}
	}
	return out
}

// resynced notes that a sync may have changed this worker's replicas
// (Standbys), which no partition callback reports, and that the join is
// over.
func (g *group) resynced() {
	g.mu.Lock()
	g.changed, g.joining = true, false
	g.mu.Unlock()
}

// take returns the tasks the worker should have, if the assignment
// changed since the last call.
func (g *group) take() (map[topology.TaskID]bool, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.changed {
		return nil, false
	}
	g.changed = false
	return g.ownedTasksLocked(), true
}

// publish makes open tasks visible to queries, except those the group
// has already taken away (see onRevoked).
func (g *group) publish(open map[topology.TaskID]*task) {
	g.mu.Lock()
	defer g.mu.Unlock()
	owned := g.ownedTasksLocked()
	ready := make(map[topology.TaskID]bool, len(open))
	for id := range open {
		if owned[id] {
			ready[id] = true
		}
	}
	g.a.serving.Store(&serving{w: g.w, ready: ready})
}
