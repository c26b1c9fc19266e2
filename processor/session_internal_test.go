package processor

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCommitGoesWhereTheWorkerGot: the transactional offset commit takes
// the worker's own positions: a partition franz-go would commit elsewhere
// is moved (its leader epoch then unknown), one it left out that moved
// since the last commit (its position set back by an abort) is added, one
// it left out that did not move stays out, and one the worker does not
// track keeps franz-go's offset.
func TestCommitGoesWhereTheWorkerGot(t *testing.T) {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	in := kmsg.NewTxnOffsetCommitRequestTopic()
	in.Topic = "in"
	for _, p := range []struct {
		part   int32
		offset int64
	}{{0, 100}, {1, 50}, {5, 7}} {
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p.part, p.offset, 3
		in.Partitions = append(in.Partitions, rp)
	}
	req.Topics = append(req.Topics, in)

	setCommitAt(req, map[string]map[int32]int64{
		"in":    {0: 100, 1: 80, 2: 30, 3: 12},
		"other": {4: 9},
	}, map[string]map[int32]int64{
		"in":    {1: 80, 2: 30},
		"other": {4: 9},
	})

	got := map[string]map[int32][2]int64{}
	for _, tp := range req.Topics {
		for _, p := range tp.Partitions {
			if got[tp.Topic] == nil {
				got[tp.Topic] = map[int32][2]int64{}
			}
			if _, dup := got[tp.Topic][p.Partition]; dup {
				t.Errorf("%s/%d appears twice", tp.Topic, p.Partition)
			}
			got[tp.Topic][p.Partition] = [2]int64{p.Offset, int64(p.LeaderEpoch)}
		}
	}
	want := map[string]map[int32][2]int64{
		"in":    {0: {100, 3}, 1: {80, -1}, 2: {30, -1}, 5: {7, 3}},
		"other": {4: {9, -1}},
	}
	for topic, parts := range want {
		for p, w := range parts {
			if g, ok := got[topic][p]; !ok || g != w {
				t.Errorf("%s/%d: commit at offset, epoch %v (present %v), want %v", topic, p, g, ok, w)
			}
		}
	}
	if n := len(got["in"]) + len(got["other"]); n != 5 || len(got) != 2 {
		t.Errorf("request has %v, want exactly %v", got, want)
	}
}
