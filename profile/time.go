package profile

import (
	"time"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/topology"
)

// eventTime is the event time of a record whose own time field is field:
// the field; the record timestamp when the field is missing (zero, or not
// after the Unix epoch, which is what a producer leaving a
// timestamp-millis field at 0 writes); at most the record timestamp plus
// maxSkew when maxSkew >= 0.
func eventTime(field, record time.Time, maxSkew time.Duration) time.Time {
	if field.UnixMilli() <= 0 {
		return record
	}
	if maxSkew >= 0 && field.After(record.Add(maxSkew)) {
		return record.Add(maxSkew)
	}
	return field
}

// timestamps are the sources' event-time extractors (topology.TimestampFrom):
// the events' context.event_time, the customers rows' updated_at.
func timestamps(maxSkew time.Duration) (views, purchases, tickets, customers topology.SourceOpt) {
	views = topology.TimestampFrom(func(_ string, v events.PageView, rt time.Time) time.Time {
		return eventTime(v.Context.EventTime, rt, maxSkew)
	})
	purchases = topology.TimestampFrom(func(_ string, e events.PurchaseEvent, rt time.Time) time.Time {
		return eventTime(e.Context.EventTime, rt, maxSkew)
	})
	tickets = topology.TimestampFrom(func(_ string, t events.SupportTicket, rt time.Time) time.Time {
		return eventTime(t.Context.EventTime, rt, maxSkew)
	})
	// A tombstone's row is the zero value: it takes the record timestamp.
	customers = topology.TimestampFrom(func(_ string, c events.Customer, rt time.Time) time.Time {
		return eventTime(c.UpdatedAt, rt, maxSkew)
	})
	return
}

// erasureTime is an erasure request's event time: its requested_at,
// bounded like an event's.
func erasureTime(maxSkew time.Duration) topology.SourceOpt {
	return topology.TimestampFrom(func(_ string, r events.ErasureRequest, rt time.Time) time.Time {
		return eventTime(r.RequestedAt, rt, maxSkew)
	})
}
