package profile

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/weirstream/weir/events"
)

// GenOptions shapes Generate's data. Zero fields take the defaults given.
type GenOptions struct {
	Customers int           // customer ids c-00000.. Default: 100
	Products  int           // catalog size, ids p-0000.. Default: 200
	Start     time.Time     // event time of the first event. Default: 2026-11-03T10:00:00Z
	MeanGap   time.Duration // mean event-time step between events. Default: 2s
	// OutOfOrder is the share of events 1-30s older than the clock
	// (inside Grace). Default: 0.05; negative for none.
	OutOfOrder float64
	// Late is the share of events 10-20 minutes older than the clock
	// (beyond any window's grace). Default: 0.01; negative for none.
	Late float64
	// UnknownCustomers is the share of customers with no customers row;
	// LateCustomers the share whose row comes only after their first
	// event. Defaults: 0.05 and 0.05; negative for none.
	UnknownCustomers, LateCustomers float64
}

// Record is one generated record: its topic, key, record timestamp and
// value (exactly one of the value fields is set). Generate sets Time to
// the value's own time field (context.event_time, updated_at), which is
// what the topology takes as event time; a producer may stamp the record
// with any time, or none, without changing the profiles.
type Record struct {
	Topic    string
	Key      string
	Time     time.Time
	View     *events.PageView
	Purchase *events.PurchaseEvent
	Ticket   *events.SupportTicket
	Customer *events.Customer
	Product  *events.Product
}

// IsEvent reports whether r is a profile event (a view, purchase event or
// ticket), as opposed to a table row.
func (r Record) IsEvent() bool { return r.View != nil || r.Purchase != nil || r.Ticket != nil }

// Encode encodes r's key and value with the serdes of s.
func (r Record) Encode(s Serdes) (key, value []byte, err error) {
	ks := s.Key
	if ks == nil {
		return nil, nil, fmt.Errorf("%w: no key serde", ErrConfig)
	}
	if key, err = ks.Encode(r.Topic, r.Key); err != nil {
		return nil, nil, err
	}
	switch {
	case r.View != nil:
		value, err = s.PageView.Encode(r.Topic, *r.View)
	case r.Purchase != nil:
		value, err = s.Purchase.Encode(r.Topic, *r.Purchase)
	case r.Ticket != nil:
		value, err = s.Ticket.Encode(r.Topic, *r.Ticket)
	case r.Customer != nil:
		value, err = s.Customer.Encode(r.Topic, *r.Customer)
	case r.Product != nil:
		value, err = s.Product.Encode(r.Topic, *r.Product)
	default:
		err = fmt.Errorf("profile: empty record")
	}
	return key, value, err
}

// Malformed returns bytes no serde of this package decodes (not JSON,
// and not the Confluent wire format's magic byte 0), derived from seed and
// i, for tests of the dead-letter path.
func Malformed(seed uint64, i int) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	b := make([]byte, 1+r.IntN(24))
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	b[0] = 0xff
	return b
}

var genCategories = []string{"shoes", "outerwear", "bags", "electronics", "books", "garden", "toys", "beauty"}

type genCustomer struct {
	id       string
	favorite string
	row      *events.Customer
	rowLate  bool
	rowSent  bool
	lastView string
	cart     map[string]int32
	tickets  []string
}

// Generate returns a deterministic data set for seed: first the products
// catalog and the customers rows, then n events (views, cart changes,
// purchases, tickets) of Zipf-distributed customers following browse →
// cart → purchase funnels, mostly in event-time order, with a share out
// of order (within grace) and a share late (beyond grace). Some
// customers have no row, or get it after their first event; some rows are
// updated mid-stream. Record times are whole milliseconds.
func Generate(seed uint64, n int, opts GenOptions) []Record {
	if opts.Customers <= 0 {
		opts.Customers = 100
	}
	if opts.Products <= 0 {
		opts.Products = 200
	}
	if opts.Start.IsZero() {
		opts.Start = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	}
	if opts.MeanGap <= 0 {
		opts.MeanGap = 2 * time.Second
	}
	share := func(v, def float64) float64 {
		switch {
		case v < 0:
			return 0
		case v == 0:
			return def
		}
		return v
	}
	ooo, late := share(opts.OutOfOrder, 0.05), share(opts.Late, 0.01)
	unknown, lateRows := share(opts.UnknownCustomers, 0.05), share(opts.LateCustomers, 0.05)
	r := rand.New(rand.NewPCG(seed, 0x70726f66696c65))
	start := opts.Start.UTC().Truncate(time.Millisecond)
	var out []Record

	products := make([]events.Product, opts.Products)
	byCat := map[string][]int{}
	for i := range products {
		cat := genCategories[r.IntN(len(genCategories))]
		products[i] = events.Product{
			ProductID: fmt.Sprintf("p-%04d", i), Name: fmt.Sprintf("Product %d", i), Category: cat,
			Brand: fmt.Sprintf("brand-%d", r.IntN(20)), PriceCents: int64(100 + r.IntN(20_000)),
			Currency: "USD", InStock: r.IntN(10) > 0, UpdatedAt: start.Add(-2 * time.Hour),
		}
		byCat[cat] = append(byCat[cat], i)
		p := products[i]
		out = append(out, Record{Topic: events.TopicProducts, Key: p.ProductID, Time: p.UpdatedAt, Product: &p})
	}

	segments := []string{"new", "regular", "vip", "dormant"}
	countries := []string{"US", "DE", "FR", "GB", "BR", "IN", "JP"}
	customers := make([]*genCustomer, opts.Customers)
	for i := range customers {
		c := &genCustomer{id: fmt.Sprintf("c-%05d", i), favorite: genCategories[r.IntN(len(genCategories))], cart: map[string]int32{}}
		customers[i] = c
		x := r.Float64()
		if x < unknown {
			continue
		}
		c.row = &events.Customer{CustomerID: c.id, Segment: segments[r.IntN(len(segments))],
			Country: countries[r.IntN(len(countries))], SignupTime: start.Add(-time.Duration(1+r.IntN(1000)) * time.Hour),
			UpdatedAt: start.Add(-time.Hour)}
		if x < unknown+lateRows {
			c.rowLate = true
			continue
		}
		c.rowSent = true
		row := *c.row
		out = append(out, Record{Topic: events.TopicCustomers, Key: c.id, Time: row.UpdatedAt, Customer: &row})
	}

	zipf := rand.NewZipf(r, 1.3, 2, uint64(opts.Customers-1))
	// A customers row never shares a millisecond with an event of its
	// customer: which of the two comes first would be a tie-break rule of
	// the processor (Weir's and Kafka Streams' differ), not data.
	eventAt := map[string]map[int64]bool{}
	rowAt := map[string]map[int64]bool{}
	mark := func(m map[string]map[int64]bool, id string, t time.Time) {
		if m[id] == nil {
			m[id] = map[int64]bool{}
		}
		m[id][t.UnixMilli()] = true
	}
	rowTime := func(id string, t time.Time) time.Time {
		for eventAt[id][t.UnixMilli()] {
			t = t.Add(time.Millisecond)
		}
		mark(rowAt, id, t)
		return t
	}
	clock := start
	for i := 0; i < n; i++ {
		clock = clock.Add(time.Duration(r.ExpFloat64() * float64(opts.MeanGap))).Truncate(time.Millisecond)
		at := clock
		switch x := r.Float64(); {
		case x < late:
			at = clock.Add(-time.Duration(10*60_000+r.IntN(10*60_000)) * time.Millisecond)
		case x < late+ooo:
			at = clock.Add(-time.Duration(1000+r.IntN(29_000)) * time.Millisecond)
		}
		if at.Before(start) {
			at = start
		}
		c := customers[zipf.Uint64()]
		for rowAt[c.id][at.UnixMilli()] {
			at = at.Add(time.Millisecond)
		}
		mark(eventAt, c.id, at)
		ctx := events.Context{EventID: fmt.Sprintf("e-%07d", i), EventTime: at,
			Device: events.Device{Type: events.DeviceMobile}}
		rec := Record{Key: c.id, Time: at}
		switch x := r.Float64(); {
		case x < 0.15 && (c.lastView != "" || len(c.cart) > 0):
			pid := c.lastView
			if pid == "" || r.IntN(3) == 0 {
				pid = products[r.IntN(len(products))].ProductID
			}
			q := int32(1 + r.IntN(3))
			c.cart[pid] += q
			rec.Topic = events.TopicPurchaseEvents
			rec.Purchase = &events.PurchaseEvent{Context: ctx, CustomerID: c.id, Type: events.AddToCart,
				CartID: "cart-" + c.id, Currency: "USD",
				Items: []events.LineItem{{ProductID: pid, Quantity: q, UnitPriceCents: priceOf(products, pid)}}}
			rec.Purchase.TotalCents = int64(q) * rec.Purchase.Items[0].UnitPriceCents
		case x < 0.19 && len(c.cart) > 0:
			pid := sortedKeys(c.cart)[r.IntN(len(c.cart))]
			q := int32(1 + r.IntN(int(c.cart[pid])))
			if c.cart[pid] -= q; c.cart[pid] <= 0 {
				delete(c.cart, pid)
			}
			rec.Topic = events.TopicPurchaseEvents
			rec.Purchase = &events.PurchaseEvent{Context: ctx, CustomerID: c.id, Type: events.RemoveFromCart,
				CartID: "cart-" + c.id, Currency: "USD",
				Items: []events.LineItem{{ProductID: pid, Quantity: q, UnitPriceCents: priceOf(products, pid)}}}
		case x < 0.28 && len(c.cart) > 0:
			order := fmt.Sprintf("o-%07d", i)
			pe := &events.PurchaseEvent{Context: ctx, CustomerID: c.id, Type: events.Purchase,
				CartID: "cart-" + c.id, OrderID: &order, Currency: "USD"}
			for _, pid := range sortedKeys(c.cart) {
				it := events.LineItem{ProductID: pid, Quantity: c.cart[pid], UnitPriceCents: priceOf(products, pid)}
				pe.Items = append(pe.Items, it)
				pe.TotalCents += int64(it.Quantity) * it.UnitPriceCents
			}
			c.cart = map[string]int32{}
			rec.Topic, rec.Purchase = events.TopicPurchaseEvents, pe
		case x < 0.31:
			tk := &events.SupportTicket{Context: ctx, CustomerID: c.id, Priority: events.PriorityMedium,
				Channel: events.ChannelEmail}
			sent := float64(r.IntN(201)-100) / 100
			switch y := r.IntN(3); {
			case len(c.tickets) == 0 || y == 0:
				tk.TicketID, tk.Status, tk.Sentiment = fmt.Sprintf("t-%07d", i), events.TicketOpened, &sent
				c.tickets = append(c.tickets, tk.TicketID)
			case y == 1:
				tk.TicketID, tk.Status = c.tickets[r.IntN(len(c.tickets))], events.TicketUpdated
				if r.IntN(2) == 0 {
					tk.Sentiment = &sent
				}
			default:
				j := r.IntN(len(c.tickets))
				tk.TicketID, tk.Status = c.tickets[j], events.TicketClosed
				c.tickets = append(c.tickets[:j], c.tickets[j+1:]...)
			}
			rec.Topic, rec.Ticket = events.TopicSupportTickets, tk
		default:
			var p events.Product
			switch y := r.IntN(100); {
			case y < 3: // not in the catalog
				p = events.Product{ProductID: fmt.Sprintf("p-x%03d", r.IntN(100))}
			case y < 75 && len(byCat[c.favorite]) > 0:
				p = products[byCat[c.favorite][r.IntN(len(byCat[c.favorite]))]]
			default:
				p = products[r.IntN(len(products))]
			}
			pid := p.ProductID
			v := &events.PageView{Context: ctx, CustomerID: c.id, URL: "https://shop.example.com/p/" + pid,
				PageType: events.PageProduct, ProductID: &pid}
			if p.Category != "" && r.IntN(10) > 0 { // some views leave the category to the catalog
				cat := p.Category
				v.Category = &cat
			}
			c.lastView = pid
			rec.Topic, rec.View = events.TopicWebBrowsing, v
		}
		out = append(out, rec)
		if c.row != nil && !c.rowSent && c.rowLate {
			c.rowSent = true
			row := *c.row
			row.UpdatedAt = rowTime(c.id, clock)
			out = append(out, Record{Topic: events.TopicCustomers, Key: c.id, Time: row.UpdatedAt, Customer: &row})
		} else if c.row != nil && c.rowSent && r.IntN(200) == 0 {
			row := *c.row
			row.Segment, row.UpdatedAt = segments[r.IntN(len(segments))], rowTime(c.id, clock)
			c.row = &row
			out = append(out, Record{Topic: events.TopicCustomers, Key: c.id, Time: row.UpdatedAt, Customer: &row})
		}
	}
	return out
}

func priceOf(products []events.Product, id string) int64 {
	var i int
	if _, err := fmt.Sscanf(id, "p-%d", &i); err == nil && i >= 0 && i < len(products) && products[i].ProductID == id {
		return products[i].PriceCents
	}
	return 999
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return sortedStrings(ks)
}
