// Package bench is the harness of Weir's benchmark against Kafka Streams
// (issue 7): it preloads a seeded personalization workload into a real
// Kafka, runs each system as a subprocess on it, measures throughput, CPU,
// memory, latency, restore and recovery from /proc and from Kafka, checks
// that both systems computed the same per-customer profiles, and writes
// the results. It reports speed; it never asserts it.
//
// The command is bench/cmd/bench (make bench).
package bench
