package profiledemo

import (
	"context"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/webhook"
)

// newDeliverer delivers every trigger to url, signed with secret, as
// `weir webhooks` would: its own consumer group, so the pipeline never
// waits on the engine.
func newDeliverer(ctx context.Context, cfg Config, tp profile.Topics, reg *avro.Registry, url, secret string) (*webhook.Deliverer, error) {
	return webhook.New(ctx, webhook.Options{
		Kafka:     []processor.Opt{processor.SeedBrokers(cfg.Brokers...)},
		Topic:     tp.Triggers,
		Group:     cfg.AppID + "-webhooks",
		Registry:  reg,
		Endpoints: []webhook.Endpoint{{URL: url, Secret: secret}},
		Logger:    cfg.Log.Named("webhooks"),
	})
}
