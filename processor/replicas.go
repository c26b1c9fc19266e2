package processor

import (
	"cmp"
	"slices"

	"github.com/weirstream/weir/topology"
)

// replicaConfig is what the leader needs to place standby and warm-up
// replicas (Standbys, Warmup).
type replicaConfig struct {
	standbys      int
	maxWarmups    int
	acceptableLag int64
	stateful      func(sub int) bool // has a changelogged store; nil: none
}

// lagTable holds the members' reported positions per task: the sum of
// the task's changelog offsets their local state has reached. The task's
// highest position is taken as caught up; a member's lag is how far it
// is behind that. Positions are a hint: a member reporting none (an
// older version, or no state) is as far behind as can be.
type lagTable struct {
	pos []map[topology.TaskID]int64 // by member index
	max map[topology.TaskID]int64
}

func newLagTable(ms []groupMember, tasks []*balTask) *lagTable {
	l := &lagTable{pos: make([]map[topology.TaskID]int64, len(ms)), max: map[topology.TaskID]int64{}}
	for i, m := range ms {
		l.pos[i] = m.positions
		for id, p := range m.positions {
			if p > l.max[id] {
				l.max[id] = p
			}
		}
	}
	return l
}

func (l *lagTable) at(id topology.TaskID, i int) int64 { return l.pos[i][id] }
func (l *lagTable) lag(id topology.TaskID, i int) int64 {
	return l.max[id] - l.pos[i][id]
}

// warmUp keeps a task that balancing would move from its live previous
// owner to a member lagging more than the acceptable lag where it is,
// as Kafka Streams does (KIP-441): the member first warms up a replica
// of it, at most maxWarmups at a time, and asks for a rebalance once
// caught up; then the task moves with little to restore. owner is
// changed in place; the result maps task -> warming member index.
func warmUp(tasks []*balTask, owner map[topology.TaskID]int, pos *lagTable, rc replicaConfig) map[topology.TaskID]int {
	if rc.maxWarmups <= 0 {
		return nil
	}
	warm := map[topology.TaskID]int{}
	for _, t := range tasks {
		to, ok := owner[t.id]
		if !ok || t.prev < 0 || to == t.prev {
			continue
		}
		if pos.lag(t.id, to) <= rc.acceptableLag || pos.lag(t.id, t.prev) > rc.acceptableLag {
			continue
		}
		owner[t.id] = t.prev
		if len(warm) < rc.maxWarmups {
			warm[t.id] = to
		}
	}
	return warm
}

// placeStandbys gives each stateful task up to rc.standbys replicas on
// members other than its owner, plus its warm-up replica: members
// furthest along first (least to catch up), then those with the fewest
// replicas so far, then member order.
func placeStandbys(tasks []*balTask, owner map[topology.TaskID]int, warm map[topology.TaskID]int, subscribed []map[string]bool, pos *lagTable, rc replicaConfig) map[topology.TaskID][]int {
	out := map[topology.TaskID][]int{}
	load := make([]int, len(subscribed))
	for _, t := range tasks {
		if rc.stateful == nil || t.id.Subtopology < 0 || !rc.stateful(t.id.Subtopology) {
			continue
		}
		own, ok := owner[t.id]
		if !ok {
			continue
		}
		var chosen []int
		if w, ok := warm[t.id]; ok {
			chosen = append(chosen, w)
		}
		var cands []int
		for i := range subscribed {
			if i == own || slices.Contains(chosen, i) || !readsAll(subscribed[i], t) {
				continue
			}
			cands = append(cands, i)
		}
		slices.SortStableFunc(cands, func(a, b int) int {
			if c := cmp.Compare(pos.at(t.id, b), pos.at(t.id, a)); c != 0 {
				return c
			}
			return cmp.Compare(load[a], load[b])
		})
		chosen = append(chosen, cands[:min(rc.standbys, len(cands))]...)
		for _, i := range chosen {
			load[i]++
		}
		if len(chosen) > 0 {
			out[t.id] = chosen
		}
	}
	return out
}

func readsAll(subscribed map[string]bool, t *balTask) bool {
	for _, tp := range t.parts {
		if !subscribed[tp.topic] {
			return false
		}
	}
	return true
}
