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
// Event time is each record's own time field, never the Kafka record
// timestamp (which a producer may leave to its clock, e.g. when sending a
// backlog):
//   - page views, purchase events, support tickets: context.event_time;
//   - customers rows: updated_at (a tombstone has none);
//   - products: none needed, a global table has no stream time.
//
// A field that is missing (a tombstone, zero, or not after the Unix epoch,
// as a producer leaving it at 0 writes) falls back to the record timestamp,
// so the event still counts (Kafka Streams' extractors that fall back
// rather than drop). A field more than Config.MaxFutureSkew (default 1m,
// the grace) ahead of the record timestamp is clamped to record timestamp
// + MaxFutureSkew: a device with a clock in the future would otherwise
// advance stream time and close every customer's windows of the partition
// early. Both rules are deterministic (no wall clock), so replays agree.
// A record that does not decode has no field: its record timestamp places
// it among the inputs, and it never moves stream time.
//
// Keys: the customer-id keys of the three event topics and the customers
// table are plain UTF-8 (Config.KeyFormat KeyString, the default; a key in
// the Confluent wire format is dead-lettered with weir.error.kind
// framed-key) or Confluent-framed Avro strings (KeyAvro). Products keys,
// stores, changelogs and outputs always use plain ids, and internal topics
// never use the schema registry (internal values are in a binary encoding
// of their own, with a leading format byte; see statecodec.go).
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
//     Config.CartIdle (30m) with items still in the cart (once per cart activity). Ids are
//     customer:type:version, so replays are idempotent.
//
// Updates are written per commit by default (the latest profile of each
// changed customer, through the task's commit hook) or per event. Either
// way, a changed profile stays decoded in memory and reaches
// StoreProfiles at the next commit (or earlier, when more than
// Config.CachedProfiles are cached), so the store, and queries of it, hold
// every profile as of the last commit or later, never older.
package profile
