// Package profile is the personalization topology: page views, purchase
// events and support tickets, keyed by customer id, become one live
// profile per customer (events.ProfileUpdate) and triggers
// (events.Trigger) for personalization engines.
//
// The profile's version is the number of events applied to it (records
// that do not decode never count). Everything in a profile is a function
// of the events in the order the task applies them (updated_at is the
// task's stream time, never the wall clock), so a version always names the
// same state: consumers apply an update only if its version is greater
// than the one they hold, and a replay cannot contradict an earlier run.
//
// Rules, all in event time (constants in config.go):
//   - views_5m counts the views in the 5-minute tumbling window of the
//     latest view; a view whose window closed (stream time >= end + 1m
//     grace) still counts in views_total, recent products and top
//     categories, but not in a window.
//   - the cart adds ADD_TO_CART quantities, subtracts REMOVE_FROM_CART
//     ones, and empties on PURCHASE; line items get their category from
//     the products global table.
//   - last_purchase_after_view comes from a stream-stream join of
//     purchases with views of the same product in the 30 minutes before
//     (grace 1m). A join result is not an event: it is applied together
//     with the event whose arrival produced it (the join is wired first).
//   - segment and country are read from the customers table when an event
//     is applied; UnknownSegment and UnknownCountry when it has no row
//     (unknown customer, or its row not read yet). A row arriving later
//     shows from the customer's next event.
//   - triggers: high_intent when one category reaches 5 counted views in a
//     window (once per window and category); at_risk when some open
//     ticket's sentiment turns negative (the flag turning on);
//     cart_abandoned when stream time reaches the latest cart activity +
//     30m with items still in the cart (once per cart activity). Ids are
//     customer:type:version, so replays are idempotent.
//
// Updates are written per commit by default (the latest profile of each
// changed customer, through the task's commit hook) or per event.
package profile
