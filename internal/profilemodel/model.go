// Package profilemodel computes customer profiles and triggers by brute
// force, for tests: every profile is recomputed from the customer's whole
// history. It shares no code with package profile, so the two check each
// other.
package profilemodel

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/profile"
)

// Model computes profiles and triggers from the records in the order one
// task processes them: for one partition, in event-time order across the
// co-partitioned inputs (ties by topic name), malformed records left out.
type Model struct {
	catalog   map[string]events.Product
	customers map[string]events.Customer
	history   map[string][]applied
	st        int64 // stream time, Unix ms
	seenTime  bool
	timers    map[string]int64 // customer -> armed cart deadline
	deadlines map[string]int64 // customer -> current deadline (0: none)
	erased    map[string]int64 // customer -> erasure time: older records are ignored

	Snapshots []events.ProfileUpdate // one per event, in order
	Latest    map[string]events.ProfileUpdate
	Triggers  []events.Trigger
	Ignored   int // records ignored as older than their key's erasure
}

type applied struct {
	r  recordIn
	st int64
}

// recordIn is a record as the model reads it.
type recordIn struct {
	topic    string
	key      string
	at       int64
	view     *events.PageView
	purchase *events.PurchaseEvent
	ticket   *events.SupportTicket
	customer *events.Customer
	product  *events.Product
}

const (
	mWindow  = int64(5 * 60_000)
	mGrace   = int64(60_000)
	mJoin    = int64(30 * 60_000)
	mCartIdl = int64(30 * 60_000)
)

// New returns a model that has seen nothing.
func New() *Model {
	return &Model{catalog: map[string]events.Product{}, customers: map[string]events.Customer{},
		history: map[string][]applied{}, timers: map[string]int64{}, deadlines: map[string]int64{},
		erased: map[string]int64{}, Latest: map[string]events.ProfileUpdate{}}
}

func ms(t int64) time.Time { return time.UnixMilli(t).UTC() }

// mSkew is profile.Config's default MaxFutureSkew.
const mSkew = int64(60_000)

// Add processes one record (of any topic, the catalog included). Its
// event time is the value's own time field (context.event_time,
// updated_at); rec.Time, the Kafka record timestamp, only stands in when
// the field is missing (not after the Unix epoch) and caps a field more
// than a minute ahead of it.
func (m *Model) Add(rec profile.Record) {
	var field time.Time
	switch {
	case rec.View != nil:
		field = rec.View.Context.EventTime
	case rec.Purchase != nil:
		field = rec.Purchase.Context.EventTime
	case rec.Ticket != nil:
		field = rec.Ticket.Context.EventTime
	case rec.Customer != nil:
		field = rec.Customer.UpdatedAt
	}
	at := field.UnixMilli()
	switch rt := rec.Time.UnixMilli(); {
	case at <= 0:
		at = rt
	case at > rt+mSkew:
		at = rt + mSkew
	}
	m.add(recordIn{topic: rec.Topic, key: rec.Key, at: at, view: rec.View,
		purchase: rec.Purchase, ticket: rec.Ticket, customer: rec.Customer, product: rec.Product})
}

func (m *Model) add(r recordIn) {
	if r.product != nil { // global table: no stream time
		m.catalog[r.key] = *r.product
		return
	}
	before, wasSeen := m.st, m.seenTime
	if !m.seenTime || r.at > m.st {
		m.st, m.seenTime = r.at, true
	}
	if at, ok := m.erased[r.key]; ok && r.at <= at {
		m.Ignored++ // stream time moved all the same
	} else if r.customer != nil {
		m.customers[r.key] = *r.customer
	} else {
		m.apply(r)
	}
	// Cart timers are checked whenever stream time moves.
	if wasSeen && m.st > before {
		m.fireTimers()
	}
}

// Erase applies an erasure request for id with event time at: everything
// of id is forgotten, and its records up to at are ignored from then on;
// a new profile's versions start above at in Unix ms × 1000. Unlike
// events, it does not move stream time.
func (m *Model) Erase(id string, at time.Time) {
	delete(m.customers, id)
	delete(m.history, id)
	delete(m.timers, id)
	delete(m.deadlines, id)
	delete(m.Latest, id)
	m.erased[id] = max(m.erased[id], at.UnixMilli())
}

func (m *Model) fireTimers() {
	type due struct {
		id string
		at int64
	}
	var ds []due
	for id, at := range m.timers {
		if at <= m.st {
			ds = append(ds, due{id, at})
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].at < ds[j].at || ds[i].at == ds[j].at && ds[i].id < ds[j].id })
	for _, d := range ds {
		delete(m.timers, d.id)
		p := m.Latest[d.id]
		m.Triggers = append(m.Triggers, events.Trigger{
			TriggerID: fmt.Sprintf("%s:cart_abandoned:%d", d.id, p.Version), CustomerID: d.id,
			Type: events.CartAbandoned, FiredAt: ms(m.st), Score: 1, Reason: "cart idle for 30m0s",
			Attributes: map[string]string{"cart_items": strconv.Itoa(len(p.CartItems)),
				"cart_value_cents": strconv.FormatInt(p.CartValueCents, 10)},
		})
	}
}

func (m *Model) category(v *events.PageView) string {
	if v.Category != nil && *v.Category != "" {
		return *v.Category
	}
	if v.ProductID != nil {
		if p, ok := m.catalog[*v.ProductID]; ok {
			return p.Category
		}
	}
	return ""
}

type mView struct {
	at, st int64
	cat    string
	pid    string
}

func (m *Model) apply(r recordIn) {
	id := r.key
	h := append(m.history[id], applied{r: r, st: m.st})
	m.history[id] = h
	prev := m.Latest[id]
	p := events.ProfileUpdate{CustomerID: id, Known: true, Version: m.erased[id]*1000 + int64(len(h)),
		UpdatedAt: ms(m.st), LastEventTime: ms(r.at), Segment: "unknown", Country: "ZZ",
		RecentProducts: []string{}, TopCategories: []string{}, CartItems: []events.CartItem{}}
	if c, ok := m.customers[id]; ok {
		p.Segment, p.Country = c.Segment, c.Country
	}

	// Views.
	var views []mView
	cats := map[string]int64{}
	lastSeen := map[string]int64{}
	for _, a := range h {
		if a.r.view == nil {
			continue
		}
		v := mView{at: a.r.at, st: a.st, cat: m.categoryAt(a)}
		if a.r.view.ProductID != nil {
			v.pid = *a.r.view.ProductID
		}
		views = append(views, v)
		if v.cat != "" {
			cats[v.cat]++
		}
		if v.pid != "" {
			if t, ok := lastSeen[v.pid]; !ok || v.at > t {
				lastSeen[v.pid] = v.at
			}
		}
	}
	p.ViewsTotal = int64(len(views))
	for c := range cats {
		p.TopCategories = append(p.TopCategories, c)
	}
	sort.Slice(p.TopCategories, func(i, j int) bool {
		a, b := p.TopCategories[i], p.TopCategories[j]
		return cats[a] > cats[b] || cats[a] == cats[b] && a < b
	})
	if len(p.TopCategories) > 3 {
		p.TopCategories = p.TopCategories[:3]
	}
	for pid := range lastSeen {
		p.RecentProducts = append(p.RecentProducts, pid)
	}
	sort.Slice(p.RecentProducts, func(i, j int) bool {
		a, b := p.RecentProducts[i], p.RecentProducts[j]
		return lastSeen[a] > lastSeen[b] || lastSeen[a] == lastSeen[b] && a < b
	})
	if len(p.RecentProducts) > 10 {
		p.RecentProducts = p.RecentProducts[:10]
	}
	counted := func(v mView) bool { return v.at-v.at%mWindow+mWindow+mGrace > v.st }
	cur := int64(-1)
	for _, v := range views {
		if counted(v) && v.at-v.at%mWindow > cur {
			cur = v.at - v.at%mWindow
		}
	}
	if cur >= 0 {
		t := ms(cur)
		p.ViewsWindowStart = &t
		for _, v := range views {
			if counted(v) && v.at-v.at%mWindow == cur {
				p.Views5m++
			}
		}
	}
	if r.view != nil {
		v := views[len(views)-1]
		if counted(v) && v.cat != "" {
			n := 0
			for _, o := range views {
				if counted(o) && o.cat == v.cat && o.at-o.at%mWindow == v.at-v.at%mWindow {
					n++
				}
			}
			if n == 5 {
				m.Triggers = append(m.Triggers, events.Trigger{
					TriggerID: fmt.Sprintf("%s:high_intent:%d", id, p.Version), CustomerID: id,
					Type: events.HighIntent, FiredAt: p.UpdatedAt, Score: 1,
					Reason:       fmt.Sprintf("5 views of %s within 5 minutes", v.cat),
					CauseEventID: &r.view.Context.EventID,
					Attributes: map[string]string{"category": v.cat,
						"window_start": ms(v.at - v.at%mWindow).Format(time.RFC3339)},
				})
			}
		}
	}

	// Cart and purchases, replayed.
	type line struct {
		qty   int32
		price int64
		cat   string
	}
	cart := map[string]line{}
	var activity int64
	var lastP *applied
	for i := range h {
		a := &h[i]
		pe := a.r.purchase
		if pe == nil {
			continue
		}
		switch pe.Type {
		case events.AddToCart, events.RemoveFromCart:
			for _, it := range pe.Items {
				l, ok := cart[it.ProductID]
				if pe.Type == events.RemoveFromCart {
					if !ok {
						continue
					}
					l.qty -= it.Quantity
				} else {
					l.qty += it.Quantity
					l.price = it.UnitPriceCents
					l.cat = m.catalogAt(a, it.ProductID)
				}
				if l.qty <= 0 {
					delete(cart, it.ProductID)
				} else {
					cart[it.ProductID] = l
				}
			}
			if len(cart) > 0 {
				activity = max(activity, a.r.at)
			} else {
				activity = 0
			}
		case events.Purchase:
			p.Purchases++
			p.LifetimeValueCents += pe.TotalCents
			if lastP == nil || a.r.at >= lastP.r.at {
				lastP = a
			}
			cart, activity = map[string]line{}, 0
		}
	}
	for _, pid := range sortedKeysOf(cart) {
		l := cart[pid]
		p.CartItems = append(p.CartItems, events.CartItem{ProductID: pid, Quantity: l.qty, UnitPriceCents: l.price, Category: l.cat})
		p.CartValueCents += int64(l.qty) * l.price
	}
	if lastP != nil {
		t := ms(lastP.r.at)
		p.LastPurchaseTime = &t
		p.LastPurchaseAfterView = m.afterView(h, lastP)
	}
	deadline := int64(0)
	if activity != 0 && len(cart) > 0 {
		deadline = activity + mCartIdl
	}
	if deadline != m.deadlines[id] {
		m.deadlines[id] = deadline
		if deadline == 0 {
			delete(m.timers, id)
		} else {
			m.timers[id] = deadline
		}
	}

	// Tickets, replayed.
	open := map[string]float64{}
	var lastTicket string
	for _, a := range h {
		tk := a.r.ticket
		if tk == nil {
			continue
		}
		lastTicket = tk.TicketID
		if tk.Status == events.TicketClosed {
			delete(open, tk.TicketID)
			continue
		}
		s := open[tk.TicketID]
		if tk.Sentiment != nil {
			s = *tk.Sentiment
		}
		open[tk.TicketID] = s
	}
	p.OpenTickets = int32(len(open))
	worst := 0.0
	for _, s := range open {
		if s < 0 {
			p.AtRisk = true
			worst = min(worst, s)
		}
	}
	if p.AtRisk && !prev.AtRisk {
		m.Triggers = append(m.Triggers, events.Trigger{
			TriggerID: fmt.Sprintf("%s:at_risk:%d", id, p.Version), CustomerID: id, Type: events.AtRisk,
			FiredAt: p.UpdatedAt, Score: -worst, Reason: "open support ticket with negative sentiment",
			CauseEventID: &r.ticket.Context.EventID,
			Attributes:   map[string]string{"ticket_id": lastTicket, "open_tickets": strconv.Itoa(len(open))},
		})
	}
	m.Latest[id] = p
	m.Snapshots = append(m.Snapshots, p)
}

// afterView: a view of one of the purchase's products in [t-30m, t]
// joined it, which needs stream time, when the later of the two was
// processed, to be at most t + grace.
func (m *Model) afterView(h []applied, p *applied) bool {
	pIdx := -1
	for i := range h {
		if &h[i] == p {
			pIdx = i
		}
	}
	for i, a := range h {
		v := a.r.view
		if v == nil || v.ProductID == nil || *v.ProductID == "" {
			continue
		}
		if a.r.at < p.r.at-mJoin || a.r.at > p.r.at {
			continue
		}
		has := false
		for _, it := range p.r.purchase.Items {
			has = has || it.ProductID == *v.ProductID
		}
		if !has {
			continue
		}
		later := h[max(i, pIdx)]
		if later.st <= p.r.at+mGrace {
			return true
		}
	}
	return false
}

// categoryAt and catalogAt read the catalog; the tests load it before any
// event, so "at" the event's time is the final catalog.
func (m *Model) categoryAt(a applied) string { return m.category(a.r.view) }

func (m *Model) catalogAt(_ *applied, pid string) string {
	if p, ok := m.catalog[pid]; ok {
		return p.Category
	}
	return ""
}

func sortedKeysOf[V any](mp map[string]V) []string {
	ks := make([]string, 0, len(mp))
	for k := range mp {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TriggerString renders a trigger with every field, for comparisons.
func TriggerString(t events.Trigger) string {
	var attrs []string
	for _, k := range sortedKeysOf(t.Attributes) {
		attrs = append(attrs, k+"="+t.Attributes[k])
	}
	cause := "<nil>"
	if t.CauseEventID != nil {
		cause = *t.CauseEventID
	}
	return fmt.Sprintf("%s %s %s fired=%s score=%g reason=%q cause=%s {%s}", t.TriggerID, t.CustomerID, t.Type,
		t.FiredAt.UTC().Format(time.RFC3339Nano), t.Score, t.Reason, cause, strings.Join(attrs, ","))
}
