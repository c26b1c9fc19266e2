package events

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Sample events for tests, demos and benchmarks. They are deterministic
// for a given r, and times are UTC milliseconds so they survive an Avro
// round trip unchanged.

var (
	sampleCategories = []string{"shoes", "outerwear", "bags", "electronics", "books", "garden"}
	sampleCountries  = []string{"US", "DE", "FR", "GB", "BR", "IN", "JP"}
	sampleDevices    = []DeviceType{DeviceDesktop, DeviceMobile, DeviceTablet, DeviceApp}
	samplePages      = []PageType{PageHome, PageCategory, PageProduct, PageSearch, PageCart, PageCheckout}
)

func ptr[T any](v T) *T { return &v }

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// SampleContext returns event metadata at time at.
func SampleContext(r *rand.Rand, at time.Time) Context {
	return Context{
		EventID:   fmt.Sprintf("evt-%016x", r.Uint64()),
		EventTime: at.UTC().Truncate(time.Millisecond),
		SessionID: ptr(fmt.Sprintf("sess-%08x", r.Uint32())),
		Device: Device{
			Type:      pick(r, sampleDevices),
			OS:        ptr(pick(r, []string{"iOS 19", "Android 16", "macOS 16", "Windows 11"})),
			UserAgent: ptr("Mozilla/5.0 (compatible; WeirSample/1.0)"),
		},
		Location: Location{Country: ptr(pick(r, sampleCountries)), City: ptr("Springfield")},
	}
}

// SamplePageView returns a product page view by one of customers customers.
func SamplePageView(r *rand.Rand, at time.Time, customers int) PageView {
	cat := pick(r, sampleCategories)
	pid := fmt.Sprintf("p-%05d", r.IntN(10000))
	return PageView{
		Context:     SampleContext(r, at),
		CustomerID:  fmt.Sprintf("c-%06d", r.IntN(customers)),
		URL:         "https://shop.example.com/" + cat + "/" + pid,
		PageType:    pick(r, samplePages),
		ProductID:   ptr(pid),
		Category:    ptr(cat),
		Referrer:    ptr("https://search.example.com/"),
		DwellMillis: int64(r.IntN(120_000)),
	}
}

// SamplePurchaseEvent returns a cart change or purchase with 1-3 items.
func SamplePurchaseEvent(r *rand.Rand, at time.Time, customers int) PurchaseEvent {
	e := PurchaseEvent{
		Context:    SampleContext(r, at),
		CustomerID: fmt.Sprintf("c-%06d", r.IntN(customers)),
		Type:       pick(r, []PurchaseEventType{AddToCart, RemoveFromCart, Purchase}),
		CartID:     fmt.Sprintf("cart-%08x", r.Uint32()),
		Currency:   "USD",
	}
	for range 1 + r.IntN(3) {
		it := LineItem{ProductID: fmt.Sprintf("p-%05d", r.IntN(10000)), Quantity: int32(1 + r.IntN(3)), UnitPriceCents: int64(100 + r.IntN(50_000))}
		e.Items = append(e.Items, it)
		e.TotalCents += int64(it.Quantity) * it.UnitPriceCents
	}
	if e.Type == RemoveFromCart {
		e.TotalCents = -e.TotalCents
	}
	if e.Type == Purchase {
		e.OrderID = ptr(fmt.Sprintf("ord-%08x", r.Uint32()))
	}
	return e
}

// SampleSupportTicket returns a ticket change.
func SampleSupportTicket(r *rand.Rand, at time.Time, customers int) SupportTicket {
	return SupportTicket{
		Context:    SampleContext(r, at),
		CustomerID: fmt.Sprintf("c-%06d", r.IntN(customers)),
		TicketID:   fmt.Sprintf("t-%06d", r.IntN(1_000_000)),
		Status:     pick(r, []TicketStatus{TicketOpened, TicketUpdated, TicketClosed}),
		Priority:   pick(r, []TicketPriority{PriorityLow, PriorityMedium, PriorityHigh, PriorityUrgent}),
		Channel:    pick(r, []TicketChannel{ChannelEmail, ChannelChat, ChannelPhone}),
		Subject:    ptr("Where is my order?"),
		Sentiment:  ptr(float64(r.IntN(201)-100) / 100),
	}
}
