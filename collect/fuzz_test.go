package collect

import (
	"testing"
	"time"

	"github.com/twmb/avro"
	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/events"
)

// Whatever a client sends, the collector answers with a record or a
// rejection that says why, never a panic; a record is valid Avro of the
// schema, carrying the event's id and keyed by its customer.
func FuzzEventToRecord(f *testing.F) {
	f.Add([]byte(`{"events":[{"id":"e1","type":"add_to_cart","anonymous_id":"a","customer_id":"c","time":"2026-12-03T10:00:00Z","context":{"locale":"en","device_type":"mobile"},"fields":{"cart_id":"k","currency":"EUR","total_cents":5,"items":[{"product_id":"p","quantity":1,"unit_price_cents":5}]}}]}`))
	f.Add([]byte(`{"sent_at":"2026-12-03T10:00:01Z","events":[{"id":"e2","type":"add_to_cart","anonymous_id":"a","fields":{"cart_id":1}}]}`))
	f.Add([]byte(`{"events":[{"id":"e3","type":"add_to_cart","anonymous_id":"a","fields":{"items":[{"quantity":"x"}],"colour":{}}}]}`))
	f.Add([]byte(`{"events":[{"id":7}]}`))
	f.Add([]byte(`{"events":[null,{},[]]}`))
	r := Route{Type: "add_to_cart", Topic: "purchase_events", Set: map[string]any{"type": "ADD_TO_CART"}}
	ts, err := parseTypeSchema(r, 42, events.PurchaseEventSchema)
	if err != nil {
		f.Fatal(err)
	}
	reader, err := avro.Parse(events.PurchaseEventSchema)
	if err != nil {
		f.Fatal(err)
	}
	received := time.Date(2026, 12, 3, 10, 0, 2, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := decodeBody(body)
		if err != nil {
			return // a 400 for the whole body
		}
		a := arrival{received: received, userAgent: "fuzz"}
		if a.sentAt, err = parseTime(b.SentAt); err != nil {
			return
		}
		for _, raw := range b.Events {
			ev, rj := decodeEvent(raw)
			if rj == nil {
				var rec record
				rec, rj = build(&ev, r, ts, a, 7*24*time.Hour)
				if rj == nil {
					id, payload, err := codec.ParseWire(rec.value)
					if err != nil || id != 42 {
						t.Fatalf("record not in the wire format of schema 42: %v", err)
					}
					var got events.PurchaseEvent
					if _, err := reader.Decode(payload, &got); err != nil {
						t.Fatalf("record does not decode: %v", err)
					}
					if got.Context.EventID != ev.ID || got.CustomerID != ev.key() || rec.key != ev.key() || got.Type != events.AddToCart {
						t.Fatalf("record %+v of event %+v", got, ev)
					}
					if got.Context.EventTime.After(received) || got.Context.EventTime.Before(received.Add(-7*24*time.Hour-time.Millisecond)) {
						t.Fatalf("event time %v not clamped around %v", got.Context.EventTime, received)
					}
					continue
				}
			}
			if rj.Error == "" {
				t.Fatalf("rejection without a reason: %+v", rj)
			}
		}
	})
}
