package collect

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
)

// Route sends the events of one type to a topic.
type Route struct {
	// Type is the event's "type" on the wire, e.g. "add_to_cart".
	Type string
	// Topic the records go to; its value subject (TopicNameStrategy:
	// Topic + "-value") holds the schema events are checked against.
	Topic string
	// Set are fields the type fixes, e.g. {"type": "ADD_TO_CART"}: the
	// client may not send them.
	Set map[string]any
	// KeyField is the record field that holds the customer (the record
	// key): the event's customer_id, or its anonymous_id until the
	// customer is known. Default "customer_id".
	KeyField string
}

func (r Route) keyField() string {
	if r.KeyField == "" {
		return "customer_id"
	}
	return r.KeyField
}

// DefaultRoutes are the profiles pipeline's inputs, on topics named
// with prefix: page_view, add_to_cart, remove_from_cart, purchase and
// support_ticket.
func DefaultRoutes(prefix string) []Route {
	purchase := func(typ, kind string) Route {
		return Route{Type: typ, Topic: prefix + events.TopicPurchaseEvents, Set: map[string]any{"type": kind}}
	}
	return []Route{
		{Type: "page_view", Topic: prefix + events.TopicWebBrowsing},
		purchase("add_to_cart", string(events.AddToCart)),
		purchase("remove_from_cart", string(events.RemoveFromCart)),
		purchase("purchase", string(events.Purchase)),
		{Type: "support_ticket", Topic: prefix + events.TopicSupportTickets},
	}
}

// DefaultSchemas are the events package's schemas by DefaultRoutes
// topic (without prefix), for registering them where none is yet.
func DefaultSchemas() map[string]string {
	return map[string]string{
		events.TopicWebBrowsing:    events.PageViewSchema,
		events.TopicPurchaseEvents: events.PurchaseEventSchema,
		events.TopicSupportTickets: events.SupportTicketSchema,
	}
}

// RegisterDefaultSchemas registers DefaultSchemas under the subjects of
// DefaultRoutes(prefix) that have no schema yet, and returns the
// subjects it registered: what a fresh registry needs before New.
func RegisterDefaultSchemas(ctx context.Context, reg *avro.Registry, rc avro.RegistryClient, prefix string) ([]string, error) {
	schemas := DefaultSchemas()
	var done []string
	for _, topic := range slices.Sorted(maps.Keys(schemas)) {
		subject := prefix + topic + "-value"
		_, _, err := reg.Latest(ctx, subject)
		if err == nil {
			continue
		}
		if !errors.Is(err, codec.ErrNotRegistered) {
			return done, fmt.Errorf("collect: register schemas: %w", err)
		}
		if _, err := rc.Register(ctx, subject, schemas[topic]); err != nil {
			return done, fmt.Errorf("collect: register schemas: %s: %w", subject, err)
		}
		done = append(done, subject)
	}
	return done, nil
}
