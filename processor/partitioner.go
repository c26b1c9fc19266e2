package processor

import (
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/weirstream/weir/topology"
)

// Partitioner names how a producer chooses a keyed record's partition.
// Queries find a key's task by computing its partition, so they must use
// the partitioner of the producers that wrote the input topics.
type Partitioner int

const (
	// Murmur2 is the Java client's default (and Kafka Streams', and
	// franz-go's): murmur2 of the key, sign bit cleared, modulo the
	// partition count.
	Murmur2 Partitioner = iota
	// CRC32 is librdkafka's default, consistent_random, used by the
	// Python, C/C++, .NET and confluent-kafka-go clients: CRC-32 (IEEE)
	// of the key modulo the partition count (records with a null or empty
	// key go to a random partition).
	CRC32
)

func (p Partitioner) String() string {
	switch p {
	case Murmur2:
		return "murmur2"
	case CRC32:
		return "crc32"
	}
	return fmt.Sprintf("Partitioner(%d)", int(p))
}

// Set parses "murmur2" or "crc32" (flag.Value).
func (p *Partitioner) Set(s string) error {
	switch s {
	case "murmur2":
		*p = Murmur2
	case "crc32", "consistent_random":
		*p = CRC32
	default:
		return fmt.Errorf("%w: partitioner %q: use murmur2 (Java clients) or crc32 (librdkafka's consistent_random)", ErrConfig, s)
	}
	return nil
}

// partitions computes keys' partitions. Not safe for concurrent use: it
// reuses one record.
type partitions struct {
	murmur2 kgo.TopicPartitioner
	rec     kgo.Record
}

func newPartitions() *partitions {
	return &partitions{murmur2: kgo.StickyKeyPartitioner(nil).ForTopic("")}
}

// of returns the partition p gives a non-empty key among n.
func (ps *partitions) of(p Partitioner, key []byte, n int) int {
	if p == CRC32 {
		return int(crc32.ChecksumIEEE(key) % uint32(n))
	}
	ps.rec.Key = key
	return ps.murmur2.Partition(&ps.rec, n)
}

// partitionerOf says which partitioner places keys in a sub-topology's
// input: the configured one if it reads a topic from outside, else
// murmur2, which Weir writes its repartition topics with.
func (a *App) partitionerOf(sub topology.Subtopology) Partitioner {
	for _, src := range sub.Sources {
		if !src.Internal {
			return a.cfg.partitioner
		}
	}
	return Murmur2
}

// MispartitionMetrics is an optional extension of Metrics: a Metrics
// that also implements it learns how many input records sit on another
// partition than the one InputPartitioner gives their key. Such keys are
// missed by queries.
type MispartitionMetrics interface {
	// Mispartitioned reports n more such records read from topic.
	Mispartitioned(topic string, n int64)
}

// partitionCheck counts input records whose key belongs on another
// partition than the configured partitioner says, and warns once per
// topic. Records with a null or empty key (placed at random), repartition
// topics (Weir partitions them) and topics whose partition count differs
// from the task's are not checked.
type partitionCheck struct {
	want       Partitioner
	p          *plan
	log        *zap.Logger
	metrics    Metrics
	internal   map[string]bool
	parts      *partitions
	counted    map[string]int64 // per topic, since the last report
	warnedPart map[string]bool
}

func newPartitionCheck(want Partitioner, p *plan, log *zap.Logger, m Metrics) *partitionCheck {
	c := &partitionCheck{want: want, p: p, log: log, metrics: m, internal: map[string]bool{},
		parts: newPartitions(), counted: map[string]int64{}, warnedPart: map[string]bool{}}
	for _, s := range p.subs {
		for _, src := range s.Sources {
			if src.Internal {
				c.internal[src.Topic] = true
			}
		}
	}
	return c
}

// check looks at r, read by a task of sub-topology sub.
func (c *partitionCheck) check(r *kgo.Record, sub int) {
	if len(r.Key) == 0 || c.internal[r.Topic] {
		return
	}
	n := c.p.counts[r.Topic]
	if n != c.p.partitions[sub] || n <= 1 {
		return
	}
	want := c.want
	if int32(c.parts.of(want, r.Key, int(n))) == r.Partition {
		return
	}
	c.counted[r.Topic]++
	if c.warnedPart[r.Topic] {
		return
	}
	c.warnedPart[r.Topic] = true
	likely := "neither murmur2 nor crc32 (a custom or random partitioner?)"
	for _, other := range []Partitioner{Murmur2, CRC32} {
		if other != want && int32(c.parts.of(other, r.Key, int(n))) == r.Partition {
			likely = other.String()
		}
	}
	c.log.Warn("input records are not on the partition the configured partitioner gives their keys: queries will not find those keys; set processor.InputPartitioner (weir run -partitioner) to what the producers use",
		zap.String("topic", r.Topic), zap.Int32("partition", r.Partition), zap.Int64("offset", r.Offset),
		zap.Stringer("configured", want), zap.String("likely", likely))
}

// report hands the counts gathered since the last call to the metrics,
// if they want them.
func (c *partitionCheck) report() {
	if len(c.counted) == 0 {
		return
	}
	if m, ok := c.metrics.(MispartitionMetrics); ok {
		for t, n := range c.counted {
			m.Mispartitioned(t, n)
		}
	}
	clear(c.counted)
}
