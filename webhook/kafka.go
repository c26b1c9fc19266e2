package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// record is a consumed trigger record, in this package's own terms so
// that only this file knows franz-go.
type record struct {
	topic     string
	partition int32
	offset    int64
	key       []byte
	value     []byte
	headers   []header
	timestamp time.Time
}

type header struct {
	key   string
	value []byte
}

// partitionKey names a partition.
type partitionKey struct {
	topic     string
	partition int32
}

// groupHooks are what the consumer group calls, on its own goroutine.
type groupHooks struct {
	assigned func([]partitionKey)
	// revoked stops the partitions' deliveries and returns the offsets
	// to commit before they go.
	revoked func([]partitionKey) map[partitionKey]int64
	lost    func([]partitionKey)
}

// kafka is the deliverer's one Kafka client: a consumer-group member
// reading read_committed with manual commits, and an idempotent acks=all
// producer for dead letters.
type kafka struct {
	cl       *kgo.Client
	dlq      string
	log      *zap.Logger
	onCommit func(topic string, partition int32, offset int64)
}

func newKafka(ctx context.Context, kopts []kgo.Opt, o Options, hooks groupHooks) (*kafka, error) {
	k := &kafka{dlq: o.DeadLetterTopic, log: o.Logger, onCommit: o.onCommit}
	keys := func(m map[string][]int32) []partitionKey {
		var out []partitionKey
		for t, ps := range m {
			for _, p := range ps {
				out = append(out, partitionKey{t, p})
			}
		}
		return out
	}
	cl, err := kgo.NewClient(append(kopts,
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(o.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		// Records a poll returns belong to the assignment of that
		// moment: the loop binds them to their partition's tracker
		// before it lets a rebalance through.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { hooks.assigned(keys(m)) }),
		kgo.OnPartitionsRevoked(func(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
			if offs := hooks.revoked(keys(m)); len(offs) > 0 {
				if err := k.commit(ctx, offs); err != nil {
					k.log.Warn("commit before revoke failed; the next owner delivers those triggers again", zap.Error(err))
				}
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { hooks.lost(keys(m)) }),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)...)
	if err != nil {
		return nil, fmt.Errorf("%w: kafka client: %w", ErrConfig, err)
	}
	k.cl = cl
	return k, nil
}

// poll returns up to max records, then run(records) with rebalances
// held back, so the records are bound to the assignment they came from.
func (k *kafka) poll(ctx context.Context, max int, bind func([]record)) error {
	fs := k.cl.PollRecords(ctx, max)
	defer k.cl.AllowRebalance()
	if err := ctx.Err(); err != nil {
		return err
	}
	if fs.IsClientClosed() {
		return kgo.ErrClientClosed
	}
	fs.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.Canceled) {
			k.log.Warn("fetch failed; the client retries", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
		}
	})
	var recs []record
	fs.EachRecord(func(r *kgo.Record) {
		hs := make([]header, len(r.Headers))
		for i, h := range r.Headers {
			hs[i] = header{h.Key, h.Value}
		}
		recs = append(recs, record{topic: r.Topic, partition: r.Partition, offset: r.Offset,
			key: r.Key, value: r.Value, headers: hs, timestamp: r.Timestamp})
	})
	bind(recs)
	return nil
}

// commit commits offs (the next offset to read, per partition).
func (k *kafka) commit(ctx context.Context, offs map[partitionKey]int64) error {
	m := map[string]map[int32]kgo.EpochOffset{}
	for pk, o := range offs {
		if m[pk.topic] == nil {
			m[pk.topic] = map[int32]kgo.EpochOffset{}
		}
		m[pk.topic][pk.partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var err error
	k.cl.CommitOffsetsSync(ctx, m, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, cerr error) {
		if cerr != nil {
			err = cerr
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil {
					err = errors.Join(err, fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, perr))
				} else if k.onCommit != nil {
					k.onCommit(t.Topic, p.Partition, m[t.Topic][p.Partition].Offset)
				}
			}
		}
	})
	return err
}

// deadLetter produces r, with extra headers, to the dead-letter topic and
// waits for the acknowledgement.
func (k *kafka) deadLetter(ctx context.Context, r record, extra []header) error {
	hs := make([]kgo.RecordHeader, 0, len(r.headers)+len(extra))
	for _, h := range append(r.headers, extra...) {
		hs = append(hs, kgo.RecordHeader{Key: h.key, Value: h.value})
	}
	return k.cl.ProduceSync(ctx, &kgo.Record{Topic: k.dlq, Key: r.key, Value: r.value, Headers: hs}).FirstErr()
}

// close leaves the group (committing, through the revoke hook, what is
// finished) and disconnects.
func (k *kafka) close() { k.cl.Close() }
