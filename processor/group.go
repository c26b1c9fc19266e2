package processor

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

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

	// Partitions were revoked or lost since the loop last looked:
	// franz-go then aborts the open transaction at its end.
	revoked bool
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
	for t, parts := range ps {
		for _, p := range parts {
			g.owned[topology.TopicPartition{Topic: t, Partition: p}] = true
		}
	}
	g.changed = true
	// Not ready until the loop has opened (restored) the new tasks.
	if s := g.a.serving.Load(); s != nil {
		g.serveLocked(s.w, s.ready, g.ownedTasksLocked())
	}
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
		g.serveLocked(s.w, ready, owned)
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
// (Standbys), which no partition callback reports.
func (g *group) resynced() {
	g.mu.Lock()
	g.changed = true
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
	g.serveLocked(g.w, ready, owned)
}

// serveLocked publishes what queries read: the ready tasks (a subset of
// owned), and how many owned ones are still opening, for Ready. g.mu
// must be held.
func (g *group) serveLocked(w *worker, ready, owned map[topology.TaskID]bool) {
	g.a.serving.Store(&serving{w: w, ready: ready, pending: len(owned) - len(ready)})
}
