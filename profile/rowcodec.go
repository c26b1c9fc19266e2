package profile

import (
	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/events"
)

// The other internal values read on every event, in the state encoding
// (statecodec.go): the join's buffered references and the customers
// table's rows. Their JSON (what older versions wrote) still decodes.

var purchaseRefCodec codec.Serde[purchaseRef] = stateSerde[purchaseRef]{
	what: "purchase reference", size: 64,
	append: func(b []byte, p purchaseRef) []byte {
		return appendStrings(appendString(b, p.EventID), p.Products)
	},
	read: func(r reader) (purchaseRef, reader) {
		var p purchaseRef
		p.EventID, p.Products = r.string(), r.strings()
		return p, r
	},
}

var viewRefCodec codec.Serde[viewRef] = stateSerde[viewRef]{
	what: "view reference", size: 16,
	append: func(b []byte, v viewRef) []byte { return appendString(b, v.ProductID) },
	read:   func(r reader) (viewRef, reader) { return viewRef{ProductID: r.string()}, r },
}

// customerRows is the serde of the customers table's store and changelog:
// no registry subject for internal topics; rows an even older version
// wrote in the Confluent wire format decode with framed.
func customerRows(framed codec.Serde[events.Customer]) codec.Serde[events.Customer] {
	return stateSerde[events.Customer]{
		what: "customer row", size: 96, framed: framed,
		append: func(b []byte, c events.Customer) []byte { return appendCustomer(b, &c) },
		read: func(r reader) (events.Customer, reader) {
			var c events.Customer
			r.customer(&c)
			return c, r
		},
	}
}

func appendCustomer(b []byte, c *events.Customer) []byte {
	b = appendString(b, c.CustomerID)
	b = appendStringPtr(b, c.Email)
	b = appendString(b, c.Segment)
	b = appendString(b, c.Country)
	b = appendTime(b, c.SignupTime)
	b = appendStringPtr(b, c.LoyaltyTier)
	return appendTime(b, c.UpdatedAt)
}

func (r *reader) customer(c *events.Customer) {
	c.CustomerID = r.string()
	c.Email = r.stringPtr()
	c.Segment = r.string()
	c.Country = r.string()
	c.SignupTime = r.time()
	c.LoyaltyTier = r.stringPtr()
	c.UpdatedAt = r.time()
}
