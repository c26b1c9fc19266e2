package processor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
)

// CheckTopics finds a topic that exists, names one that does not with
// ErrTopicMissing once ctx ends, and finds one created while it waits.
func TestCheckTopics(t *testing.T) {
	c := kafkatest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	there, missing, late := c.Name("there"), c.Name("missing"), c.Name("late")
	c.CreateTopic(ctx, there, 1, nil)
	conn := processor.SeedBrokers(c.Brokers...)

	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	bad, err := processor.CheckTopics(short, []string{there, missing}, conn)
	if err != nil || len(bad) != 1 || !errors.Is(bad[missing], processor.ErrTopicMissing) {
		t.Fatalf("CheckTopics = %v, %v: want only %s missing", bad, err, missing)
	}

	created := make(chan error, 1)
	go func() { // while CheckTopics asks
		_, err := c.Admin().CreateTopic(ctx, 1, 1, nil, late)
		created <- err
	}()
	if bad, err := processor.CheckTopics(ctx, []string{there, late}, conn); err != nil || len(bad) != 0 {
		t.Fatalf("CheckTopics = %v, %v: want %s found once created", bad, err, late)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
}
