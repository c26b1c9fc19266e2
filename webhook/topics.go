package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weirstream/weir/processor"
)

// topicWait bounds how long start-up waits for topics created a moment
// ago to show in the metadata.
const topicWait = 15 * time.Second

// checkTopics makes sure the topics exist: consuming a missing one
// waits for ever, and producing to one fails every dead letter.
func checkTopics(ctx context.Context, o Options) error {
	ctx, cancel := context.WithTimeout(ctx, topicWait)
	defer cancel()
	bad, err := processor.CheckTopics(ctx, []string{o.Topic, o.DeadLetterTopic}, o.Kafka...)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	what := map[string]string{o.Topic: "trigger topic (Topic, weir webhooks -topic-prefix)", o.DeadLetterTopic: "dead-letter topic (DeadLetterTopic)"}
	var errs []error
	for _, t := range []string{o.Topic, o.DeadLetterTopic} {
		switch err := bad[t]; {
		case errors.Is(err, processor.ErrTopicMissing):
			errs = append(errs, fmt.Errorf("%w: %s %s does not exist: create it", ErrConfig, what[t], t))
		case err != nil:
			errs = append(errs, fmt.Errorf("%w: %s %s: %w", ErrConfig, what[t], t, err))
		}
	}
	return errors.Join(errs...)
}
