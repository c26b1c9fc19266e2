package processor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/weirstream/weir/topology"
)

// taskProtocol is the group protocol name of taskBalancer. Bump the
// suffix if a new version cannot share a group with the old one.
const taskProtocol = "weir-tasks-v1"

// Versions of the UserData encodings. Decoders accept any version at
// least 1 and ignore trailing bytes, so a newer member can add fields.
// Version 2 adds the member's task positions (member data) and the
// standby and warm-up replicas (assignment data), after the version 1
// fields.
const (
	memberDataVersion     = 2
	assignmentDataVersion = 2
)

// errBadUserData reports group UserData that cannot be decoded.
var errBadUserData = errors.New("processor: malformed group user data")

// taskBalancer is a cooperative, sticky group balancer that assigns whole
// tasks: partition p of every source topic of a sub-topology goes to the
// same member. Members advertise their HTTP address in the join metadata;
// the leader sends every member the whole task -> address map in its
// assignment, so every worker knows who owns which task.
//
// One balancer belongs to one client: it keeps what its member learned at
// the last sync.
type taskBalancer struct {
	subOf func(topic string) (int, bool)
	addr  string
	log   *zap.Logger
	// Set before the client joins; see replicas.go.
	replicas replicaConfig
	local    func() map[topology.TaskID]int64 // positions of local state; nil: none

	mu     sync.RWMutex
	view   groupView
	onSync func() // called after each sync was parsed
	onJoin func() // called as the member joins (JoinGroup), before its sync
}

// groupView is what one sync told a member about the whole group.
type groupView struct {
	generation int32
	members    map[string]string            // member id -> address
	owners     map[topology.TaskID]string   // task -> member id
	standbys   map[topology.TaskID][]string // task -> member ids keeping a replica
	warmups    map[topology.TaskID]string   // task -> member id warming up to take it
	// Static members' instance ids: a static member restarted without a
	// rebalance gets this assignment under a new member id.
	instances map[string]string // member id -> instance id
}

// newTaskBalancer returns a balancer for a topology. subOf maps a source
// topic to its sub-topology (topology.Topology.SubtopologyOf); topics it
// does not know are balanced one partition per task. addr is this
// worker's advertised HTTP address, possibly empty.
func newTaskBalancer(subOf func(string) (int, bool), addr string, log *zap.Logger) *taskBalancer {
	if log == nil {
		log = zap.NewNop()
	}
	return &taskBalancer{subOf: subOf, addr: addr, log: log}
}

var _ kgo.GroupBalancer = (*taskBalancer)(nil)

func (*taskBalancer) ProtocolName() string { return taskProtocol }

// IsCooperative is true: the leader withholds a moving task from its new
// owner until the old owner has revoked it (see withholdMoving).
func (*taskBalancer) IsCooperative() bool { return true }

// JoinGroupMetadata is the standard consumer metadata (v3: owned
// partitions and generation) with our address in UserData.
func (b *taskBalancer) JoinGroupMetadata(interests []string, current map[string][]int32, generation int32) []byte {
	if b.onJoin != nil {
		b.onJoin()
	}
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = interests
	meta.Generation = generation
	var local map[topology.TaskID]int64
	if b.local != nil {
		local = b.local()
	}
	meta.UserData = encodeMemberData(b.addr, local)
	for _, t := range slices.Sorted(maps.Keys(current)) {
		op := kmsg.NewConsumerMemberMetadataOwnedPartition()
		op.Topic = t
		op.Partitions = current[t]
		meta.OwnedPartitions = append(meta.OwnedPartitions, op)
	}
	return meta.AppendTo(nil)
}

// ParseSyncAssignment returns this member's partitions and records the
// group view the leader sent along. A view that cannot be decoded is
// logged and leaves the view empty: the partitions are still valid.
func (b *taskBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(assignment); err != nil {
		return nil, fmt.Errorf("processor: parse sync assignment: %w", err)
	}
	out := make(map[string][]int32, len(a.Topics))
	for _, t := range a.Topics {
		out[t.Topic] = t.Partitions
	}
	view, err := decodeAssignmentData(a.UserData)
	if err != nil {
		b.log.Warn("group assignment carries no readable owner map; task owners unknown until the next rebalance", zap.Error(err))
		view = groupView{}
	}
	b.mu.Lock()
	b.view = view
	hook := b.onSync
	b.mu.Unlock()
	if hook != nil {
		hook()
	}
	return out, nil
}

// Owners returns, for every task assigned at the last sync, the
// advertised address of the member that owns it. A task that is moving
// between members in a cooperative rebalance is absent until its new
// owner gets it. The map is a copy.
func (b *taskBalancer) Owners() map[topology.TaskID]string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make(map[topology.TaskID]string, len(b.view.owners))
	for t, id := range b.view.owners {
		out[t] = b.view.members[id]
	}
	return out
}

// Owner returns the advertised address of task's owner as of the last
// sync, without copying the whole map as Owners does.
func (b *taskBalancer) Owner(task topology.TaskID) (string, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	id, ok := b.view.owners[task]
	if !ok {
		return "", false
	}
	return b.view.members[id], true
}

// Members returns every group member's advertised address by member id,
// as of the last sync. The map is a copy.
func (b *taskBalancer) Members() map[string]string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return maps.Clone(b.view.members)
}

// Replicas returns the tasks the last sync asked member (or, static,
// instance) to keep replicas of, and which of those are warm-ups (it is
// to take them once caught up).
func (b *taskBalancer) Replicas(member, instance string) (standby, warm map[topology.TaskID]bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	standby, warm = map[topology.TaskID]bool{}, map[topology.TaskID]bool{}
	if _, ok := b.view.members[member]; !ok && instance != "" {
		for id, in := range b.view.instances {
			if in == instance {
				member = id // restarted without a rebalance
			}
		}
	}
	for id, ms := range b.view.standbys {
		if slices.Contains(ms, member) {
			standby[id] = true
			if b.view.warmups[id] == member {
				warm[id] = true
			}
		}
	}
	return standby, warm
}

// MemberBalancer parses the members' metadata with franz-go's helper; the
// balancing itself is Balance below.
func (b *taskBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	cb, err := kgo.NewConsumerBalancer(b, members)
	if err != nil {
		return nil, nil, err
	}
	return cb, cb.MemberTopics(), nil
}

// Balance implements kgo.ConsumerBalancerBalance.
func (b *taskBalancer) Balance(cb *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	var ms []groupMember
	cb.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		gm := groupMember{id: m.MemberID, topics: meta.Topics, generation: meta.Generation}
		if m.InstanceID != nil {
			gm.instance = *m.InstanceID
		}
		if addr, pos, err := decodeMemberData(meta.UserData); err != nil {
			b.log.Warn("member metadata carries no readable address", zap.String("member", m.MemberID), zap.Error(err))
		} else {
			gm.addr, gm.positions = addr, pos
		}
		for _, op := range meta.OwnedPartitions {
			gm.owned = append(gm.owned, ownedTopic{op.Topic, op.Partitions})
		}
		ms = append(ms, gm)
	})
	return assignTasks(ms, topics, b.subOf, cb.Info().Generation, b.replicas)
}

// groupMember is one member as the leader sees it, in franz-go's member
// order (instance id, then member id).
type groupMember struct {
	id         string
	instance   string // group.instance.id of a static member
	addr       string
	topics     []string
	owned      []ownedTopic
	generation int32
	positions  map[topology.TaskID]int64 // local state per task (replicas.go)
}

type ownedTopic struct {
	topic      string
	partitions []int32
}

type topicPartition struct {
	topic     string
	partition int32
}

// taskPlan is the leader's result: member -> topic -> partitions, and the
// owner map every member receives.
type taskPlan struct {
	members []string // sorted member ids
	assign  map[string]map[string][]int32
	data    []byte // encoded groupView, the same for every member
}

// IntoSyncAssignment implements kgo.IntoSyncAssignment.
func (p *taskPlan) IntoSyncAssignment() []kmsg.SyncGroupRequestGroupAssignment {
	out := make([]kmsg.SyncGroupRequestGroupAssignment, 0, len(p.members))
	for _, id := range p.members {
		var a kmsg.ConsumerMemberAssignment
		for _, t := range slices.Sorted(maps.Keys(p.assign[id])) {
			at := kmsg.NewConsumerMemberAssignmentTopic()
			at.Topic = t
			at.Partitions = p.assign[id][t]
			a.Topics = append(a.Topics, at)
		}
		a.UserData = p.data
		sa := kmsg.NewSyncGroupRequestGroupAssignment()
		sa.MemberID = id
		sa.MemberAssignment = a.AppendTo(nil)
		out = append(out, sa)
	}
	return out
}

// balTask is one task being balanced.
type balTask struct {
	id    topology.TaskID
	parts []topicPartition // sorted by topic
	prev  int              // previous owner's member index, -1 if none
}

// assignTasks is the whole balancing algorithm, free of franz-go's group
// machinery so that it can be tested on simulated groups:
//
//  1. Tasks: partition p of topic t is in task (subOf(t), p). Topics the
//     topology does not know get synthetic negative sub-topologies, one
//     partition per task, so nothing is left unassigned.
//  2. Previous owner of a task: the member whose current claim (the
//     highest generation claiming the partition, KIP-792) covers most of
//     its partitions.
//  3. Quotas per sub-topology: floor(tasks/members) each, plus one extra
//     for some members, chosen so that overall totals differ by at most
//     one and, within that, so that members that already hold more than
//     the floor keep it.
//  4. Each member keeps its previous tasks up to its quota; the rest go
//     to members under quota.
//     A task without a previous owner goes to a member whose local
//     state of it is caught up (a standby), past its quota if need be,
//     as Kafka Streams does: warm-ups even the load out later, instead
//     of a full restore now. Otherwise it goes to the member under
//     quota whose state is furthest along.
//  5. Warm-up (replicas.go): a task that would move, for balance, to a
//     member lagging more than the acceptable lag stays where it is and
//     the member warms up a replica of it instead.
//  6. Standbys (replicas.go): each stateful task gets replicas on other
//     members, preferring those that already hold its state.
//  7. Cooperative: a task whose partitions another member still claims
//     is withheld from its new owner; the old owner revokes it and
//     rejoins, and the next rebalance hands it over.
//
// Everything iterates in sorted order: the same input gives the same plan.
func assignTasks(ms []groupMember, topics map[string]int32, subOf func(string) (int, bool), generation int32, rc replicaConfig) *taskPlan {
	tasks, subs := buildTasks(topics, subOf)

	// Claims: the highest generation claiming each partition wins; older
	// claims are stale (the member missed rebalances).
	maxGen := map[topicPartition]int32{}
	for _, m := range ms {
		for _, o := range m.owned {
			for _, p := range o.partitions {
				tp := topicPartition{o.topic, p}
				if g, ok := maxGen[tp]; !ok || m.generation > g {
					maxGen[tp] = m.generation
				}
			}
		}
	}
	claims := map[topicPartition][]int{} // partition -> claiming member indexes (current claims only)
	for i, m := range ms {
		for _, o := range m.owned {
			for _, p := range o.partitions {
				tp := topicPartition{o.topic, p}
				if m.generation >= maxGen[tp] {
					claims[tp] = append(claims[tp], i)
				}
			}
		}
	}
	for _, t := range tasks {
		count := make(map[int]int)
		t.prev = -1
		for _, tp := range t.parts {
			for _, i := range claims[tp] {
				count[i]++
			}
		}
		for i, c := range count {
			if t.prev < 0 || c > count[t.prev] || (c == count[t.prev] && i < t.prev) {
				t.prev = i
			}
		}
	}

	subscribed := make([]map[string]bool, len(ms))
	for i, m := range ms {
		subscribed[i] = make(map[string]bool, len(m.topics))
		for _, t := range m.topics {
			subscribed[i][t] = true
		}
	}

	pos := newLagTable(ms, tasks)
	owner, past := balanceTasks(ms, subscribed, subs, pos, rc)
	warm := warmUp(tasks, owner, past, pos, rc)
	// A task withheld from its new owner until the old one revokes it
	// (step 7) is followed there meanwhile, as a warm-up is: it stays
	// caught up for the next round, which hands it over.
	incoming := maps.Clone(warm)
	for _, t := range tasks {
		if to, ok := owner[t.id]; ok && withhold(t, to, claims) {
			if incoming == nil {
				incoming = map[topology.TaskID]int{}
			}
			incoming[t.id] = to
		}
	}
	standbys := placeStandbys(tasks, owner, incoming, subscribed, pos, rc)

	// Build the plan, withholding tasks still claimed by another member.
	plan := &taskPlan{assign: map[string]map[string][]int32{}}
	view := groupView{generation: generation, members: map[string]string{}, owners: map[topology.TaskID]string{},
		standbys: map[topology.TaskID][]string{}, warmups: map[topology.TaskID]string{}, instances: map[string]string{}}
	for _, m := range ms {
		plan.members = append(plan.members, m.id)
		plan.assign[m.id] = map[string][]int32{}
		view.members[m.id] = m.addr
		if m.instance != "" {
			view.instances[m.id] = m.instance
		}
	}
	sort.Strings(plan.members)
	for _, t := range tasks {
		to, ok := owner[t.id]
		if !ok || withhold(t, to, claims) {
			continue
		}
		for _, tp := range t.parts {
			a := plan.assign[ms[to].id]
			a[tp.topic] = append(a[tp.topic], tp.partition)
		}
		if t.id.Subtopology >= 0 {
			view.owners[t.id] = ms[to].id
		}
	}
	for id, is := range standbys {
		for _, i := range is {
			view.standbys[id] = append(view.standbys[id], ms[i].id)
		}
	}
	for id, i := range warm {
		view.warmups[id] = ms[i].id
	}
	for _, a := range plan.assign {
		for _, ps := range a {
			slices.Sort(ps)
		}
	}
	plan.data = encodeAssignmentData(view)
	return plan
}

// withhold reports whether task t, planned for member to, is still
// claimed by another member: then it must be revoked there first.
func withhold(t *balTask, to int, claims map[topicPartition][]int) bool {
	for _, tp := range t.parts {
		for _, i := range claims[tp] {
			if i != to {
				return true
			}
		}
	}
	return false
}

// buildTasks groups the topics' partitions into tasks, by sub-topology.
func buildTasks(topics map[string]int32, subOf func(string) (int, bool)) ([]*balTask, [][]*balTask) {
	byID := map[topology.TaskID]*balTask{}
	unknown := 0
	for _, topic := range slices.Sorted(maps.Keys(topics)) {
		sub, ok := subOf(topic)
		for p := range topics[topic] {
			var id topology.TaskID
			if ok {
				id = topology.TaskID{Subtopology: sub, Partition: p}
			} else {
				// One task per partition of an unknown topic.
				id = topology.TaskID{Subtopology: -1 - unknown, Partition: p}
			}
			t := byID[id]
			if t == nil {
				t = &balTask{id: id}
				byID[id] = t
			}
			t.parts = append(t.parts, topicPartition{topic, p})
		}
		if !ok {
			unknown++
		}
	}
	tasks := slices.SortedFunc(maps.Values(byID), func(a, b *balTask) int { return compareTaskIDs(a.id, b.id) })
	var subs [][]*balTask
	for i, t := range tasks {
		if i == 0 || t.id.Subtopology != tasks[i-1].id.Subtopology {
			subs = append(subs, nil)
		}
		subs[len(subs)-1] = append(subs[len(subs)-1], t)
	}
	return tasks, subs
}

// subBalance is one sub-topology being balanced.
type subBalance struct {
	tasks    []*balTask
	eligible []int // member indexes, ascending
	base     int   // every eligible member gets at least base tasks
	extras   int   // this many eligible members get base+1
	prev     map[int]int
}

// balanceTasks returns the member index for every task.
//
// past maps the tasks given to a caught-up member past its quota to the
// member balance would have picked.
func balanceTasks(ms []groupMember, subscribed []map[string]bool, subs [][]*balTask, pos *lagTable, rc replicaConfig) (owner map[topology.TaskID]int, past map[topology.TaskID]int) {
	sbs := make([]*subBalance, len(subs))
	for s, tasks := range subs {
		sb := &subBalance{tasks: tasks, prev: map[int]int{}}
		topicSet := map[string]bool{}
		for _, t := range tasks {
			for _, tp := range t.parts {
				topicSet[tp.topic] = true
			}
		}
		// Eligible: members reading every topic of the sub-topology;
		// if none does (a rolling change of the topology), members
		// reading any of them, so that no partition is left out.
		for i := range ms {
			all := true
			for t := range topicSet {
				all = all && subscribed[i][t]
			}
			if all {
				sb.eligible = append(sb.eligible, i)
			}
		}
		if len(sb.eligible) == 0 {
			for i := range ms {
				for t := range topicSet {
					if subscribed[i][t] {
						sb.eligible = append(sb.eligible, i)
						break
					}
				}
			}
		}
		isEligible := map[int]bool{}
		for _, i := range sb.eligible {
			isEligible[i] = true
		}
		for _, t := range tasks {
			if t.prev >= 0 && isEligible[t.prev] {
				sb.prev[t.prev]++
			} else {
				t.prev = -1
			}
		}
		if len(sb.eligible) == 0 {
			// Cannot happen with franz-go (topics come from members'
			// subscriptions); leave the tasks out rather than panic.
			sbs[s] = &subBalance{prev: map[int]int{}}
			continue
		}
		sb.base = len(tasks) / len(sb.eligible)
		sb.extras = len(tasks) % len(sb.eligible)
		sbs[s] = sb
	}

	extra := chooseExtras(len(ms), sbs)

	owner, past = map[topology.TaskID]int{}, map[topology.TaskID]int{}
	for s, sb := range sbs {
		quota := map[int]int{}
		for _, i := range sb.eligible {
			quota[i] = sb.base
			if extra[s][i] {
				quota[i]++
			}
		}
		held := map[int]int{}
		var free []*balTask
		for _, t := range sb.tasks {
			if t.prev >= 0 && held[t.prev] < quota[t.prev] {
				owner[t.id] = t.prev
				held[t.prev]++
				continue
			}
			free = append(free, t)
		}
		for _, t := range free {
			best := caughtUp(t, sb.eligible, quota, held, pos, rc)
			if best < 0 || held[best] >= quota[best] {
				// The member balance picks: under quota, furthest
				// along first (least to restore), then most room.
				fair := -1
				for _, i := range sb.eligible {
					if held[i] >= quota[i] {
						continue
					}
					if fair < 0 || pos.at(t.id, i) > pos.at(t.id, fair) ||
						(pos.at(t.id, i) == pos.at(t.id, fair) && quota[i]-held[i] > quota[fair]-held[fair]) {
						fair = i
					}
				}
				if best < 0 {
					best = fair
				} else if fair >= 0 {
					past[t.id] = fair // warms up to take it (warmUp)
				}
			}
			owner[t.id] = best
			held[best]++
		}
	}
	return owner, past
}

// chooseExtras decides, per sub-topology, which eligible members get
// base+1 tasks. It is a min-cost flow: each sub-topology sends its extras
// to members; a member's k-th extra costs big*(its base total+k), so the
// cheapest flow is the most even spread of totals (at most one apart
// when every member reads every topic); within that, an extra is worth
// a lot to a member that already holds more than the base there, so as
// many members as possible keep what they hold; last, extras that save
// nothing go to members that held no task (newcomers) rather than move
// tasks between old members.
func chooseExtras(nMembers int, sbs []*subBalance) []map[int]bool {
	nSubs := len(sbs)
	src, sink := 0, 1
	subNode := func(s int) int { return 2 + s }
	memberNode := func(m int) int { return 2 + nSubs + m }
	f := newFlow(2 + nSubs + nMembers)

	baseTotal := make([]int, nMembers)
	offers := make([]int, nMembers) // sub-topologies that may give m an extra
	held := make([]bool, nMembers)  // m held some task before
	keep := 1                       // outweighs every newcomer preference
	for _, sb := range sbs {
		keep += sb.extras
		for m := range sb.prev {
			held[m] = true
		}
	}
	big := keep * keep // outweighs every keep
	for _, sb := range sbs {
		for _, m := range sb.eligible {
			baseTotal[m] += sb.base
			if sb.extras > 0 {
				offers[m]++
			}
		}
	}
	type subEdge struct{ s, m, edge int }
	var subEdges []subEdge
	for s, sb := range sbs {
		if sb.extras == 0 {
			continue
		}
		f.add(src, subNode(s), sb.extras, 0)
		for _, m := range sb.eligible {
			cost := 0
			if sb.prev[m] > sb.base {
				cost -= keep
			}
			if held[m] {
				cost++
			}
			subEdges = append(subEdges, subEdge{s, m, f.add(subNode(s), memberNode(m), 1, cost)})
		}
	}
	for m := range nMembers {
		for k := range offers[m] {
			f.add(memberNode(m), sink, 1, big*(baseTotal[m]+k))
		}
	}
	f.run(src, sink)

	extra := make([]map[int]bool, nSubs)
	for s := range extra {
		extra[s] = map[int]bool{}
	}
	for _, e := range subEdges {
		if f.edges[e.edge].cap == 0 { // saturated: the extra went to m
			extra[e.s][e.m] = true
		}
	}
	return extra
}

// flow is a small min-cost max-flow (successive shortest paths with
// Bellman-Ford, which takes the negative costs). Balancing graphs have
// a few hundred nodes at most. Edge order is fixed, so it is
// deterministic.
type flow struct {
	adj   [][]int
	edges []flowEdge
}

type flowEdge struct{ to, cap, cost int }

func newFlow(n int) *flow { return &flow{adj: make([][]int, n)} }

// add adds an edge and its residual twin, returning the edge's index.
func (f *flow) add(from, to, capacity, cost int) int {
	i := len(f.edges)
	f.edges = append(f.edges, flowEdge{to, capacity, cost}, flowEdge{from, 0, -cost})
	f.adj[from] = append(f.adj[from], i)
	f.adj[to] = append(f.adj[to], i+1)
	return i
}

func (f *flow) run(src, sink int) {
	n := len(f.adj)
	const inf = int(^uint(0) >> 2)
	dist := make([]int, n)
	via := make([]int, n)
	for {
		for i := range dist {
			dist[i], via[i] = inf, -1
		}
		dist[src] = 0
		for range n {
			changed := false
			for u := range n {
				if dist[u] == inf {
					continue
				}
				for _, e := range f.adj[u] {
					ed := f.edges[e]
					if ed.cap > 0 && dist[u]+ed.cost < dist[ed.to] {
						dist[ed.to] = dist[u] + ed.cost
						via[ed.to] = e
						changed = true
					}
				}
			}
			if !changed {
				break
			}
		}
		if dist[sink] == inf {
			return
		}
		push := inf
		for v := sink; v != src; v = f.edges[via[v]^1].to {
			push = min(push, f.edges[via[v]].cap)
		}
		for v := sink; v != src; v = f.edges[via[v]^1].to {
			f.edges[via[v]].cap -= push
			f.edges[via[v]^1].cap += push
		}
	}
}

// encodeMemberData: version byte, the address (uvarint length), then
// (version 2) the positions of local task state: uvarint count, then
// sub-topology varint, partition varint, position varint each, in task
// order.
func encodeMemberData(addr string, positions map[topology.TaskID]int64) []byte {
	b := []byte{memberDataVersion}
	b = appendString(b, addr)
	tasks := slices.SortedFunc(maps.Keys(positions), compareTaskIDs)
	b = binary.AppendUvarint(b, uint64(len(tasks)))
	for _, id := range tasks {
		b = binary.AppendVarint(b, int64(id.Subtopology))
		b = binary.AppendVarint(b, int64(id.Partition))
		b = binary.AppendVarint(b, positions[id])
	}
	return b
}

func decodeMemberData(b []byte) (string, map[topology.TaskID]int64, error) {
	if len(b) == 0 || b[0] < 1 {
		return "", nil, fmt.Errorf("%w: member data version missing", errBadUserData)
	}
	r := reader{b: b[1:]}
	addr := r.string()
	if r.err != nil || b[0] < 2 {
		return addr, nil, r.err
	}
	n := r.count()
	pos := make(map[topology.TaskID]int64, n)
	for range n {
		sub, part, off := r.varint(), r.varint(), r.varint()
		if r.err != nil {
			// The address is still good; positions are a hint.
			return addr, nil, nil
		}
		pos[topology.TaskID{Subtopology: int(sub), Partition: int32(part)}] = off
	}
	return addr, pos, nil
}

// encodeAssignmentData: version byte, generation (varint), members
// (uvarint count, then id and address each, in id order), owned tasks
// (uvarint count, then sub-topology varint, partition varint, member
// index uvarint, in task order).
func encodeAssignmentData(v groupView) []byte {
	ids := slices.Sorted(maps.Keys(v.members))
	index := make(map[string]uint64, len(ids))
	b := []byte{assignmentDataVersion}
	b = binary.AppendVarint(b, int64(v.generation))
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for i, id := range ids {
		index[id] = uint64(i)
		b = appendString(b, id)
		b = appendString(b, v.members[id])
	}
	tasks := slices.SortedFunc(maps.Keys(v.owners), compareTaskIDs)
	b = binary.AppendUvarint(b, uint64(len(tasks)))
	for _, id := range tasks {
		b = binary.AppendVarint(b, int64(id.Subtopology))
		b = binary.AppendVarint(b, int64(id.Partition))
		b = binary.AppendUvarint(b, index[v.owners[id]])
	}
	// Version 2: replicas, as (task, member index, warm-up byte).
	type replica struct {
		id   topology.TaskID
		m    string
		warm bool
	}
	var rs []replica
	for _, id := range slices.SortedFunc(maps.Keys(v.standbys), compareTaskIDs) {
		for _, m := range v.standbys[id] {
			rs = append(rs, replica{id, m, v.warmups[id] == m})
		}
	}
	b = binary.AppendUvarint(b, uint64(len(rs)))
	for _, r := range rs {
		b = binary.AppendVarint(b, int64(r.id.Subtopology))
		b = binary.AppendVarint(b, int64(r.id.Partition))
		b = binary.AppendUvarint(b, index[r.m])
		warm := byte(0)
		if r.warm {
			warm = 1
		}
		b = append(b, warm)
	}
	// Then static members' instance ids: (member index, instance id).
	var static []string
	for _, id := range ids {
		if v.instances[id] != "" {
			static = append(static, id)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(static)))
	for _, id := range static {
		b = binary.AppendUvarint(b, index[id])
		b = appendString(b, v.instances[id])
	}
	return b
}

func decodeAssignmentData(b []byte) (groupView, error) {
	var v groupView
	if len(b) == 0 || b[0] < 1 {
		return v, fmt.Errorf("%w: assignment data version missing", errBadUserData)
	}
	r := reader{b: b[1:]}
	v.generation = int32(r.varint())
	n := r.count()
	ids := make([]string, 0, n)
	v.members = make(map[string]string, n)
	for range n {
		id, addr := r.string(), r.string()
		ids = append(ids, id)
		v.members[id] = addr
	}
	n = r.count()
	v.owners = make(map[topology.TaskID]string, n)
	for range n {
		sub, part, idx := r.varint(), r.varint(), r.uvarint()
		if r.err == nil && idx >= uint64(len(ids)) {
			r.err = fmt.Errorf("%w: owner index %d of %d members", errBadUserData, idx, len(ids))
		}
		if r.err != nil {
			break
		}
		v.owners[topology.TaskID{Subtopology: int(sub), Partition: int32(part)}] = ids[idx]
	}
	v.standbys, v.warmups = map[topology.TaskID][]string{}, map[topology.TaskID]string{}
	if b[0] >= 2 && r.err == nil {
		n = r.count()
		for range n {
			sub, part, idx := r.varint(), r.varint(), r.uvarint()
			warm := r.byte()
			if r.err == nil && idx >= uint64(len(ids)) {
				r.err = fmt.Errorf("%w: replica index %d of %d members", errBadUserData, idx, len(ids))
			}
			if r.err != nil {
				break
			}
			id := topology.TaskID{Subtopology: int(sub), Partition: int32(part)}
			v.standbys[id] = append(v.standbys[id], ids[idx])
			if warm == 1 {
				v.warmups[id] = ids[idx]
			}
		}
		v.instances = map[string]string{}
		n = r.count()
		for range n {
			idx, in := r.uvarint(), r.string()
			if r.err == nil && idx >= uint64(len(ids)) {
				r.err = fmt.Errorf("%w: instance index %d of %d members", errBadUserData, idx, len(ids))
			}
			if r.err != nil {
				break
			}
			v.instances[ids[idx]] = in
		}
	}
	if r.err != nil {
		return groupView{}, r.err
	}
	return v, nil
}

func compareTaskIDs(a, b topology.TaskID) int {
	if a.Subtopology != b.Subtopology {
		return a.Subtopology - b.Subtopology
	}
	return int(a.Partition) - int(b.Partition)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// reader decodes UserData; the first error sticks and later reads return
// zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated %s", errBadUserData, what)
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("byte")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length that must fit in what is left (each element takes
// at least one byte), so hostile input cannot force a huge allocation.
func (r *reader) count() int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.fail("count")
		return 0
	}
	return int(n)
}

func (r *reader) string() string {
	n := r.count()
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
