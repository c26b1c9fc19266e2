package processor

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// FollowedRecord is a committed record handed to a Follow callback. Key
// and Value are only valid during the call.
type FollowedRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
}

// Follow reads the committed records of topic from its end, with this
// worker's connection settings (TLS, SASL, client id, KafkaOpts), and
// calls fn with each until ctx ends. It serves side feeds such as a
// worker's trigger stream; it is outside every transaction and commits
// no offsets. Fetch errors are logged and retried by the client.
func (a *App) Follow(ctx context.Context, topic string, fn func(FollowedRecord)) error {
	cl, err := a.newClient("follow",
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			a.log.Warn("follow: fetch", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
		})
		fs.EachRecord(func(r *kgo.Record) {
			fn(FollowedRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value})
		})
	}
}
