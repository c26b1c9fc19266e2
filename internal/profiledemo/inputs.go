package profiledemo

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/profile"
)

// inputCounts are the records of the event topics.
type inputCounts struct {
	valid   map[string]int64 // by key, the records that decode
	invalid int              // records that do not: dead letters
}

// countInputs reads the three event topics, committed records only, up
// to their last stable offsets, and counts per key the records that
// decode: each customer's last version must equal its count, whoever
// wrote the events (the generator, or the shop through the collector).
func countInputs(ctx context.Context, brokers []string, tp profile.Topics, s profile.Serdes) (inputCounts, error) {
	counts := inputCounts{valid: map[string]int64{}}
	topics := []string{tp.Views, tp.Purchases, tp.Tickets}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords())
	if err != nil {
		return counts, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	starts, serr := adm.ListStartOffsets(ctx, topics...)
	if serr == nil {
		serr = starts.Error()
	}
	if err = errors.Join(err, serr); err != nil {
		return counts, fmt.Errorf("demo: offsets of the inputs: %w", err)
	}
	valid := func(r *kgo.Record) bool {
		var err error
		switch r.Topic {
		case tp.Views:
			_, err = s.PageView.Decode(r.Topic, r.Value)
		case tp.Purchases:
			_, err = s.Purchase.Decode(r.Topic, r.Value)
		default:
			_, err = s.Ticket.Decode(r.Topic, r.Value)
		}
		return err == nil
	}
	left := map[string]map[int32]int64{} // next offset still to read, per partition
	ends.Each(func(o kadm.ListedOffset) {
		// A partition emptied by retention has nothing left to read.
		if start, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Offset > start.Offset {
			if left[o.Topic] == nil {
				left[o.Topic] = map[int32]int64{}
			}
			left[o.Topic][o.Partition] = o.Offset
		}
	})
	remaining := func() int {
		n := 0
		for _, ps := range left {
			n += len(ps)
		}
		return n
	}
	for remaining() > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return counts, fmt.Errorf("demo: reading the inputs to their ends (%d partitions left) within -timeout: %w", remaining(), err)
		}
		if err := fs.Err0(); err != nil {
			return counts, fmt.Errorf("demo: reading the inputs: %w", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Topic][r.Partition]
			if !ok {
				return
			}
			// Aborted records are never delivered: the partition is read
			// once anything at or past the last one before the end is.
			if r.Offset >= end-1 {
				delete(left[r.Topic], r.Partition)
			}
			if r.Offset >= end {
				return // written after the ends were taken
			}
			switch {
			case r.Attrs.IsControl():
			case valid(r):
				counts.valid[string(r.Key)]++
			default:
				counts.invalid++
			}
		})
	}
	return counts, nil
}
