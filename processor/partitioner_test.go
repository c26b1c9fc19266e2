package processor

import (
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPartitions: CRC32 matches librdkafka's consistent_random on keys
// computed outside Go (python3 -c "import zlib; print(zlib.crc32(b'c-000001') % 12)"),
// and Murmur2 matches the Java client's default as franz-go implements it.
func TestPartitions(t *testing.T) {
	ps := newPartitions()
	for key, want := range map[string]int{"c-000001": 6, "c-000002": 0, "customer-42": 5, "alice": 11} {
		if got := ps.of(CRC32, []byte(key), 12); got != want {
			t.Errorf("crc32 %q: partition %d of 12, librdkafka gives %d", key, got, want)
		}
	}
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, seed))
	java := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for range 1000 {
		key := make([]byte, 1+rng.IntN(40))
		for i := range key {
			key[i] = byte(rng.UintN(256))
		}
		n := 1 + rng.IntN(64)
		if got, want := ps.of(Murmur2, key, n), java.Partition(&kgo.Record{Key: key}, n); got != want {
			t.Fatalf("seed %d: murmur2 %x: partition %d of %d, want %d", seed, key, got, n, want)
		}
	}
	var p Partitioner
	if err := p.Set("crc32"); err != nil || p != CRC32 {
		t.Fatalf("Set(crc32): %v %v", p, err)
	}
	if err := p.Set("murmur3"); err == nil {
		t.Fatal("Set(murmur3) accepted")
	}
}
