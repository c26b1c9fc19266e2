// Package collect is Weir's event collector: browsers and apps send
// events over HTTP (POST /v1/events) or a WebSocket (/v1/events/ws); the
// collector checks each against the Avro schema registered for its
// topic, encodes it in the Confluent wire format and produces it to
// Kafka, keyed by customer.
//
// The promise: an event id is acknowledged only once its record is
// committed in Kafka. Records are written in Kafka transactions, one per
// round of requests, so a batch is all or nothing for read_committed
// readers (Weir workers): an outage answers 503 and leaves nothing half
// written. A retried id within the deduplication window is acknowledged
// without a second record.
//
// It is an application of the library, like serve and profile: only its
// producer (writer.go) talks to Kafka.
package collect
