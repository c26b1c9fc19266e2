package processor_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
)

// ReadToEnd returns every committed record, plain and transactional,
// and none of an aborted transaction (here the last one), then returns;
// a topic that does not exist is ErrTopicMissing.
func TestReadToEndReadsCommittedRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	topic := c.Name("t")
	c.CreateTopic(ctx, topic, 1, nil)
	if err := c.Client().ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("0")}, &kgo.Record{Topic: topic, Value: []byte("1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	txn := c.Client(kgo.TransactionalID(c.Name("txn")))
	for i, end := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort} {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		v := []byte(strconv.Itoa(2 + i))
		if err := txn.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, end); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := processor.ReadToEnd(ctx, []string{topic}, func(r processor.FollowedRecord) error {
		got = append(got, string(r.Value))
		return nil
	}, processor.SeedBrokers(c.Brokers...)); err != nil {
		t.Fatalf("read: %v (got %q)", err, got)
	}
	if len(got) != 3 || got[0] != "0" || got[1] != "1" || got[2] != "2" {
		t.Fatalf("read %q, want the committed 0 1 2", got)
	}
	err := processor.ReadToEnd(ctx, []string{c.Name("missing")}, func(processor.FollowedRecord) error { return nil }, processor.SeedBrokers(c.Brokers...))
	if !errors.Is(err, processor.ErrTopicMissing) {
		t.Fatalf("missing topic: %v, want ErrTopicMissing", err)
	}
}

// ReadToEndFrom reads what is new since StableOffsets, and nothing
// before.
func TestReadToEndFromReadsWhatIsNew(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	topic := c.Name("t")
	c.CreateTopic(ctx, topic, 2, nil)
	conn := processor.SeedBrokers(c.Brokers...)
	send := func(vs ...string) {
		t.Helper()
		for _, v := range vs {
			if err := c.Client().ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(v), Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	send("old-1", "old-2", "old-3")
	from, err := processor.StableOffsets(ctx, topic, conn)
	if err != nil {
		t.Fatal(err)
	}
	if from[0]+from[1] != 3 {
		t.Fatalf("stable offsets %v, want 3 records in all", from)
	}
	send("new-1", "new-2")
	var got []string
	if err := processor.ReadToEndFrom(ctx, topic, from, func(r processor.FollowedRecord) error {
		got = append(got, string(r.Value))
		return nil
	}, conn); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"new-1", "new-2"}) {
		t.Fatalf("read %v, want only the two new records", got)
	}
}
