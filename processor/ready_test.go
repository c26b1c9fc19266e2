package processor_test

import (
	"context"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
)

// TestReadyWithoutTasks: a worker the group gives no task (more workers
// than partitions) is ready: it answers queries by forwarding, and a
// Kubernetes rollout must not wait on it for ever.
func TestReadyWithoutTasks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	app := newCountApp(t, c)
	app.create(ctx, c, 1)
	a := start(t, app.topo, c.Brokers, t.TempDir())
	defer a.stop(t)
	waitReady(ctx, t, "a, owning the one task", a.app)
	b := start(t, app.topo, c.Brokers, t.TempDir())
	defer b.stop(t)
	waitReady(ctx, t, "b, owning no task", b.app)
	if !a.app.Ready() {
		t.Error("a not ready after b joined")
	}
}

func waitReady(ctx context.Context, t *testing.T, who string, app *processor.App) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond) // Ready has no event to wait on
	defer tick.Stop()
	for !app.Ready() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s never ready", who)
		case <-tick.C:
		}
	}
}
