package collect_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/collect"
	"github.com/weirstream/weir/events"
)

// Events of three types arrive in Kafka once each, Avro in the
// Confluent framing, keyed by customer, with the context the client and
// the collector know.
func TestCollectWritesEventsWithContext(t *testing.T) {
	r := newRig(t)
	before := time.Now()
	a := r.post(t, pageView("e-1", "anon-1"), addToCart("e-2", "c-2"), map[string]any{
		"id": "e-3", "type": "support_ticket", "anonymous_id": "anon-3",
		"fields": map[string]any{"ticket_id": "t-1", "status": "OPENED", "priority": "HIGH", "channel": "CHAT", "sentiment": -0.8},
	})
	if a.status != 200 || len(a.Accepted) != 3 || len(a.Rejected) != 0 {
		t.Fatalf("answer %+v: want 200 with 3 accepted", a)
	}
	got := r.readWritten(t, kgo.ReadCommitted(), true)
	for _, id := range []string{"e-1", "e-2", "e-3"} {
		if len(got[id]) != 1 {
			t.Fatalf("event %s in Kafka %d times, want once", id, len(got[id]))
		}
	}
	pv := got["e-1"][0]
	if string(pv.rec.Key) != "anon-1" {
		t.Errorf("page view key %q, want the anonymous id", pv.rec.Key)
	}
	v := pv.value.(events.PageView)
	if v.CustomerID != "anon-1" || v.PageType != events.PageProduct || v.ProductID == nil || *v.ProductID != "p-1" || v.DwellMillis != 0 {
		t.Errorf("page view %+v", v)
	}
	c := pv.ctx
	if c.Locale == nil || *c.Locale != "de-DE" || c.Viewport == nil || *c.Viewport != "1280x720" ||
		c.AnonymousID == nil || *c.AnonymousID != "anon-1" || c.SessionID == nil || *c.SessionID != "s-anon-1" ||
		c.Device.Type != events.DeviceDesktop || c.Device.OS == nil || *c.Device.OS != "Linux" {
		t.Errorf("page view context %+v", c)
	}
	if c.Device.UserAgent == nil || *c.Device.UserAgent == "" {
		t.Errorf("user agent not taken from the request")
	}
	if c.ReceivedTime == nil || c.ReceivedTime.Before(before.Truncate(time.Millisecond)) || c.EventTime.After(*c.ReceivedTime) {
		t.Errorf("received %v, event time %v: want received after the test began and event time at or before it", c.ReceivedTime, c.EventTime)
	}
	if !pv.rec.Timestamp.Equal(c.EventTime) {
		t.Errorf("record timestamp %v, want the event time %v", pv.rec.Timestamp, c.EventTime)
	}
	pe := got["e-2"][0]
	p := pe.value.(events.PurchaseEvent)
	if string(pe.rec.Key) != "c-2" || p.CustomerID != "c-2" || p.Type != events.AddToCart || len(p.Items) != 1 || p.Items[0].Quantity != 1 || p.TotalCents != 1999 {
		t.Errorf("add to cart key %q value %+v", pe.rec.Key, p)
	}
	st := got["e-3"][0].value.(events.SupportTicket)
	if st.Sentiment == nil || *st.Sentiment != -0.8 || st.Priority != events.PriorityHigh || st.Context.Device.Type != events.DeviceOther {
		t.Errorf("support ticket %+v", st)
	}
}

// Each producer has its own transactional id, <TransactionalID>-i: two
// sharing one would fence each other.
func TestCollectProducersHaveTheirOwnIDs(t *testing.T) {
	r := newRig(t, func(o *collect.Options) { o.Producers = 3 })
	ctx := context.Background()
	ids := []string{r.c.Name("collector") + "-0", r.c.Name("collector") + "-1", r.c.Name("collector") + "-2"}
	described, err := r.c.Admin().DescribeTransactions(ctx, ids...)
	if err != nil {
		t.Fatal(err)
	}
	pids := map[int64]bool{}
	for _, id := range ids {
		d, ok := described[id]
		if !ok || d.Err != nil {
			t.Fatalf("transactional id %s: %+v", id, d)
		}
		pids[d.ProducerID] = true
	}
	if len(pids) != len(ids) {
		t.Errorf("%d producer ids for %d transactional ids: producers share an id", len(pids), len(ids))
	}
}
