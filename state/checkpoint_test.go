package state_test

import (
	"errors"
	"testing"

	"github.com/weirstream/weir/state"
)

// TestCheckpointRefusesZeroTopicID: an all-zero topic id means "not known
// yet"; stored, it would make the next start discard the state.
func TestCheckpointRefusesZeroTopicID(t *testing.T) {
	cp := state.Checkpoint{
		Identity: state.Identity{ClusterID: "c", ApplicationID: "a", TopicIDs: map[string][16]byte{"a-counts-changelog": {}}},
		Offsets:  map[state.TopicPartition]int64{{Topic: "a-counts-changelog"}: 7},
	}
	if _, err := cp.MarshalBinary(); !errors.Is(err, state.ErrNoTopicID) {
		t.Fatalf("zero topic id: err %v, want ErrNoTopicID", err)
	}
	cp.Identity.TopicIDs["a-counts-changelog"] = [16]byte{1}
	b, err := cp.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back state.Checkpoint
	if err := back.UnmarshalBinary(b); err != nil || back.Identity.TopicIDs["a-counts-changelog"] != [16]byte{1} {
		t.Fatalf("round trip: %v %+v", err, back)
	}
}
