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

// caughtUp returns the member to take task t, which has no previous
// owner, among the eligible members within the acceptable lag of it
// (caught up, as Kafka Streams says: a member without its state is too
// when the whole state is within the bound). Members holding its state
// (a replica) come first, under quota before past it; members without
// it only then; among equals, the one furthest along. -1 if none, or if
// warm-ups are off (nothing would even the load out later).
func caughtUp(t *balTask, eligible []int, quota, held map[int]int, pos *lagTable, rc replicaConfig) int {
	if rc.maxWarmups <= 0 || pos.max[t.id] == 0 || t.prev >= 0 {
		return -1 // a task leaving a live owner for balance: warmUp decides
	}
	rank := func(i int) int {
		r := 0
		if pos.at(t.id, i) == 0 {
			r += 2 // restoring all of it, if less than the bound
		}
		if held[i] >= quota[i] {
			r++
		}
		return r
	}
	best := -1
	for _, i := range eligible {
		if pos.lag(t.id, i) > rc.acceptableLag {
			continue
		}
		if best < 0 || rank(i) < rank(best) || (rank(i) == rank(best) && pos.at(t.id, i) > pos.at(t.id, best)) {
			best = i
		}
	}
	return best
}

// warmUp keeps a task that balancing would move from its live previous
// owner to a member lagging more than the acceptable lag where it is,
// as Kafka Streams does (KIP-441): the member first warms up a replica
// of it, at most maxWarmups at a time, and asks for a rebalance once
// caught up; then the task moves with little to restore. A task that
// balanceTasks gave a caught-up member past its quota (past) warms up
// on the member balance wanted. owner is changed in place; the result
// maps task -> warming member index.
func warmUp(tasks []*balTask, owner, past map[topology.TaskID]int, pos *lagTable, rc replicaConfig) map[topology.TaskID]int {
	if rc.maxWarmups <= 0 {
		return nil
	}
	warm := map[topology.TaskID]int{}
	for _, t := range tasks {
		to, ok := owner[t.id]
		if w, over := past[t.id]; ok && over {
			// Given past quota to a caught-up member: the member balance
			// wanted warms up, or the load would stay uneven.
			if len(warm) < rc.maxWarmups {
				warm[t.id] = w
			}
			continue
		}
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
// members other than its owner, plus a replica on its incoming member
// (warming up to take it, or waiting for it to be revoked): members
// furthest along first (least to catch up), then those with the fewest
// replicas so far, then those with the fewest chances left, then
// member order.
func placeStandbys(tasks []*balTask, owner map[topology.TaskID]int, incoming map[topology.TaskID]int, subscribed []map[string]bool, pos *lagTable, rc replicaConfig) map[topology.TaskID][]int {
	out := map[topology.TaskID][]int{}
	if rc.standbys <= 0 && len(incoming) == 0 {
		return out
	}
	stateful := func(t *balTask) (int, bool) {
		if rc.stateful == nil || t.id.Subtopology < 0 || !rc.stateful(t.id.Subtopology) {
			return 0, false
		}
		own, ok := owner[t.id]
		return own, ok
	}
	// chances[i]: tasks still to place that member i could take. A
	// member with fewer chances left goes first among equals, or the
	// last tasks would find only loaded members.
	chances := make([]int, len(subscribed))
	for _, t := range tasks {
		if own, ok := stateful(t); ok {
			for i := range subscribed {
				if i != own && readsAll(subscribed[i], t) {
					chances[i]++
				}
			}
		}
	}
	load := make([]int, len(subscribed))
	for _, t := range tasks {
		own, ok := stateful(t)
		if !ok {
			continue
		}
		var chosen []int
		if w, ok := incoming[t.id]; ok {
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
			if c := cmp.Compare(load[a], load[b]); c != 0 {
				return c
			}
			return cmp.Compare(chances[a], chances[b])
		})
		for i := range subscribed {
			if i != own && readsAll(subscribed[i], t) {
				chances[i]--
			}
		}
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
