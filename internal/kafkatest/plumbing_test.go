package kafkatest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/internal/kafkatest"
)

// TestTransactionsVisibleOnlyWhenCommitted proves the exactly-once plumbing
// every later test relies on: a read_committed reader sees the committed
// batch and never the aborted one.
func TestTransactionsVisibleOnlyWhenCommitted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	topic := c.Name("txn")
	c.CreateTopic(ctx, topic, 1, nil)

	p := c.Client(kgo.TransactionalID(c.Name("producer")), kgo.DefaultProduceTopic(topic))
	send := func(commit bool, values ...string) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		for _, v := range values {
			if err := p.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction (commit=%v): %v", commit, err)
		}
	}
	var committed []string
	for i := range 5 {
		committed = append(committed, fmt.Sprintf("committed-%d", i))
	}
	send(true, committed...)
	send(false, "aborted-0", "aborted-1", "aborted-2")
	send(true, "end")

	recs, err := c.ReadCommittedUntil(ctx, topic, func(r *kgo.Record) bool { return string(r.Value) == "end" })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Value))
	}
	want := append(slices.Clone(committed), "end")
	if !slices.Equal(got, want) {
		t.Fatalf("tier %s: read_committed saw %q, want %q", c.Tier(), got, want)
	}
}

// TestGroupSplitsPartitions checks that two members of one consumer group
// share a topic's partitions: each gets some, none gets the same one.
func TestGroupSplitsPartitions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	topic, group := c.Name("split"), c.Name("group")
	const partitions = 6
	c.CreateTopic(ctx, topic, partitions, nil)

	// Each member's current assignment, kept from the cooperative deltas.
	var mu sync.Mutex
	owned := [2]map[int32]bool{{}, {}}
	changed := make(chan struct{}, 1)
	member := func(id int) *kgo.Client {
		update := func(ps map[string][]int32, add bool) {
			mu.Lock()
			for _, p := range ps[topic] {
				if add {
					owned[id][p] = true
				} else {
					delete(owned[id], p)
				}
			}
			mu.Unlock()
			select { // a pending wake-up already covers this change
			case changed <- struct{}{}:
			default:
			}
		}
		return c.Client(
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topic),
			kgo.Balancers(kgo.CooperativeStickyBalancer()),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, true) }),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, false) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, false) }),
		)
	}
	clients := []*kgo.Client{member(0), member(1)}
	// Polling drives the group protocol.
	for _, cl := range clients {
		go func() {
			for ctx.Err() == nil {
				cl.PollFetches(ctx)
			}
		}()
	}

	snapshot := func() (a, b []int32) {
		mu.Lock()
		defer mu.Unlock()
		for p := range owned[0] {
			a = append(a, p)
		}
		for p := range owned[1] {
			b = append(b, p)
		}
		return a, b
	}
	for {
		select {
		case <-changed:
		case <-ctx.Done():
			a, b := snapshot()
			t.Fatalf("tier %s: members never split %d partitions: member0=%v member1=%v", c.Tier(), partitions, a, b)
		}
		a, b := snapshot()
		if len(a) > 0 && len(b) > 0 && len(a)+len(b) == partitions {
			seen := map[int32]bool{}
			for _, p := range append(a, b...) {
				if seen[p] {
					t.Fatalf("partition %d assigned to both members: %v %v", p, a, b)
				}
				seen[p] = true
			}
			return
		}
	}
}
