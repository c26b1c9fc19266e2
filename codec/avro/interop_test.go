package avro_test

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
)

// goavro is an independent Avro implementation: bytes must cross both ways.

func TestInteropGoavroToWeir(t *testing.T) {
	reg, _ := newRegistry(t, newFake(t))
	s, err := events.PurchaseEventSerde(reg, avro.AutoRegister())
	if err != nil {
		t.Fatal(err)
	}
	// Our encode registers the schema; goavro then writes with that id.
	own, err := s.Encode(events.TopicPurchaseEvents, events.PurchaseEvent{CartID: "c", Type: events.AddToCart, Context: events.Context{Device: events.Device{Type: events.DeviceApp}}})
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := codec.ParseWire(own)

	gc, err := goavro.NewCodec(events.PurchaseEventSchema)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	native := map[string]any{
		"context": map[string]any{
			"event_id": "e-1", "event_time": at,
			"session_id": goavro.Union("string", "s-1"),
			"device":     map[string]any{"type": "MOBILE", "os": nil, "user_agent": goavro.Union("string", "ua")},
			"location":   map[string]any{"country": goavro.Union("string", "FR"), "region": nil, "city": nil},
		},
		"customer_id": "c-9", "type": "PURCHASE", "cart_id": "cart-1",
		"order_id": goavro.Union("string", "o-1"),
		"items": []any{
			map[string]any{"product_id": "p-1", "quantity": int32(2), "unit_price_cents": int64(1999)},
			map[string]any{"product_id": "p-2", "quantity": int32(1), "unit_price_cents": int64(500)},
		},
		"currency": "EUR", "total_cents": int64(4498),
	}
	payload, err := gc.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Decode(events.TopicPurchaseEvents, append(codec.AppendWireHeader(nil, id), payload...))
	if err != nil {
		t.Fatal(err)
	}
	sess, ua, fr, order := "s-1", "ua", "FR", "o-1"
	want := events.PurchaseEvent{
		Context: events.Context{EventID: "e-1", EventTime: at, SessionID: &sess,
			Device:   events.Device{Type: events.DeviceMobile, UserAgent: &ua},
			Location: events.Location{Country: &fr}},
		CustomerID: "c-9", Type: events.Purchase, CartID: "cart-1", OrderID: &order,
		Items:    []events.LineItem{{ProductID: "p-1", Quantity: 2, UnitPriceCents: 1999}, {ProductID: "p-2", Quantity: 1, UnitPriceCents: 500}},
		Currency: "EUR", TotalCents: 4498,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("goavro bytes decoded to\n%+v\nwant\n%+v", got, want)
	}
}

func TestInteropWeirToGoavro(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 1))
	reg, _ := newRegistry(t, newFake(t))
	s, err := events.PageViewSerde(reg, avro.AutoRegister())
	if err != nil {
		t.Fatal(err)
	}
	pv := events.SamplePageView(r, time.Now(), 1000)
	b, err := s.Encode(events.TopicWebBrowsing, pv)
	if err != nil {
		t.Fatal(err)
	}
	_, payload, err := codec.ParseWire(b)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := goavro.NewCodec(events.PageViewSchema)
	if err != nil {
		t.Fatal(err)
	}
	native, rest, err := gc.NativeFromBinary(payload)
	if err != nil || len(rest) != 0 {
		t.Fatalf("goavro could not read our bytes (seed %d): %v, %d bytes left", seed, err, len(rest))
	}
	m := native.(map[string]any)
	ctx := m["context"].(map[string]any)
	checks := []struct {
		name      string
		got, want any
	}{
		{"customer_id", m["customer_id"], pv.CustomerID},
		{"url", m["url"], pv.URL},
		{"page_type", m["page_type"], string(pv.PageType)},
		{"product_id", m["product_id"], map[string]any{"string": *pv.ProductID}},
		{"dwell_ms", m["dwell_ms"], pv.DwellMillis},
		{"bot", m["bot"], pv.Bot},
		{"event_id", ctx["event_id"], pv.Context.EventID},
		{"event_time", ctx["event_time"].(time.Time).UnixMilli(), pv.Context.EventTime.UnixMilli()},
		{"device.type", ctx["device"].(map[string]any)["type"], string(pv.Context.Device.Type)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("seed %d: goavro read %s = %#v, want %#v", seed, c.name, c.got, c.want)
		}
	}
}
