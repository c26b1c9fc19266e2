package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/events"
)

// Watcher follows an output topic from its current end with
// read_committed and reports when customers reach versions.
type Watcher struct {
	cl  *kgo.Client
	dec DecodeFunc
}

// NewWatcher starts reading topic at its current end offsets.
func NewWatcher(ctx context.Context, brokers []string, adm *kadm.Client, topic string, dec DecodeFunc) (*Watcher, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, err
	}
	at := map[int32]kgo.Offset{}
	ends.Each(func(lo kadm.ListedOffset) { at[lo.Partition] = kgo.NewOffset().At(lo.Offset) })
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: at}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return nil, err
	}
	return &Watcher{cl: cl, dec: dec}, nil
}

// Close closes the watcher's client.
func (w *Watcher) Close() { w.cl.Close() }

// WaitVersions waits until every customer of want has an update with at
// least the wanted version and returns when the last one was read.
// It gives up if exited is closed first.
func (w *Watcher) WaitVersions(ctx context.Context, want map[string]int64, exited <-chan struct{}) (time.Time, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gone := make(chan struct{})
	go func() {
		select {
		case <-exited:
			close(gone)
			cancel()
		case <-ctx.Done():
		}
	}()
	left := map[string]int64{}
	for c, v := range want {
		left[c] = v
	}
	for len(left) > 0 {
		fs := w.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			select {
			case <-gone:
				return time.Time{}, fmt.Errorf("bench: the process exited before %d customers reached their probe version", len(left))
			default:
			}
			return time.Time{}, fmt.Errorf("bench: %d customers never reached their probe version (e.g. %v): %w", len(left), first(left), err)
		}
		for _, r := range fs.Records() {
			p, err := w.dec(r.Topic, r.Value)
			if err != nil {
				return time.Time{}, err
			}
			if v, ok := left[string(r.Key)]; ok && p.Version >= v {
				delete(left, string(r.Key))
			}
		}
	}
	return time.Now(), nil
}

func first(m map[string]int64) string {
	for k, v := range m {
		return fmt.Sprintf("%s@%d", k, v)
	}
	return ""
}

// ProbeViews are one page view for each customer at event time at.
func ProbeViews(customers []string, at time.Time, seq int) []events.PageView {
	out := make([]events.PageView, len(customers))
	pid, cat := "p-0001", "books"
	for i, c := range customers {
		out[i] = events.PageView{
			Context:    events.Context{EventID: fmt.Sprintf("probe-%d-%d", seq, i), EventTime: at, Device: events.Device{Type: events.DeviceDesktop}},
			CustomerID: c, URL: "https://shop.example.com/books/p-0001", PageType: events.PageProduct,
			ProductID: &pid, Category: &cat,
		}
	}
	return out
}
