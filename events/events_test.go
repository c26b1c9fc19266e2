package events

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"
	"github.com/weirstream/weir/codec/avro"
)

func newRegistry(t *testing.T) *avro.Registry {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	hc, err := avro.NewHTTPRegistryClient(fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := avro.NewRegistry(hc, avro.RetryAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func roundTrip[T any](t *testing.T, s *avro.Serde[T], err error, topic string, in T) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Encode(topic, in)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	out, err := s.Decode(topic, b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip changed the value:\n in %+v\nout %+v", in, out)
	}
}

func TestRoundTripEverySchema(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	reg := newRegistry(t)
	at := time.Date(2026, 11, 3, 10, 4, 5, 6_000_000, time.UTC)
	s := "x"
	opt := []avro.Opt{avro.AutoRegister()}

	t.Run("PageView", func(t *testing.T) {
		sd, err := PageViewSerde(reg, opt...)
		roundTrip(t, sd, err, TopicWebBrowsing, SamplePageView(r, at, 100))
		bare := PageView{Context: Context{EventID: "e", EventTime: at, Device: Device{Type: DeviceOther}}, CustomerID: "c", URL: "/", PageType: PageHome}
		roundTrip(t, sd, err, TopicWebBrowsing, bare) // every nullable field null
	})
	t.Run("PurchaseEvent", func(t *testing.T) {
		sd, err := PurchaseEventSerde(reg, opt...)
		for range 5 {
			roundTrip(t, sd, err, TopicPurchaseEvents, SamplePurchaseEvent(r, at, 100))
		}
	})
	t.Run("SupportTicket", func(t *testing.T) {
		sd, err := SupportTicketSerde(reg, opt...)
		roundTrip(t, sd, err, TopicSupportTickets, SampleSupportTicket(r, at, 100))
	})
	t.Run("Customer", func(t *testing.T) {
		sd, err := CustomerSerde(reg, opt...)
		roundTrip(t, sd, err, TopicCustomers, Customer{CustomerID: "c-1", Email: &s, Segment: "vip", Country: "DE", SignupTime: at.Add(-time.Hour), LoyaltyTier: &s, UpdatedAt: at})
	})
	t.Run("Product", func(t *testing.T) {
		sd, err := ProductSerde(reg, opt...)
		roundTrip(t, sd, err, TopicProducts, Product{ProductID: "p-1", Name: "Boot", Category: "shoes", Brand: "Acme", PriceCents: 12999, Currency: "EUR", InStock: true, UpdatedAt: at})
	})
	t.Run("ProfileUpdate", func(t *testing.T) {
		sd, err := ProfileUpdateSerde(reg, opt...)
		roundTrip(t, sd, err, TopicProfileUpdates, ProfileUpdate{
			CustomerID: "c-1", Known: true, Version: 9, UpdatedAt: at, LastEventTime: at, Segment: s, Country: "DE",
			ViewsWindowStart: &at, Views5m: 3, ViewsTotal: 40, RecentProducts: []string{"p-2", "p-1"},
			TopCategories:  []string{"shoes", "bags"},
			CartItems:      []CartItem{{ProductID: "p-1", Quantity: 2, UnitPriceCents: 2500, Category: "shoes"}},
			CartValueCents: 5000, Purchases: 1, LifetimeValueCents: 99000, LastPurchaseTime: &at,
			LastPurchaseAfterView: true, OpenTickets: 1, AtRisk: true,
		})
		roundTrip(t, sd, err, TopicProfileUpdates, ProfileUpdate{CustomerID: "c-2", UpdatedAt: at, LastEventTime: at,
			Segment: "unknown", Country: "ZZ", RecentProducts: []string{}, TopCategories: []string{}, CartItems: []CartItem{}})
	})
	t.Run("Trigger", func(t *testing.T) {
		sd, err := TriggerSerde(reg, opt...)
		roundTrip(t, sd, err, TopicTriggers, Trigger{TriggerID: "tr-1", CustomerID: "c-1", Type: CartAbandoned, FiredAt: at, Score: 0.9, Reason: "cart idle 30m", CauseEventID: &s, Attributes: map[string]string{"cart_id": "cart-1"}})
	})
}

// The .avsc files under testdata/schemas are the ones other tools read;
// they must match what the code embeds.
func TestTestdataSchemasMatchEmbedded(t *testing.T) {
	embedded := map[string]string{
		"page_view.avsc": PageViewSchema, "purchase_event.avsc": PurchaseEventSchema,
		"support_ticket.avsc": SupportTicketSchema, "customer.avsc": CustomerSchema,
		"product.avsc": ProductSchema, "profile_update.avsc": ProfileUpdateSchema, "trigger.avsc": TriggerSchema,
		"erasure_request.avsc": ErasureRequestSchema, "erasure_audit.avsc": ErasureAuditSchema,
	}
	files, err := filepath.Glob("../testdata/schemas/*.avsc")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(embedded) {
		t.Fatalf("testdata/schemas has %d .avsc files, events embeds %d", len(files), len(embedded))
	}
	for name, want := range embedded {
		got, err := os.ReadFile(filepath.Join("../testdata/schemas", name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("testdata/schemas/%s differs from events/schemas/%s; copy one over the other", name, name)
		}
	}
}
