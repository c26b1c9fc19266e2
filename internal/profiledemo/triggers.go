package profiledemo

import (
	"context"

	"go.uber.org/zap"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/processor"
)

// Follower reads committed records of a topic from its end until ctx
// ends; processor.App.Follow is one, with the worker's connection settings.
type Follower func(ctx context.Context, topic string, fn func(processor.FollowedRecord)) error

// FollowTriggers reads the committed triggers of topic from its end through
// follow and calls publish with each (serve.Server.Publish), until ctx is
// done: what feeds a `weir run` worker's /v1/triggers stream. Every worker
// follows the whole topic, so a client sees every trigger from any worker.
// A record that does not decode is logged and skipped. regOpts configure
// the registry client (authentication, TLS).
func FollowTriggers(ctx context.Context, follow Follower, registry, topic string, log *zap.Logger, publish func(events.Trigger), regOpts ...avro.HTTPClientOpt) error {
	return followDecoded(ctx, follow, registry, topic, log, "triggers", events.TriggerSerde, publish, regOpts)
}

// FollowProfiles reads the committed profile updates of topic (the
// pipeline's profile.Topics.Updates) from its end through follow and calls
// publish with each (serve.Server.PublishProfile), until ctx is done: what
// feeds a `weir run` worker's /v1/profiles/{id}/stream. Every worker
// follows the whole topic, so any worker streams any customer. A record
// that does not decode is logged and skipped.
func FollowProfiles(ctx context.Context, follow Follower, registry, topic string, log *zap.Logger, publish func(events.ProfileUpdate), regOpts ...avro.HTTPClientOpt) error {
	return followDecoded(ctx, follow, registry, topic, log, "profiles", events.ProfileUpdateSerde, publish, regOpts)
}

func followDecoded[T any](ctx context.Context, follow Follower, registry, topic string, log *zap.Logger, what string,
	newSerde func(*avro.Registry, ...avro.Opt) (*avro.Serde[T], error), publish func(T), regOpts []avro.HTTPClientOpt) error {
	rc, err := avro.NewHTTPRegistryClient(registry, regOpts...)
	if err != nil {
		return err
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		return err
	}
	serde, err := newSerde(reg)
	if err != nil {
		return err
	}
	return follow(ctx, topic, func(r processor.FollowedRecord) {
		v, err := serde.Decode(r.Topic, r.Value)
		if err != nil {
			log.Warn(what+": skipping a record that does not decode", zap.String("topic", r.Topic),
				zap.Int32("partition", r.Partition), zap.Int64("offset", r.Offset), zap.Error(err))
			return
		}
		publish(v)
	})
}
