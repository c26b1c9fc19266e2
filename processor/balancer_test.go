package processor

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/topology"
)

// simGroup drives taskBalancers through franz-go's balancing entry points
// (JoinGroupMetadata, MemberBalancer, BalanceOrError, ParseSyncAssignment)
// the way a classic cooperative group would, without a broker.
type simGroup struct {
	t       testing.TB
	seed    uint64
	topics  map[string]int32
	subOf   func(string) (int, bool)
	members []*simMember // sorted by id
	gen     int32
	nextID  int
	onJoin  func(*simMember) // configures a new member's balancer
}

type simMember struct {
	id    string
	addr  string
	bal   *taskBalancer
	owned map[string][]int32
	gen   int32
}

func (g *simGroup) join() *simMember {
	m := &simMember{
		id:    fmt.Sprintf("m%03d", g.nextID),
		addr:  fmt.Sprintf("10.0.0.%d:8080", g.nextID),
		owned: map[string][]int32{},
	}
	g.nextID++
	m.bal = newTaskBalancer(g.subOf, m.addr, nil)
	if g.onJoin != nil {
		g.onJoin(m)
	}
	g.members = append(g.members, m)
	slices.SortFunc(g.members, func(a, b *simMember) int { return cmp.Compare(a.id, b.id) })
	return m
}

func (g *simGroup) leave(i int) *simMember {
	m := g.members[i]
	g.members = slices.Delete(g.members, i, i+1)
	return m
}

func (g *simGroup) topicNames() []string { return slices.Sorted(maps.Keys(g.topics)) }

// balance runs one join/sync round and returns the raw sync assignments.
func (g *simGroup) balance() []kmsg.SyncGroupRequestGroupAssignment {
	g.t.Helper()
	var jm []kmsg.JoinGroupResponseMember
	for _, m := range g.members {
		j := kmsg.NewJoinGroupResponseMember()
		j.MemberID = m.id
		j.ProtocolMetadata = m.bal.JoinGroupMetadata(g.topicNames(), cloneOwned(m.owned), m.gen)
		jm = append(jm, j)
	}
	leader := g.members[0].bal
	mb, topics, err := leader.MemberBalancer(jm)
	if err != nil {
		g.t.Fatalf("seed %d: member balancer: %v", g.seed, err)
	}
	if want := g.topicNames(); !slices.Equal(slices.Sorted(maps.Keys(topics)), want) {
		g.t.Fatalf("seed %d: balancer topics %v, want %v", g.seed, topics, want)
	}
	if ib, ok := mb.(kgo.GroupMemberBalancerInfo); ok {
		ib.SetBalanceInfo(kgo.BalanceInfo{Generation: g.gen + 1, LeaderID: g.members[0].id})
	}
	into, err := mb.(kgo.GroupMemberBalancerOrError).BalanceOrError(maps.Clone(g.topics))
	if err != nil {
		g.t.Fatalf("seed %d: balance: %v", g.seed, err)
	}
	return into.IntoSyncAssignment()
}

// round balances once, checks the cooperative safety rules against what
// members owned when they joined, applies the result and reports whether
// any member revoked something (and so rejoins).
func (g *simGroup) round() (revoked bool) {
	g.t.Helper()
	before := g.ownerOf()
	sync := g.balance()
	g.gen++
	if len(sync) != len(g.members) {
		g.t.Fatalf("seed %d: %d assignments for %d members", g.seed, len(sync), len(g.members))
	}
	planned := map[topology.TopicPartition]string{}
	taskOwner := map[topology.TaskID]string{}
	for i, sa := range sync {
		m := g.members[i]
		if sa.MemberID != m.id {
			g.t.Fatalf("seed %d: assignment %d is for %s, want %s", g.seed, i, sa.MemberID, m.id)
		}
		got, err := m.bal.ParseSyncAssignment(sa.MemberAssignment)
		if err != nil {
			g.t.Fatalf("seed %d: parse assignment of %s: %v", g.seed, m.id, err)
		}
		for t, ps := range got {
			for _, p := range ps {
				tp := topology.TopicPartition{Topic: t, Partition: p}
				if other, dup := planned[tp]; dup {
					g.t.Fatalf("seed %d gen %d: %v planned for %s and %s", g.seed, g.gen, tp, other, m.id)
				}
				planned[tp] = m.id
				if prev, ok := before[tp]; ok && prev != m.id {
					g.t.Fatalf("seed %d gen %d: %v given to %s while %s still owns it (cooperative revoke skipped)", g.seed, g.gen, tp, m.id, prev)
				}
				id := g.taskOf(tp)
				if other, ok := taskOwner[id]; ok && other != m.id {
					g.t.Fatalf("seed %d gen %d: task %v split between %s and %s", g.seed, g.gen, id, other, m.id)
				}
				taskOwner[id] = m.id
			}
		}
		for t, ps := range m.owned {
			for _, p := range ps {
				if !slices.Contains(got[t], p) {
					revoked = true
				}
			}
		}
		m.owned = got
		m.gen = g.gen
	}
	// Whole tasks only: a member given part of a task is given all of it.
	for tp := range g.allPartitions() {
		id := g.taskOf(tp)
		if owner, ok := taskOwner[id]; ok && planned[tp] != owner {
			g.t.Fatalf("seed %d gen %d: task %v on %s but its %v on %q", g.seed, g.gen, id, owner, tp, planned[tp])
		}
	}
	return revoked
}

// settle runs rounds until no member revokes anything. A cooperative
// move takes two rounds; a third must change nothing.
func (g *simGroup) settle() {
	g.t.Helper()
	for i := 0; ; i++ {
		if i == 3 {
			g.t.Fatalf("seed %d: group did not settle in 3 rounds", g.seed)
		}
		if !g.round() {
			break
		}
	}
	g.checkStable()
}

func (g *simGroup) allPartitions() map[topology.TopicPartition]bool {
	out := map[topology.TopicPartition]bool{}
	for t, n := range g.topics {
		for p := range n {
			out[topology.TopicPartition{Topic: t, Partition: p}] = true
		}
	}
	return out
}

// taskOf mirrors the balancer's rule: unknown topics are their own tasks.
func (g *simGroup) taskOf(tp topology.TopicPartition) topology.TaskID {
	if sub, ok := g.subOf(tp.Topic); ok {
		return topology.TaskID{Subtopology: sub, Partition: tp.Partition}
	}
	return topology.TaskID{Subtopology: -1000, Partition: int32(len(tp.Topic))*1000 + tp.Partition}
}

func (g *simGroup) ownerOf() map[topology.TopicPartition]string {
	out := map[topology.TopicPartition]string{}
	for _, m := range g.members {
		for t, ps := range m.owned {
			for _, p := range ps {
				out[topology.TopicPartition{Topic: t, Partition: p}] = m.id
			}
		}
	}
	return out
}

// taskOwners returns the owner of every task (stable state only).
func (g *simGroup) taskOwners() map[topology.TaskID]string {
	out := map[topology.TaskID]string{}
	for tp, id := range g.ownerOf() {
		out[g.taskOf(tp)] = id
	}
	return out
}

// checkStable: everything assigned once, balance, owner maps agree.
func (g *simGroup) checkStable() {
	g.t.Helper()
	owner := g.ownerOf()
	count := 0
	for _, m := range g.members {
		for _, ps := range m.owned {
			count += len(ps)
		}
	}
	all := g.allPartitions()
	if count != len(all) || len(owner) != len(all) {
		g.t.Fatalf("seed %d: %d partitions assigned (%d distinct), want each of %d once", g.seed, count, len(owner), len(all))
	}
	// Balance: per sub-topology and overall, at most one task apart.
	perSub := map[int]map[string]int{}
	total := map[string]int{}
	for _, m := range g.members {
		total[m.id] = 0
	}
	for id, m := range g.taskOwners() {
		if perSub[id.Subtopology] == nil {
			perSub[id.Subtopology] = map[string]int{}
			for _, mm := range g.members {
				perSub[id.Subtopology][mm.id] = 0
			}
		}
		perSub[id.Subtopology][m]++
		total[m]++
	}
	spread := func(c map[string]int) int {
		vs := slices.Collect(maps.Values(c))
		return slices.Max(vs) - slices.Min(vs)
	}
	for sub, c := range perSub {
		if sub >= 0 && spread(c) > 1 {
			g.t.Fatalf("seed %d: sub-topology %d unbalanced: %v", g.seed, sub, c)
		}
	}
	if spread(total) > 1 {
		g.t.Fatalf("seed %d: tasks unbalanced: %v", g.seed, total)
	}
	// Every member learned every address and every known task's owner.
	wantMembers := map[string]string{}
	for _, m := range g.members {
		wantMembers[m.id] = m.addr
	}
	addr := map[string]string{}
	for _, m := range g.members {
		addr[m.id] = m.addr
	}
	wantOwners := map[topology.TaskID]string{}
	for id, m := range g.taskOwners() {
		if id.Subtopology >= 0 {
			wantOwners[id] = addr[m]
		}
	}
	for _, m := range g.members {
		if got := m.bal.Members(); !maps.Equal(got, wantMembers) {
			g.t.Fatalf("seed %d: %s knows members %v, want %v", g.seed, m.id, got, wantMembers)
		}
		if got := m.bal.Owners(); !maps.Equal(got, wantOwners) {
			g.t.Fatalf("seed %d: %s knows owners %v, want %v", g.seed, m.id, got, wantOwners)
		}
	}
}

func cloneOwned(m map[string][]int32) map[string][]int32 {
	out := make(map[string][]int32, len(m))
	for t, ps := range m {
		out[t] = slices.Sorted(slices.Values(ps))
	}
	return out
}

// randomGroup builds 1-maxSubs sub-topologies of 1-3 co-partitioned
// topics each with 1-12 partitions, and with withUnknown sometimes a topic
// the topology does not know.
func randomGroup(t *testing.T, seed uint64, maxSubs int, withUnknown bool) (*simGroup, *rand.Rand) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &simGroup{t: t, seed: seed, topics: map[string]int32{}}
	subs := map[string]int{}
	for s := range 1 + rng.IntN(maxSubs) {
		parts := int32(1 + rng.IntN(12))
		for k := range 1 + rng.IntN(3) {
			name := fmt.Sprintf("s%d-t%d", s, k)
			g.topics[name] = parts
			subs[name] = s
		}
	}
	if withUnknown && rng.IntN(3) == 0 {
		g.topics["unknown"] = int32(1 + rng.IntN(4))
	}
	g.subOf = func(topic string) (int, bool) {
		s, ok := subs[topic]
		return s, ok
	}
	return g, rng
}

// needlessMoves counts tasks that moved beyond what the change in
// per-member, per-sub-topology counts forces: a member that loses tasks
// in a sub-topology while another keeps its count there, or that loses
// one and gains one there, moved a task for nothing.
func needlessMoves(before, after map[topology.TaskID]string) int {
	type key struct {
		member string
		sub    int
	}
	was, now := map[key]int{}, map[key]int{}
	for id, m := range before {
		was[key{m, id.Subtopology}]++
	}
	for id, m := range after {
		now[key{m, id.Subtopology}]++
	}
	forced := 0
	for k, n := range was {
		forced += max(0, n-now[k])
	}
	moved := 0
	for id, m := range after {
		if before[id] != m {
			moved++
		}
	}
	return moved - forced
}

// runRandomGroup joins and leaves members at random. Every transition
// must keep the invariants (checked by settle), move no task needlessly,
// and, when strict, move tasks only to a newcomer or away from a leaver.
func runRandomGroup(t *testing.T, g *simGroup, rng *rand.Rand, strict bool) {
	for range 1 + rng.IntN(4) {
		g.join()
	}
	g.settle()
	for range 12 {
		before := g.taskOwners()
		var joined, gone string
		if len(g.members) > 1 && rng.IntN(2) == 0 {
			gone = g.leave(rng.IntN(len(g.members))).id
		} else {
			joined = g.join().id
		}
		g.settle()
		after := g.taskOwners()
		if n := needlessMoves(before, after); n != 0 {
			t.Fatalf("seed %d: %d tasks moved needlessly (joined %q, left %q)", g.seed, n, joined, gone)
		}
		if !strict {
			continue
		}
		for id, now := range after {
			if was := before[id]; was != now && now != joined && was != gone {
				t.Fatalf("seed %d: task %v moved %s -> %s (joined %q, left %q)", g.seed, id, was, now, joined, gone)
			}
		}
	}
}

// TestTaskBalancerRandomGroups: several sub-topologies. Balancing each
// sub-topology and the totals can force a task between old members (a
// member over its share in one sub-topology must make up for it in
// another), so only needless moves are counted.
func TestTaskBalancerRandomGroups(t *testing.T) {
	base := uint64(time.Now().UnixNano())
	for i := range 300 {
		g, rng := randomGroup(t, base+uint64(i), 4, true)
		runRandomGroup(t, g, rng, false)
	}
}

// TestTaskBalancerRandomGroupsOneSubtopology: with one sub-topology a
// join moves tasks only to the newcomer and a leave only the leaver's.
func TestTaskBalancerRandomGroupsOneSubtopology(t *testing.T) {
	base := uint64(time.Now().UnixNano())
	for i := range 300 {
		g, rng := randomGroup(t, base+uint64(i), 1, false)
		runRandomGroup(t, g, rng, true)
	}
}

// TestTaskBalancerJoinMovesWholeTasks checks the two cooperative rounds
// of a join on a fixed group: the first only revokes, the second assigns.
func TestTaskBalancerJoinMovesWholeTasks(t *testing.T) {
	g := &simGroup{t: t, topics: map[string]int32{"a": 4, "b": 4}}
	g.subOf = func(string) (int, bool) { return 0, true }
	g.join()
	g.settle()
	m0 := g.members[0]
	if n := len(m0.owned["a"]) + len(m0.owned["b"]); n != 8 {
		t.Fatalf("single member owns %d partitions, want 8", n)
	}
	m1 := g.join()
	if !g.round() {
		t.Fatal("first round after a join revoked nothing")
	}
	if len(m1.owned) != 0 {
		t.Fatalf("newcomer got %v before the old owner revoked", m1.owned)
	}
	if got := m0.owned; !slices.Equal(got["a"], got["b"]) || len(got["a"]) != 2 {
		t.Fatalf("old owner kept %v, want the same 2 partitions of a and b", got)
	}
	if g.round() {
		t.Fatal("second round revoked again")
	}
	if got := m1.owned; !slices.Equal(got["a"], got["b"]) || len(got["a"]) != 2 {
		t.Fatalf("newcomer got %v, want the other 2 partitions of a and b", got)
	}
	g.checkStable()
}

func TestTaskBalancerDeterministic(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	for i := range 50 {
		g, rng := randomGroup(t, seed+uint64(i), 4, true)
		for range 2 + rng.IntN(4) {
			g.join()
		}
		g.settle()
		g.leave(rng.IntN(len(g.members)))
		g.join()
		// Same join metadata, two balances: byte-identical sync requests.
		first, second := g.balance(), g.balance()
		if len(first) != len(second) {
			t.Fatalf("seed %d: %d vs %d assignments", seed+uint64(i), len(first), len(second))
		}
		for j := range first {
			if first[j].MemberID != second[j].MemberID || !bytes.Equal(first[j].MemberAssignment, second[j].MemberAssignment) {
				t.Fatalf("seed %d: assignment %d differs between two balances of the same input", seed+uint64(i), j)
			}
		}
	}
}

// TestTaskBalancerStaleClaim: a member that missed a rebalance rejoins
// claiming a task now owned by a newer-generation member. The task stays
// put and the stale claim does not count as ownership.
func TestTaskBalancerStaleClaim(t *testing.T) {
	subOf := func(string) (int, bool) { return 0, true }
	meta := func(b *taskBalancer, owned map[string][]int32, gen int32) []byte {
		return b.JoinGroupMetadata([]string{"a"}, owned, gen)
	}
	a := newTaskBalancer(subOf, "a:1", nil)
	b := newTaskBalancer(subOf, "b:1", nil)
	members := []kmsg.JoinGroupResponseMember{
		{MemberID: "a", ProtocolMetadata: meta(a, map[string][]int32{"a": {0, 1}}, 5)},
		{MemberID: "b", ProtocolMetadata: meta(b, map[string][]int32{"a": {1}}, 3)},
	}
	mb, _, err := a.MemberBalancer(members)
	if err != nil {
		t.Fatal(err)
	}
	into, err := mb.(kgo.GroupMemberBalancerOrError).BalanceOrError(map[string]int32{"a": 2})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string][]int32{}
	for _, sa := range into.IntoSyncAssignment() {
		bal := map[string]*taskBalancer{"a": a, "b": b}[sa.MemberID]
		got[sa.MemberID], err = bal.ParseSyncAssignment(sa.MemberAssignment)
		if err != nil {
			t.Fatal(err)
		}
	}
	// a keeps one task; partition 1 (b's stale claim, a's real one) may
	// go to b only after a revokes it, so this round b gets nothing.
	if !slices.Equal(got["a"]["a"], []int32{0}) || len(got["b"]["a"]) != 0 {
		t.Fatalf("assignments %v: want a=[0] (1 being revoked), b=[]", got)
	}
}

func TestTaskBalancerUserData(t *testing.T) {
	pos := map[topology.TaskID]int64{{Subtopology: 0, Partition: 3}: 12345, {Subtopology: 2, Partition: 0}: 0}
	for _, addr := range []string{"", "http://10.1.2.3:8080", "ünïcode:1"} {
		got, gotPos, err := decodeMemberData(encodeMemberData(addr, pos))
		if err != nil || got != addr || !maps.Equal(gotPos, pos) {
			t.Fatalf("member data round trip of %q: %q %v, %v", addr, got, gotPos, err)
		}
	}
	// Version 1 (address only) still reads, with no positions.
	v1 := appendString([]byte{1}, "h:1")
	if got, gotPos, err := decodeMemberData(v1); err != nil || got != "h:1" || gotPos != nil {
		t.Fatalf("version 1 member data: %q %v, %v", got, gotPos, err)
	}
	// A newer version with more fields after ours still reads.
	newer := append(encodeMemberData("h:1", pos), 0xff, 0x01)
	newer[0] = 3
	if got, gotPos, err := decodeMemberData(newer); err != nil || got != "h:1" || !maps.Equal(gotPos, pos) {
		t.Fatalf("newer member data: %q %v, %v", got, gotPos, err)
	}
	// Truncated positions lose the positions, not the address.
	enc := encodeMemberData("h:1", pos)
	if got, gotPos, err := decodeMemberData(enc[:len(enc)-1]); err != nil || got != "h:1" || gotPos != nil {
		t.Fatalf("truncated positions: %q %v, %v", got, gotPos, err)
	}

	view := groupView{
		generation: 42,
		members:    map[string]string{"m1": "h1:80", "m2": "", "m3": "h3:80"},
		owners: map[topology.TaskID]string{
			{Subtopology: 0, Partition: 0}:   "m1",
			{Subtopology: 0, Partition: 1}:   "m3",
			{Subtopology: 7, Partition: 300}: "m2",
		},
		standbys: map[topology.TaskID][]string{
			{Subtopology: 0, Partition: 0}: {"m2", "m3"},
			{Subtopology: 0, Partition: 1}: {"m1"},
		},
		warmups:   map[topology.TaskID]string{{Subtopology: 0, Partition: 1}: "m1"},
		instances: map[string]string{"m3": "pod-3"},
	}
	enc = encodeAssignmentData(view)
	dec, err := decodeAssignmentData(enc)
	if err != nil {
		t.Fatal(err)
	}
	if dec.generation != 42 || !maps.Equal(dec.members, view.members) || !maps.Equal(dec.owners, view.owners) ||
		!maps.EqualFunc(dec.standbys, view.standbys, slices.Equal) || !maps.Equal(dec.warmups, view.warmups) ||
		!maps.Equal(dec.instances, view.instances) {
		t.Fatalf("assignment data round trip: got %+v, want %+v", dec, view)
	}
	for n := range len(enc) {
		if _, err := decodeAssignmentData(enc[:n]); !errors.Is(err, errBadUserData) {
			t.Fatalf("truncated to %d of %d bytes: err %v, want errBadUserData", n, len(enc), err)
		}
	}
	// A replica's member index past the member list is rejected, not a
	// panic (with no static member, the last bytes are its index, its
	// warm-up flag and the empty instance list).
	bad := encodeAssignmentData(groupView{members: view.members, owners: view.owners, standbys: view.standbys})
	bad[len(bad)-3] = 9
	if _, err := decodeAssignmentData(bad); !errors.Is(err, errBadUserData) {
		t.Fatalf("bad replica index: err %v, want errBadUserData", err)
	}
	// So is an owner's (the last bytes: its index, no replicas, no
	// instances).
	bad = encodeAssignmentData(groupView{members: view.members, owners: map[topology.TaskID]string{{}: "m1"}})
	bad[len(bad)-3] = 9
	if _, err := decodeAssignmentData(bad); !errors.Is(err, errBadUserData) {
		t.Fatalf("bad owner index: err %v, want errBadUserData", err)
	}
	// Version 1 assignment data (no replicas) still reads.
	v1a := encodeAssignmentData(groupView{members: view.members, owners: view.owners})
	v1a = v1a[:len(v1a)-2]
	v1a[0] = 1
	if dec, err := decodeAssignmentData(v1a); err != nil || !maps.Equal(dec.owners, view.owners) || len(dec.standbys) != 0 {
		t.Fatalf("version 1 assignment data: %+v, %v", dec, err)
	}
}

// TestTaskBalancerUnreadableMemberData: a member whose UserData is not
// ours still gets its share; only its address is unknown.
func TestTaskBalancerUnreadableMemberData(t *testing.T) {
	subOf := func(string) (int, bool) { return 0, true }
	a := newTaskBalancer(subOf, "a:1", nil)
	other := kmsg.NewConsumerMemberMetadata()
	other.Version = 3
	other.Topics = []string{"t"}
	other.UserData = []byte{0}
	members := []kmsg.JoinGroupResponseMember{
		{MemberID: "a", ProtocolMetadata: a.JoinGroupMetadata([]string{"t"}, nil, -1)},
		{MemberID: "b", ProtocolMetadata: other.AppendTo(nil)},
	}
	mb, _, err := a.MemberBalancer(members)
	if err != nil {
		t.Fatal(err)
	}
	into, err := mb.(kgo.GroupMemberBalancerOrError).BalanceOrError(map[string]int32{"t": 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, sa := range into.IntoSyncAssignment() {
		ps, err := a.ParseSyncAssignment(sa.MemberAssignment)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps["t"]) != 2 {
			t.Fatalf("%s got %v, want 2 partitions", sa.MemberID, ps)
		}
		if got := a.Members(); got["a"] != "a:1" || got["b"] != "" || len(got) != 2 {
			t.Fatalf("members %v", got)
		}
	}
}

// TestTaskBalancerOnKafka: three clients with the task balancer join one
// group in turn; after each settles, partition N of both topics is on one
// member and every member knows every member's address and task owner.
func TestTaskBalancerOnKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := kafkatest.New(t)
	ta, tb, group := c.Name("a"), c.Name("b"), c.Name("group")
	const partitions = 6
	c.CreateTopic(ctx, ta, partitions, nil)
	c.CreateTopic(ctx, tb, partitions, nil)
	subOf := func(topic string) (int, bool) { return 0, topic == ta || topic == tb }

	var mu sync.Mutex
	var owned []map[topology.TopicPartition]bool
	var bals []*taskBalancer
	changed := make(chan struct{}, 1)
	wake := func() {
		select { // a pending wake-up already covers this change
		case changed <- struct{}{}:
		default:
		}
	}
	addr := func(i int) string { return fmt.Sprintf("http://worker-%d:8080", i) }
	start := func() {
		mu.Lock()
		i := len(owned)
		owned = append(owned, map[topology.TopicPartition]bool{})
		bal := newTaskBalancer(subOf, addr(i), nil)
		bal.onSync = wake
		bals = append(bals, bal)
		mu.Unlock()
		update := func(ps map[string][]int32, add bool) {
			mu.Lock()
			for topic, parts := range ps {
				for _, p := range parts {
					tp := topology.TopicPartition{Topic: topic, Partition: p}
					if add {
						owned[i][tp] = true
					} else {
						delete(owned[i], tp)
					}
				}
			}
			mu.Unlock()
			wake()
		}
		cl := c.Client(
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(ta, tb),
			kgo.Balancers(bal),
			kgo.HeartbeatInterval(250*time.Millisecond),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, true) }),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, false) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, false) }),
		)
		go func() { // polling drives the group protocol
			for ctx.Err() == nil {
				if cl.PollFetches(ctx).IsClientClosed() {
					return
				}
			}
		}()
	}

	// settled reports "" when the n members split the tasks evenly, whole,
	// and all know it; otherwise what is still wrong.
	settled := func(n int) string {
		mu.Lock()
		defer mu.Unlock()
		taskOwner := map[int32]int{}
		for i, ps := range owned {
			for tp := range ps {
				if o, ok := taskOwner[tp.Partition]; ok && o != i {
					return fmt.Sprintf("task %d on members %d and %d", tp.Partition, o, i)
				}
				taskOwner[tp.Partition] = i
			}
			if len(ps) != 2*partitions/n {
				return fmt.Sprintf("member %d owns %d partitions, want %d", i, len(ps), 2*partitions/n)
			}
		}
		wantOwners := map[topology.TaskID]string{}
		for p, i := range taskOwner {
			for _, topic := range []string{ta, tb} {
				if !owned[i][topology.TopicPartition{Topic: topic, Partition: p}] {
					return fmt.Sprintf("member %d has task %d without %s/%d", i, p, topic, p)
				}
			}
			wantOwners[topology.TaskID{Subtopology: 0, Partition: p}] = addr(i)
		}
		var wantAddrs []string
		for i := range n {
			wantAddrs = append(wantAddrs, addr(i))
		}
		for i, b := range bals {
			if got := slices.Sorted(maps.Values(b.Members())); !slices.Equal(got, wantAddrs) {
				return fmt.Sprintf("member %d knows addresses %v, want %v", i, got, wantAddrs)
			}
			if got := b.Owners(); !maps.Equal(got, wantOwners) {
				return fmt.Sprintf("member %d knows owners %v, want %v", i, got, wantOwners)
			}
		}
		return ""
	}

	for n := 1; n <= 3; n++ {
		start()
		for {
			why := settled(n)
			if why == "" {
				break
			}
			select {
			case <-changed:
			case <-ctx.Done():
				t.Fatalf("tier %s: %d members never settled: %s", c.Tier(), n, why)
			}
		}
		t.Logf("tier %s: %d members settled", c.Tier(), n)
	}
}

// BenchmarkTaskBalancer: the leader's balance of 50 members after one
// joined, 10 sub-topologies of 2 topics with 64 partitions each.
func BenchmarkTaskBalancer(b *testing.B) {
	g := &simGroup{t: b, topics: map[string]int32{}}
	subs := map[string]int{}
	for s := range 10 {
		for k := range 2 {
			name := fmt.Sprintf("s%d-t%d", s, k)
			g.topics[name] = 64
			subs[name] = s
		}
	}
	g.subOf = func(topic string) (int, bool) { s, ok := subs[topic]; return s, ok }
	for range 49 {
		g.join()
	}
	g.settle()
	g.join()
	b.ResetTimer()
	for range b.N {
		g.balance()
	}
}
