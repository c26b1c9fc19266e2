package processor

import (
	"time"

	"github.com/weirstream/weir/topology"
)

// Metrics receives what a worker measures. Implementations must be safe
// for concurrent use and cheap: the hooks run on the processing path.
// A Prometheus implementation lives in serve; the processor package
// depends on no metrics library but for the Kafka client's own
// (KafkaClientMetrics).
type Metrics interface {
	// Processed reports a task's counters since the last call.
	Processed(task topology.TaskID, delta topology.TaskStats)
	// Committed reports one commit, once local state (what queries read)
	// reflects it: how long it took and whether the
	// transaction committed (false: aborted, state rewound).
	Committed(d time.Duration, committed bool)
	// Restored reports restoration progress of one changelog partition.
	Restored(topic string, partition int32, restored, remaining int64)
	// EndToEnd reports, for each output of a committed transaction, the
	// commit time minus the event time it carries.
	EndToEnd(d time.Duration)
	// Lag reports how many records of an input partition are not yet
	// fetched, after each fetch.
	Lag(topic string, partition int32, lag int64)
}

type noMetrics struct{}

func (noMetrics) Processed(topology.TaskID, topology.TaskStats) {}
func (noMetrics) Committed(time.Duration, bool)                 {}
func (noMetrics) Restored(string, int32, int64, int64)          {}
func (noMetrics) EndToEnd(time.Duration)                        {}
func (noMetrics) Lag(string, int32, int64)                      {}

// GroupLagMetrics is optionally implemented by a Metrics: after each fetch
// and each commit it hears, per input partition, how many records the
// worker has not committed yet (the last stable offset minus its committed
// position), a consumer group's lag. Unlike Lag, which counts what is not
// fetched yet, it grows while a task is paused or stuck.
type GroupLagMetrics interface {
	GroupLag(topic string, partition int32, lag int64)
}

// AssignmentMetrics is optionally implemented by a Metrics: it hears each
// assignment the worker applies after a rebalance, as the number of
// active tasks and standby replicas (warm-ups included) it now runs.
type AssignmentMetrics interface {
	Assigned(active, standby int)
}
