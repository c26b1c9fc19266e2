package processor_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// A Producer puts each keyed record where the input partitioner puts the
// key: murmur2 like the Java client, crc32 like librdkafka.
func TestProducerPartitionsLikeTheInputs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	const parts = 6
	murmur := kgo.StickyKeyPartitioner(nil).ForTopic("")
	for _, tc := range []struct {
		p    processor.Partitioner
		want func(key []byte) int32
	}{
		{processor.Murmur2, func(k []byte) int32 { return int32(murmur.Partition(&kgo.Record{Key: k}, parts)) }},
		{processor.CRC32, func(k []byte) int32 { return int32(crc32.ChecksumIEEE(k) % parts) }},
	} {
		topic := c.Name(tc.p.String())
		c.CreateTopic(ctx, topic, parts, nil)
		p, err := processor.NewProducer(processor.SeedBrokers(c.Brokers...), processor.InputPartitioner(tc.p))
		if err != nil {
			t.Fatal(err)
		}
		var recs []topology.Output
		for i := range 40 {
			recs = append(recs, topology.Output{Topic: topic, Partition: -1, Key: fmt.Appendf(nil, "c-%05d", i), Value: []byte("x")})
		}
		err = p.Send(ctx, recs...)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		moved := 0
		err = processor.ReadToEnd(ctx, []string{topic}, func(r processor.FollowedRecord) error {
			if want := tc.want(r.Key); r.Partition != want {
				t.Errorf("%v: key %s on partition %d, want %d", tc.p, r.Key, r.Partition, want)
			}
			if r.Partition != int32(murmur.Partition(&kgo.Record{Key: r.Key}, parts)) {
				moved++
			}
			return nil
		}, processor.SeedBrokers(c.Brokers...))
		if err != nil {
			t.Fatal(err)
		}
		if tc.p == processor.CRC32 && moved == 0 {
			t.Error("crc32 placed every key where murmur2 does: the test tells them apart on nothing")
		}
	}
}
