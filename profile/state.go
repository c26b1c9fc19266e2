package profile

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/weirstream/weir/events"
)

// stored is a customer's value in StoreProfiles: the visible profile and
// the bookkeeping needed to update it. Only Profile is served.
type stored struct {
	Profile events.ProfileUpdate `json:"profile"`
	// Category -> views, over all views.
	Categories map[string]int64 `json:"categories,omitempty"`
	// The RecentProducts most recently viewed products (by event time).
	Recent []seenProduct `json:"recent,omitempty"`
	// Windows not yet closed by stream time, by start.
	Windows []viewWindow `json:"windows,omitempty"`
	// Open ticket -> its latest sentiment.
	Tickets map[string]float64 `json:"tickets,omitempty"`
	// Event id of the purchase in LastPurchaseTime.
	LastPurchaseID string `json:"last_purchase_id,omitempty"`
	// Latest cart activity (Unix ms) since the last purchase, and the
	// deadline of the cart timer (0: none).
	CartActivity int64 `json:"cart_activity,omitempty"`
	CartDeadline int64 `json:"cart_deadline,omitempty"`
}

type seenProduct struct {
	ID string `json:"id"`
	At int64  `json:"at"`
}

type viewWindow struct {
	Start      int64            `json:"start"`
	Count      int64            `json:"count"`
	Categories map[string]int64 `json:"categories,omitempty"`
}

// DecodeStored decodes a value of StoreProfiles into the profile it holds,
// without a registry: the store's values are a binary encoding of their
// own, or JSON when an older version wrote them (storedcodec.go).
func DecodeStored(b []byte) (events.ProfileUpdate, error) {
	s, err := storedCodec.Decode(StoreProfiles, b)
	if err != nil {
		return events.ProfileUpdate{}, fmt.Errorf("profile: decode stored profile: %w", err)
	}
	p := s.Profile
	normalize(&p)
	return p, nil
}

// Default is the profile served for a customer with no events: Known
// false, version 0, the fallback segment and country, everything empty.
func Default(customerID string) events.ProfileUpdate {
	p := events.ProfileUpdate{CustomerID: customerID, Segment: UnknownSegment, Country: UnknownCountry}
	normalize(&p)
	return p
}

// normalize makes empty lists non-nil, so every encoding sees [].
func normalize(p *events.ProfileUpdate) {
	if p.RecentProducts == nil {
		p.RecentProducts = []string{}
	}
	if p.TopCategories == nil {
		p.TopCategories = []string{}
	}
	if p.CartItems == nil {
		p.CartItems = []events.CartItem{}
	}
}

// event is one input event, as the profile processor sees it.
type event struct {
	at       int64 // event time, Unix ms
	st       int64 // stream time, Unix ms
	customer *events.Customer
	view     *events.PageView
	viewCat  string // the view's category, or the catalog's
	purchase *events.PurchaseEvent
	itemCats []string // per item: the catalog's category, or ""
	ticket   *events.SupportTicket
	// Purchases (event ids) this record showed were preceded by a view of
	// one of their products (the stream-stream join).
	afterView map[string]bool
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func windowStart(ms int64) int64 {
	w := ViewWindow.Milliseconds()
	s := ms - ms%w
	if ms%w < 0 {
		s -= w
	}
	return s
}

// apply applies e to s and returns the triggers it fires (trigger ids use
// the new version).
func (s *stored) apply(id string, e event) []events.Trigger {
	p := &s.Profile
	p.CustomerID, p.Known = id, true
	p.Version++
	p.UpdatedAt, p.LastEventTime = msTime(e.st), msTime(e.at)
	if e.customer != nil {
		p.Segment, p.Country = e.customer.Segment, e.customer.Country
	} else {
		p.Segment, p.Country = UnknownSegment, UnknownCountry
	}
	var fired []events.Trigger
	switch {
	case e.view != nil:
		fired = s.applyView(e)
	case e.purchase != nil:
		s.applyPurchase(e)
	case e.ticket != nil:
		fired = s.applyTicket(e)
	}
	if s.LastPurchaseID != "" && e.afterView[s.LastPurchaseID] {
		p.LastPurchaseAfterView = true
	}
	normalize(p)
	return fired
}

func (s *stored) applyView(e event) []events.Trigger {
	p := &s.Profile
	p.ViewsTotal++
	if e.viewCat != "" {
		if s.Categories == nil {
			s.Categories = map[string]int64{}
		}
		s.Categories[e.viewCat]++
		p.TopCategories = topCategories(s.Categories, p.TopCategories)
	}
	if e.view.ProductID != nil && *e.view.ProductID != "" {
		s.seen(*e.view.ProductID, e.at)
	}
	// Windows: drop the closed ones; a view whose window is closed is late.
	grace, size := Grace.Milliseconds(), ViewWindow.Milliseconds()
	open := s.Windows[:0]
	for _, w := range s.Windows {
		if w.Start+size+grace > e.st {
			open = append(open, w)
		}
	}
	s.Windows = open
	start := windowStart(e.at)
	if start+size+grace <= e.st {
		return nil
	}
	i := sort.Search(len(s.Windows), func(i int) bool { return s.Windows[i].Start >= start })
	if i == len(s.Windows) || s.Windows[i].Start != start {
		s.Windows = append(s.Windows, viewWindow{})
		copy(s.Windows[i+1:], s.Windows[i:])
		s.Windows[i] = viewWindow{Start: start}
	}
	w := &s.Windows[i]
	w.Count++
	if old := p.ViewsWindowStart; old == nil || start >= old.UnixMilli() {
		// A new time only when it changed: times are never modified once
		// set, so an output may share it.
		if t := msTime(start); old == nil || !old.Equal(t) || old.Location() != time.UTC {
			nt := t
			p.ViewsWindowStart = &nt
		}
		p.Views5m = w.Count
	}
	if e.viewCat == "" {
		return nil
	}
	if w.Categories == nil {
		w.Categories = map[string]int64{}
	}
	w.Categories[e.viewCat]++
	if w.Categories[e.viewCat] != HighIntentViews {
		return nil
	}
	return []events.Trigger{{
		Type:   events.HighIntent,
		Score:  1,
		Reason: fmt.Sprintf("%d views of %s within 5 minutes", HighIntentViews, e.viewCat),
		Attributes: map[string]string{
			"category":     e.viewCat,
			"window_start": msTime(start).Format(time.RFC3339),
		},
	}}
}

// seen records a view of product at, keeping the RecentProducts latest
// products. A product pushed out can only come back with a later view, so
// the list is the same whatever order views come in.
func (s *stored) seen(product string, at int64) {
	found := false
	for i := range s.Recent {
		if s.Recent[i].ID == product {
			s.Recent[i].At = max(s.Recent[i].At, at)
			found = true
		}
	}
	if !found {
		s.Recent = append(s.Recent, seenProduct{ID: product, At: at})
	}
	// A total order (ids are unique), so any sort gives the same list.
	slices.SortFunc(s.Recent, func(a, b seenProduct) int {
		if c := cmp.Compare(b.At, a.At); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(s.Recent) > RecentProducts {
		s.Recent = s.Recent[:RecentProducts]
	}
	// A new list only when it changed (a view of the latest product
	// changes none): lists are never modified once set.
	if old := s.Profile.RecentProducts; len(old) == len(s.Recent) && slices.EqualFunc(old, s.Recent,
		func(id string, r seenProduct) bool { return id == r.ID }) {
		return
	}
	ids := make([]string, len(s.Recent))
	for i, r := range s.Recent {
		ids[i] = r.ID
	}
	s.Profile.RecentProducts = ids
}

// topCategories returns the TopCategories most viewed categories, ties by
// name: prev itself when they are the same (most views change no rank),
// so a view allocates only when the list changes. Lists are never
// modified once set, so sharing prev is safe.
func topCategories(counts map[string]int64, prev []string) []string {
	var top [TopCategories]string
	var views [TopCategories]int64 // of top, so no map lookups
	n := 0
	for c, cc := range counts {
		i := n
		for i > 0 && (cc > views[i-1] || cc == views[i-1] && c < top[i-1]) {
			i--
		}
		if i == TopCategories {
			continue
		}
		n = min(n+1, TopCategories)
		copy(top[i+1:n], top[i:n-1])
		copy(views[i+1:n], views[i:n-1])
		top[i], views[i] = c, cc
	}
	if slices.Equal(top[:n], prev) {
		return prev
	}
	return slices.Clone(top[:n])
}

func (s *stored) applyPurchase(e event) {
	p := &s.Profile
	pe := e.purchase
	switch pe.Type {
	case events.AddToCart, events.RemoveFromCart:
		for i, it := range pe.Items {
			cat := ""
			if i < len(e.itemCats) {
				cat = e.itemCats[i]
			}
			q := it.Quantity
			if pe.Type == events.RemoveFromCart {
				q = -q
			}
			s.cartAdd(it, q, cat)
		}
		if len(p.CartItems) > 0 {
			s.CartActivity = max(s.CartActivity, e.at)
		} else {
			s.CartActivity = 0
		}
	case events.Purchase:
		p.Purchases++
		p.LifetimeValueCents += pe.TotalCents
		if p.LastPurchaseTime == nil || e.at >= p.LastPurchaseTime.UnixMilli() {
			t := msTime(e.at)
			p.LastPurchaseTime = &t
			s.LastPurchaseID = pe.Context.EventID
			p.LastPurchaseAfterView = false
		}
		p.CartItems = nil
		s.CartActivity = 0
	}
	p.CartValueCents = 0
	for _, it := range p.CartItems {
		p.CartValueCents += int64(it.Quantity) * it.UnitPriceCents
	}
}

func (s *stored) cartAdd(it events.LineItem, q int32, cat string) {
	items := s.Profile.CartItems
	i := sort.Search(len(items), func(i int) bool { return items[i].ProductID >= it.ProductID })
	if i == len(items) || items[i].ProductID != it.ProductID {
		if q <= 0 {
			return
		}
		items = append(items, events.CartItem{})
		copy(items[i+1:], items[i:])
		items[i] = events.CartItem{ProductID: it.ProductID}
	}
	c := &items[i]
	c.Quantity += q
	if q > 0 {
		c.UnitPriceCents, c.Category = it.UnitPriceCents, cat
	}
	if c.Quantity <= 0 {
		items = append(items[:i], items[i+1:]...)
	}
	s.Profile.CartItems = items
}

func (s *stored) applyTicket(e event) []events.Trigger {
	p := &s.Profile
	tk := e.ticket
	wasAtRisk := p.AtRisk
	switch tk.Status {
	case events.TicketClosed:
		delete(s.Tickets, tk.TicketID)
	default:
		if s.Tickets == nil {
			s.Tickets = map[string]float64{}
		}
		sent := s.Tickets[tk.TicketID]
		if tk.Sentiment != nil {
			sent = *tk.Sentiment
		}
		s.Tickets[tk.TicketID] = sent
	}
	p.OpenTickets = int32(len(s.Tickets))
	p.AtRisk = false
	worst := 0.0
	for _, v := range s.Tickets {
		if v < 0 {
			p.AtRisk = true
			worst = min(worst, v)
		}
	}
	if !p.AtRisk || wasAtRisk {
		return nil
	}
	return []events.Trigger{{
		Type:   events.AtRisk,
		Score:  -worst,
		Reason: "open support ticket with negative sentiment",
		Attributes: map[string]string{
			"ticket_id":    tk.TicketID,
			"open_tickets": strconv.Itoa(len(s.Tickets)),
		},
	}}
}

// cartAbandoned is the trigger of a cart idle for idle, fired at stream
// time st.
func (s *stored) cartAbandoned(st int64, idle time.Duration) events.Trigger {
	p := &s.Profile
	return events.Trigger{
		Type:   events.CartAbandoned,
		Score:  1,
		Reason: fmt.Sprintf("cart idle for %s", idle),
		Attributes: map[string]string{
			"cart_items":       strconv.Itoa(len(p.CartItems)),
			"cart_value_cents": strconv.FormatInt(p.CartValueCents, 10),
		},
		FiredAt: msTime(st),
	}
}

// TriggerID is the id of a trigger of type typ fired for customer at
// profile version v: the same on every replay of the same input.
func TriggerID(customer string, typ events.TriggerType, version int64) string {
	return customer + ":" + strings.ToLower(string(typ)) + ":" + strconv.FormatInt(version, 10)
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}
