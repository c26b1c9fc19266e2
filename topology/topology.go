package topology

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Topology is a built, immutable program. One Topology may run many tasks
// concurrently: tasks share no mutable state through it.
type Topology struct {
	appID       string
	nodes       []*node
	subs        []*subtopology
	stores      map[string]*storeDef
	storeOrder  []*storeDef
	globals     []*storeDef
	globalNames []string
	byTopic     map[string]int // source topic -> sub-topology
}

type subtopology struct {
	id         int
	nodes      []*node // in creation order
	storeNames []string
	erasure    *node // its erasure source, if any
}

func newTopology(b *Builder) *Topology {
	t := &Topology{appID: b.appID, nodes: b.nodes, stores: b.stores, storeOrder: b.order,
		globals: b.globals, byTopic: map[string]int{}}
	for _, g := range b.globals {
		t.globalNames = append(t.globalNames, g.name)
	}
	// Sub-topologies are the connected components of the graph, where
	// nodes sharing a store are connected too. Repartition topics are not
	// edges, which is what splits a program into sub-topologies.
	parent := make([]int, len(b.nodes))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, c int) {
		ra, rc := find(a), find(c)
		if ra < rc {
			parent[rc] = ra
		} else {
			parent[ra] = rc
		}
	}
	for _, n := range b.nodes {
		for _, c := range n.children {
			union(n.id, c.id)
		}
	}
	for _, s := range b.order {
		for i := 1; i < len(s.users); i++ {
			union(s.users[0].id, s.users[i].id)
		}
	}
	// Number components by their first node, so numbering follows the
	// order the program was written in.
	subOf := map[int]*subtopology{}
	for _, n := range b.nodes {
		r := find(n.id)
		s := subOf[r]
		if s == nil {
			s = &subtopology{id: len(t.subs)}
			subOf[r] = s
			t.subs = append(t.subs, s)
		}
		n.sub = s.id
		s.nodes = append(s.nodes, n)
		if n.kind == kindSource {
			t.byTopic[n.topic] = s.id
		}
		if n.erasure != nil && s.erasure == nil {
			s.erasure = n
		}
	}
	for _, st := range b.order {
		if st.global || len(st.users) == 0 {
			continue
		}
		s := t.subs[st.users[0].sub]
		s.storeNames = append(s.storeNames, st.name)
	}
	return t
}

// checkErasures: an erasure source must share its sub-topology with the
// state it erases, and one is enough.
func (t *Topology) checkErasures() error {
	var errs []error
	for _, n := range t.nodes {
		if n.erasure == nil {
			continue
		}
		s := t.subs[n.sub]
		if s.erasure != n {
			errs = append(errs, fmt.Errorf("%w: ErasuresOf %q: sub-topology %d already reads erasures from %q", ErrBadOption, n.topic, s.id, s.erasure.topic))
		} else if len(s.storeNames) < 2 {
			errs = append(errs, fmt.Errorf("%w: ErasuresOf %q erases nothing: merge its stream into the stream whose state it erases", ErrBadOption, n.topic))
		}
	}
	return errors.Join(errs...)
}

// AppID is the application id.
func (t *Topology) AppID() string { return t.appID }

// DeadLetterTopic is where DeadLetter records go: <app>-dlq.
func (t *Topology) DeadLetterTopic() string { return t.appID + "-dlq" }

// SubtopologyOf returns the sub-topology reading topic.
func (t *Topology) SubtopologyOf(topic string) (int, bool) {
	id, ok := t.byTopic[topic]
	return id, ok
}

// Subtopology describes one sub-topology for the runtime.
type Subtopology struct {
	ID      int
	Sources []SourceInfo // sorted by topic
	Sinks   []SinkInfo   // sorted by topic
	Stores  []StoreInfo
}

// SourceInfo is a topic a sub-topology reads.
type SourceInfo struct {
	Topic    string
	Internal bool // a repartition topic
	Erasures bool // erasure requests (ErasuresOf)
}

// SinkInfo is a topic a sub-topology writes.
type SinkInfo struct {
	Topic             string
	Internal          bool // a repartition topic
	CustomPartitioner bool // the task needs the topic's partition count
}

// StoreInfo describes a store.
type StoreInfo struct {
	Name      string
	Kind      StoreKind
	Changelog string // <app>-<name>-changelog; empty for global stores
	// TTL is the store's topology.TTL (0: keys never expire); Expiry
	// names the companion store holding its expiry index, ExpiryOf is set
	// on that companion and names the store it indexes.
	TTL      time.Duration
	Expiry   string
	ExpiryOf string
	// ErasedKeys marks the store of an ErasuresOf: the erased keys and
	// when. Tools that rebuild state (a reset) keep it, so a rerun of the
	// inputs never brings an erased key back.
	ErasedKeys bool
}

// InternalTopicKind is what an internal topic is for.
type InternalTopicKind string

// Internal topic kinds.
const (
	Changelog   InternalTopicKind = "changelog"   // compacted
	Repartition InternalTopicKind = "repartition" // delete policy
)

// InternalTopic is a topic the runtime creates. Its partition count is the
// largest of the external topics in PartitionsFrom.
type InternalTopic struct {
	Name           string
	Kind           InternalTopicKind
	PartitionsFrom []string
}

// GlobalTableInfo is a global table: the runtime keeps Store filled with
// the raw records of Topic on every worker.
type GlobalTableInfo struct {
	Topic string
	Store string
}

// Subtopologies describes every sub-topology, by id.
func (t *Topology) Subtopologies() []Subtopology {
	out := make([]Subtopology, len(t.subs))
	for i, s := range t.subs {
		st := Subtopology{ID: s.id}
		for _, n := range s.nodes {
			switch n.kind {
			case kindSource:
				st.Sources = append(st.Sources, SourceInfo{Topic: n.topic, Internal: n.internal, Erasures: n.erasure != nil})
			case kindSink:
				if !containsSink(st.Sinks, n.topic) {
					st.Sinks = append(st.Sinks, SinkInfo{Topic: n.topic, Internal: n.internal, CustomPartitioner: n.customPartitioner})
				} else if n.customPartitioner {
					for j := range st.Sinks {
						if st.Sinks[j].Topic == n.topic {
							st.Sinks[j].CustomPartitioner = true
						}
					}
				}
			}
		}
		sort.Slice(st.Sources, func(a, b int) bool { return st.Sources[a].Topic < st.Sources[b].Topic })
		sort.Slice(st.Sinks, func(a, b int) bool { return st.Sinks[a].Topic < st.Sinks[b].Topic })
		for _, name := range s.storeNames {
			st.Stores = append(st.Stores, t.storeInfo(t.stores[name]))
		}
		out[i] = st
	}
	return out
}

func containsSink(ss []SinkInfo, topic string) bool {
	for _, s := range ss {
		if s.Topic == topic {
			return true
		}
	}
	return false
}

func (t *Topology) storeInfo(s *storeDef) StoreInfo {
	return StoreInfo{Name: s.name, Kind: s.kind, Changelog: s.changelog, TTL: s.ttl, Expiry: s.expiry, ExpiryOf: s.expiryOf, ErasedKeys: s.erasedKeys}
}

// Stores describes every store (global ones included), in declaration
// order.
func (t *Topology) Stores() []StoreInfo {
	var out []StoreInfo
	for _, s := range t.storeOrder {
		out = append(out, t.storeInfo(s))
	}
	return out
}

// Store describes the store name.
func (t *Topology) Store(name string) (StoreInfo, bool) {
	s := t.stores[name]
	if s == nil {
		return StoreInfo{}, false
	}
	return t.storeInfo(s), true
}

// GlobalTables lists the global tables.
func (t *Topology) GlobalTables() []GlobalTableInfo {
	var out []GlobalTableInfo
	for _, g := range t.globals {
		out = append(out, GlobalTableInfo{Topic: g.topic, Store: g.name})
	}
	return out
}

// directSources returns the external topics sub-topology id reads
// itself, sorted.
func (t *Topology) directSources(id int) []string {
	set := map[string]bool{}
	for _, n := range t.subs[id].nodes {
		if n.kind == kindSource && !n.internal {
			set[n.topic] = true
		}
	}
	return sortedKeys(set)
}

// partitionSources returns the external topics whose partition count the
// tasks of sub-topology id follow, sorted: the external topics it reads
// itself (they must agree, since task N reads partition N of each), or,
// when it reads only repartition topics, those their writers follow. As
// in Kafka Streams, a repartition topic thus takes the partition count of
// what it meets: a re-keyed stream joined with a table is repartitioned
// into as many partitions as the table has.
func (t *Topology) partitionSources(id int, seen map[int]bool) []string {
	if seen[id] {
		return nil
	}
	seen[id] = true
	if direct := t.directSources(id); len(direct) > 0 {
		return direct
	}
	set := map[string]bool{}
	for _, n := range t.subs[id].nodes {
		if n.kind != kindSource || !n.internal {
			continue
		}
		for _, w := range t.nodes {
			if w.kind == kindSink && w.topic == n.topic {
				for _, x := range t.partitionSources(w.sub, seen) {
					set[x] = true
				}
			}
		}
	}
	return sortedKeys(set)
}

// InternalTopics lists the topics the runtime must create: repartition
// topics in the order they were declared, then changelogs. Each takes
// the partition count of the sub-topology reading it (repartition) or
// writing it (changelog): the largest of PartitionsFrom.
func (t *Topology) InternalTopics() []InternalTopic {
	var out []InternalTopic
	for _, n := range t.nodes {
		if n.kind == kindSink && n.internal {
			reader, ok := t.byTopic[n.topic]
			if !ok {
				reader = n.sub
			}
			out = append(out, InternalTopic{Name: n.topic, Kind: Repartition,
				PartitionsFrom: t.partitionSources(reader, map[int]bool{})})
		}
	}
	for _, s := range t.storeOrder {
		if s.global || len(s.users) == 0 {
			continue
		}
		out = append(out, InternalTopic{Name: s.changelog, Kind: Changelog,
			PartitionsFrom: t.partitionSources(s.users[0].sub, map[int]bool{})})
	}
	return out
}

// CopartitionGroups lists groups of external topics that must have the
// same partition count: those one sub-topology reads directly, since its
// task N reads partition N of each and meets their records by key (a
// join, a processor reading a table through ExistingStore, a merge into
// a store). Repartition topics need no such care: they are created with
// the partition count of what they meet (InternalTopics). The runtime
// checks the groups at start.
func (t *Topology) CopartitionGroups() [][]string {
	var out [][]string
	for id := range t.subs {
		if ts := t.directSources(id); len(ts) > 1 {
			out = append(out, ts)
		}
	}
	return out
}

// Describe returns a stable text form of the topology: sub-topologies with
// their nodes (parents and children), stores, internal topics and global
// tables.
func (t *Topology) Describe() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Topology %s\n", t.appID)
	for _, s := range t.subs {
		fmt.Fprintf(&sb, "Sub-topology %d\n", s.id)
		for _, n := range s.nodes {
			switch n.kind {
			case kindSource:
				fmt.Fprintf(&sb, "  Source %s (%s, topic %s)\n", n.name, n.op, n.topic)
			case kindSink:
				fmt.Fprintf(&sb, "  Sink %s (%s, topic %s)\n", n.name, n.op, n.topic)
			default:
				fmt.Fprintf(&sb, "  Processor %s (%s", n.name, n.op)
				if len(n.stores) > 0 {
					fmt.Fprintf(&sb, ", stores %s", strings.Join(n.stores, ", "))
				}
				sb.WriteString(")\n")
			}
			if len(n.parents) > 0 {
				fmt.Fprintf(&sb, "    <-- %s\n", nodeNames(n.parents))
			}
			if len(n.children) > 0 {
				fmt.Fprintf(&sb, "    --> %s\n", nodeNames(n.children))
			}
		}
	}
	if len(t.storeOrder) > 0 {
		sb.WriteString("Stores\n")
		for _, s := range t.storeOrder {
			if s.global {
				fmt.Fprintf(&sb, "  %s (%s, global, topic %s)\n", s.name, s.kind, s.topic)
				continue
			}
			sub := -1
			if len(s.users) > 0 {
				sub = s.users[0].sub
			}
			fmt.Fprintf(&sb, "  %s (%s, sub-topology %d, changelog %s", s.name, s.kind, sub, s.changelog)
			switch {
			case s.ttl > 0:
				fmt.Fprintf(&sb, ", ttl %s", s.ttl)
			case s.expiryOf != "":
				fmt.Fprintf(&sb, ", expiry index of %s", s.expiryOf)
			}
			sb.WriteString(")\n")
		}
	}
	if its := t.InternalTopics(); len(its) > 0 {
		sb.WriteString("Internal topics\n")
		for _, it := range its {
			fmt.Fprintf(&sb, "  %s (%s, partitions from %s)\n", it.Name, it.Kind, strings.Join(it.PartitionsFrom, ", "))
		}
	}
	if gs := t.GlobalTables(); len(gs) > 0 {
		sb.WriteString("Global tables\n")
		for _, g := range gs {
			fmt.Fprintf(&sb, "  %s (store %s)\n", g.Topic, g.Store)
		}
	}
	return sb.String()
}

func nodeNames(ns []*node) string {
	names := make([]string, len(ns))
	for i, n := range ns {
		names[i] = n.name
	}
	return strings.Join(names, ", ")
}
