package topology

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Wiring errors. Build joins every one it finds; test with errors.Is.
var (
	ErrNoName         = errors.New("topology: missing name")
	ErrDuplicateName  = errors.New("topology: duplicate name")
	ErrNoTopic        = errors.New("topology: empty topic name")
	ErrDuplicateTopic = errors.New("topology: topic read twice")
	ErrNilSerde       = errors.New("topology: nil serde")
	ErrNilFunc        = errors.New("topology: nil function")
	ErrUnknownStore   = errors.New("topology: store used but not declared")
	ErrForeignStream  = errors.New("topology: stream belongs to another builder")
	ErrBadOption      = errors.New("topology: invalid option")
	// ErrBuilt is recorded by an operation on a Builder after Build; the
	// next Build returns it. The topology built before is not changed.
	ErrBuilt = errors.New("topology: builder used after Build")
)

// Builder collects the nodes of a topology. It is not safe for concurrent
// use. Wiring mistakes are recorded, never panicked on, and returned by
// Build.
type Builder struct {
	appID   string
	nodes   []*node
	names   map[string]*node
	stores  map[string]*storeDef
	order   []*storeDef // declaration order, for stable output
	refs    []storeRef
	topics  map[string]string // source topic -> what reads it
	globals []*storeDef
	errs    []error
	// built is the topology Build returned. Once set the builder is
	// sealed: the topology shares its nodes, so nothing may change them.
	built *Topology
}

type storeRef struct {
	n     *node
	store string
}

// New starts a topology for the application appID, which prefixes every
// internal topic (<appID>-<name>-changelog, <appID>-<name>-repartition,
// <appID>-dlq).
func New(appID string) *Builder {
	b := &Builder{
		appID:  appID,
		names:  map[string]*node{},
		stores: map[string]*storeDef{},
		topics: map[string]string{},
	}
	if appID == "" {
		b.errf("%w: application id", ErrNoName)
	}
	return b
}

// Builder methods accept a nil receiver (a zero Stream has no Builder) and
// do nothing, rather than panic; such operations are not part of any
// topology.

func (b *Builder) errf(format string, args ...any) {
	if b == nil {
		return
	}
	b.errs = append(b.errs, fmt.Errorf(format, args...))
}

// opErr records err as a mistake in a call of the DSL function api, named
// first: "topology: StreamOf: empty topic name".
func (b *Builder) opErr(api string, err error, detail string) {
	if b == nil {
		return
	}
	b.errs = append(b.errs, &opError{api: api, err: err, detail: detail})
}

type opError struct {
	api    string
	err    error
	detail string
}

func (e *opError) Error() string {
	s := "topology: " + e.api + ": " + strings.TrimPrefix(e.err.Error(), "topology: ")
	if e.detail != "" {
		s += " (" + e.detail + ")"
	}
	return s
}

func (e *opError) Unwrap() error { return e.err }

// add creates a node named name under parents. It always returns a node,
// even on error, so wiring can continue and Build reports everything.
func (b *Builder) add(name, op string, kind nodeKind, parents []*node, newProc func(*nodeCtx) (proc, error)) *node {
	n := &node{name: name, op: op, kind: kind, newProc: newProc}
	if b == nil {
		return n
	}
	if b.built != nil {
		// Not linked to its parents: the built topology must not see it.
		b.errf("%w: %s %q", ErrBuilt, op, name)
		return n
	}
	n.id = len(b.nodes)
	b.nodes = append(b.nodes, n)
	switch {
	case name == "":
		b.errf("%w: %s operation #%d", ErrNoName, op, n.id)
	case b.names[name] != nil:
		b.errf("%w: node %q", ErrDuplicateName, name)
	default:
		b.names[name] = n
	}
	for _, p := range parents {
		if p == nil {
			continue
		}
		n.parents = append(n.parents, p)
		p.children = append(p.children, n)
	}
	return n
}

// uniqueName returns base, or base-2, base-3... for nodes whose names the
// user does not choose (sinks).
func (b *Builder) uniqueName(base string) string {
	name := base
	for i := 2; b != nil && b.names[name] != nil; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}

// claimTopic records that by (made by the DSL function api) reads topic.
func (b *Builder) claimTopic(topic, api, by string) {
	if b == nil || b.built != nil {
		return
	}
	if topic == "" {
		b.opErr(api, ErrNoTopic, "")
		return
	}
	if prev, ok := b.topics[topic]; ok {
		b.errf("%w: %q (already read by %s)", ErrDuplicateTopic, topic, prev)
		return
	}
	b.topics[topic] = by
}

// declareStore declares a key-value store used by n.
func (b *Builder) declareStore(name string, n *node) *storeDef {
	return b.declareStoreKind(name, KindKeyValue, n)
}

// declareStoreKind declares a store of any kind used by n (nil: no user
// yet). Window and session stores are key-value stores underneath; the
// kind is what Describe and the runtime see.
func (b *Builder) declareStoreKind(name string, kind StoreKind, n *node) *storeDef {
	if b == nil || b.built != nil {
		return &storeDef{}
	}
	if name == "" {
		b.errf("%w: store of %q", ErrNoName, n.name)
		return &storeDef{}
	}
	if b.stores[name] != nil {
		b.errf("%w: store %q", ErrDuplicateName, name)
		return b.stores[name]
	}
	s := &storeDef{name: name, kind: kind, changelog: b.internalTopic(name, "changelog")}
	b.stores[name] = s
	b.order = append(b.order, s)
	if n != nil {
		b.refs = append(b.refs, storeRef{n: n, store: name})
	}
	return s
}

// useStore connects n to a store declared elsewhere (checked by Build).
// Non-global stores pull n into the sub-topology of their other users.
func (b *Builder) useStore(n *node, name string) {
	if b == nil || b.built != nil {
		return
	}
	b.refs = append(b.refs, storeRef{n: n, store: name})
}

func (b *Builder) internalTopic(name, kind string) string {
	if b == nil {
		return name + "-" + kind
	}
	return b.appID + "-" + name + "-" + kind
}

func (b *Builder) checkSerde(ok bool, what, where string) {
	if !ok {
		b.errf("%w: %s of %q", ErrNilSerde, what, where)
	}
}

func (b *Builder) checkFunc(ok bool, where string) {
	if !ok {
		b.errf("%w: %q", ErrNilFunc, where)
	}
}

// same reports whether other was made by b, recording an error if not.
func (b *Builder) same(other *Builder, where string) bool {
	if other != b {
		b.errf("%w: %q", ErrForeignStream, where)
		return false
	}
	return true
}

// Build checks the wiring and returns the topology, or every wiring error
// joined. A built topology never changes. A successful Build seals the
// builder: an operation added afterwards is not part of any topology and
// makes the next Build return an error wrapping ErrBuilt; calling Build
// again without such misuse returns the same topology. After a failed
// Build nothing is sealed.
func (b *Builder) Build() (*Topology, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: nil Builder", ErrNoName)
	}
	if b.built != nil {
		if len(b.errs) > 0 {
			return nil, errors.Join(b.errs...)
		}
		return b.built, nil
	}
	for _, r := range b.refs {
		s := b.stores[r.store]
		if s == nil {
			b.errf("%w: %q used by %q", ErrUnknownStore, r.store, r.n.name)
			continue
		}
		if !s.global && !containsNode(s.users, r.n) {
			s.users = append(s.users, r.n)
		}
		if !containsString(r.n.stores, r.store) {
			r.n.stores = append(r.n.stores, r.store)
		}
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	t := newTopology(b)
	if err := t.checkErasures(); err != nil {
		return nil, err
	}
	b.built = t
	return t, nil
}

func containsNode(ns []*node, n *node) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// BadInputPolicy says what happens to a record that cannot be decoded, or
// that makes a user function or serde return an error.
//
// The default, the same in a worker (package processor) and in the test
// driver (package topologytest), is DeadLetter: a source's OnBadInput
// wins, then the task's DefaultBadInput (processor.BadInput in a
// worker), then DeadLetter. This is the one place that default is
// documented.
type BadInputPolicy int

const (
	// PolicyUnset leaves the choice to the task's DefaultBadInput; when
	// nobody chooses, the task uses DeadLetter.
	PolicyUnset BadInputPolicy = iota
	// DeadLetter sends the original record to <app>-dlq with headers
	// naming the error, topic, partition, offset and timestamp.
	DeadLetter
	// Skip drops the record and counts it.
	Skip
	// Fail stops the task with an error wrapping ErrRecordFailed.
	Fail
)

func (p BadInputPolicy) String() string {
	switch p {
	case PolicyUnset:
		return "unset"
	case DeadLetter:
		return "dead-letter"
	case Skip:
		return "skip"
	case Fail:
		return "fail"
	}
	return fmt.Sprintf("BadInputPolicy(%d)", int(p))
}

// SourceOpt configures StreamOf, TableOf, GlobalTableOf and ErasuresOf.
type SourceOpt interface{ applySource(*sourceCfg) }

type sourceCfg struct {
	policy    BadInputPolicy
	extractor any // func(K, V, time.Time) time.Time, checked by the source
	store     string
}

// sourceConfig applies opts; the store is named after topic unless
// WithStoreName names it.
func sourceConfig(opts []SourceOpt, topic string) sourceCfg {
	var cfg sourceCfg
	for _, o := range opts {
		if o != nil {
			o.applySource(&cfg)
		}
	}
	if cfg.store == "" {
		cfg.store = topic
	}
	return cfg
}

type sourceOptFunc func(*sourceCfg)

func (f sourceOptFunc) applySource(c *sourceCfg) { f(c) }

// OnBadInput sets the policy for records of this source that fail to
// decode or make a downstream function fail. Default: PolicyUnset (see
// BadInputPolicy).
func OnBadInput(p BadInputPolicy) SourceOpt {
	return sourceOptFunc(func(c *sourceCfg) { c.policy = p })
}

// TimestampFrom sets the event time of each record from its decoded key,
// value and Kafka timestamp. Default: the Kafka record timestamp. For a
// table tombstone, v is the zero value.
func TimestampFrom[K, V any](fn func(k K, v V, recordTime time.Time) time.Time) SourceOpt {
	return sourceOptFunc(func(c *sourceCfg) { c.extractor = fn })
}

// WithStoreName names the store behind TableOf, GlobalTableOf or
// ErasuresOf. Default: the topic name.
func WithStoreName(name string) SourceOpt {
	return sourceOptFunc(func(c *sourceCfg) { c.store = name })
}

// SinkOpt configures To.
type SinkOpt interface{ applySink(*sinkCfg) }

type sinkCfg struct {
	name        string
	partitioner func(key []byte, partitions int32) int32
}

type sinkOptFunc func(*sinkCfg)

func (f sinkOptFunc) applySink(c *sinkCfg) { f(c) }

// WithPartitioner picks the output partition from the encoded key and the
// topic's partition count. Default: none, the producer hashes the key
// (murmur2, as Kafka's Java client does). The runtime must tell the task
// the partition count (WithPartitionCounts).
func WithPartitioner(fn func(key []byte, partitions int32) int32) SinkOpt {
	return sinkOptFunc(func(c *sinkCfg) { c.partitioner = fn })
}

// WithSinkName names the sink node. Default: "to-<topic>", suffixed -2,
// -3... if the topic is written from several places.
func WithSinkName(name string) SinkOpt {
	return sinkOptFunc(func(c *sinkCfg) { c.name = name })
}
