package processor_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/topology"
)

// TestReKeyedStreamJoinsTableWithFewerPartitions joins a re-keyed stream
// (4 partitions) with a table (2 partitions). The repartition topic must
// take the table's partition count, as in Kafka Streams: sized from the
// stream, it spread keys over 4 partitions while the table's rows sat on
// 2, so orders met no user.
func TestReKeyedStreamJoinsTableWithFewerPartitions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	orders, users, out := c.Name("orders"), c.Name("users"), c.Name("out")
	c.CreateTopic(ctx, orders, 4, nil)
	c.CreateTopic(ctx, users, 2, nil)
	c.CreateTopic(ctx, out, 2, nil)

	b := topology.New(c.Name("app"))
	byUser := topology.SelectKey(topology.StreamOf(b, orders, codec.String(), codec.String()), "by-user",
		func(_, v string) string { return strings.Split(v, "#")[0] }) // value: user#order
	topology.JoinTable(byUser, topology.TableOf(b, users, codec.String(), codec.String()), "enrich",
		func(_, order, name string) string { return name + " " + order },
		topology.RepartitionValues(codec.String())).To(out, codec.String(), codec.String())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}

	const n = 20
	p := c.Client()
	t0 := time.Now().Add(-time.Hour)
	var recs []*kgo.Record
	for i := range n {
		u := "u" + strconv.Itoa(i)
		recs = append(recs, &kgo.Record{Topic: users, Key: []byte(u), Value: []byte("name-" + u), Timestamp: t0})
	}
	for i := range n {
		u := "u" + strconv.Itoa(i)
		recs = append(recs, &kgo.Record{Topic: orders, Key: []byte("o" + strconv.Itoa(i)),
			Value: []byte(u + "#o" + strconv.Itoa(i)), Timestamp: t0.Add(time.Minute)})
	}
	if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	w := start(t, topo, c.Brokers, t.TempDir())
	defer w.stop(t)

	r := c.Client(kgo.ConsumeTopics(out), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]string{}
	for len(got) < n {
		fs := r.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d of %d orders joined before the deadline: %v", len(got), n, got)
		}
		fs.EachRecord(func(rec *kgo.Record) { got[string(rec.Key)] = string(rec.Value) })
	}
	for i := range n {
		u := "u" + strconv.Itoa(i)
		if want := "name-" + u + " " + u + "#o" + strconv.Itoa(i); got[u] != want {
			t.Errorf("%s: %q, want %q", u, got[u], want)
		}
	}
}
