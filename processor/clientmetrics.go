package processor

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// KafkaClientMetrics registers the Kafka client's own metrics in reg
// (franz-go's kprom: connections, bytes and records produced and
// fetched, request latency, per broker), named weir_kafka_*. They cover
// the worker's group client, which fetches the inputs and produces every
// output; restore and standby clients come and go and are counted by
// weir_restored_records_total instead. Default: none.
//
// This is the one place the processor package touches a metrics
// library: kprom hooks into the client, which only this package builds.
func KafkaClientMetrics(reg prometheus.Registerer) Opt {
	return optFunc(func(c *config) { c.clientMetrics = reg })
}

// clientMetricsOpts hooks a fresh kprom into a client. Fresh per client:
// kprom registers its collectors when the client starts and unregisters
// them when it closes, so a worker that restarts its session starts
// counting anew.
func (c *config) clientMetricsOpts() []kgo.Opt {
	if c.clientMetrics == nil {
		return nil
	}
	return []kgo.Opt{kgo.WithHooks(kprom.NewMetrics("weir", kprom.Subsystem("kafka"), kprom.Registerer(c.clientMetrics)))}
}
