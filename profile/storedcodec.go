package profile

import (
	"encoding/binary"
	"math"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/events"
)

// storedCodec encodes stored in a compact binary layout: the profile
// update's fields, then the bookkeeping, in declaration order (see
// binary.go for the building blocks). Map entries are written in key
// order, so equal values encode to equal bytes.
//
// The profile is read and written on every event: encoding/json was 42 %
// of the task core's CPU (issue 12).
var storedCodec codec.Serde[stored] = stateSerde[stored]{
	what: "stored profile", size: 256,
	append: func(b []byte, s stored) []byte { return appendStored(b, &s) },
	read: func(r reader) (stored, reader) {
		var s stored
		r.stored(&s)
		return s, r
	},
}

func appendStored(b []byte, s *stored) []byte {
	p := &s.Profile
	b = appendString(b, p.CustomerID)
	b = appendBool(b, p.Known)
	b = binary.AppendVarint(b, p.Version)
	b = appendTime(b, p.UpdatedAt)
	b = appendTime(b, p.LastEventTime)
	b = appendString(b, p.Segment)
	b = appendString(b, p.Country)
	b = appendTimePtr(b, p.ViewsWindowStart)
	b = binary.AppendVarint(b, p.Views5m)
	b = binary.AppendVarint(b, p.ViewsTotal)
	b = appendStrings(b, p.RecentProducts)
	b = appendStrings(b, p.TopCategories)
	b = appendLen(b, p.CartItems == nil, len(p.CartItems))
	for _, it := range p.CartItems {
		b = appendString(b, it.ProductID)
		b = binary.AppendVarint(b, int64(it.Quantity))
		b = binary.AppendVarint(b, it.UnitPriceCents)
		b = appendString(b, it.Category)
	}
	b = binary.AppendVarint(b, p.CartValueCents)
	b = binary.AppendVarint(b, p.Purchases)
	b = binary.AppendVarint(b, p.LifetimeValueCents)
	b = appendTimePtr(b, p.LastPurchaseTime)
	b = appendBool(b, p.LastPurchaseAfterView)
	b = binary.AppendVarint(b, int64(p.OpenTickets))
	b = appendBool(b, p.AtRisk)

	b = appendCounts(b, s.Categories)
	b = binary.AppendUvarint(b, uint64(len(s.Recent)))
	for _, r := range s.Recent {
		b = appendString(b, r.ID)
		b = binary.AppendVarint(b, r.At)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Windows)))
	for _, w := range s.Windows {
		b = binary.AppendVarint(b, w.Start)
		b = binary.AppendVarint(b, w.Count)
		b = appendCounts(b, w.Categories)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Tickets)))
	var buf [16]string
	for _, k := range sortedInto(buf[:0], s.Tickets) {
		b = appendString(b, k)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.Tickets[k]))
	}
	b = appendString(b, s.LastPurchaseID)
	b = binary.AppendVarint(b, s.CartActivity)
	b = binary.AppendVarint(b, s.CartDeadline)
	return b
}

func (r *reader) stored(s *stored) {
	p := &s.Profile
	p.CustomerID = r.string()
	p.Known = r.bool()
	p.Version = r.varint()
	p.UpdatedAt = r.time()
	p.LastEventTime = r.time()
	p.Segment = r.string()
	p.Country = r.string()
	p.ViewsWindowStart = r.timePtr()
	p.Views5m = r.varint()
	p.ViewsTotal = r.varint()
	p.RecentProducts = r.strings()
	p.TopCategories = r.strings()
	if n := r.listLen(4); n >= 0 {
		p.CartItems = make([]events.CartItem, n)
		for i := range p.CartItems {
			it := &p.CartItems[i]
			it.ProductID = r.string()
			it.Quantity = r.int32()
			it.UnitPriceCents = r.varint()
			it.Category = r.string()
		}
	}
	p.CartValueCents = r.varint()
	p.Purchases = r.varint()
	p.LifetimeValueCents = r.varint()
	p.LastPurchaseTime = r.timePtr()
	p.LastPurchaseAfterView = r.bool()
	p.OpenTickets = r.int32()
	p.AtRisk = r.bool()

	s.Categories = r.counts()
	if n := r.count(2); n > 0 {
		s.Recent = make([]seenProduct, n)
		for i := range s.Recent {
			s.Recent[i] = seenProduct{ID: r.string(), At: r.varint()}
		}
	}
	if n := r.count(3); n > 0 {
		s.Windows = make([]viewWindow, n)
		for i := range s.Windows {
			w := &s.Windows[i]
			w.Start = r.varint()
			w.Count = r.varint()
			w.Categories = r.counts()
		}
	}
	if n := r.count(9); n > 0 {
		s.Tickets = make(map[string]float64, n)
		for range n {
			k := r.string()
			s.Tickets[k] = r.float64()
		}
	}
	s.LastPurchaseID = r.string()
	s.CartActivity = r.varint()
	s.CartDeadline = r.varint()
}
