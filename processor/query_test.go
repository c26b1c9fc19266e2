package processor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
)

// TestQueryRoutesToOwner runs two workers with advertised addresses: for
// every key, exactly one answers from its state with the committed count,
// and the other names that worker's address.
func TestQueryRoutesToOwner(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	app := newCountApp(t, c)
	app.create(ctx, c, 4)
	in, counts, topo := app.in, app.counts, app.topo
	want := map[string]int64{}
	produce(t, ctx, c, in, seed, 1000, want)
	addrs := []string{"10.0.0.1:8080", "10.0.0.2:8080"}
	commits := &commitSignal{ch: make(chan struct{}, 1)}
	w1 := start(t, topo, c.Brokers, t.TempDir(), processor.AdvertisedAddress(addrs[0]), processor.WithMetrics(commits))
	w2 := start(t, topo, c.Brokers, t.TempDir(), processor.AdvertisedAddress(addrs[1]), processor.WithMetrics(commits))
	defer w1.stop(t)
	defer w2.stop(t)
	latestCounts(t, ctx, c, counts, want)

	// Queries read local state, which a commit updates just after Kafka
	// has it: ask again after each commit until each key settles, and fail
	// on what can never be right (two owners, a count above what was sent).
	workers := []*running{w1, w2}
	for k, n := range want {
		key, _ := codec.String().Encode("", k)
		for {
			answered, answer := 0, int64(-1)
			var redirects []string
			for i, w := range workers {
				v, ok, err := w.app.Get("counts", key)
				var no *processor.NotOwnerError
				switch {
				case err == nil && ok:
					answer, _ = codec.Int64().Decode("", v)
					if answer > n {
						t.Fatalf("worker %d: %s = %d, more than the %d events sent", i, k, answer, n)
					}
					answered++
				case errors.As(err, &no):
					redirects = append(redirects, no.Owner)
				}
			}
			if answered > 1 {
				t.Fatalf("key %s answered by both workers", k)
			}
			if answered == 1 && answer == n && len(redirects) == 1 && redirects[0] != "" {
				break
			}
			select {
			case <-commits.ch:
			case <-ctx.Done():
				t.Fatalf("key %s: answered by %d workers (value %d, want %d), redirects %q", k, answered, answer, n, redirects)
			}
		}
	}
	if _, _, err := w1.app.Get("nope", []byte("x")); !errors.Is(err, processor.ErrUnknownStore) {
		t.Fatalf("unknown store: %v", err)
	}
}

// commitSignal wakes a waiting test after any worker's commit has reached
// its local state (workers commit every 100ms, busy or not).
type commitSignal struct {
	hooks
	ch chan struct{}
}

func (c *commitSignal) Committed(time.Duration, bool) {
	select {
	case c.ch <- struct{}{}:
	default:
	}
}
