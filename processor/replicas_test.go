package processor

import (
	"fmt"
	"maps"
	"testing"

	"github.com/weirstream/weir/topology"
)

// replicaGroup is a simulated group of one stateful sub-topology (topics
// a and b co-partitioned, 6 tasks) plus a stateless one (topic s, 2
// tasks), whose members report the positions in pos.
func replicaGroup(t *testing.T, rc replicaConfig) (*simGroup, map[string]map[topology.TaskID]int64) {
	g := &simGroup{t: t, topics: map[string]int32{"a": 6, "b": 6, "s": 2}}
	g.subOf = func(topic string) (int, bool) {
		if topic == "s" {
			return 1, true
		}
		return 0, true
	}
	rc.stateful = func(sub int) bool { return sub == 0 }
	pos := map[string]map[topology.TaskID]int64{}
	g.onJoin = func(m *simMember) {
		m.bal.replicas = rc
		m.bal.local = func() map[topology.TaskID]int64 { return maps.Clone(pos[m.id]) }
	}
	return g, pos
}

// view returns the replicas member m learned at the last sync.
func replicasOf(m *simMember) (standby, warm map[topology.TaskID]bool) {
	return m.bal.Replicas(m.id, "")
}

// oneStatefulMember is replicaGroup with one member, owning every task
// and holding 50,000 changelog offsets of each stateful one.
func oneStatefulMember(t *testing.T, rc replicaConfig) (*simGroup, map[string]map[topology.TaskID]int64, *simMember) {
	g, pos := replicaGroup(t, rc)
	old := g.join()
	g.settle()
	pos[old.id] = map[topology.TaskID]int64{}
	for p := range int32(6) {
		pos[old.id][task0(p)] = 50_000
	}
	return g, pos, old
}

func task0(p int32) topology.TaskID { return topology.TaskID{Subtopology: 0, Partition: p} }

func TestStandbysOnOtherMembersSpreadEvenly(t *testing.T) {
	g, _ := replicaGroup(t, replicaConfig{standbys: 1})
	for range 3 {
		g.join()
	}
	g.settle()
	owners := g.taskOwners()
	per := map[string]int{}
	count := map[topology.TaskID]int{}
	for _, m := range g.members {
		standby, warm := replicasOf(m)
		if len(warm) != 0 {
			t.Fatalf("%s warms up %v in a settled group", m.id, warm)
		}
		for id := range standby {
			if id.Subtopology != 0 {
				t.Fatalf("%s keeps a replica of stateless task %v", m.id, id)
			}
			if owners[id] == m.id {
				t.Fatalf("%s keeps a replica of its own task %v", m.id, id)
			}
			count[id]++
			per[m.id]++
		}
	}
	for p := range int32(6) {
		if count[task0(p)] != 1 {
			t.Fatalf("task %v has %d replicas, want 1 (all: %v)", task0(p), count[task0(p)], count)
		}
	}
	for id, n := range per {
		if n != 2 {
			t.Fatalf("replicas per member %v (%s has %d), want 2 each", per, id, n)
		}
	}
}

// A task whose owner left goes to the member whose replica is furthest
// along, and the member that has it already keeps its replica role for
// other tasks.
func TestTaskOfALostMemberGoesToItsStandby(t *testing.T) {
	g, pos := replicaGroup(t, replicaConfig{standbys: 1, maxWarmups: 2, acceptableLag: 100})
	for range 3 {
		g.join()
	}
	g.settle()
	// Everyone reports its state: owners at 1000, replicas at 990.
	owners := g.taskOwners()
	replicaOf := map[topology.TaskID]string{}
	for _, m := range g.members {
		pos[m.id] = map[topology.TaskID]int64{}
		standby, _ := replicasOf(m)
		for id := range standby {
			pos[m.id][id] = 990
			replicaOf[id] = m.id
		}
	}
	for id, m := range owners {
		if id.Subtopology == 0 {
			pos[m][id] = 1000
		}
	}
	gone := g.leave(0)
	g.round() // nothing to revoke: the lost member's tasks are free
	after := g.taskOwners()
	moved := 0
	for id, was := range owners {
		if id.Subtopology != 0 || was != gone.id {
			continue
		}
		moved++
		if after[id] != replicaOf[id] {
			t.Fatalf("task %v of the lost member went to %s, want its standby %s", id, after[id], replicaOf[id])
		}
	}
	if moved == 0 {
		t.Fatal("the lost member owned no stateful task; the test proves nothing")
	}
}

// KIP-441: a newcomer with no state does not take tasks at once; it
// warms up replicas (at most maxWarmups), and once it reports being
// within the acceptable lag the tasks move to it.
func TestWarmupBeforeATaskMoves(t *testing.T) {
	g, pos, old := oneStatefulMember(t, replicaConfig{maxWarmups: 2, acceptableLag: 100})
	n := g.join()
	g.round()
	g.round()
	owners := g.taskOwners()
	for p := range int32(6) {
		if owners[task0(p)] != old.id {
			t.Fatalf("stateful task %v moved to the cold newcomer: %v", task0(p), owners)
		}
	}
	if owners[topology.TaskID{Subtopology: 1, Partition: 0}] != n.id && owners[topology.TaskID{Subtopology: 1, Partition: 1}] != n.id {
		t.Fatalf("no stateless task moved to the newcomer (nothing to warm up): %v", owners)
	}
	_, warm := replicasOf(n)
	if len(warm) != 2 {
		t.Fatalf("newcomer warms up %v, want 2 tasks", warm)
	}
	// Caught up on those two (lag 50 <= 100): they move.
	pos[n.id] = map[topology.TaskID]int64{}
	for id := range warm {
		pos[n.id][id] = 49_950
	}
	g.round()
	g.round()
	owners = g.taskOwners()
	for id := range warm {
		if owners[id] != n.id {
			t.Fatalf("caught-up warm-up task %v still on %s", id, owners[id])
		}
	}
	_, warm2 := replicasOf(n)
	if len(warm2) != 1 {
		t.Fatalf("after two moves the newcomer warms up %v, want the one more task balance asks for", warm2)
	}
}

// Warmup(0, ...) moves tasks at once, restoring whatever it takes.
func TestNoWarmupMovesAtOnce(t *testing.T) {
	g, _, _ := oneStatefulMember(t, replicaConfig{})
	n := g.join()
	g.settle()
	got := 0
	for id, m := range g.taskOwners() {
		if m == n.id && id.Subtopology == 0 {
			got++
		}
	}
	if got != 3 {
		t.Fatalf("newcomer got %d stateful tasks, want 3", got)
	}
}

// A task whose owner left goes to a member with a caught-up replica of
// it even when that member is at its quota, and even when a member
// without its state would also be within the acceptable lag (it would
// restore it all); the other member then follows one of the heir's
// tasks, to take it.
func TestCaughtUpStandbyTakesTheTaskPastItsQuota(t *testing.T) {
	for _, lag := range []int64{100, 10_000} {
		t.Run(fmt.Sprintf("acceptable lag %d", lag), func(t *testing.T) {
			g, pos := replicaGroup(t, replicaConfig{maxWarmups: 2, acceptableLag: lag})
			for range 3 {
				g.join()
			}
			g.settle()
			owners := g.taskOwners()
			gone, heir, cold := g.members[0], g.members[1], g.members[2]
			for _, m := range g.members {
				pos[m.id] = map[topology.TaskID]int64{}
			}
			var orphans []topology.TaskID
			for id, m := range owners {
				if id.Subtopology != 0 {
					continue
				}
				pos[m][id] = 5000
				if m == gone.id {
					pos[heir.id][id] = 4950 // a replica, within the lag
					orphans = append(orphans, id)
				}
			}
			if len(orphans) != 2 {
				t.Fatalf("the leaving member owned %v, want 2 stateful tasks", orphans)
			}
			g.leave(0)
			g.round()
			g.round()
			after := g.taskOwners()
			for _, id := range orphans {
				if after[id] != heir.id {
					t.Fatalf("task %v went to %s, want %s, whose replica is caught up (owners %v)", id, after[id], heir.id, after)
				}
			}
			// To even the load out, the member without state follows one
			// of the heir's tasks: a warm-up if it lags too much to take
			// it at once, else a replica of the task on its way to it.
			standby, _ := replicasOf(cold)
			if len(standby) != 1 {
				t.Fatalf("the member without state follows %v, want 1 task (to even the load out)", standby)
			}
			for id := range standby {
				if after[id] != heir.id && after[id] != "" { // "": revoked, on its way

					t.Fatalf("the member without state follows %v, owned by %s, want one of %s's", id, after[id], heir.id)
				}
			}
		})
	}
}
