package processor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// scriptedMetadata answers metadata requests from a script of per-topic
// answers, one step per request; the last step repeats.
type scriptedMetadata struct {
	steps []map[string]kmsg.MetadataResponseTopic
	asked int
}

func (s *scriptedMetadata) ask(_ context.Context, topics []string) (*kmsg.MetadataResponse, error) {
	step := s.steps[min(s.asked, len(s.steps)-1)]
	s.asked++
	resp := kmsg.NewPtrMetadataResponse()
	for _, t := range topics {
		if rt, ok := step[t]; ok {
			rt.Topic = kmsg.StringPtr(t)
			resp.Topics = append(resp.Topics, rt)
		}
	}
	return resp, nil
}

func answer(id [16]byte, code int16) kmsg.MetadataResponseTopic {
	rt := kmsg.NewMetadataResponseTopic()
	rt.TopicID, rt.ErrorCode = id, code
	return rt
}

// TestTopicIDsWaitForTheRealID: a broker that has not caught up with a
// new topic answers "unknown topic" with a zero id, or the topic with a
// zero id; the id read must be the one the metadata carries later.
func TestTopicIDsWaitForTheRealID(t *testing.T) {
	a, b := [16]byte{1, 2, 3}, [16]byte{4, 5, 6}
	zero := [16]byte{}
	md := &scriptedMetadata{steps: []map[string]kmsg.MetadataResponseTopic{
		{"a": answer(zero, kerr.UnknownTopicOrPartition.Code)},                  // a unknown, b missing
		{"a": answer(zero, 0), "b": answer(zero, kerr.LeaderNotAvailable.Code)}, // a known, no id
		{"a": answer(a, 0), "b": answer(zero, 0)},
		{"a": answer(a, 0), "b": answer(b, 0)},
	}}
	ids, err := readTopicIDs(context.Background(), md.ask, []string{"a", "b"}, time.Minute, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if ids["a"] != a || ids["b"] != b || len(ids) != 2 {
		t.Fatalf("ids %x, want a=%x b=%x", ids, a, b)
	}
	if md.asked != 4 {
		t.Fatalf("asked %d times, want 4 (until both ids were real)", md.asked)
	}
}

// TestTopicIDsZeroIsAnError: an id that stays zero fails start-up after
// the wait, naming the topic, rather than becoming a checkpoint.
func TestTopicIDsZeroIsAnError(t *testing.T) {
	md := &scriptedMetadata{steps: []map[string]kmsg.MetadataResponseTopic{{"a-changelog": answer([16]byte{}, 0)}}}
	_, err := readTopicIDs(context.Background(), md.ask, []string{"a-changelog"}, 100*time.Millisecond, zap.NewNop())
	if !errors.Is(err, ErrTopics) {
		t.Fatalf("err %v, want ErrTopics", err)
	}
	if want := `topic "a-changelog": the metadata has no topic id yet`; !strings.Contains(err.Error(), want) {
		t.Fatalf("err %q does not say %q", err, want)
	}

	// A cancelled start-up stops waiting at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := readTopicIDs(ctx, md.ask, []string{"a-changelog"}, time.Hour, zap.NewNop()); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err %v, want context.Canceled", err)
	}
}
