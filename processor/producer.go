package processor

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/topology"
)

// Producer writes records to topics for tools and APIs that submit work
// to an application rather than process it (erasure requests). It is
// idempotent, and a keyed record goes to the partition InputPartitioner
// gives its key, so it lands in the task holding the key's state. Safe
// for concurrent use.
type Producer struct {
	cl *kgo.Client
}

// NewProducer connects a Producer with the connection options of opts
// (SeedBrokers, TLS, SASL, InputPartitioner, Logger).
func NewProducer(opts ...Opt) (*Producer, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	part := c.partitioner
	ko := append(c.connOpts(c.conn.clientID, c.log.Named("kgo")),
		kgo.RecordPartitioner(kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
			ps := newPartitions() // one per topic: kgo calls it under the topic's lock
			return func(r *kgo.Record, n int) int { return ps.of(part, r.Key, n) }
		})))
	cl, err := kgo.NewClient(ko...)
	if err != nil {
		return nil, fmt.Errorf("%w: kafka client (producer): %v", ErrConfig, err)
	}
	return &Producer{cl: cl}, nil
}

// Send writes recs (Partition -1: by key) and returns once Kafka has
// acknowledged every one, or the first error.
func (p *Producer) Send(ctx context.Context, recs ...topology.Output) error {
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		kr := &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		if r.Partition >= 0 {
			return errors.New("processor: Producer.Send: records go by key; leave Partition -1")
		}
		krs[i] = kr
	}
	return p.cl.ProduceSync(ctx, krs...).FirstErr()
}

// Close closes the connection.
func (p *Producer) Close() { p.cl.Close() }
