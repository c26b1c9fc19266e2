package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/profile"
)

// TestProduceCommand: weir produce, with the brokers from WEIR_BROKERS as
// in the compose stack and Kubernetes, writes events to the input topics.
func TestProduceCommand(t *testing.T) {
	c := kafkatest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := c.Name("") + "."
	t.Setenv("WEIR_BROKERS", strings.Join(c.Brokers, ","))
	err := runProduce(ctx, []string{"-registry", c.Registry, "-topic-prefix", prefix, "-partitions", "3",
		"-rate", "200", "-duration", "1s", "-customers", "20"})
	if err != nil {
		t.Fatal(err)
	}
	tp := profile.PrefixedTopics(prefix)
	cl := c.Client(kgo.ConsumeTopics(tp.Views), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no record in %s", tp.Views)
		}
		if len(fs.Records()) > 0 {
			return
		}
	}
}

// TestProduceFlagMistakes: mistakes stop weir produce before it connects.
func TestProduceFlagMistakes(t *testing.T) {
	t.Setenv("WEIR_BROKERS", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-registry", "http://127.0.0.1:1"}, "-brokers and -registry are required"},
		{[]string{"-brokers", "127.0.0.1:1", "-registry", "http://127.0.0.1:1", "-partitions", "0"}, "-partitions 0"},
		{[]string{"-brokers", "127.0.0.1:1", "-registry", "http://127.0.0.1:1", "-bad", "2"}, "between 0 and 1"},
	} {
		err := runProduce(context.Background(), tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
