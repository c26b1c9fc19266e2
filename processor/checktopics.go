package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrTopicMissing is CheckTopics' answer for a topic that does not exist.
var ErrTopicMissing = errors.New("does not exist")

// CheckTopics says which of topics cannot be used by a client connected
// as opts say (SeedBrokers, TLS, SASL...): ErrTopicMissing for one that
// does not exist, the broker's error for another. A topic created a
// moment ago may not be in every broker's metadata yet, so it asks
// again, backing off, until all are there or ctx ends: give ctx a
// deadline. It is for applications' own clients (the collector,
// webhooks); a worker checks its topics at start-up itself. The error is
// a configuration mistake or the cluster not answering.
func CheckTopics(ctx context.Context, topics []string, opts ...Opt) (map[string]error, error) {
	kopts, err := ClientOpts(opts...)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: kafka client: %v", ErrConfig, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		details, err := adm.ListTopics(ctx, topics...)
		bad := map[string]error{}
		if err == nil {
			for _, t := range topics {
				switch d, ok := details[t]; {
				case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
					bad[t] = ErrTopicMissing
				case d.Err != nil:
					bad[t] = d.Err
				}
			}
			if len(bad) == 0 {
				return nil, nil
			}
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return nil, fmt.Errorf("list topics: %w", err)
			}
			return bad, nil
		case <-time.After(wait):
		}
	}
}
