package profiledemo

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
)

// FollowTriggers reads the committed triggers of topic from its end and
// calls publish with each (serve.Server.Publish), until ctx is done: what
// feeds a `weir run` worker's /v1/triggers stream. Every worker follows
// the whole topic, so a client sees every trigger from any worker.
// A record that does not decode is logged and skipped. opts are added to
// the client's (connection settings).
func FollowTriggers(ctx context.Context, brokers []string, registry, topic string, log *zap.Logger, publish func(events.Trigger), opts ...kgo.Opt) error {
	rc, err := avro.NewHTTPRegistryClient(registry)
	if err != nil {
		return err
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		return err
	}
	serde, err := events.TriggerSerde(reg)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}, opts...)...)
	if err != nil {
		return fmt.Errorf("triggers: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			log.Warn("triggers: fetch", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
		})
		fs.EachRecord(func(r *kgo.Record) {
			t, err := serde.Decode(r.Topic, r.Value)
			if err != nil {
				log.Warn("triggers: skipping a record that does not decode", zap.String("topic", r.Topic),
					zap.Int32("partition", r.Partition), zap.Int64("offset", r.Offset), zap.Error(err))
				return
			}
			publish(t)
		})
	}
}
