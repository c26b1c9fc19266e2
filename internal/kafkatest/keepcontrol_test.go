package kafkatest_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/internal/kafkatest"
)

// TestKeepControlStillFiltersAborted checks a client fact restores rely
// on: with KeepControlRecords, read_committed still drops aborted records
// and returns only the markers.
func TestKeepControlStillFiltersAborted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	topic := c.Name("t")
	c.CreateTopic(ctx, topic, 1, nil)
	p := c.Client(kgo.TransactionalID(c.Name("p")), kgo.DefaultProduceTopic(topic))
	for _, commit := range []bool{false, true} {
		p.BeginTransaction()
		v := "aborted"
		if commit {
			v = "end"
		}
		if err := p.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	cl := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no end")
		}
		for _, r := range fs.Records() {
			t.Logf("offset %d control=%v value=%q", r.Offset, r.Attrs.IsControl(), r.Value)
			if !r.Attrs.IsControl() && string(r.Value) == "aborted" {
				t.Fatal("aborted record returned with KeepControlRecords")
			}
			if string(r.Value) == "end" {
				return
			}
		}
	}
}
