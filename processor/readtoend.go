package processor

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadToEnd calls fn with each committed record of topics, from the
// start of each partition up to its last stable offset taken when it
// begins, then returns: what a check or a tool reads to see a topic's
// committed content (demo checks, dead-letter listings). It connects as
// opts say. ErrTopicMissing if a topic does not exist; fn's error stops
// it and is returned.
func ReadToEnd(ctx context.Context, topics []string, fn func(FollowedRecord) error, opts ...Opt) error {
	kopts, err := ClientOpts(opts...)
	if err != nil {
		return err
	}
	return readToEnd(ctx, kopts, topics, func(r *kgo.Record) error {
		return fn(FollowedRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value})
	})
}

func readToEnd(ctx context.Context, kopts []kgo.Opt, topics []string, fn func(*kgo.Record) error) error {
	cl, err := kgo.NewClient(append(kopts, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return fmt.Errorf("%w: kafka client: %v", ErrConfig, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("%v: %w", topics, ErrTopicMissing)
	}
	if err != nil {
		return fmt.Errorf("end offsets of %v: %w", topics, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("start offsets of %v: %w", topics, err)
	}
	type tp struct {
		topic     string
		partition int32
	}
	left := map[tp]int64{} // the end of each partition still to reach
	ends.Each(func(o kadm.ListedOffset) {
		// A partition emptied by retention has nothing to read.
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Offset > s.Offset {
			left[tp{o.Topic, o.Partition}] = o.Offset
		}
	})
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %v (%d partitions left): %w", topics, len(left), err)
		}
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("reading %v: %w", topics, err)
		}
		var ferr error
		fs.EachRecord(func(r *kgo.Record) {
			key := tp{r.Topic, r.Partition}
			end, ok := left[key]
			if !ok || ferr != nil {
				return
			}
			// Aborted records are never delivered: the partition is read
			// once anything at or past the last one before the end is.
			if r.Offset >= end-1 {
				delete(left, key)
			}
			if r.Offset < end && !r.Attrs.IsControl() {
				ferr = fn(r)
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// StableOffsets returns the last stable offset of each partition of
// topic: where a read_committed reader that has read everything is.
func StableOffsets(ctx context.Context, topic string, opts ...Opt) (map[int32]int64, error) {
	adm, closeAdm, err := resetAdmin(opts)
	if err != nil {
		return nil, err
	}
	defer closeAdm()
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("last stable offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// ReadToEndFrom is ReadToEnd for one topic from the offsets from (a
// partition not in it from its start): a reader that comes back for what
// is new since StableOffsets.
func ReadToEndFrom(ctx context.Context, topic string, from map[int32]int64, fn func(FollowedRecord) error, opts ...Opt) error {
	kopts, err := ClientOpts(opts...)
	if err != nil {
		return err
	}
	if from == nil {
		from = map[int32]int64{}
	}
	return readFrom(ctx, kopts, topic, from, func(r *kgo.Record) error {
		return fn(FollowedRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value})
	})
}
