package profiledemo

import (
	"context"
	"fmt"

	"github.com/weirstream/weir/processor"
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
	err := processor.ReadToEnd(ctx, []string{tp.Views, tp.Purchases, tp.Tickets}, func(r processor.FollowedRecord) error {
		var err error
		switch r.Topic {
		case tp.Views:
			_, err = s.PageView.Decode(r.Topic, r.Value)
		case tp.Purchases:
			_, err = s.Purchase.Decode(r.Topic, r.Value)
		default:
			_, err = s.Ticket.Decode(r.Topic, r.Value)
		}
		if err == nil {
			counts.valid[string(r.Key)]++
		} else {
			counts.invalid++
		}
		return nil
	}, processor.SeedBrokers(brokers...))
	if err != nil {
		return counts, fmt.Errorf("demo: reading the inputs to their ends within -timeout: %w", err)
	}
	return counts, nil
}
