// Package webhook delivers the profiles pipeline's triggers
// (profile_triggers) to personalization engines over HTTP.
//
// A Deliverer is its own consumer group: it reads the triggers
// read_committed, POSTs each as JSON to every endpoint configured for its
// type, signed with the endpoint's secret (see Verify), and retries what
// failed with exponential backoff and full jitter. A trigger an endpoint
// refuses for good, or that fails MaxAttempts times, goes to the
// dead-letter topic. A partition's offset is committed only up to its
// first trigger not finished (delivered or dead-lettered) everywhere, so
// a restart delivers again rather than losing anything: engines
// deduplicate on the Idempotency-Key header, the trigger id.
//
// Only kafka.go talks to Kafka; the retry and commit bookkeeping are
// plain types (backoff.go, tracker.go).
package webhook
