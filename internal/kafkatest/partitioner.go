package kafkatest

import (
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kgo"
)

// LibrdkafkaPartitioner places records as librdkafka's default
// partitioner, consistent_random (rd_kafka_msg_partitioner_consistent_random),
// does, which is what Python, C/C++, .NET and confluent-kafka-go producers
// use unless configured otherwise: a record with a non-empty key goes to
// partition CRC-32 (IEEE, as zlib's crc32) of the key modulo the partition
// count; a null or empty key goes to a random partition (here: round
// robin per topic, so tests stay deterministic).
func LibrdkafkaPartitioner() kgo.Partitioner {
	return kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
		next := 0
		return func(r *kgo.Record, n int) int {
			if len(r.Key) == 0 {
				next++
				return next % n
			}
			return int(crc32.ChecksumIEEE(r.Key) % uint32(n))
		}
	})
}
