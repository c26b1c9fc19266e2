package profiledemo_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/internal/profiledemo"
	"github.com/weirstream/weir/profile"
)

// TestProduceWritesInputs runs the producer alone (what weir produce and
// the compose stack's producer do): it creates the pipeline's topics and
// every event it counts arrives in an input topic, malformed ones too.
func TestProduceWritesInputs(t *testing.T) {
	c := kafkatest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := c.Name("") + "."
	tp := profile.PrefixedTopics(prefix)

	// Topics only: they exist afterwards, and nothing is written.
	res, err := profiledemo.Produce(ctx, profiledemo.ProduceConfig{
		Brokers: c.Brokers, Registry: c.Registry, TopicPrefix: prefix, Partitions: 3, TopicsOnly: true,
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 0 {
		t.Fatalf("topics only sent %d events", res.Events)
	}
	all := []string{tp.Views, tp.Purchases, tp.Tickets, tp.Customers, tp.Products, tp.Updates, tp.Triggers}
	// Metadata reaches every broker a moment after the creation returns:
	// ask until each topic is listed, or the deadline.
	for missing := ""; ; {
		td, err := c.Admin().ListTopics(ctx, all...)
		if err != nil {
			t.Fatal(err)
		}
		missing = ""
		for _, name := range all {
			if d, ok := td[name]; !ok || d.Err != nil {
				missing = fmt.Sprintf("%s (%v)", name, d.Err)
			}
		}
		if missing == "" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s not created", missing)
		case <-time.After(50 * time.Millisecond):
		}
	}

	res, err = profiledemo.Produce(ctx, profiledemo.ProduceConfig{
		Brokers: c.Brokers, Registry: c.Registry, TopicPrefix: prefix, Partitions: 3,
		Seed: 7, Rate: 400, Duration: time.Second, Customers: 50, BadShare: 0.1,
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events < 300 || res.Malformed == 0 {
		t.Fatalf("sent %v: want about 400 events, some malformed", res)
	}

	// Every event is in an input topic; table rows too.
	cl := c.Client(kgo.ConsumeTopics(tp.Views, tp.Purchases, tp.Tickets, tp.Customers, tp.Products),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	counts := map[string]int{}
	events := 0
	for events < res.Events {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d events (%v)", events, res.Events, counts)
		}
		for _, r := range fs.Records() {
			counts[r.Topic]++
			if r.Topic == tp.Views || r.Topic == tp.Purchases || r.Topic == tp.Tickets {
				events++
			}
		}
	}
	if events != res.Events {
		t.Fatalf("read %d events, sent %d", events, res.Events)
	}
	if counts[tp.Views] == 0 || counts[tp.Products] == 0 || counts[tp.Customers] == 0 {
		t.Fatalf("records per topic %v: want views, products and customers", counts)
	}
}

// TestProduceUntilStopped: with no duration it produces until the context
// ends, and that is no error.
func TestProduceUntilStopped(t *testing.T) {
	c := kafkatest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := profiledemo.Produce(ctx, profiledemo.ProduceConfig{
		Brokers: c.Brokers, Registry: c.Registry, TopicPrefix: c.Name("") + ".", Partitions: 3,
		Rate: 200, Customers: 20,
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events == 0 {
		t.Fatal("nothing sent")
	}
}
