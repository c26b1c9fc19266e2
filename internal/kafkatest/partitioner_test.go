package kafkatest_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/internal/kafkatest"
)

// TestLibrdkafkaPartitioner checks keys against partitions computed
// outside Go, with the CRC-32 librdkafka uses (rd_crc32: reflected
// 0xEDB88320, init and final xor 0xFFFFFFFF, the same as zlib's):
//
//	python3 -c "import zlib; k=b'c-000001'; print(zlib.crc32(k), zlib.crc32(k) % 12, zlib.crc32(k) % 7)"
func TestLibrdkafkaPartitioner(t *testing.T) {
	for _, c := range []struct {
		key       string
		crc       uint32
		of12, of7 int
	}{
		{"c-000001", 1789899966, 6, 1},
		{"c-000002", 4087801092, 0, 4},
		{"customer-42", 1241360405, 5, 5},
		{"alice", 663665735, 11, 5},
		{"\xff\x00\x01", 920575337, 5, 3},
	} {
		p := kafkatest.LibrdkafkaPartitioner().ForTopic("t")
		r := &kgo.Record{Key: []byte(c.key)}
		if got := p.Partition(r, 12); got != c.of12 {
			t.Errorf("key %q (crc %d): partition %d of 12, librdkafka gives %d", c.key, c.crc, got, c.of12)
		}
		if got := p.Partition(r, 7); got != c.of7 {
			t.Errorf("key %q (crc %d): partition %d of 7, librdkafka gives %d", c.key, c.crc, got, c.of7)
		}
	}
	// Null and empty keys are spread, as librdkafka's random choice is.
	p := kafkatest.LibrdkafkaPartitioner().ForTopic("t")
	seen := map[int]bool{}
	for range 12 {
		seen[p.Partition(&kgo.Record{}, 3)] = true
		seen[p.Partition(&kgo.Record{Key: []byte{}}, 3)] = true
	}
	if len(seen) != 3 {
		t.Errorf("keyless records went to partitions %v of 3", seen)
	}
}
