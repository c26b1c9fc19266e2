package processor

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Letting a rebalance through holds commits back until its join syncs;
// when no join follows (the rebalance had synced already, or needed
// none), commits resume after yieldTimeout. Before, the worker waited
// for a sync that never came and stopped committing for good.
func TestGateOpenWithoutJoinExpires(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	now := time.Unix(1000, 0)
	g := &gate{log: zap.NewNop(), now: func() time.Time { return now }}

	g.open(cl)
	if !g.inJoin() {
		t.Fatal("not in a join right after letting a rebalance through")
	}
	now = now.Add(yieldTimeout - time.Millisecond)
	if !g.inJoin() {
		t.Fatal("the join window closed before yieldTimeout")
	}
	now = now.Add(time.Millisecond)
	if g.inJoin() {
		t.Fatal("still in a join yieldTimeout after a rebalance that never joined: commits would stop for good")
	}

	// A join that starts holds commits until its sync, however long.
	g.open(cl)
	g.joinStarted()
	now = now.Add(time.Hour)
	if !g.inJoin() {
		t.Fatal("a started join stopped holding commits before its sync")
	}
	g.joinDone()
	if g.inJoin() {
		t.Fatal("in a join after its sync")
	}
}
