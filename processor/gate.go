package processor

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// gate holds rebalances back until the worker's loop has committed what
// it has in hand (BlockRebalanceOnPoll), as Kafka Streams commits before
// partitions are revoked: franz-go's transactional session aborts a
// transaction that a revoke ran into, and cannot commit from the revoke
// callback. Its callbacks run on the client's goroutines; the loop asks
// it what to do (worker.commitDue).
type gate struct {
	log *zap.Logger

	mu       sync.Mutex
	waiting  bool               // a rebalance waits for the loop
	late     *time.Timer        // lets it through after yieldTimeout
	stopPoll context.CancelFunc // the poll in progress, cut short by a wait
	// The member may be between JoinGroup and SyncGroup: a commit then
	// waits in franz-go for a heartbeat until the join completes (or,
	// on kfake, fails). joining is set by the join itself (joinStarted)
	// until its sync; opened covers the moment between letting a
	// rebalance through and its JoinGroup, but only for yieldTimeout: the
	// rebalance let through may have synced already, or need no join,
	// and a flag left set would stop commits for good.
	joining bool
	opened  time.Time

	now func() time.Time // time.Now; a test's clock
}

// yieldTimeout bounds how long a rebalance waits for the loop. Past it
// the rebalance goes through as it would without the gate, and a revoke
// aborts the open transaction: a commit whose membership was lost waits
// in franz-go for a heartbeat that the held-up rebalance stops.
const yieldTimeout = 2 * time.Second

// onBlocked runs (on its own goroutine) when a rebalance waits for the
// loop to allow it.
func (g *gate) onBlocked(_ context.Context, cl *kgo.Client) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopPoll != nil {
		g.stopPoll()
	}
	if g.waiting {
		return
	}
	g.waiting = true
	g.late = time.AfterFunc(yieldTimeout, func() {
		g.mu.Lock()
		late := g.waiting
		g.waiting = false
		g.mu.Unlock()
		if late {
			g.log.Warn("a rebalance waited too long for the worker's commit; letting it through", zap.Duration("waited", yieldTimeout))
			cl.AllowRebalance()
		}
	})
}

// waits reports whether a rebalance waits for the loop.
func (g *gate) waits() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}

// open lets the waiting rebalance through; the member may then join
// until the sync or assignment that follows.
func (g *gate) open(cl *kgo.Client) { g.release(cl, true) }

// ungate lets rebalances through until the next poll, whether one waits
// or not: for a long step in which the loop cannot commit (a restore). A
// member that does not rejoin within the rebalance timeout is dropped;
// a revoke meanwhile aborts the open transaction, as without the gate.
func (g *gate) ungate(cl *kgo.Client) { g.release(cl, false) }

func (g *gate) release(cl *kgo.Client, joining bool) {
	g.mu.Lock()
	g.waiting = false
	if joining {
		g.opened = g.clock()
	}
	g.stopLate()
	g.mu.Unlock()
	cl.AllowRebalance()
}

// close stops the timer of a rebalance still waiting: nothing waits for
// a closed worker.
func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopLate()
}

// stopLate stops the yieldTimeout timer. g.mu must be held.
func (g *gate) stopLate() {
	if g.late != nil {
		g.late.Stop()
	}
}

// polling registers the poll in progress, and cancels it at once if a
// rebalance already waits; done unregisters it.
func (g *gate) polling(cancel context.CancelFunc) (done func()) {
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

// joinStarted and joinDone bracket a join: JoinGroup, then the sync (or
// the assignment callback after it).
func (g *gate) joinStarted() { g.setJoining(true) }
func (g *gate) joinDone()    { g.setJoining(false) }

func (g *gate) setJoining(j bool) {
	g.mu.Lock()
	g.joining, g.opened = j, time.Time{}
	g.mu.Unlock()
}

// inJoin reports whether the member may be between JoinGroup and
// SyncGroup.
func (g *gate) inJoin() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.joining || !g.opened.IsZero() && g.clock().Sub(g.opened) < yieldTimeout
}

func (g *gate) clock() time.Time {
	if g.now != nil {
		return g.now()
	}
	return time.Now()
}
