package bench

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/profilemodel"
	"github.com/weirstream/weir/profile"
)

// Model is what internal/profilemodel computes from a workload: the final
// profile of every customer modelled and its triggers, by id.
type Model struct {
	Profiles map[string]events.ProfileUpdate
	Triggers map[string]events.Trigger
	// Skipped are the customers left out (their events only move stream
	// time): profilemodel replays a customer's whole history on each of
	// its events, so the busiest customers of a large workload would take
	// hours. See ModelBudget.
	Skipped map[string]bool
}

// ModelBudget bounds the model's work: customers are modelled from the
// least busy up while the sum of their squared event counts stays within
// it (about 10 s on one core; every customer of a 20k-event workload, all
// but the ~20 busiest of 150k).
const ModelBudget = 25_000_000

// clockKey is the key of the customers rows that stand in for a skipped
// customer's events: they move stream time as the event would.
const clockKey = "\x00bench-model-clock"

// OnlyProfiles keeps the profiles of ps whose customer m modelled.
func (m *Model) OnlyProfiles(ps map[string]events.ProfileUpdate) map[string]events.ProfileUpdate {
	out := map[string]events.ProfileUpdate{}
	for id, p := range ps {
		if !m.Skipped[id] {
			out[id] = p
		}
	}
	return out
}

// OnlyTriggers keeps the triggers of ts whose customer m modelled.
func (m *Model) OnlyTriggers(ts map[string]events.Trigger) map[string]events.Trigger {
	out := map[string]events.Trigger{}
	for id, t := range ts {
		if !m.Skipped[t.CustomerID] {
			out[id] = t
		}
	}
	return out
}

// RunModel runs profilemodel over recs as the tasks of a run process them:
// records are partitioned by key as the producer does (Kafka's murmur2
// partitioner), each partition is one task with its own stream time, and
// a task takes the input heads in event-time order (ties by topic name),
// each topic in production order. Products (a global table) come first;
// malformed[i] leaves recs[i] out (it never moves stream time). Customers
// are modelled from the least busy up within budget (see ModelBudget).
func RunModel(recs []profile.Record, malformed []bool, partitions int32, budget float64) *Model {
	var products []profile.Record
	queues := map[int32]map[string][]profile.Record{}
	counts := map[string]int{}
	for i, r := range recs {
		if r.IsEvent() && (i >= len(malformed) || !malformed[i]) {
			counts[r.Key]++
		}
	}
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		return counts[ids[i]] < counts[ids[j]] || counts[ids[i]] == counts[ids[j]] && ids[i] < ids[j]
	})
	skipped := map[string]bool{}
	var work float64
	for _, id := range ids {
		work += float64(counts[id]) * float64(counts[id])
		if work > budget {
			skipped[id] = true
		}
	}
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
		if r.IsEvent() && skipped[r.Key] {
			at := r.Time
			r = profile.Record{Topic: r.Topic, Key: clockKey, Time: at,
				Customer: &events.Customer{CustomerID: clockKey, UpdatedAt: at}}
		}
		if queues[p] == nil {
			queues[p] = map[string][]profile.Record{}
		}
		queues[p][r.Topic] = append(queues[p][r.Topic], r)
	}
	out := &Model{Profiles: map[string]events.ProfileUpdate{}, Triggers: map[string]events.Trigger{}, Skipped: skipped}
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
