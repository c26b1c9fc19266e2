package profile

import (
	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/topology"
)

// input is what reaches the profile processor: one of an event (a view,
// a purchase line item, a ticket) or a join signal, plus the customer row
// of the key as of that moment. It flows as *input: each is made for one
// record and has one path to the processor, so the joins fill it in place
// instead of boxing a copy at every node.
type input struct {
	view    *events.PageView
	viewCat string
	// A purchase event arrives as one input per line item (item of
	// items), each enriched from the catalog; items 0 and item -1 for an
	// event without items.
	purchase  *events.PurchaseEvent
	item      int
	items     int
	itemCat   string
	ticket    *events.SupportTicket
	afterView string // event id of a purchase preceded by a view
	customer  *events.Customer
	// custRow holds what customer points to: no allocation of its own.
	custRow events.Customer
	erasure *events.ErasureRequest
}

// viewInput and ticketInput hold an input and the event it points to, so
// both take one allocation.
type viewInput struct {
	in input
	v  events.PageView
}

type ticketInput struct {
	in input
	t  events.SupportTicket
}

// purchaseRef and viewRef are what the purchase/view join buffers.
type purchaseRef struct {
	EventID  string   `json:"event_id"`
	Products []string `json:"products"`
}

type viewRef struct {
	ProductID string `json:"product_id"`
}

// output is what the profile processor emits.
type output struct {
	update  *events.ProfileUpdate
	trigger *events.Trigger
	erased  *events.ErasureAudit
	expired bool // InactiveTTL forgot the customer
}

// Topology builds the personalization topology: page views, purchase
// events and support tickets (co-partitioned, keyed by customer id) are
// merged in event-time order into one profile per customer, enriched with
// the customers table and the products catalog (a global table).
//
// The stream-stream join of purchases with views (views up to
// ViewBeforePurchase before a purchase, grace Grace) is wired before the
// events' own path, so its results reach the profile processor ahead of
// the event whose arrival produced them and are applied with that event
// (they are not events: they never bump the version).
func Topology(cfg Config) (*topology.Topology, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	tp, sd := cfg.Topics, cfg.Serdes
	var src []topology.SourceOpt
	if cfg.BadInput != topology.PolicyUnset {
		src = append(src, topology.OnBadInput(cfg.BadInput))
	}
	// Input keys in their format; stores, changelogs and outputs keep
	// plain-text ids, so internal topics never touch the registry.
	inKey := sd.Key
	if cfg.KeyFormat == KeyAvro {
		inKey = codec.ForTopics(sd.AvroKey, sd.Key, tp.Views, tp.Purchases, tp.Tickets, tp.Customers, tp.Erasures)
	}
	// The customers table's store and changelog keep rows in the state
	// encoding: no internal topic needs a registry subject.
	rows := codec.ForTopics(sd.Customer, customerRows(sd.Customer), tp.Customers)
	tsViews, tsPurchases, tsTickets, tsCustomers := timestamps(cfg.MaxFutureSkew)
	with := func(o topology.SourceOpt) []topology.SourceOpt {
		return append(append([]topology.SourceOpt(nil), src...), o)
	}
	b := topology.New(cfg.AppID)
	views := topology.StreamOf(b, tp.Views, inKey, sd.PageView, with(tsViews)...)
	purchases := topology.StreamOf(b, tp.Purchases, inKey, sd.Purchase, with(tsPurchases)...)
	tickets := topology.StreamOf(b, tp.Tickets, inKey, sd.Ticket, with(tsTickets)...)
	customers := topology.TableOf(b, tp.Customers, inKey, rows, with(tsCustomers)...)
	products := topology.GlobalTableOf(b, tp.Products, sd.Key, sd.Product)

	// The join first: see the doc comment.
	bought := topology.MapValues(
		purchases.Filter("profile-purchases-only", func(_ string, e events.PurchaseEvent) bool { return e.Type == events.Purchase }),
		"profile-purchase-ref", func(_ string, e events.PurchaseEvent) purchaseRef {
			ref := purchaseRef{EventID: e.Context.EventID}
			for _, it := range e.Items {
				ref.Products = append(ref.Products, it.ProductID)
			}
			return ref
		})
	viewed := topology.MapValues(
		views.Filter("profile-product-views", func(_ string, v events.PageView) bool { return v.ProductID != nil && *v.ProductID != "" }),
		"profile-view-ref", func(_ string, v events.PageView) viewRef { return viewRef{ProductID: *v.ProductID} })
	pairs := topology.JoinStreams(bought, viewed, joinPurchaseView,
		topology.JoinBetween(ViewBeforePurchase, 0).Grace(Grace),
		func(_ string, p purchaseRef, v viewRef) string {
			for _, id := range p.Products {
				if id == v.ProductID {
					return p.EventID
				}
			}
			return ""
		}, sd.Key, purchaseRefCodec, viewRefCodec)
	signals := topology.MapValues(
		pairs.Filter("profile-same-product", func(_ string, id string) bool { return id != "" }),
		"profile-after-view", func(_ string, id string) *input { return &input{afterView: id} })

	// The events themselves, enriched from the catalog.
	viewIn := topology.LeftJoinGlobal(views, products, "profile-view-category",
		func(_ string, v events.PageView) string {
			if v.ProductID == nil {
				return ""
			}
			return *v.ProductID
		},
		func(_ string, v events.PageView, p events.Product, found bool) *input {
			vi := &viewInput{v: v}
			in := &vi.in
			in.view = &vi.v
			switch {
			case v.Category != nil && *v.Category != "":
				in.viewCat = *v.Category
			case found:
				in.viewCat = p.Category
			}
			return in
		})
	items := topology.FlatMapValues(purchases, "profile-line-items", func(_ string, e events.PurchaseEvent) []*input {
		if len(e.Items) == 0 {
			return []*input{{purchase: &e, item: -1}}
		}
		ins := make([]input, len(e.Items))
		out := make([]*input, len(e.Items))
		for i := range e.Items {
			ins[i] = input{purchase: &e, item: i, items: len(e.Items)}
			out[i] = &ins[i]
		}
		return out
	})
	itemIn := topology.LeftJoinGlobal(items, products, "profile-item-category",
		func(_ string, in *input) string {
			if in.item < 0 {
				return ""
			}
			return in.purchase.Items[in.item].ProductID
		},
		func(_ string, in *input, p events.Product, found bool) *input {
			if found {
				in.itemCat = p.Category
			}
			return in
		})
	ticketIn := topology.MapValues(tickets, "profile-ticket", func(_ string, t events.SupportTicket) *input {
		ti := &ticketInput{t: t}
		ti.in.ticket = &ti.t
		return &ti.in
	})

	ins := []topology.Stream[string, *input]{viewIn, itemIn, ticketIn}
	if tp.Erasures != "" {
		// Merged with the events: see erasure.go.
		erasures := topology.ErasuresOf(b, tp.Erasures, inKey, sd.Erasure, with(erasureTime(cfg.MaxFutureSkew))...)
		ins = append(ins, topology.MapValues(erasures, "profile-erasure", func(_ string, r events.ErasureRequest) *input {
			return &input{erasure: &r}
		}))
	}
	merged := signals.Merge("profile-inputs", ins...)
	withCustomer := topology.LeftJoinTable(merged, customers, "profile-customer",
		func(_ string, in *input, c events.Customer, found bool) *input {
			if found {
				in.custRow = c
				in.customer = &in.custRow
			}
			return in
		})
	// Cart timers need no TTL: a timer of a forgotten customer finds no
	// profile (or a new one with another deadline) and fires nothing, and
	// is gone by its deadline anyway.
	var profileOpts []topology.StoreOpt
	if cfg.InactiveTTL > 0 {
		profileOpts = append(profileOpts, topology.TTL(cfg.InactiveTTL))
	}
	// erased is what an erasure's audit lists, known once built.
	erased := &erasedFrom{app: cfg.AppID, outputs: []string{tp.Updates}}
	out := topology.Process(withCustomer, "profile", func() topology.Processor[string, *input, string, output] {
		return &profiler{keys: sd.Key, emit: cfg.Emit, maxCached: cfg.CachedProfiles, cartIdle: cfg.CartIdle,
			ttl: cfg.InactiveTTL.Milliseconds(), erased: erased}
	}, topology.KeyValueStore(StoreProfiles, profileOpts...), topology.KeyValueStore(StoreCartTimers))
	branches := out.Branch("profile-outputs",
		func(_ string, o output) bool { return o.update != nil },
		func(_ string, o output) bool { return o.trigger != nil },
		func(_ string, o output) bool { return o.erased != nil || o.expired })
	topology.MapValues(branches[0], "profile-update", func(_ string, o output) events.ProfileUpdate { return *o.update }).
		To(tp.Updates, sd.Key, sd.Update)
	topology.MapValues(branches[1], "profile-trigger", func(_ string, o output) events.Trigger { return *o.trigger }).
		To(tp.Triggers, sd.Key, sd.Trigger)
	if tp.Erasures == "" && cfg.InactiveTTL == 0 {
		return b.Build() // nothing deletes a profile
	}
	// An erased or forgotten customer's profile is deleted from the
	// compacted output.
	branches[2].ToTombstones(tp.Updates, sd.Key, topology.WithSinkName("profile-deletes"))
	if tp.Erasures == "" {
		return b.Build()
	}
	audits := branches[2].Filter("profile-erasures-only", func(_ string, o output) bool { return o.erased != nil })
	topology.MapValues(audits, "profile-erasure-audit", func(_ string, o output) events.ErasureAudit { return *o.erased }).
		To(tp.ErasureAudit, sd.Key, sd.Audit)
	topo, err := b.Build()
	if err != nil {
		return nil, err
	}
	erased.fill(topo, tp.Erasures)
	return topo, nil
}
