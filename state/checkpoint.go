package state

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// ErrForeignState is returned when local state was written for another
// cluster, application or incarnation of a changelog topic, and must be
// discarded rather than trusted.
var ErrForeignState = errors.New("state: local state belongs to another cluster, application or topic")

// ErrNoTopicID is returned when a checkpoint would record an all-zero
// topic id: that is "not known yet", never a topic's identity, and the
// next start would discard the state it describes.
var ErrNoTopicID = errors.New("state: checkpoint with an all-zero topic id")

// TopicPartition names one changelog partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Identity says whose state this is. A leftover state directory from
// another cluster, or from before a changelog topic was deleted and
// re-created, has a different identity.
type Identity struct {
	ClusterID     string
	ApplicationID string
	// TopicIDs maps each changelog topic to its Kafka topic id.
	TopicIDs map[string][16]byte
}

// Checkpoint is what a task's local state corresponds to in Kafka. It is
// written in the same atomic batch as the state it describes.
type Checkpoint struct {
	Identity Identity
	// Offsets maps each changelog partition to the offset of the first
	// record not yet in the local state: restore resumes there.
	Offsets map[TopicPartition]int64
}

// Check returns an error wrapping ErrForeignState if the checkpoint was
// not written for want: another cluster or application id, or a changelog
// topic whose id differs from want's (a topic missing from either side is
// not a mismatch: a new store restores from the start).
func (c Checkpoint) Check(want Identity) error {
	if c.Identity.ClusterID != want.ClusterID {
		return fmt.Errorf("%w: cluster id %q, want %q", ErrForeignState, c.Identity.ClusterID, want.ClusterID)
	}
	if c.Identity.ApplicationID != want.ApplicationID {
		return fmt.Errorf("%w: application id %q, want %q", ErrForeignState, c.Identity.ApplicationID, want.ApplicationID)
	}
	topics := make([]string, 0, len(c.Identity.TopicIDs))
	for t := range c.Identity.TopicIDs {
		topics = append(topics, t)
	}
	sort.Strings(topics) // the same error every time
	for _, t := range topics {
		if id, ok := want.TopicIDs[t]; ok && id != c.Identity.TopicIDs[t] {
			return fmt.Errorf("%w: topic %q has id %x, want %x", ErrForeignState, t, c.Identity.TopicIDs[t], id)
		}
	}
	return nil
}

type checkpointJSON struct {
	Version  int                `json:"v"`
	Cluster  string             `json:"cluster"`
	App      string             `json:"app"`
	TopicIDs []topicIDJSON      `json:"topic_ids,omitempty"`
	Offsets  []partitionOffJSON `json:"offsets,omitempty"`
}

type topicIDJSON struct {
	Topic string `json:"t"`
	ID    string `json:"id"`
}

type partitionOffJSON struct {
	Topic     string `json:"t"`
	Partition int32  `json:"p"`
	Offset    int64  `json:"o"`
}

// MarshalBinary encodes the checkpoint deterministically (JSON, so a
// person can read it in a debugger or a dump). A zero topic id is an
// error wrapping ErrNoTopicID.
func (c Checkpoint) MarshalBinary() ([]byte, error) {
	j := checkpointJSON{Version: 1, Cluster: c.Identity.ClusterID, App: c.Identity.ApplicationID}
	for t, id := range c.Identity.TopicIDs {
		if id == [16]byte{} {
			return nil, fmt.Errorf("%w: topic %q", ErrNoTopicID, t)
		}
		j.TopicIDs = append(j.TopicIDs, topicIDJSON{t, hex.EncodeToString(id[:])})
	}
	sort.Slice(j.TopicIDs, func(a, b int) bool { return j.TopicIDs[a].Topic < j.TopicIDs[b].Topic })
	for tp, o := range c.Offsets {
		j.Offsets = append(j.Offsets, partitionOffJSON{tp.Topic, tp.Partition, o})
	}
	sort.Slice(j.Offsets, func(a, b int) bool {
		x, y := j.Offsets[a], j.Offsets[b]
		if x.Topic != y.Topic {
			return x.Topic < y.Topic
		}
		return x.Partition < y.Partition
	})
	return json.Marshal(j)
}

// UnmarshalBinary decodes what MarshalBinary wrote; errors wrap ErrCorrupt.
func (c *Checkpoint) UnmarshalBinary(b []byte) error {
	var j checkpointJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("%w: checkpoint: %v", ErrCorrupt, err)
	}
	if j.Version != 1 {
		return fmt.Errorf("%w: checkpoint version %d", ErrCorrupt, j.Version)
	}
	*c = Checkpoint{Identity: Identity{ClusterID: j.Cluster, ApplicationID: j.App}}
	if len(j.TopicIDs) > 0 {
		c.Identity.TopicIDs = make(map[string][16]byte, len(j.TopicIDs))
	}
	for _, t := range j.TopicIDs {
		var id [16]byte
		if n, err := hex.Decode(id[:], []byte(t.ID)); err != nil || n != 16 {
			return fmt.Errorf("%w: checkpoint topic id %q", ErrCorrupt, t.ID)
		}
		c.Identity.TopicIDs[t.Topic] = id
	}
	if len(j.Offsets) > 0 {
		c.Offsets = make(map[TopicPartition]int64, len(j.Offsets))
	}
	for _, o := range j.Offsets {
		c.Offsets[TopicPartition{o.Topic, o.Partition}] = o.Offset
	}
	return nil
}

// Change is one changelog record: a put, or a tombstone (Kafka's null
// value). An empty value is a put of an empty value, not a tombstone.
type Change struct {
	Key, Value []byte
	Tombstone  bool
}
