package bench

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/profilemodel"
	"github.com/weirstream/weir/profile"
)

// Model is what internal/profilemodel computes from a workload: the final
// profile of every customer and every trigger, by id.
type Model struct {
	Profiles map[string]events.ProfileUpdate
	Triggers map[string]events.Trigger
}

// RunModel runs profilemodel over recs as the tasks of a run process them:
// records are partitioned by key as the producer does (Kafka's murmur2
// partitioner), each partition is one task with its own stream time, and
// a task takes the input heads in event-time order (ties by topic name),
// each topic in production order. Products (a global table) come first;
// malformed[i] leaves recs[i] out (it never moves stream time).
func RunModel(recs []profile.Record, malformed []bool, partitions int32) *Model {
	type item struct {
		r     profile.Record
		topic string
	}
	var products []profile.Record
	queues := map[int32]map[string][]profile.Record{}
	part := kgo.StickyKeyPartitioner(nil).ForTopic("")
	for i, r := range recs {
		if r.Product != nil {
			products = append(products, r)
			continue
		}
		if i < len(malformed) && malformed[i] {
			continue
		}
		p := int32(part.Partition(&kgo.Record{Key: []byte(r.Key)}, int(partitions)))
		if queues[p] == nil {
			queues[p] = map[string][]profile.Record{}
		}
		queues[p][r.Topic] = append(queues[p][r.Topic], r)
	}
	out := &Model{Profiles: map[string]events.ProfileUpdate{}, Triggers: map[string]events.Trigger{}}
	for _, qs := range queues {
		m := profilemodel.New()
		for _, r := range products {
			m.Add(r)
		}
		topics := make([]string, 0, len(qs))
		for t := range qs {
			topics = append(topics, t)
		}
		sort.Strings(topics)
		for {
			best := ""
			for _, t := range topics {
				if len(qs[t]) > 0 && (best == "" || qs[t][0].Time.Before(qs[best][0].Time)) {
					best = t
				}
			}
			if best == "" {
				break
			}
			m.Add(qs[best][0])
			qs[best] = qs[best][1:]
		}
		for id, p := range m.Latest {
			out.Profiles[id] = p
		}
		for _, t := range m.Triggers {
			out.Triggers[t.TriggerID] = t
		}
	}
	return out
}
